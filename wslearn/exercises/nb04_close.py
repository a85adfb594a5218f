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
        "the seed's close(1000, 'Closing normally!')",
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


async def _real_close_payload(code: int, reason: str) -> bytes:
    """The payload of the close frame a real ``websockets`` server sends (code, reason)."""
    path = f"/?code={code}&reason={quote(reason)}"
    async with (
        servers.closer() as server,
        RawWebSocket.connect(server.host, server.bound_port, path, timeout=3) as raw,
    ):
        return (await raw.recv_close(timeout=3)).payload


@exercise("decode_close_payload", notebook=NOTEBOOK)
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
            compare=lambda got, want: tuple(got) == want,
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
                compare=lambda got, want: tuple(got) == want,
            )
        )
    return results


# --- sendable -------------------------------------------------------------------------------

SENDABLE_CASES = [
    # (codes, expected, hint)
    ((1000, 1001, 1002, 1003), True, "1000-1003 are the everyday protocol codes: sendable"),
    ((1004,), False, "1004 is reserved: no endpoint sends it"),
    ((1005, 1006), False, "1005 and 1006 are only reported to the application, never sent"),
    ((1007, 1008, 1009, 1010, 1011), True, "1007-1011 are registered protocol codes: sendable"),
    ((1012, 1013, 1014), True, "1012-1014 were registered after the RFC: sendable"),
    ((1015,), False, "1015 (TLS handshake failed) is only reported, never sent"),
    ((1016, 2000, 2999), False, "1016-2999 are reserved for future protocol use: not sendable yet"),
    ((3000, 3999), True, "3000-3999 are for libraries and frameworks: sendable"),
    ((4000, 4999), True, "4000-4999 are private use (your application's own codes): sendable"),
    ((0, 999), False, "0-999 are not close codes at all"),
    ((5000, 65535), False, "nothing above 4999 is a close code"),
]


@exercise("sendable", notebook=NOTEBOOK)
def check_sendable(sendable: Callable[[int], bool]) -> Iterator[Result]:
    """May this code appear in a close frame on the wire?"""
    for codes, expected, hint in SENDABLE_CASES:
        for code in codes:
            yield case(
                f"{code}",
                lambda code=code: sendable(code),
                expected,
                hint=hint,
                compare=lambda got, want: isinstance(got, bool) and got == want,
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


#: situation -> (accepted codes, hint). The notebook lists the same sentences.
SITUATIONS: dict[str, tuple[Codes, str]] = {
    "the page is done with the connection": (Codes(1000), "a normal goodbye is 1000"),
    "the server is shutting down": (Codes(1001), "an endpoint that goes away says 1001"),
    "a frame arrived with RSV1 set, but no extension was agreed": (
        Codes(1002),
        "breaking the framing rules is a protocol error: 1002",
    ),
    "a text-only chat server received a binary message": (
        Codes(1003),
        "a kind of data the endpoint cannot accept is 1003",
    ),
    "a text message is not valid UTF-8": (
        Codes(1007),
        "data that does not match its type (bad UTF-8) is 1007",
    ),
    "a client sent a 20 MB message, the server's limit is 1 MB": (
        Codes(1009),
        "too big to process is 1009",
    ),
    "the server's handler crashed with an exception": (
        Codes(1011),
        "an unexpected condition on the server is 1011",
    ),
    "the server is overloaded: try again in a minute": (
        Codes(1013),
        "'try again later' has its own registered code, 1013",
    ),
    "the chat app bans a user (an app-specific reason)": (
        Codes(4000, 4999),
        "an application's own reasons use the private range 4000-4999",
    ),
}


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
]


@exercise("was_clean", notebook=NOTEBOOK)
def check_was_clean(was_clean: Callable[[list[str]], bool]) -> Iterator[Result]:
    """``CloseEvent.wasClean`` for a trace of what happened on the wire."""
    for trace, expected, hint in WAS_CLEAN_CASES:
        yield case(
            " → ".join(trace),
            lambda trace=trace: was_clean(list(trace)),
            expected,
            hint=hint,
            compare=lambda got, want: isinstance(got, bool) and got == want,
        )
