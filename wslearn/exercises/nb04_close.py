"""Checks for notebook 04 (close codes and the closing handshake).

The expected answers are written from the texts (RFC 6455 §5.5.1, §7.1.5,
§7.4; the IANA close code registry; the WHATWG definition of ``wasClean``) and
cross-checked with ``wslearn.close``. The last case of ``decode_close_payload``
reads a close frame from a real ``websockets`` server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from wslearn import close, servers
from wslearn.exercises import Result, case, describe_error, exercise, raises
from wslearn.exercises.mistakes import known, same_as, slips
from wslearn.raw import RawWebSocket

NOTEBOOK = "04_close_codes"


# --- decode_close_payload -------------------------------------------------------------------

BIG_ENDIAN = "the code is the first 2 bytes, big-endian: int.from_bytes(payload[:2], 'big')"
UTF8 = "the reason is the rest of the payload, decoded as UTF-8"

DECODE_CASES = [
    (
        "empty payload",
        b"",
        (1005, ""),
        "an empty payload carries no status: report 1005 (no status received) and reason ''",
    ),
    ("1000, no reason", b"\x03\xe8", (1000, ""), BIG_ENDIAN),
    ("1001, no reason", b"\x03\xe9", (1001, ""), BIG_ENDIAN),
    (
        "a page's close(1000, 'Closing normally!')",
        b"\x03\xe8Closing normally!",
        (1000, "Closing normally!"),
        UTF8,
    ),
    ("4000 'bye'", b"\x0f\xa0bye", (4000, "bye"), BIG_ENDIAN),
    (
        "4999 with a non-ASCII reason",
        b"\x13\x87" + "banned ✗ é".encode(),
        (4999, "banned ✗ é"),
        UTF8 + " (not latin-1 or ASCII)",
    ),
]

ONE_BYTE_HINT = "a 1-byte payload cannot hold a 2-byte code: raise ValueError"

DECODE_SLIPS = {
    "little": "the code is big-endian (network byte order): int.from_bytes(payload[:2], 'big')",
    "latin1": "the reason is UTF-8: payload[2:].decode('utf-8'), not latin-1",
    "one_byte_code": "the code takes the first 2 bytes, not only payload[0]",
    "reason_from_0": "the reason starts after the 2-byte code: payload[2:]",
    "bytes_reason": "return the reason as text: decode the bytes as UTF-8",
    "empty_1000": "an empty payload carries no code at all: that is 1005 (no status), not 1000",
    "empty_1006": "1006 means no close frame arrived; an empty close frame did arrive: 1005",
}


def model_decode(payload: bytes, **slip: bool) -> tuple[int, str | bytes]:
    """``decode_close_payload`` with some of ``DECODE_SLIPS`` made."""
    if not payload:
        return (1000 if slip.get("empty_1000") else 1006 if slip.get("empty_1006") else 1005), ""
    if slip.get("one_byte_code"):
        code = payload[0]
    else:
        code = int.from_bytes(payload[:2], "little" if slip.get("little") else "big")
    raw = payload if slip.get("reason_from_0") else payload[2:]
    if slip.get("bytes_reason"):
        return code, raw
    return code, raw.decode("latin-1" if slip.get("latin1") else "utf-8", "replace")


def _same_pair(got: Any, want: Any) -> bool:
    return isinstance(got, tuple | list) and tuple(got) == tuple(want)


async def _real_close_payload(code: int, reason: str) -> bytes:
    """The payload of the close frame a real ``websockets`` server sends (code, reason)."""
    path = f"/?code={code}&reason={quote(reason)}"
    async with (
        servers.closer() as server,
        RawWebSocket.connect(server.host, server.bound_port, path, timeout=3) as raw,
    ):
        return (await raw.recv_close(timeout=3)).payload


@exercise("decode_close_payload", notebook=NOTEBOOK, shortcuts=["wslearn.close.decode_close"])
async def check_decode_close_payload(
    decode_close_payload: Callable[[bytes], tuple[int, str]],
) -> list[Result]:
    """Read a close frame's payload as ``(code, reason)``; empty means 1005."""
    results = [
        case(
            description,
            lambda payload=payload: decode_close_payload(payload),
            expected,
            hint=hint,
            compare=_same_pair,
            diagnose=known(slips(model_decode, DECODE_SLIPS, payload), _same_pair),
        )
        for description, payload, expected, hint in DECODE_CASES
    ]
    results.append(
        raises(
            "1-byte payload", lambda: decode_close_payload(b"\x03"), ValueError, hint=ONE_BYTE_HINT
        )
    )
    description = "a close frame from a real websockets server: 4321 'ciao ✓'"
    try:
        payload = await _real_close_payload(4321, "ciao ✓")
    except Exception as exc:  # the peer, not the learner: say so
        results.append(Result(description, False, f"the test server failed: {describe_error(exc)}"))
    else:
        results.append(
            case(
                description,
                lambda: decode_close_payload(payload),
                close.decode_close(payload),
                hint=f"the bytes were {payload.hex(' ')}; {BIG_ENDIAN}",
                compare=_same_pair,
                diagnose=known(slips(model_decode, DECODE_SLIPS, payload), _same_pair),
            )
        )
    return results


# --- sendable -------------------------------------------------------------------------------

SENDABLE_CASES = [
    # (codes, expected, a question that points at the rule without answering it)
    ((1000, 1001, 1002, 1003), True, "what are the first registered codes for? who sends them?"),
    ((1004,), False, "read what the registry says 1004 is"),
    ((1005, 1006), False, "what do these two report: could any endpoint put them in a frame?"),
    ((1007, 1008, 1009, 1010, 1011), True, "these registered codes name errors: who reports them?"),
    ((1012, 1013, 1014), True, "look at the IANA registry, not only the RFC's own list"),
    ((1015,), False, "what does 1015 report, and could a close frame carry it?"),
    ((1016, 2000, 2999), False, "what is the rest of 1000-2999 kept for?"),
    ((3000, 3999), True, "who is 3000-3999 for, and do they send those codes?"),
    ((4000, 4999), True, "who is 4000-4999 for?"),
    ((0, 999), False, "where does the space of close codes begin?"),
    ((5000, 65535), False, "where does the space of close codes end?"),
]


#: whole tables of answers that a known confusion gives, each with the sentence that names it
SENDABLE_MODELS: dict[str, Callable[[int], bool]] = {
    "that is the rule for a page's close(code), 1000 or 3000-4999; on the wire, endpoints also "
    "send some of the protocol's own registered codes": (
        lambda c: c == 1000 or 3000 <= c <= 4999
    ),
    "1000-4999 is not one open range: some codes are reserved, some only reported, never sent": (
        lambda c: 1000 <= c <= 4999
    ),
    "1004, 1005 and 1006 are reserved and never sent, even inside 1000-1011": (
        lambda c: 1000 <= c <= 1014 or 3000 <= c <= 4999
    ),
    "1012-1014 were registered after the RFC (IANA): they are sendable too": (
        lambda c: 1000 <= c <= 1003 or 1007 <= c <= 1011 or 3000 <= c <= 4999
    ),
    "1015 (TLS handshake failed) is only reported, never sent": (
        lambda c: 1000 <= c <= 1003 or 1007 <= c <= 1015 or 3000 <= c <= 4999
    ),
    "3000-3999 (libraries and frameworks) are sendable too, not only 4000-4999": (
        lambda c: 1000 <= c <= 1003 or 1007 <= c <= 1014 or 4000 <= c <= 4999
    ),
    "the ranges end at 4999, inclusive; check both ends of each range": (
        lambda c: 1000 <= c < 1003 or 1007 <= c < 1014 or 3000 <= c < 4999
    ),
}

ALL_SENDABLE_CODES = [(code,) for codes, _, _ in SENDABLE_CASES for code in codes]


@exercise("sendable", notebook=NOTEBOOK, shortcuts=["wslearn.close.is_sendable"])
def check_sendable(sendable: Callable[[int], bool]) -> Iterator[Result]:
    """May this code appear in a close frame on the wire?"""
    confusion = same_as(sendable, ALL_SENDABLE_CODES, SENDABLE_MODELS)
    for codes, expected, hint in SENDABLE_CASES:
        for code in codes:
            yield case(
                f"{code}",
                lambda code=code: sendable(code),
                expected,
                hint=hint,
                compare=lambda got, want: isinstance(got, bool) and got == want,
                diagnose=lambda got: (
                    "return True or False (a bool)" if not isinstance(got, bool) else confusion
                ),
            )


# --- code_for -------------------------------------------------------------------------------


class Codes:
    """The codes accepted as an answer, shown as ``1001`` or ``4000-4999`` in a failure."""

    def __init__(self, low: int, high: int | None = None) -> None:
        self.low, self.high = low, low if high is None else high

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high

    def __repr__(self) -> str:
        return str(self.low) if self.low == self.high else f"a code in {self.low}-{self.high}"


#: situation -> (accepted codes, hint). The notebook lists the same sentences. A hint says
#: where to look, never the code: this is a question of reading the registry, not of guessing.
SITUATIONS: dict[str, tuple[Codes, str]] = {
    "the page is done with the connection": (
        Codes(1000),
        "nothing went wrong: look for the registry's plain, normal closure",
    ),
    "the server is shutting down": (
        Codes(1001),
        "the endpoint itself is leaving: look for 'going away' in the registry",
    ),
    "a frame arrived with RSV1 set, but no extension was agreed": (
        Codes(1002),
        "a broken framing rule: the registry has a code for protocol errors",
    ),
    "a text-only chat server received a binary message": (
        Codes(1003),
        "a kind of data the endpoint cannot accept at all has its own code",
    ),
    "a text message is not valid UTF-8": (
        Codes(1007),
        "the data does not match its message type: look for 'invalid frame payload data'",
    ),
    "a client sent a 20 MB message, the server's limit is 1 MB": (
        Codes(1009),
        "the registry has a code for a message too big to process",
    ),
    "the server's handler crashed with an exception": (
        Codes(1011),
        "an unexpected condition inside the server: look for 'internal error'",
    ),
    "the server is overloaded: try again in a minute": (
        Codes(1013),
        "'try again later' was registered after the RFC: look at the IANA registry's newer codes",
    ),
    "the chat app bans a user (an app-specific reason)": (
        Codes(4000, 4999),
        "your application's own reasons have a range of their own",
    ),
}


def _code_diagnosis(accepted: Codes) -> Callable[[Any], str | None]:
    """What kind of wrong code this is, without saying which code is right."""

    def diagnose(got: Any) -> str | None:
        if isinstance(got, bool) or not isinstance(got, int):
            return "return the code as an int"
        if got in (1005, 1006, 1015):
            return f"{got} is only reported to the application, never sent in a close frame"
        if not close.is_sendable(got):
            return f"{got} may not appear in a close frame at all"
        if 3000 <= got <= 3999:
            return "3000-3999 belong to libraries and frameworks, registered with IANA"
        if 4000 <= got <= 4999 and accepted.high < 3000:
            return "the protocol has a registered code for this; private codes are for the rest"
        if got < 3000 <= accepted.low:
            return "no registered code says this: it is your application's own reason"
        return None

    return diagnose


@exercise("code_for", notebook=NOTEBOOK)
def check_code_for(code_for: Callable[[str], int]) -> Iterator[Result]:
    """The close code a peer should send in each situation."""
    for situation, (accepted, hint) in SITUATIONS.items():
        yield case(
            situation,
            lambda situation=situation: code_for(situation),
            accepted,
            hint=hint,
            compare=_accepts,
            diagnose=_code_diagnosis(accepted),
        )


def _accepts(got: Any, accepted: Codes) -> bool:
    return not isinstance(got, bool) and got in accepted and close.is_sendable(got)


# --- was_clean ------------------------------------------------------------------------------

#: The words of a trace: what the browser saw and did, in order.
TRACE_WORDS = (
    "message",  # a data frame, either way
    "client close frame",  # the browser sent its close frame
    "server close frame",  # a close frame from the server arrived
    "protocol error",  # the browser found a malformed frame and failed the connection
    "tcp closed by server",
    "tcp closed by client",
)


def reference_was_clean(trace: list[str]) -> bool:
    """True when a close frame went each way before TCP closed, and nothing failed."""
    before = trace[: next((i for i, e in enumerate(trace) if e.startswith("tcp")), len(trace))]
    return (
        "client close frame" in before
        and "server close frame" in before
        and "protocol error" not in before
    )


WAS_CLEAN_CASES = [
    (
        ["client close frame", "server close frame", "tcp closed by server"],
        True,
        "the client started, the server answered, then TCP closed: a complete closing handshake",
    ),
    (
        ["message", "server close frame", "client close frame", "tcp closed by server"],
        True,
        "it does not matter who starts the closing handshake",
    ),
    (
        ["server close frame", "client close frame", "tcp closed by client"],
        True,
        "the handshake completed before TCP closed, whoever closed TCP",
    ),
    (
        ["message", "tcp closed by server"],
        False,
        "no close frames at all: TCP was cut (code 1006), not closed cleanly",
    ),
    (
        ["client close frame", "tcp closed by server"],
        False,
        "the server hung up without answering the close frame: the handshake never completed",
    ),
    (
        ["client close frame", "tcp closed by client"],
        False,
        "no answer came before the browser gave up waiting: the handshake never completed",
    ),
    (
        ["protocol error", "client close frame", "server close frame", "tcp closed by server"],
        False,
        "a connection the browser had to fail (protocol error) is never clean, "
        "even if the server answers",
    ),
    (
        ["message", "message", "server close frame", "client close frame", "tcp closed by server"],
        True,
        "messages before the closing handshake do not matter",
    ),
    (
        ["client close frame", "tcp closed by server", "server close frame"],
        False,
        "a close frame listed after TCP closed came too late: only what happened before counts",
    ),
    (
        ["server close frame", "tcp closed by client", "client close frame"],
        False,
        "the browser's answer came after TCP was gone: the handshake never completed",
    ),
    (
        ["tcp closed by server", "client close frame", "server close frame"],
        False,
        "TCP closed first: nothing after it can make the close clean",
    ),
]


def _before_tcp(trace: list[str]) -> list[str]:
    return trace[: next((i for i, e in enumerate(trace) if e.startswith("tcp")), len(trace))]


#: whole tables of answers that a known misreading of wasClean gives
WAS_CLEAN_MODELS: dict[str, Callable[[list[str]], bool]] = {
    "the order matters: a close frame counts only if it came before TCP closed": lambda t: (
        "client close frame" in t and "server close frame" in t and "protocol error" not in t
    ),
    "a connection the browser had to fail (protocol error) is never clean": lambda t: (
        "client close frame" in _before_tcp(t) and "server close frame" in _before_tcp(t)
    ),
    "it does not matter who closed TCP, once a close frame went each way": lambda t: (
        reference_was_clean(t) and "tcp closed by server" in t
    ),
    "a close frame must go each way: one alone is not a closing handshake": lambda t: (
        any(e.endswith("close frame") for e in _before_tcp(t))
        and "protocol error" not in _before_tcp(t)
    ),
    "it does not matter who starts the closing handshake": lambda t: (
        reference_was_clean(t)
        and _before_tcp(t).index("client close frame") < _before_tcp(t).index("server close frame")
    ),
}

ALL_TRACES = [(list(trace),) for trace, _, _ in WAS_CLEAN_CASES]


@exercise(
    "was_clean",
    notebook=NOTEBOOK,
    shortcuts=["wslearn.exercises.nb04_close.reference_was_clean"],
)
def check_was_clean(was_clean: Callable[[list[str]], bool]) -> Iterator[Result]:
    """``CloseEvent.wasClean`` for a trace of what happened on the wire, in order."""
    misreading = same_as(lambda t: was_clean(list(t)), ALL_TRACES, WAS_CLEAN_MODELS)
    for trace, expected, hint in WAS_CLEAN_CASES:
        yield case(
            " → ".join(trace),
            lambda trace=trace: was_clean(list(trace)),
            expected,
            hint=hint,
            compare=lambda got, want: isinstance(got, bool) and got == want,
            diagnose=lambda got: (
                "return True or False (a bool)" if not isinstance(got, bool) else misreading
            ),
        )
