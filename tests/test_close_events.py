"""Closing handshakes, live: the CloseEvent the browser port reports, the close frames on the wire.

Each test runs one way a WebSocket connection can end, against a real peer on
127.0.0.1 (a `websockets` server, or a few lines of raw asyncio where a peer
must misbehave in a way `websockets` never would), watches it through the
browser port (`wslearn.websocket.WebSocket`) and/or a wire tap, and asserts:

- the ``CloseEvent`` (``code``, ``reason``, ``wasClean``) and whether ``error`` fired;
- the close frames' bytes as they crossed the wire, decoded with ``decode_close``.

The expected values come from RFC 6455 (§7.1.5 1005/1006, §7.4.1 the codes),
the WHATWG WebSockets standard and Chromium 156, observed with the same
misbehaving servers: for every malformed frame it answers with close 1002 and
the page sees ``error``, then ``close`` 1006 with ``wasClean`` false.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from conftest import async_test
from rawws import RawWebSocket, read_to_eof
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wslearn import servers, wire
from wslearn.close import decode_close, encode_close
from wslearn.framing import Frame, Opcode, decode_frame, encode_frame
from wslearn.websocket import CloseEvent, WebSocket

CLOSE = Opcode.CLOSE


# --------------------------------------------------------------------------- helpers


def summary(event: CloseEvent) -> tuple[int, str, bool]:
    return event.code, event.reason, event.wasClean


def fired(ws: WebSocket) -> list[str]:
    """The events ``ws`` fired, in order (readyState changes left out)."""
    return [
        entry.type for entry in ws.events if entry.type in ("open", "message", "error", "close")
    ]


def stream(tap: wire.Tap, direction: wire.Direction) -> bytes:
    """Everything after the HTTP head in one direction of the first connection."""
    return wire.split_head(tap.data(direction, 0))[1]


def frames_in(data: bytes) -> list[Frame]:
    """Decode a captured stream leniently (RSV bits and masks as they came): a witness."""
    frames = []
    while data:
        decoded = decode_frame(data, allow_rsv1=True)
        assert decoded is not None, f"a truncated frame on the wire: {data.hex(' ')}"
        frame, used = decoded
        frames.append(frame)
        data = data[used:]
    return frames


def close_frames(tap: wire.Tap, direction: wire.Direction) -> list[bytes]:
    """The raw bytes of each close frame sent in ``direction``."""
    return [
        encode_frame(f, check=False) for f in frames_in(stream(tap, direction)) if f.opcode is CLOSE
    ]


def close_payloads(tap: wire.Tap, direction: wire.Direction) -> list[bytes]:
    return [f.payload for f in frames_in(stream(tap, direction)) if f.opcode is CLOSE]


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[ServerConnection], Awaitable[None]], **options: Any
) -> AsyncIterator[servers.LocalServer]:
    """A `websockets` server on 127.0.0.1:0 (compression off) as a ``LocalServer``."""
    async with servers.LocalServer("test", handler, options=options) as server:
        yield server


class Received:
    """What a `websockets` server handler saw: the close frame it received."""

    def __init__(self) -> None:
        self.close: tuple[int, str] | None = None
        self.done = asyncio.Event()

    async def echo(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            self.close = None if rcvd is None else (int(rcvd.code), rcvd.reason)
            self.done.set()


# A raw server: does the opening handshake with wslearn.handshake, then misbehaves.

Behaviour = Callable[[RawWebSocket], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(behaviour: Behaviour) -> AsyncIterator[tuple[str, int]]:
    """A TCP server that answers the handshake, then runs ``behaviour``; yields (host, port)."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await behaviour(await RawWebSocket.accept(reader, writer))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    try:
        yield "127.0.0.1", server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await server.wait_closed()


def send_then_answer_close(data: bytes) -> Behaviour:
    """Send ``data`` (frame bytes); hang up once the client's close frame comes, as servers do."""

    async def behaviour(ws: RawWebSocket) -> None:
        await ws.send(data)
        await ws.recv_close()

    return behaviour


async def raw_client(target: Any, data: Frame | bytes) -> tuple[bytes, bool]:
    """Handshake by hand, send ``data``; return (the server's close frame, hung up?).

    A ``Frame`` goes out masked with no rule checked, so it may be a broken one.
    """
    async with RawWebSocket.connect(target.host, target.bound_port) as raw:
        await raw.send(data)
        frame = await raw.recv_close()
        return encode_frame(frame, check=False), await raw.hung_up()


# --------------------------------------------------------------------------- clean closes


@async_test
async def test_client_close_1000_with_the_seeds_reason_is_clean_and_echoed() -> None:
    received = Received()
    async with serving(received.echo) as server, wire.Tap(server) as tap:
        ws = WebSocket(tap.url)
        await ws.wait_for("open")
        ws.close(1000, "Closing normally!")  # the seed's JS, line for line
        assert ws.readyState == WebSocket.CLOSING
        event = await ws.closed()
        await received.done.wait()
    assert summary(event) == (1000, "Closing normally!", True)
    assert fired(ws) == ["open", "close"]
    assert received.close == (1000, "Closing normally!")
    # on the wire: the client's frame is masked, the server echoes code and reason unmasked
    (client,) = close_frames(tap, wire.CLIENT)
    (answer,) = close_frames(tap, wire.SERVER)
    assert client[:2] == bytes([0x88, 0x80 | 19])  # FIN + close, MASK + 19 bytes
    assert answer == b"\x88\x13\x03\xe8Closing normally!"
    assert [decode_close(p) for p in close_payloads(tap, wire.CLIENT)] == [
        (1000, "Closing normally!")
    ]
    assert decode_close(answer[2:]) == (1000, "Closing normally!")


@async_test
async def test_client_close_without_arguments_sends_an_empty_frame_and_reports_1005() -> None:
    received = Received()
    async with serving(received.echo) as server, wire.Tap(server) as tap:
        ws = WebSocket(tap.url)
        await ws.wait_for("open")
        ws.close()
        event = await ws.closed()
        await received.done.wait()
    # websockets reports the missing status as 1005 too (it never crosses the wire)
    assert received.close == (1005, "")
    assert close_payloads(tap, wire.CLIENT) == [b""]
    assert close_frames(tap, wire.SERVER) == [b"\x88\x00"]
    assert summary(event) == (1005, "", True)


@async_test
async def test_server_shutdown_closes_with_1001_going_away() -> None:
    async with servers.echo() as server, wire.Tap(server) as tap:
        ws = WebSocket(tap.url)
        await ws.wait_for("open")
        await server.stop()
        event = await ws.closed()
    assert summary(event) == (1001, "", True)
    assert fired(ws) == ["open", "close"]
    assert close_frames(tap, wire.SERVER) == [b"\x88\x02\x03\xe9"]
    assert [decode_close(p) for p in close_payloads(tap, wire.CLIENT)] == [(1001, "")]
    closing = next(e for e in ws.events if e.type == "closing")
    assert closing.details == {"by": "server", "code": 1001, "reason": ""}


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [
        ("code=4000&reason=bye", 4000, "bye"),
        ("code=4999&reason=banned%20%E2%9C%97", 4999, "banned ✗"),
        ("code=3000&reason=unauthorized", 3000, "unauthorized"),
    ],
)
@async_test
async def test_application_codes_and_reasons_arrive_as_sent(
    query: str, code: int, reason: str
) -> None:
    async with servers.closer() as server, wire.Tap(server) as tap:
        ws = WebSocket(f"{tap.url}/?{query}")
        event = await ws.closed()
    assert summary(event) == (code, reason, True)
    (frame,) = close_frames(tap, wire.SERVER)
    assert frame == bytes([0x88, len(encode_close(code, reason))]) + encode_close(code, reason)
    assert decode_close(frame[2:]) == (code, reason)
    # the port answers with the same code and reason, as Chromium does
    assert [decode_close(p) for p in close_payloads(tap, wire.CLIENT)] == [(code, reason)]


@async_test
async def test_message_over_the_servers_max_size_closes_with_1009() -> None:
    async with servers.echo(max_size=100) as server, wire.Tap(server) as tap:
        ws = WebSocket(tap.url)
        await ws.wait_for("open")
        ws.send("x" * 101)
        event = await ws.closed()
    assert (event.code, event.wasClean) == (1009, True)
    assert event.reason == "frame with 101 bytes exceeds limit of 100 bytes"
    assert fired(ws) == ["open", "close"]  # the server closed cleanly: no error event
    (payload,) = close_payloads(tap, wire.SERVER)
    assert payload[:2] == b"\x03\xf1"  # 1009, big-endian
    assert decode_close(payload) == (1009, event.reason)


@async_test
async def test_a_message_of_exactly_max_size_is_echoed() -> None:
    async with servers.echo(max_size=100) as server:
        ws = WebSocket(server.url)
        await ws.wait_for("open")
        ws.send("x" * 100)
        message = await ws.wait_for("message")
        ws.close(1000)
        event = await ws.closed()
    assert message.data == "x" * 100
    assert summary(event) == (1000, "", True)


@async_test
async def test_server_close_without_status_reports_1005_and_the_wire_carries_no_code() -> None:
    async with servers.closer() as server, wire.Tap(server) as tap:
        ws = WebSocket(f"{tap.url}/?code=1005")
        event = await ws.closed()
    assert summary(event) == (1005, "", True)
    assert close_frames(tap, wire.SERVER) == [b"\x88\x00"]  # 1005 itself never crosses the wire
    assert close_payloads(tap, wire.CLIENT) == [b""]  # the port echoes an empty body
    assert decode_close(b"") == (1005, "")


# --------------------------------------------------------------------------- abnormal closes


@async_test
async def test_tcp_cut_without_close_frame_reports_1006_unclean_without_error() -> None:
    async with servers.closer() as server, wire.Tap(server) as tap:
        ws = WebSocket(f"{tap.url}/?code=1006")
        event = await ws.closed()
    assert summary(event) == (1006, "", False)
    assert fired(ws) == ["open", "close"]  # broken, not failed: no error event
    assert stream(tap, wire.SERVER) == b"" and stream(tap, wire.CLIENT) == b""


@async_test
async def test_server_that_hangs_up_on_the_clients_close_frame_gives_1006() -> None:
    async def swallow_close(ws: RawWebSocket) -> None:
        await ws.recv_close()
        ws.writer.transport.abort()  # no close frame back

    async with raw_server(swallow_close) as target, wire.Tap(target) as tap:
        ws = WebSocket(tap.url)
        await ws.wait_for("open")
        ws.close(1000, "done")
        event = await ws.closed()
    assert summary(event) == (1006, "", False)
    assert [decode_close(p) for p in close_payloads(tap, wire.CLIENT)] == [(1000, "done")]
    assert close_payloads(tap, wire.SERVER) == []


@async_test
async def test_server_close_then_immediate_hang_up_is_still_clean_like_chromium() -> None:
    async def close_and_go(ws: RawWebSocket) -> None:
        await ws.send(Frame(True, CLOSE, encode_close(4000, "bye")))  # unmasked: server side
        # ... then raw_server closes TCP at once, not waiting for the answer

    async with raw_server(close_and_go) as target:
        ws = WebSocket(f"ws://{target[0]}:{target[1]}/")
        event = await ws.closed()
    # Chromium 156 reports (4000, "bye", true) here too: the close frame arrived.
    assert summary(event) == (4000, "bye", True)


# Malformed frames from the server: the port (like Chromium) sends close 1002 with a
# reason, then fires error and close 1006 (the page never learns the 1002).
MALFORMED_FROM_SERVER = {
    "rsv1_set": (encode_frame(Frame(True, Opcode.TEXT, b"Hello", rsv1=True)), "reserved bits"),
    "masked": (encode_frame(Frame(True, Opcode.TEXT, b"Hello"), mask=True), "masking"),
    "close_code_1005_on_the_wire": (
        encode_frame(Frame(True, CLOSE, struct.pack("!H", 1005)), check=False),
        "status code",
    ),
    "close_payload_of_1_byte": (encode_frame(Frame(True, CLOSE, b"\x03")), "too short"),
}


@pytest.mark.parametrize("name", list(MALFORMED_FROM_SERVER))
@async_test
async def test_malformed_frame_from_server_fails_with_1002_and_reports_1006(name: str) -> None:
    data, why = MALFORMED_FROM_SERVER[name]
    async with raw_server(send_then_answer_close(data)) as target, wire.Tap(target) as tap:
        ws = WebSocket(tap.url)
        event = await ws.closed()
    assert summary(event) == (1006, "", False)
    assert fired(ws) == ["open", "error", "close"]
    assert stream(tap, wire.SERVER) == data  # the bad frame crossed the wire as built
    (payload,) = close_payloads(tap, wire.CLIENT)
    code, reason = decode_close(payload)
    assert code == 1002 and why in reason


@async_test
async def test_a_failed_connection_drops_tcp_at_once_without_waiting_for_the_server() -> None:
    """Chromium hangs up right after its 1002; it does not wait out a close timeout."""
    bad = encode_frame(Frame(True, Opcode.TEXT, b"Hello", rsv1=True))
    hung_up = asyncio.Event()

    async def send_then_stay(ws: RawWebSocket) -> None:
        await ws.send(bad)
        await read_to_eof(ws.reader)  # never answers the close frame; reads until the client's EOF
        hung_up.set()

    async with raw_server(send_then_stay) as (host, port):
        ws = WebSocket(f"ws://{host}:{port}", close_timeout=5.0)
        async with asyncio.timeout(1.0):  # far below close_timeout
            event = await ws.closed()
            await hung_up.wait()
    assert summary(event) == (1006, "", False)
    assert fired(ws) == ["open", "error", "close"]


@async_test
async def test_invalid_utf8_from_server_is_answered_with_1002_like_chromium() -> None:
    bad = encode_frame(Frame(True, Opcode.TEXT, b"\xc3\x28"))
    async with raw_server(send_then_answer_close(bad)) as target, wire.Tap(target) as tap:
        ws = WebSocket(tap.url)
        event = await ws.closed()
    assert summary(event) == (1006, "", False)
    assert fired(ws) == ["open", "error", "close"]
    # RFC 6455 §7.4.1 suggests 1007; Chromium (and so the port) sends 1002
    assert [decode_close(p) for p in close_payloads(tap, wire.CLIENT)] == [
        (1002, "Invalid UTF-8 in text frame")
    ]


# --------------------------------------------------------------------------- the server's side


SERVER_ANSWERS = [
    ("RSV1 set", Frame(True, Opcode.TEXT, b"Hello", rsv1=True), 1002),
    ("unmasked", encode_frame(Frame(True, Opcode.TEXT, b"Hello")), 1002),
    ("close code 1005 on the wire", Frame(True, CLOSE, struct.pack("!H", 1005)), 1002),
    ("close code 1006 on the wire", Frame(True, CLOSE, struct.pack("!H", 1006)), 1002),
    ("close code 999", Frame(True, CLOSE, struct.pack("!H", 999)), 1002),
    ("close payload of 1 byte", Frame(True, CLOSE, b"\x03"), 1002),
    ("invalid UTF-8 in a text message", Frame(True, Opcode.TEXT, b"\xc3\x28"), 1007),
    ("invalid UTF-8 in a close reason", Frame(True, CLOSE, b"\x03\xe8\xc3\x28"), 1007),
    ("message over max_size", Frame(True, Opcode.BINARY, bytes(101)), 1009),
]


@pytest.mark.parametrize(
    ("name", "data", "code"), SERVER_ANSWERS, ids=[name for name, _, _ in SERVER_ANSWERS]
)
@async_test
async def test_websockets_server_answers_a_raw_client_with_the_right_code(
    name: str, data: Frame | bytes, code: int
) -> None:
    async with servers.echo(max_size=100) as server, wire.Tap(server) as tap:
        answer, hung_up = await raw_client(tap, data)
    assert answer[0] == 0x88 and answer[1] & 0x80 == 0  # FIN + close, unmasked (server)
    assert decode_close(answer[2:])[0] == code
    assert hung_up  # a server that fails the connection closes TCP at once
    assert close_frames(tap, wire.SERVER) == [answer]  # the tap saw the same bytes


@async_test
async def test_close_codes_a_client_may_send_are_echoed_by_websockets() -> None:
    for code in (1000, 1001, 1003, 1011, 3000, 4999):
        async with servers.echo() as server:
            answer, hung_up = await raw_client(server, Frame(True, CLOSE, encode_close(code, "x")))
        assert decode_close(answer[2:]) == (code, "x") and hung_up
