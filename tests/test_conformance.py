"""Raw-socket conformance cases for the scratch server, after Autobahn|Testsuite groups 1-7.

Each case is a little dialogue with an echo server: bytes the client writes
(masked frames built by hand, so that broken ones can be written too), the
frames the server must answer with, in order, and how the server must end:

- ``close=1002``: the server fails the connection with a close frame carrying
  that code (any reason), then closes TCP;
- ``close=b"..."``: the server's close frame carries exactly that payload
  (the echo of ours), then it closes TCP;
- ``close=None``: the connection is still fine afterwards: we send close
  1000, the server echoes it and closes TCP.

Every case also runs against a ``websockets`` echo server, the reference peer.
Where the two disagree on purpose, the case says what ``websockets`` does
(``websockets=...``) and why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from rawws import RawWebSocket
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

from wslearn import scratch
from wslearn.framing import Frame, Opcode, apply_mask

MASK = bytes.fromhex("37fa213d")  # the masking key of RFC 6455 §5.7's examples
FIN = 0x80
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


# --- Writing frames by hand ------------------------------------------------------


def wire(
    first: int, payload: bytes = b"", *, masked: bool = True, length: bytes | None = None
) -> bytes:
    """A frame from its first byte (FIN, RSV, opcode) and payload, masked with MASK.

    ``length`` replaces the length field (7 bits + extension) to write a wrong one.
    """
    n = len(payload)
    if length is None:
        if n < 126:
            length = bytes([n])
        elif n < 65536:
            length = bytes([126]) + n.to_bytes(2, "big")
        else:
            length = bytes([127]) + n.to_bytes(8, "big")
    second = bytes([(0x80 if masked else 0) | length[0]]) + length[1:]
    body = MASK + apply_mask(payload, MASK) if masked else payload
    return bytes([first]) + second + body


def text(payload: bytes | str, *, fin: bool = True, rsv: int = 0) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return wire((FIN if fin else 0) | rsv | TEXT, data)


def binary(payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    return wire((FIN if fin else 0) | rsv | BINARY, payload)


def cont(payload: bytes | str, *, fin: bool = True) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return wire((FIN if fin else 0) | CONT, data)


def ping(payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    return wire((FIN if fin else 0) | rsv | PING, payload)


def pong(payload: bytes = b"", *, fin: bool = True) -> bytes:
    return wire((FIN if fin else 0) | PONG, payload)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def close(code: int | None = None, reason: bytes = b"") -> bytes:
    return wire(FIN | CLOSE, b"" if code is None else close_payload(code, reason))


@dataclass(frozen=True)
class Chunked:
    """Write ``data`` ``size`` bytes at a time (pausing ``delay`` seconds in between)."""

    data: bytes
    size: int = 1
    delay: float = 0.0


# What the server must send: (opcode, payload), unmasked, FIN set.
def got_text(payload: bytes | str) -> tuple[Opcode, bytes]:
    return Opcode.TEXT, payload.encode() if isinstance(payload, str) else payload


def got_binary(payload: bytes) -> tuple[Opcode, bytes]:
    return Opcode.BINARY, payload


def got_pong(payload: bytes = b"") -> tuple[Opcode, bytes]:
    return Opcode.PONG, payload


@dataclass(frozen=True)
class Case:
    script: tuple[bytes | Chunked | tuple[Opcode, bytes], ...]
    close: int | bytes | None
    websockets: int | bytes | str | None = "same"  # what websockets ends with, when different


def case(
    name: str,
    *script: bytes | Chunked | tuple[Opcode, bytes],
    close: int | bytes | None = None,
    websockets: int | bytes | str | None = "same",
) -> Any:
    return pytest.param(Case(script, close, websockets), id=name)


# --- The cases -------------------------------------------------------------------

KIB = 1024
WAITS_FOR_THE_END = "checks UTF-8 only once a message is complete"
SENTENCE = "Hello-µ@ßöäüàá-UTF-8!!"  # Autobahn 6.2.x
# Autobahn 6.3.1: "κόσμε" followed by a UTF-16 surrogate (ED A0 80), which UTF-8 forbids.
INVALID = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")


def sizes_cases() -> list:
    cases = []
    for size in (0, 125, 126, 127, 128, 65535, 65536):
        payload = bytes(i % 251 for i in range(size))
        cases.append(case(f"1.1 text {size} B", text(b"*" * size), got_text(b"*" * size)))
        cases.append(case(f"1.2 binary {size} B", binary(payload), got_binary(payload)))
    big = bytes(range(256)) * 4 * KIB  # 1 MiB: exactly the default max_size
    cases += [
        case("1.2 binary 1 MiB (= max_size)", binary(big), got_binary(big)),
        case(
            "1.1.8 text 64 KiB in 997-byte chunks",
            Chunked(text(b"*" * 65536), 997),
            got_text(b"*" * 65536),
        ),
        case(
            "1.1 text 125 B one byte at a time",
            Chunked(text(b"x" * 125), 1, 0.0005),
            got_text(b"x" * 125),
        ),
        case(
            "1.2 binary 1000 B one byte at a time",
            Chunked(binary(bytes(1000)), 1),
            got_binary(bytes(1000)),
        ),
    ]
    return cases


PING_CASES = [
    case("2.1 ping, no payload", ping(), got_pong()),
    case("2.2 ping, text payload", ping(b"Hello, world!"), got_pong(b"Hello, world!")),
    case("2.3 ping, binary payload", ping(bytes([0, 255, 254, 253, 252, 251, 0, 255])),
         got_pong(bytes([0, 255, 254, 253, 252, 251, 0, 255]))),
    case("2.4 ping, 125 bytes", ping(b"\xfe" * 125), got_pong(b"\xfe" * 125)),
    case("2.5 ping, 126 bytes", ping(b"\xfe" * 126), close=1002),
    case("2.6 ping, 125 bytes one byte at a time",
         Chunked(ping(b"\xfe" * 125), 1, 0.0005), got_pong(b"\xfe" * 125)),
    case("2.7 unsolicited pong, no payload: ignored", pong()),
    case("2.8 unsolicited pong with payload: ignored", pong(b"unsolicited")),
    case("2.9 unsolicited pong, then ping", pong(b"unsolicited") + ping(b"solicited"),
         got_pong(b"solicited")),
    case("2.10 ten pings in one write", b"".join(ping(b"%d" % i) for i in range(10)),
         *(got_pong(b"%d" % i) for i in range(10))),
    case("2.11 ten pings one byte at a time",
         Chunked(b"".join(ping(b"%d" % i) for i in range(10)), 1),
         *(got_pong(b"%d" % i) for i in range(10))),
]  # fmt: skip

RSV_CASES = [
    case("3.1 text with RSV1", text("Hello", rsv=RSV1), close=1002),
    case("3.1 text with RSV2", text("Hello", rsv=RSV2), close=1002),
    case("3.1 text with RSV3", text("Hello", rsv=RSV3), close=1002),
    case("3.2 text, text with RSV2, ping", text("Hello"), got_text("Hello"),
         text("Hello", rsv=RSV2) + ping(b"never answered"), close=1002),
    case("3.4 binary with RSV1+RSV2+RSV3", binary(b"\x00\xff", rsv=RSV1 | RSV2 | RSV3),
         close=1002),
    case("3.5 ping with RSV1", ping(b"Hello", rsv=RSV1), close=1002),
    case("3.7 close with RSV3", wire(FIN | RSV3 | CLOSE, close_payload(1000)), close=1002),
]  # fmt: skip

OPCODE_CASES = [
    *(case(f"4.1 reserved data opcode {op:#x}", wire(FIN | op), close=1002) for op in range(3, 8)),
    *(case(f"4.2 reserved control opcode {op:#x}", wire(FIN | op, b"payload"), close=1002)
      for op in range(0xB, 0x10)),
    case("4.1.3 text, opcode 0x5, ping", text("Hello"), got_text("Hello"),
         wire(FIN | 0x5) + ping(), close=1002),
    case("4.2.3 text, opcode 0xd, ping", text("Hello"), got_text("Hello"),
         wire(FIN | 0xD, b"payload") + ping(), close=1002),
]  # fmt: skip

FRAGMENT_CASES = [
    case("5.1 ping in two fragments", ping(b"frag", fin=False) + cont(b"ment"), close=1002),
    case("5.2 pong in two fragments", pong(b"frag", fin=False) + cont(b"ment"), close=1002),
    case("5.3 text in two fragments", text("frag", fin=False) + cont("ment"),
         got_text("fragment")),
    case("5.4 text in two fragments, one write each", text("frag", fin=False), cont("ment"),
         got_text("fragment")),
    case("5.5 text in two fragments, one byte at a time",
         Chunked(text("frag", fin=False) + cont("ment"), 1), got_text("fragment")),
    case("5.6 text fragments with a ping between",
         text("frag", fin=False) + ping(b"in between") + cont("ment"),
         got_pong(b"in between"), got_text("fragment")),
    case("5.9 continuation (FIN=1) without a start", cont("ment") + text("Hello"), close=1002),
    case("5.10 continuation (FIN=0) without a start", cont("ment", fin=False), close=1002),
    case("5.15 message, then continuation without a start",
         text("frag", fin=False) + cont("ment"), got_text("fragment"),
         cont("again", fin=False) + text("Hello"), close=1002),
    case("5.17 new text inside a fragmented text", text("frag", fin=False) + text("ment"),
         close=1002),
    case("5.18 new binary inside a fragmented text",
         text("frag", fin=False) + binary(b"x", fin=False), close=1002),
    case("5.19 five fragments with two pings between",
         text("f", fin=False) + cont("r", fin=False) + ping(b"1") + cont("a", fin=False)
         + cont("g", fin=False) + ping(b"2") + cont("ment"),
         got_pong(b"1"), got_pong(b"2"), got_text("fragment")),
    case("5.x binary in 100 empty-or-tiny fragments",
         binary(b"", fin=False) + b"".join(cont(bytes([i]), fin=False) for i in range(99))
         + cont(b""), got_binary(bytes(range(99)))),
    # §5.4: control frames may come between fragments, and CLOSE is a control frame,
    # so the close is answered and the unfinished message is dropped.
    case("5.x close inside a fragmented message", text("frag", fin=False) + close(1000),
         close=close_payload(1000), websockets=1002),  # websockets: "incomplete fragmented message"
]  # fmt: skip


def _utf8_per_byte(data: bytes) -> bytes:
    """A text message sent one byte per fragment: code points split across frames."""
    if not data:
        return text(b"")
    frames = [text(data[:1], fin=len(data) == 1)]
    frames += [cont(data[i : i + 1], fin=i == len(data) - 1) for i in range(1, len(data))]
    return b"".join(frames)


UTF8_CASES = [
    case("6.1.1 empty text", text(""), got_text("")),
    case("6.1.2 text in three empty fragments",
         text("", fin=False) + cont("", fin=False) + cont(""), got_text("")),
    case("6.1.3 empty, 'middle', empty fragments",
         text("", fin=False) + cont("middle", fin=False) + cont(""), got_text("middle")),
    case("6.2.1 valid UTF-8 in one frame", text(SENTENCE), got_text(SENTENCE)),
    case("6.2.2 valid UTF-8 split at a code point", text(SENTENCE.encode()[:13], fin=False)
         + cont(SENTENCE.encode()[13:]), got_text(SENTENCE)),
    case("6.2.3 valid UTF-8, one byte per fragment", _utf8_per_byte(SENTENCE.encode()),
         got_text(SENTENCE)),
    case("6.2.4 kosme, one byte per fragment", _utf8_per_byte("κόσμε".encode()),
         got_text("κόσμε")),
    case("6.3.1 invalid UTF-8 (surrogate) in one frame", text(INVALID), close=1007),
    case("6.3.2 invalid UTF-8, one byte per fragment", _utf8_per_byte(INVALID), close=1007),
    # Failing fast (§8.1) needs UTF-8 checked per fragment; websockets only checks
    # complete messages, so these two wait forever for the last fragment there.
    case("6.4.x invalid fragment fails before the message ends",
         text("κόσμε", fin=False) + cont(b"\xed\xa0\x80edited", fin=False), close=1007,
         websockets=WAITS_FOR_THE_END),
    case("6.4.x invalid fragment fails without waiting for more",
         text(b"\xce\xba", fin=False), cont(b"\xf4\x90\x80\x80", fin=False), close=1007,
         websockets=WAITS_FOR_THE_END),
    case("6.5 four-byte code point split over two fragments",
         text(b"\xf0\x9f", fin=False) + cont(b"\x98\x80"), got_text("😀")),
    case("6.6 code point cut off at the end of the message", text(b"\xce"), close=1007),
    case("6.7 highest code point U+10FFFF", text(b"\xf4\x8f\xbf\xbf"), got_text("\U0010ffff")),
    case("6.7 noncharacter U+FFFF is valid UTF-8", text(b"\xef\xbf\xbf"), got_text("\uffff")),
    case("6.8 beyond U+10FFFF", text(b"\xf4\x90\x80\x80"), close=1007),
    case("6.9 overlong encoding of '/'", text(b"\xc0\xaf"), close=1007),
    case("6.10 lone continuation byte", text(b"\x80"), close=1007),
    case("6.11 0xFE byte", text(b"\xfe"), close=1007),
]  # fmt: skip

CLOSE_CASES = [
    case("7.1.1 text, then close", text("Hello"), got_text("Hello"), close(1000),
         close=close_payload(1000)),
    case("7.1.2 close twice: one answer", close(1000) + close(1000), close=close_payload(1000)),
    case("7.1.3 close, then ping: no pong", close(1000) + ping(b"late"),
         close=close_payload(1000)),
    case("7.1.4 close, then text: data after close ignored", close(1000) + text("late"),
         close=close_payload(1000)),
    case("7.1.5 fragment, close, last fragment", text("frag", fin=False) + close(1000)
         + cont("ment"), close=close_payload(1000), websockets=1002),
    case("7.1.6 256 KiB text, then close, then ping", text(b"B" * 256 * KIB),
         got_text(b"B" * 256 * KIB), close(1000) + ping(), close=close_payload(1000)),
    # §5.5.1 and websockets: an empty close is answered with an empty close.
    case("7.3.1 close, no payload", close(), close=b""),
    case("7.3.2 close, 1-byte payload", wire(FIN | CLOSE, b"\x03"), close=1002),
    case("7.3.3 close 1000, no reason", close(1000), close=close_payload(1000)),
    case("7.3.4 close 1000 with a reason: echoed", close(1000, b"Hello World!"),
         close=close_payload(1000, b"Hello World!")),
    case("7.3.5 close with a 123-byte reason", close(1000, b"*" * 123),
         close=close_payload(1000, b"*" * 123)),
    case("7.3.6 close with a 124-byte reason", close(1000, b"*" * 124), close=1002),
    case("7.5.1 close reason not UTF-8", close(1000, INVALID), close=1007),
    *(case(f"7.7 close code {code}", close(code), close=close_payload(code))
      for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                   3000, 3999, 4000, 4999)),
    *(case(f"7.9 close code {code}", close(code), close=1002)
      for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)),
]  # fmt: skip

MASKING_AND_LIMIT_CASES = [
    case("§5.1 unmasked client frame", wire(FIN | TEXT, b"Hello", masked=False), close=1002),
    case("§5.1 text, then an unmasked frame", text("Hello"), got_text("Hello"),
         wire(FIN | BINARY, b"x", masked=False), close=1002),
    case("§5.2 64-bit length with the top bit set",
         wire(FIN | BINARY, length=bytes([127]) + (2**63 + 5).to_bytes(8, "big")),
         close=1002, websockets=1009),  # websockets: checks max_size before the top bit
    # §5.2 "the minimal number of bytes MUST be used"; wslearn.framing refuses
    # longer encodings, websockets accepts them.
    case("§5.2 5-byte payload with a 16-bit length",
         wire(FIN | TEXT, b"Hello", length=bytes([126]) + (5).to_bytes(2, "big")),
         close=1002, websockets=None),
    case("1009 frame announcing 1 MiB + 1 (nothing else sent)",
         wire(FIN | BINARY, length=bytes([127]) + (2**20 + 1).to_bytes(8, "big")), close=1009),
    case("1009 message over 1 MiB in two fragments", binary(bytes(600 * KIB), fin=False)
         + cont(bytes(600 * KIB)), close=1009),
]  # fmt: skip

CASES = [
    *sizes_cases(),
    *PING_CASES,
    *RSV_CASES,
    *OPCODE_CASES,
    *FRAGMENT_CASES,
    *UTF8_CASES,
    *CLOSE_CASES,
    *MASKING_AND_LIMIT_CASES,
]


# --- Running a case --------------------------------------------------------------


async def send(client: RawWebSocket, item: bytes | Chunked) -> None:
    """Write bytes as they are, or a ``Chunked`` piece by piece."""
    if isinstance(item, bytes):
        await client.send(item)
        return
    for i in range(0, len(item.data), item.size):
        await client.send(item.data[i : i + item.size])
        if item.delay:
            await asyncio.sleep(item.delay)


def summary(frame: Frame | None) -> object:
    """What a failed assertion shows: opcode and payload (shortened)."""
    if frame is None:
        return "TCP closed"
    payload = frame.payload if len(frame.payload) <= 40 else f"<{len(frame.payload)} bytes>"
    return (frame.opcode.name, payload, "FIN" if frame.fin else "no FIN")


async def play(port: int, expected: Case, end: int | bytes | None) -> None:
    # §5.1: "A client MUST close a connection if it detects a masked frame": the raw
    # client refuses any masked server frame.
    async with RawWebSocket.connect("127.0.0.1", port) as client:
        for item in expected.script:
            if isinstance(item, bytes | Chunked):
                await send(client, item)
                continue
            opcode, payload = item
            frame = await client.recv_frame()
            want = Frame(True, opcode, payload)
            assert summary(frame) == summary(want)
            assert frame is not None and frame.payload == payload
        if end is None:  # still healthy: a normal closing handshake must work
            await client.send(close(1000))
            end = close_payload(1000)
        frame = await client.recv_frame()
        assert frame is not None, "TCP closed without a close frame"
        assert frame.opcode is Opcode.CLOSE, f"expected a close frame, got {summary(frame)}"
        if isinstance(end, int):
            assert int.from_bytes(frame.payload[:2], "big") == end, summary(frame)
            frame.payload[2:].decode("utf-8")  # a failure's reason is still valid UTF-8
        else:
            assert frame.payload == end
        # Then nothing but the end of TCP: §7.1.1, the server closes it first.
        assert summary(await client.recv_frame()) == "TCP closed"


async def ws_echo(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)


@contextlib.asynccontextmanager
async def echo_server(kind: str) -> AsyncIterator[int]:
    if kind == "scratch":
        async with scratch.serve(scratch.echo, close_timeout=2) as server:
            yield server.port
    else:
        async with ws_serve(ws_echo, "127.0.0.1", 0, compression=None, close_timeout=2) as server:
            yield server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("kind", ["scratch", "websockets"])
@pytest.mark.parametrize("expected", CASES)
def test_conformance(expected: Case, kind: str) -> None:
    end = expected.close
    if kind == "websockets" and expected.websockets != "same":
        if isinstance(expected.websockets, str):
            pytest.skip(f"websockets {expected.websockets}")
        end = expected.websockets

    async def main() -> None:
        async with asyncio.timeout(10), echo_server(kind) as port:
            await play(port, expected, end)

    asyncio.run(main())


def test_server_keeps_serving_after_every_bad_client() -> None:
    """One scratch server, all failing cases in a row, then a normal echo still works."""
    failing = [p.values[0] for p in CASES if isinstance(p.values[0].close, int)]

    async def main() -> None:
        async with asyncio.timeout(20), echo_server("scratch") as port:
            for expected in failing:
                await play(port, expected, expected.close)
            await play(port, Case((text("still here"), got_text("still here")), None), None)

    asyncio.run(main())
