"""Checks for notebook 06 (build a server from the course's parts).

Each exercise is one of the pluggable pieces of :class:`wslearn.connection.Connection`,
with the same signature. The cases come first as plain function calls
(expected answers from RFC 6455 §5.4, §5.5 and ``wslearn.close``), then the
learner's function is plugged into a running :mod:`wslearn.scratch` echo
server with a constructor argument (``scratch.serve(..., pong_for=yours)``)
and tested over a real socket: by a ``websockets`` client, and by the course's
raw peer (:class:`wslearn.raw.RawWebSocket`), which sends frames no polite
client would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from wslearn import close, scratch
from wslearn.exercises import Result, answered, case, describe_error, exercise, raises
from wslearn.framing import Frame, Opcode, ProtocolError, encode_frame
from wslearn.raw import RawWebSocket

NOTEBOOK = "06_build_a_server"
TIMEOUT = 3.0  # seconds any live case may take

# --- the learner's piece inside a real server ---------------------------------------------

#: what each piece must return, for the message when it returns something else
RETURNS = {"pong_for": (bytes, bytearray), "reassemble": (str, bytes), "close_reply": (bytes,)}


def _noted(name: str, piece: Callable, errors: list[str]) -> Callable:
    """``piece``, noting in ``errors`` what it raised or returned wrongly (the server then
    fails the connection with 1011); a ``ProtocolError`` is an answer, not a mistake."""

    def call(*args: Any) -> Any:
        try:
            result = piece(*args)
        except ProtocolError:
            raise
        except Exception as exc:
            errors.append(f"your {name} {describe_error(exc)}")
            raise
        if not isinstance(result, RETURNS[name]):
            errors.append(f"your {name} returned {type(result).__name__}")
        return result

    return call


@contextlib.asynccontextmanager
async def plugged_server(name: str, piece: Callable) -> AsyncIterator[tuple[str, list[str]]]:
    """A scratch echo server on 127.0.0.1 using ``piece`` as its ``name``; yields (url, errors)."""
    errors: list[str] = []
    options = {name: _noted(name, piece, errors)}
    async with scratch.serve(
        scratch.echo, close_timeout=2, ping_interval=None, **options
    ) as server:
        yield server.url, errors


async def raw_conversation(url: str, frames: list[Frame]) -> list[Frame]:
    """Send ``frames`` (masked, unchecked) to ``url``; return the answers up to a close frame."""
    async with RawWebSocket.connect(
        "127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=TIMEOUT
    ) as raw:
        for frame in frames:
            await raw.send(frame)
        return await raw.recv_frames(TIMEOUT)


def describe_frames(frames: list[Frame]) -> str:
    """``PONG b'x', CLOSE 1000`` for a list of server frames."""
    parts = []
    for frame in frames:
        if frame.opcode is Opcode.CLOSE:
            try:
                code, reason = close.decode_close(frame.payload)
                parts.append(f"CLOSE {code}" + (f" {reason!r}" if reason else ""))
            except ProtocolError:
                parts.append(f"CLOSE with a broken payload {frame.payload.hex(' ')}")
        else:
            parts.append(f"{frame.opcode.name} {frame.payload[:30]!r}")
    return ", ".join(parts) or "nothing (the server hung up)"


async def _live(
    description: str,
    run: Callable[[], Any],
    hint: str,
    errors: list[str],
    *,
    vacuous: bool = False,
) -> Result:
    """One live case: ``run()`` returns (passed, what happened); ``vacuous`` as in ``case``."""
    try:
        async with asyncio.timeout(TIMEOUT):
            passed, happened = await run()
    except Exception as exc:
        passed, happened = False, describe_error(exc)
    if passed:
        return Result(description, True, vacuous=vacuous)
    extra = f"; {errors[0]}" if errors else ""
    return Result(description, False, f"{happened}{extra}; {hint}")


def _client(url: str) -> Any:
    return ws_connect(url, compression=None, close_timeout=2, open_timeout=TIMEOUT)


# --- pong_for -------------------------------------------------------------------------------

PONG_HINT = "§5.5.3: a PONG carries exactly the application data of the PING it answers"

#: RFC 6455 §5.7: "Unmasked Ping request and masked Ping response" (the response is a PONG).
RFC_PONG_MASKED = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
RFC_KEY = bytes.fromhex("37 fa 21 3d")


def _pong_problem(got: Any, payload: bytes) -> str:
    """What is wrong with ``got`` as the PONG payload for a PING carrying ``payload``."""
    if isinstance(got, Frame):
        return "got a Frame; return only the PONG's payload (bytes): the connection frames it"
    if isinstance(got, str):
        return "got str; a payload is bytes: no decoding needed"
    if not isinstance(got, bytes | bytearray):
        return f"got {type(got).__name__}; return bytes"
    if bytes(got) == payload:
        return ""
    if not got and payload:
        return f"got an empty payload; {PONG_HINT}"
    return f"got {bytes(got)[:20]!r}, a changed payload; {PONG_HINT}"


def _pong_case(description: str, pong_for: Callable, payload: bytes) -> Result:
    try:
        got = pong_for(payload)
    except Exception as exc:
        return Result(description, False, f"{describe_error(exc)}; {PONG_HINT}")
    problem = _pong_problem(got, payload)
    # b"" passes it; the payload is the right answer, so it is what the answer is compared with
    return Result(
        description, not problem, problem, vacuous=not payload, seen=answered(got, payload)
    )


@exercise("pong_for", notebook=NOTEBOOK, shortcuts=["wslearn.connection.pong_for"])
async def check_pong_for(pong_for: Callable[[bytes], bytes]) -> list[Result]:
    """The payload of the PONG that answers a PING's payload (§5.5.2, §5.5.3)."""
    results = [
        _pong_case("PING b'hello'", pong_for, b"hello"),
        _pong_case("PING with an empty payload", pong_for, b""),
        _pong_case(
            "PING with 125 bytes, the most a control frame holds", pong_for, bytes(range(125))
        ),
        _pong_case("PING with bytes that are not text", pong_for, b"\x00\xff\x80ping"),
        case(
            "RFC 6455 §5.7: the PING 89 05 'Hello', answered with the RFC's masked PONG bytes",
            lambda: pong_for(b"Hello"),
            RFC_PONG_MASKED,
            hint=PONG_HINT,
            view=lambda pong: encode_frame(Frame(True, Opcode.PONG, pong), mask=RFC_KEY),
        ),
    ]

    async with plugged_server("pong_for", pong_for) as (url, errors):

        async def raw() -> tuple[bool, str]:
            got = await raw_conversation(
                url,
                [Frame(True, Opcode.PING, b"live?"), Frame(True, Opcode.CLOSE, b"\x03\xe8")],
            )
            expected = [Frame(True, Opcode.PONG, b"live?"), Frame(True, Opcode.CLOSE, b"\x03\xe8")]
            return got == expected, f"the server answered {describe_frames(got)}"

        results.append(
            await _live(
                "a server with your pong_for: PING b'live?' then CLOSE 1000 from a raw client",
                raw,
                "expected PONG b'live?', CLOSE 1000; " + PONG_HINT,
                errors,
            )
        )

        async def real_client() -> tuple[bool, str]:
            async with _client(url) as ws:
                waiter = await ws.ping(b"websockets asks")
                await ws.send("after the ping")
                await ws.recv()  # the echo comes after the pong on the same stream
                return waiter.done(), "the websockets client's ping got no matching pong"

        results.append(
            await _live(
                "a real websockets client pings a server using your pong_for",
                real_client,
                PONG_HINT,
                errors,
            )
        )
    return results


# --- reassemble -------------------------------------------------------------------------------

RULES = (
    "the first data frame is TEXT or BINARY, every later one CONTINUATION, "
    "and only the last has FIN set: raise ProtocolError otherwise"
)


def _t(fin: bool, opcode: Opcode, payload: bytes) -> Frame:
    return Frame(fin, opcode, payload)


TEXT, BINARY, CONT, PING = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING

REASSEMBLE_CASES = [
    # (description, frames, expected, hint)
    ("one TEXT frame with FIN", [_t(True, TEXT, b"Hello")], "Hello", "TEXT gives a str"),
    (
        "one BINARY frame with FIN",
        [_t(True, BINARY, b"\x00\xff")],
        b"\x00\xff",
        "BINARY gives bytes, not str",
    ),
    ("an empty TEXT message", [_t(True, TEXT, b"")], "", "an empty payload is an empty message"),
    (
        "TEXT 'Hel' + CONTINUATION 'lo, ' + CONTINUATION 'world'",
        [_t(False, TEXT, b"Hel"), _t(False, CONT, b"lo, "), _t(True, CONT, b"world")],
        "Hello, world",
        "join the payloads of every fragment, in order",
    ),
    (
        "BINARY in three fragments",
        [_t(False, BINARY, b"\x01"), _t(False, CONT, b"\x02"), _t(True, CONT, b"\x03")],
        b"\x01\x02\x03",
        "the message's type comes from the first frame: BINARY stays bytes",
    ),
    (
        "'café' with the é split between two fragments",
        [_t(False, TEXT, b"caf\xc3"), _t(True, CONT, b"\xa9")],
        "café",
        "decode the joined payload once: a UTF-8 character may straddle two fragments",
    ),
    (
        "a PING between two fragments",
        [_t(False, TEXT, b"Hel"), _t(True, PING, b"?"), _t(True, CONT, b"lo")],
        "Hello",
        "control frames may come between fragments (§5.4): skip them",
    ),
]

REASSEMBLE_ERRORS = [
    ("a CONTINUATION with nothing before it", [_t(True, CONT, b"lost")]),
    ("TEXT inside an unfinished TEXT message", [_t(False, TEXT, b"one"), _t(True, TEXT, b"two")]),
    ("the last fragment has no FIN", [_t(False, TEXT, b"Hel"), _t(False, CONT, b"lo")]),
    ("a frame after the FIN", [_t(True, TEXT, b"done"), _t(True, CONT, b"more")]),
]


@exercise("reassemble", notebook=NOTEBOOK, shortcuts=["wslearn.connection.reassemble"])
async def check_reassemble(reassemble: Callable[[list[Frame]], str | bytes]) -> list[Result]:
    """One message from its frames, with §5.4's continuation rules."""
    results = [
        case(
            description,
            lambda frames=frames: reassemble(list(frames)),
            expected,
            hint=hint,
            compare=lambda got, want: type(got) is type(want) and got == want,
        )
        for description, frames, expected, hint in REASSEMBLE_CASES
    ]
    results += [
        raises(
            description, lambda frames=frames: reassemble(list(frames)), ProtocolError, hint=RULES
        )
        for description, frames in REASSEMBLE_ERRORS
    ]

    async with plugged_server("reassemble", reassemble) as (url, errors):

        async def fragmented() -> tuple[bool, str]:
            async with _client(url) as ws:
                await ws.send(["Hel", "lo, ", "wörld"])  # an iterable: sent as fragments
                text = await ws.recv()
                await ws.send([b"\x00\x01", b"\x02"])
                data = await ws.recv()
            got = (text, data)
            return got == ("Hello, wörld", b"\x00\x01\x02"), f"the echoes were {got!r}"

        results.append(
            await _live(
                "a real websockets client sends fragmented messages to a server using yours",
                fragmented,
                "expected ('Hello, wörld', b'\\x00\\x01\\x02')",
                errors,
            )
        )

        async def lost_continuation() -> tuple[bool, str]:
            goodbye = Frame(True, Opcode.CLOSE, b"\x03\xe8")  # ends it if 'lost' is echoed
            got = await raw_conversation(url, [_t(True, CONT, b"lost"), goodbye])
            closes = [f for f in got if f.opcode is Opcode.CLOSE]
            ok = bool(closes) and close.decode_close(closes[0].payload)[0] == 1002
            return ok, f"the server answered {describe_frames(got)}"

        results.append(
            await _live(
                "a raw client sends a CONTINUATION first: the server must close with 1002",
                lost_continuation,
                "raise ProtocolError: the server turns it into close code 1002",
                errors,
            )
        )
    return results


# --- close_reply ------------------------------------------------------------------------------

ECHO_HINT = "echo the code you received (§5.5.1): encode_close(code, reason)"
INVALID_HINT = (
    "decode_close raises ProtocolError for a broken payload; answer with encode_close(error.code)"
)

CLOSE_ECHOES = [
    # (description, payload, expected code)
    ("1000, no reason", b"\x03\xe8", 1000),
    ("the 2016 article's close(1000, 'Closing normally!')", b"\x03\xe8Closing normally!", 1000),
    ("1001 going away", b"\x03\xe9", 1001),
    ("4000 'bye'", b"\x0f\xa0bye", 4000),
    ("3000 with a non-ASCII reason", b"\x0b\xb8" + "réglé ✓".encode(), 3000),
]

CLOSE_ERRORS = [
    # (description, payload, expected code, hint)
    ("a 1-byte payload", b"\x03", 1002, "a status code needs 2 bytes: " + INVALID_HINT),
    (
        "1005 on the wire",
        b"\x03\xed",
        1002,
        "1005 and 1006 are never sent, so receiving one is a protocol error: " + INVALID_HINT,
    ),
    ("1006 on the wire", b"\x03\xee", 1002, "1006 is never sent: " + INVALID_HINT),
    ("code 999", b"\x03\xe7", 1002, "codes below 1000 are not used: " + INVALID_HINT),
    ("code 2000", b"\x07\xd0", 1002, "1016-2999 are reserved, not sendable: " + INVALID_HINT),
    ("code 5000", b"\x13\x88", 1002, "nothing above 4999 is defined: " + INVALID_HINT),
    (
        "a reason that is not UTF-8",
        b"\x03\xe8\xff\xfe",
        1007,
        "a reason that is not UTF-8 is answered with 1007, the code decode_close's error carries",
    ),
]


def _answer(reply: Any) -> tuple[int, str] | str:
    """The (code, reason) of the close payload ``reply``, or what is wrong with it."""
    if not isinstance(reply, bytes | bytearray):
        return f"{type(reply).__name__} instead of bytes"
    try:
        return close.decode_close(bytes(reply))
    except ProtocolError as error:
        return f"a payload no peer accepts, {bytes(reply).hex(' ')} ({error})"


@exercise("close_reply", notebook=NOTEBOOK, shortcuts=["wslearn.connection.close_reply"])
async def check_close_reply(close_reply: Callable[[bytes], bytes]) -> list[Result]:
    """The payload of the close frame that answers a peer's close frame."""
    results = [
        case(
            "an empty close payload",
            lambda: close_reply(b""),
            b"",
            hint="no code to echo, and 1005 may never be sent: answer with an empty payload",
        ),
    ]
    for description, payload, code in CLOSE_ECHOES:
        reason = payload[2:].decode()
        results.append(
            case(
                description,
                lambda payload=payload: close_reply(payload),
                (code, reason),
                hint=ECHO_HINT,
                view=_answer,  # the payload itself is the answer seen
                compare=lambda got, want: (
                    isinstance(got, tuple) and got[0] == want[0] and got[1] in (want[1], "")
                ),
                vacuous=True,  # a valid payload echoed: returning it unchanged passes too
            )
        )
    for description, payload, code, hint in CLOSE_ERRORS:
        results.append(
            case(
                description,
                lambda payload=payload: close_reply(payload),
                f"close code {code}",
                hint=hint,
                view=_answer,
                compare=lambda got, want, code=code: isinstance(got, tuple) and got[0] == code,
            )
        )

    async with plugged_server("close_reply", close_reply) as (url, errors):

        async def client_closes(code: int | None) -> tuple[bool, str]:
            async with _client(url) as ws:
                await ws.close(code, "bye" if code else "")
            answer = ws.protocol.close_rcvd  # the server's close frame, parsed
            got = None if answer is None else (int(answer.code), answer.reason)
            want = (4000, "bye") if code else (1005, "")
            ok = got is not None and got[0] == want[0] and got[1] in (want[1], "")
            return ok, f"the server's close frame said {got}, expected {want}"

        results.append(
            await _live(
                "a real websockets client closes with 4000 'bye'",
                lambda: client_closes(4000),
                ECHO_HINT,
                errors,
                vacuous=True,  # an echo, as above
            )
        )
        results.append(
            await _live(
                "a real websockets client sends an empty close frame",
                lambda: client_closes(None),
                "an empty close frame is answered with an empty one",
                errors,
                vacuous=True,  # b"" passes it
            )
        )

        async def broken_close() -> tuple[bool, str]:
            got = await raw_conversation(url, [Frame(True, Opcode.CLOSE, b"\x03\xed")])
            closes = [f for f in got if f.opcode is Opcode.CLOSE]
            try:
                ok = bool(closes) and close.decode_close(closes[0].payload)[0] == 1002
            except ProtocolError:
                ok = False
            return ok, f"the server answered {describe_frames(got)}"

        results.append(
            await _live(
                "a raw client sends close code 1005: the server must answer 1002",
                broken_close,
                INVALID_HINT,
                errors,
            )
        )
    return results
