"""wslearn.scratch against a real peer: the ``websockets`` library, both ways round.

Part 1: a ``websockets`` client talks to the scratch server. Part 2: the
scratch client talks to a ``websockets`` server. Part 3: handshake refusals,
read off the raw socket. Frame-by-frame conformance is in test_conformance.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from helpers import RawWebSocket, listen, read_head, read_to_eof, run, tcp
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosedError as WsClosedError
from websockets.exceptions import ConnectionClosedOK as WsClosedOK
from websockets.exceptions import InvalidStatus

from wslearn import scratch
from wslearn.close import decode_close
from wslearn.framing import Frame, FrameReader, Opcode, decode_frame, encode_frame
from wslearn.handshake import (
    MAX_HEAD_SIZE,
    HandshakeError,
    build_request,
    check_response,
    parse_response,
)

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024]


def client(url: str, **options: Any) -> Any:
    """A ``websockets`` client as the course uses it: no compression."""
    return ws_connect(url, compression=None, close_timeout=2, **options)


@contextlib.asynccontextmanager
async def ws_server(handler: Callable[[ServerConnection], Awaitable[None]], **options: Any):
    """A ``websockets`` server on an OS-chosen port; yields its URL."""
    async with ws_serve(
        handler, "127.0.0.1", 0, compression=None, close_timeout=2, **options
    ) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def ws_echo(ws: ServerConnection) -> None:
    with contextlib.suppress(WsClosedError):
        async for message in ws:
            await ws.send(message)


def recorder() -> tuple[asyncio.Future[Any], Callable[..., Awaitable[None]]]:
    """A future and a scratch handler that stores how its connection ended in it."""
    outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(ws: scratch.Connection) -> None:
        try:
            received = [message async for message in ws]
            outcome.set_result(("ended quietly", ws.close_code, ws.close_reason, received))
        except scratch.ConnectionClosed as exc:
            outcome.set_result((type(exc).__name__, exc.code, exc.reason, None))
            raise

    return outcome, handler


# --- Part 1: websockets client -> scratch server ------------------------------------


@pytest.mark.parametrize(
    "message",
    ["", "hello", "héllo ☃ 😀", b"", b"\x00\xff" * 10, bytes(range(256))],
    ids=["empty text", "ascii", "non-ascii text", "empty bytes", "bytes", "all byte values"],
)
def test_websockets_client_gets_its_message_echoed_with_its_type(message: str | bytes) -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server, client(server.url) as ws:
            await ws.send(message)
            assert await ws.recv() == message

    run(main())


def test_websockets_client_echo_of_every_length_class_up_to_1_mib() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server, client(server.url) as ws:
            for size in SIZES:
                data = os.urandom(size)
                await ws.send(data)
                assert await ws.recv() == data, size
                await ws.send(data.hex()[:size])
                assert await ws.recv() == data.hex()[:size], size

    run(main())


def test_fragments_from_websockets_are_reassembled() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server, client(server.url) as ws:
            await ws.send(["frag", "mé", "nt"])  # an iterable: one frame each
            assert await ws.recv() == "fragmént"
            await ws.send([b"\x00" * 70000, b"\x01", b""])
            assert await ws.recv() == b"\x00" * 70000 + b"\x01"

    run(main())


def test_scratch_server_fragments_on_request_and_websockets_reassembles() -> None:
    async def handler(ws: scratch.Connection) -> None:
        async for message in ws:
            await ws.send(message, fragment_size=1000)

    async def main() -> None:
        async with scratch.serve(handler) as server:
            async with client(server.url) as ws:
                await ws.send("ü" * 2500)  # 5000 bytes: a code point straddles frames
                assert await ws.recv() == "ü" * 2500
            # On the wire: 5 frames, TEXT then CONTINUATION, FIN on the last only.
            async with RawWebSocket.connect("127.0.0.1", server.port) as raw:
                await raw.send(Frame(True, Opcode.BINARY, bytes(2500)))
                got = [await raw.recv_frame() for _ in range(3)]
                assert [(f.opcode, f.fin, len(f.payload)) for f in got] == [
                    (Opcode.BINARY, False, 1000),
                    (Opcode.CONTINUATION, False, 1000),
                    (Opcode.CONTINUATION, True, 500),
                ]

    run(main())


def test_websockets_ping_is_answered_automatically() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server, client(server.url) as ws:
            latency = await (await ws.ping(b"are you there?"))
            assert 0 <= latency < 5

    run(main())


def test_scratch_server_ping_returns_the_round_trip_time() -> None:
    async def handler(ws: scratch.Connection) -> None:
        latency = await ws.ping(b"ping from scratch")
        await ws.send(f"{latency:.6f}")

    async def main() -> None:
        async with scratch.serve(handler) as server, client(server.url) as ws:
            assert 0 <= float(await ws.recv()) < 5

    run(main())


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["chat.v1", "chat.v2"], "chat.v1"), (["chat.v2", "chat.v1"], "chat.v2"),
     (["other"], None), ([], None)],
    ids=["client order v1 first", "client order v2 first", "none supported", "none offered"],
)  # fmt: skip
def test_subprotocol_follows_the_clients_preference(offered: list[str], chosen: str | None) -> None:
    async def handler(ws: scratch.Connection) -> None:
        await ws.send(repr(ws.subprotocol))

    async def main() -> None:
        async with scratch.serve(handler, subprotocols=["chat.v2", "chat.v1"]) as server:
            async with client(server.url, subprotocols=offered or None) as ws:
                assert ws.subprotocol == chosen
                assert await ws.recv() == repr(chosen)

    run(main())


@pytest.mark.parametrize(
    ("code", "reason", "ending"),
    [(1000, "", "ended quietly"), (1001, "bye", "ended quietly"),
     (4000, "app-specific", "ConnectionClosedError"), (1008, "policy", "ConnectionClosedError")],
    ids=["1000", "1001 going away", "4000 with reason", "1008 policy"],
)  # fmt: skip
def test_websockets_client_closes_and_the_code_is_echoed(code: int, reason: str, ending: str):
    async def main() -> None:
        outcome, handler = recorder()
        async with scratch.serve(handler) as server:
            async with client(server.url) as ws:
                await ws.send("before")
                await ws.close(code, reason)
            assert (ws.close_code, ws.close_reason) == (code, reason)  # the echo
            seen = await outcome
            assert seen[:3] == (ending, code, reason)

    run(main())


def test_empty_close_from_websockets_is_answered_with_an_empty_close() -> None:
    async def main() -> None:
        outcome, handler = recorder()
        async with scratch.serve(handler) as server:
            async with client(server.url) as ws:
                await ws.close(code=None)  # type: ignore[arg-type]  # None: no payload
            assert ws.close_code == 1005  # what an empty close frame reads as
            assert (await outcome)[:2] == ("ended quietly", 1005)

    run(main())


@pytest.mark.parametrize(
    ("code", "reason", "exception"),
    [(1000, "", WsClosedOK), (4001, "done", WsClosedError), (None, "", WsClosedOK)],
    ids=["1000", "4001 with reason", "empty close 1005"],
)
def test_scratch_server_closes_and_websockets_echoes(code, reason, exception) -> None:
    async def handler(ws: scratch.Connection) -> None:
        await ws.close(code, reason)
        await ws.send(f"{ws.close_code}")  # too late: raises ConnectionClosed

    async def main() -> None:
        async with scratch.serve(handler) as server, client(server.url) as ws:
            with pytest.raises(exception) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (code or 1005, reason)

    run(main())


def test_handler_returning_closes_with_1000() -> None:
    async def handler(ws: scratch.Connection) -> None:
        await ws.send("one message, then I return")

    async def main() -> None:
        async with scratch.serve(handler) as server, client(server.url) as ws:
            assert [m async for m in ws] == ["one message, then I return"]
            assert ws.close_code == 1000

    run(main())


def test_abrupt_tcp_cut_by_the_client_is_1006_for_the_server() -> None:
    async def main() -> None:
        outcome, handler = recorder()
        async with scratch.serve(handler) as server:
            ws = await client(server.url)
            await ws.send("then nothing")
            ws.transport.abort()  # TCP reset, no close frame
            assert (await outcome)[:2] == ("ConnectionClosedError", 1006)

    run(main())


def test_handler_exception_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: scratch.Connection) -> None:
        await ws.recv()
        raise RuntimeError("bug in the handler")

    async def main() -> None:
        async with scratch.serve(handler) as server, client(server.url) as ws:
            await ws.send("trigger")
            with pytest.raises(WsClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011

    with caplog.at_level(logging.ERROR, logger="wslearn.scratch"):
        run(main())
    assert "connection handler failed" in caplog.text
    assert "bug in the handler" in caplog.text


@pytest.mark.parametrize(
    "message",
    [b"x" * 1001, ["x" * 600, "x" * 600]],
    ids=["one frame", "two fragments"],
)
def test_message_over_max_size_closes_with_1009(message: bytes | list[str]) -> None:
    async def main() -> None:
        outcome, handler = recorder()
        async with scratch.serve(handler, max_size=1000) as server, client(server.url) as ws:
            await ws.send(b"x" * 1000)  # exactly max_size: fine
            await ws.send(message)
            with pytest.raises(WsClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1009
            assert (await outcome)[0] == "ConnectionClosedError"

    run(main())


def test_server_stop_closes_clients_with_1001() -> None:
    async def main() -> None:
        server = await scratch.serve(scratch.echo)
        async with client(server.url) as ws:
            server.close()
            with pytest.raises(WsClosedOK) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1001
        await server.wait_closed()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)

    run(main())


def test_server_keeps_serving_others_after_a_bad_client() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server, client(server.url) as good:
            async with RawWebSocket.connect("127.0.0.1", server.port) as raw:
                await raw.send(Frame(True, Opcode.TEXT, b"hi"), mask=False)  # unmasked
                bad_end = await raw.recv_frame()
                assert bad_end.opcode is Opcode.CLOSE and bad_end.payload[:2] == b"\x03\xea"  # 1002
                assert await raw.recv_frame() is None  # and the server closed TCP
            await good.send("still there?")
            assert await good.recv() == "still there?"
            async with client(server.url) as newcomer:
                await newcomer.send("me too")
                assert await newcomer.recv() == "me too"

    run(main())


def test_close_times_out_when_the_client_never_answers() -> None:
    async def main() -> None:
        outcome: asyncio.Future[tuple[float, int | None]] = asyncio.Future()

        async def handler(ws: scratch.Connection) -> None:
            start = time.monotonic()
            await ws.close(1000)
            outcome.set_result((time.monotonic() - start, ws.close_code))

        async with scratch.serve(handler, close_timeout=0.3) as server:
            async with RawWebSocket.connect("127.0.0.1", server.port) as raw:  # never answers
                assert (await raw.recv_frame()).opcode is Opcode.CLOSE
                elapsed, code = await outcome
        assert 0.25 < elapsed < 5  # close_timeout=0.3, not the default 10 s
        assert code == 1006  # no close frame came back

    run(main())


def test_no_pong_after_the_servers_close_frame() -> None:
    async def main() -> None:
        closed: asyncio.Future[int | None] = asyncio.Future()

        async def handler(ws: scratch.Connection) -> None:
            await ws.close(4000)
            closed.set_result(ws.close_code)

        async with scratch.serve(handler) as server:
            async with RawWebSocket.connect("127.0.0.1", server.port) as raw:
                assert (await raw.recv_frame()).payload == b"\x0f\xa0"  # 4000
                await raw.send(Frame(True, Opcode.PING, b"late"))
                await raw.send(Frame(True, Opcode.CLOSE, b"\x0f\xa0"))
                assert await raw.recv_frame() is None  # no pong: only the end of TCP
            assert await closed == 4000

    run(main())


def test_ping_raises_connection_closed_when_the_connection_ends() -> None:
    async def handler(ws: scratch.Connection) -> None:
        with pytest.raises(scratch.ConnectionClosedOK):
            await ws.ping()  # the client closes instead of answering
        await ws.send("never sent")

    async def main() -> None:
        async with scratch.serve(handler) as server:
            async with RawWebSocket.connect("127.0.0.1", server.port) as raw:
                assert (await raw.recv_frame()).opcode is Opcode.PING
                await raw.send(Frame(True, Opcode.CLOSE, b"\x03\xe8"))
                assert (await raw.recv_frame()).payload == b"\x03\xe8"
                assert await raw.recv_frame() is None

    run(main())


def test_a_handler_that_does_not_read_slows_the_sender_down() -> None:
    """After max_queue unread messages the server stops reading; TCP pushes back."""
    count, chunk = 400, bytes(64 * 1024)  # 25 MiB: more than loopback buffers hold

    async def main() -> None:
        go, received = asyncio.Event(), []

        async def handler(ws: scratch.Connection) -> None:
            await go.wait()
            while len(received) < count:
                received.append(len(await ws.recv()))

        async with scratch.serve(handler, max_queue=2) as server, client(server.url) as ws:
            sent = 0

            async def flood() -> None:
                nonlocal sent
                for _ in range(count):
                    await ws.send(chunk)
                    sent += 1

            task = asyncio.create_task(flood())
            await asyncio.sleep(0.3)
            assert not task.done() and sent < count // 2
            go.set()
            await task
        assert received == [len(chunk)] * count

    run(main())


# --- Part 2: scratch client -> websockets server ------------------------------------


def test_scratch_client_echo_with_a_websockets_server() -> None:
    async def main() -> None:
        async with ws_server(ws_echo, max_size=None) as url, scratch.connect(url) as ws:
            for message in ["", "héllo ☃", b"", bytes(range(256))]:
                await ws.send(message)
                assert await ws.recv() == message
            for size in SIZES:
                data = os.urandom(size)
                await ws.send(data)
                assert await ws.recv() == data, size
            assert ws.state is scratch.State.OPEN
        assert ws.state is scratch.State.CLOSED and ws.close_code == 1000

    run(main())


def test_scratch_client_fragments_both_ways() -> None:
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send([message[:3], message[3:6], message[6:]])  # three frames

    async def main() -> None:
        async with ws_server(handler) as url, scratch.connect(url) as ws:
            await ws.send("fragmented ☃ text", fragment_size=4)
            assert await ws.recv() == "fragmented ☃ text"
            await ws.send(bytes(range(100)), fragment_size=7)
            assert await ws.recv() == bytes(range(100))

    run(main())


def test_pings_between_scratch_client_and_websockets_server() -> None:
    async def handler(ws: ServerConnection) -> None:
        latency = await (await ws.ping(b"from websockets"))  # the scratch client answers
        await ws.send(f"{latency:.6f}")
        await ws.wait_closed()

    async def main() -> None:
        async with ws_server(handler) as url, scratch.connect(url) as ws:
            assert 0 <= await ws.ping() < 5
            assert 0 <= await ws.ping(b"custom payload") < 5
            assert 0 <= float(await ws.recv()) < 5

    run(main())


def test_scratch_client_subprotocol_is_the_websockets_servers_choice() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.subprotocol or "none")

    async def main() -> None:
        async with ws_server(handler, subprotocols=["b", "a"]) as url:
            async with scratch.connect(url, subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"  # websockets: the server's order wins
                assert await ws.recv() == "b"
            # websockets refuses a client that offers none when it requires one.
            with pytest.raises(HandshakeError) as info:
                await scratch.connect(url)
            assert info.value.status == 400

    run(main())


@pytest.mark.parametrize(
    ("code", "reason", "ending"),
    [(1000, "", "ok"), (4000, "bye", "error"), (None, "", "ok")],
    ids=["1000", "4000 with reason", "empty close 1005"],
)
def test_scratch_client_closes_a_websockets_connection(code, reason, ending) -> None:
    async def main() -> None:
        seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def handler(ws: ServerConnection) -> None:
            try:
                await ws.recv()
            except (WsClosedOK, WsClosedError) as exc:
                kind = "ok" if isinstance(exc, WsClosedOK) else "error"
                seen.set_result((kind, exc.rcvd.code, exc.rcvd.reason))

        async with ws_server(handler) as url:
            ws = await scratch.connect(url)
            await ws.close(code, reason)
            expected_code = code or 1005
            assert await seen == (ending, expected_code, reason)
            assert (ws.close_code, ws.close_reason) == (expected_code, reason)

    run(main())


@pytest.mark.parametrize(
    ("code", "reason", "exception"),
    [(1001, "going away", None), (4001, "done", scratch.ConnectionClosedError),
     (None, "", None)],
    ids=["1001 ends iteration quietly", "4001 raises", "empty close ends quietly"],
)  # fmt: skip
def test_websockets_server_closes_the_scratch_client(code, reason, exception) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last words")
        await ws.close(code, reason)  # type: ignore[arg-type]

    async def main() -> None:
        async with ws_server(handler) as url, scratch.connect(url) as ws:
            received = []
            if exception is None:
                received = [message async for message in ws]
            else:
                received.append(await ws.recv())
                with pytest.raises(exception) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (code, reason)
            assert received == ["last words"]
            assert (ws.close_code, ws.close_reason) == (code or 1005, reason)

    run(main())


def test_scratch_client_sees_1006_when_the_server_cuts_tcp() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("bye")
        ws.transport.abort()

    async def main() -> None:
        async with ws_server(handler) as url, scratch.connect(url) as ws:
            assert await ws.recv() == "bye"
            with pytest.raises(scratch.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1006 and ws.close_code == 1006

    run(main())


def test_scratch_client_sees_1011_when_the_websockets_handler_fails() -> None:
    async def handler(ws: ServerConnection) -> None:
        raise RuntimeError("server bug")

    async def main() -> None:
        async with ws_server(handler) as url, scratch.connect(url) as ws:
            with pytest.raises(scratch.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == 1011

    logging.getLogger("websockets").disabled = True
    try:
        run(main())
    finally:
        logging.getLogger("websockets").disabled = False


def test_scratch_client_refuses_an_oversized_message_with_1009() -> None:
    seen: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(bytes(2000))
        await ws.wait_closed()
        seen.append(ws.close_code)

    async def main() -> None:
        async with ws_server(handler) as url, scratch.connect(url, max_size=1000) as ws:
            with pytest.raises(scratch.ConnectionClosedError):
                await ws.recv()
            assert ws.close_code == 1006  # §7.1.7: after failing, the echo is not read
        assert seen == [1009]

    run(main())


def test_scratch_client_gets_the_refusal_status() -> None:
    def refuse(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(403, "Forbidden\n")

    async def main() -> None:
        async with ws_server(ws_echo, process_request=refuse) as url:
            with pytest.raises(HandshakeError) as info:
                await scratch.connect(url)
            assert info.value.status == 403

    run(main())


def test_scratch_client_masks_its_frames_and_refuses_masked_server_frames() -> None:
    """A hand-made server: sends one masked frame, which §5.1 forbids."""
    client_frames: list[Frame] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await RawWebSocket.accept(reader, writer)  # expects masked client frames
        await raw.send(Frame(True, Opcode.TEXT, b"masked!"), mask=True)
        client_frames.extend(await raw.recv_frames())

    async def main() -> None:
        async with listen(handle) as port:
            ws = await scratch.connect(f"ws://127.0.0.1:{port}", close_timeout=1)
            with contextlib.suppress(scratch.ConnectionClosed):  # it may have failed already
                await ws.send("hello")
            with pytest.raises(scratch.ConnectionClosedError):
                await ws.recv()
            await ws.wait_closed()

    run(main())
    assert all(f.mask is not None for f in client_frames)
    close = client_frames[-1]
    assert close.opcode is Opcode.CLOSE and close.payload[:2] == b"\x03\xea"  # 1002


def test_scratch_client_close_times_out_when_the_server_never_answers() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await RawWebSocket.accept(reader, writer)
        await asyncio.sleep(5)  # reads nothing, answers nothing (cancelled at the end)

    async def main() -> None:
        async with listen(handle, timeout=0.1) as port:
            ws = await scratch.connect(f"ws://127.0.0.1:{port}", close_timeout=0.3)
            start = time.monotonic()
            await ws.close()
            assert time.monotonic() - start < 5  # close_timeout=0.3, not the default 10 s
            assert ws.close_code == 1006

    run(main())


# --- Part 3: handshakes, scratch to scratch ------------------------------------------


def test_scratch_client_and_server_together() -> None:
    async def main() -> None:
        server = await scratch.serve(scratch.echo, subprotocols=["json"])
        try:
            async with scratch.connect(server.url + "/chat?x=1", subprotocols=["json"]) as ws:
                assert ws.subprotocol == "json"
                await ws.send("to myself")
                assert await ws.recv() == "to myself"
                assert await ws.ping() >= 0
        finally:
            await server.stop()

    run(main())


async def raw_exchange(port: int, request: bytes) -> tuple[Any, bytes]:
    """Send raw bytes; return the parsed response head and whatever followed until EOF."""
    async with tcp("127.0.0.1", port) as (reader, writer):
        writer.write(request)
        response, rest = await read_head(reader, parse_response)
        return response, rest + await read_to_eof(reader)


def valid_request(port: int, **options: Any) -> bytes:
    return build_request(f"127.0.0.1:{port}", **options)[0]


@pytest.mark.parametrize(
    ("change", "status"),
    [(("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"), 426),
     (("Sec-WebSocket-Key:", "X-Not-The-Key:"), 400),
     (("GET /", "POST /"), 400),
     (("Upgrade: websocket", "Upgrade: h2c"), 400),
     (("\r\n\r\n", "\r\nX-Padding: " + "p" * MAX_HEAD_SIZE + "\r\n\r\n"), 431)],
    ids=["bad version 426", "missing key 400", "POST 400", "wrong upgrade 400",
         "oversized head 431"],
)  # fmt: skip
def test_bad_handshake_gets_its_http_status(change: tuple[str, str], status: int) -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server:
            request = valid_request(server.port).decode().replace(*change, 1).encode()
            response, _ = await raw_exchange(server.port, request)
            assert response.status == status
            if status == 426:
                assert response.headers.get("Sec-WebSocket-Version") == "13"
            async with client(server.url) as ws:  # and the server is still fine
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(main())


def test_origin_not_allowed_is_403_for_websockets() -> None:
    async def main() -> None:
        origins = ["http://127.0.0.1:8000", None]
        async with scratch.serve(scratch.echo, origins=origins) as server:
            with pytest.raises(InvalidStatus) as info:
                await client(server.url, origin="http://evil.example")
            assert info.value.response.status_code == 403
            for origin in ("http://127.0.0.1:8000", None):  # allowed, and no Origin at all
                async with client(server.url, origin=origin) as ws:
                    await ws.send("welcome")
                    assert await ws.recv() == "welcome"

    run(main())


def test_handshake_timeout_drops_a_silent_client() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo, open_timeout=0.3) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the end
            start = time.monotonic()
            with contextlib.suppress(ConnectionError):
                assert await reader.read() == b""  # dropped without an answer
            assert 0.25 < time.monotonic() - start < 5
            writer.close()

    run(main())


def test_frames_sent_with_the_handshake_are_not_lost() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo) as server:
            frame = encode_frame(Frame(True, Opcode.TEXT, b"eager"), mask=True)
            async with tcp("127.0.0.1", server.port) as (reader, writer):
                request, key = build_request(f"127.0.0.1:{server.port}")
                writer.write(request + frame)  # one write: head and first frame together
                response, data = await read_head(reader, parse_response)
                check_response(response, key)
                while (decoded := decode_frame(data)) is None:
                    data += await reader.read(100)
                assert decoded[0].payload == b"eager"

    run(main())


def test_serve_refuses_non_loopback_hosts_unless_asked() -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        scratch.serve(scratch.echo, "0.0.0.0")
    server = scratch.serve(scratch.echo, "0.0.0.0", allow_remote=True)  # not started
    assert server.url.startswith("ws://0.0.0.0:")
    scratch.serve(scratch.echo, "localhost")
    scratch.serve(scratch.echo, "::1")


def test_a_plugged_piece_replaces_the_librarys_without_a_subclass() -> None:
    async def main() -> None:
        async with (
            scratch.serve(scratch.echo, pong_for=lambda payload: payload[::-1]) as server,
            RawWebSocket.connect("127.0.0.1", server.port) as raw,
        ):
            await raw.send(Frame(True, Opcode.PING, b"ab"))
            assert await raw.recv_frame() == Frame(True, Opcode.PONG, b"ba")

    run(main())


# --- Part 4: robustness: what an abusive or dead peer cannot do -------------------------------


def test_an_endless_fragmented_message_is_closed_with_1009() -> None:
    """5,000 empty fragments and never a FIN: the server stops at max_fragments (4096)."""

    async def main() -> None:
        async with (
            scratch.serve(scratch.echo) as server,
            RawWebSocket.connect("127.0.0.1", server.port) as raw,
        ):
            start = encode_frame(Frame(False, Opcode.TEXT, b""), mask=True)
            more = encode_frame(Frame(False, Opcode.CONTINUATION, b""), mask=True)
            await raw.send(start + more * 5000)
            frames = await raw.recv_frames()
            assert [f.opcode for f in frames] == [Opcode.CLOSE]
            assert decode_close(frames[0].payload) == (1009, "message of more than 4096 fragments")
            assert await raw.hung_up()

    run(main())


def test_a_silent_client_is_pinged_then_dropped_after_the_ping_timeout() -> None:
    async def main() -> None:
        options = {"ping_interval": 0.2, "ping_timeout": 0.3}
        async with (
            scratch.serve(scratch.echo, **options) as server,
            RawWebSocket.connect("127.0.0.1", server.port) as raw,  # never answers
        ):
            start = time.monotonic()
            ping = await raw.recv_frame()
            assert ping is not None and ping.opcode is Opcode.PING
            assert 0.15 < time.monotonic() - start < 2
            frames = await raw.recv_frames()
            assert [f.opcode for f in frames] == [Opcode.CLOSE]
            assert decode_close(frames[0].payload) == (1011, "keepalive ping timeout")
            assert await raw.recv_frame() is None  # and TCP is gone
            assert 0.4 < time.monotonic() - start < 3

    run(main())


def test_a_client_that_answers_pings_stays_connected() -> None:
    async def main() -> None:
        options = {"ping_interval": 0.1, "ping_timeout": 0.2}
        async with scratch.serve(scratch.echo, **options) as server, client(server.url) as ws:
            await asyncio.sleep(0.8)  # several keepalive rounds, answered by websockets
            await ws.send("still here")
            assert await ws.recv() == "still here"

    run(main())


def test_keepalive_can_be_turned_off() -> None:
    async def main() -> None:
        async with (
            scratch.serve(scratch.echo, ping_interval=None) as server,
            RawWebSocket.connect("127.0.0.1", server.port) as raw,
        ):
            assert not await raw.hung_up(timeout=0.5)  # nothing sent, nothing cut

    run(main())


def test_connections_over_the_limit_get_http_503() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo, max_connections=2) as server:
            async with client(server.url), client(server.url):
                with pytest.raises(InvalidStatus) as refused:
                    await client(server.url)
                assert refused.value.response.status_code == 503
                assert refused.value.response.headers["Retry-After"] == "1"
            async with client(server.url) as again:  # room again once they have left
                await again.send("in")
                assert await again.recv() == "in"

    run(main())


def test_a_burst_of_frames_right_behind_the_handshake_is_delivered_whole_and_in_order() -> None:
    """More than the handshake's reads take: the rest still waits in the stream's buffer
    when the connection takes the socket over, and must come first, in order."""

    async def main() -> None:
        async with scratch.serve(scratch.echo, max_queue=1000) as server:
            messages = [bytes([n]) * 30_000 for n in range(12)]  # 360 kB in one write
            frames = b"".join(
                encode_frame(Frame(True, Opcode.BINARY, m), mask=True) for m in messages
            )
            async with tcp("127.0.0.1", server.port) as (reader, writer):
                request, key = build_request(f"127.0.0.1:{server.port}")
                writer.write(request + frames)
                response, data = await read_head(reader, parse_response)
                check_response(response, key)
                echoes = FrameReader(expect_masked=False)
                got = echoes.feed(data)
                while len(got) < len(messages) and (chunk := await reader.read(65536)):
                    got += echoes.feed(chunk)
            assert [f.payload for f in got] == messages

    run(main())
