"""The wire tap forwards faithfully and records both directions."""

from __future__ import annotations

import asyncio
import os

from conftest import run
from websockets.asyncio.client import connect

from wslearn import servers, wire


async def hello_through_a_tap() -> wire.Tap:
    """A websockets client sends "Hello" to the echo server through a tap, then closes."""
    async with servers.echo() as server, wire.Tap(server) as tap:
        async with connect(tap.url, compression=None) as ws:
            await ws.send("Hello")
            await ws.recv()
        await asyncio.sleep(0.05)
        return tap


def test_a_connection_through_the_tap_behaves_like_a_direct_one():
    payloads = ["Hello", b"\x00" * 10, os.urandom(70_000), "é" * 300]

    async def scenario():
        async with servers.echo() as server, wire.Tap(server) as tap:
            replies = []
            async with connect(tap.url, compression=None) as ws:
                for payload in payloads:
                    await ws.send(payload)
                    replies.append(await ws.recv())
            await asyncio.sleep(0.05)
            return replies, tap

    replies, tap = run(scenario())
    assert replies == payloads
    request, response = tap.head(wire.CLIENT), tap.head(wire.SERVER)
    assert request.startswith(b"GET / HTTP/1.1\r\n") and b"Upgrade: websocket" in request
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    # every byte is recorded once: sizes add up to the WebSocket traffic
    client_body = wire.split_head(tap.data(wire.CLIENT))[1]
    assert len(client_body) > sum(
        len(p) if isinstance(p, bytes) else len(p.encode()) for p in payloads
    )
    assert all(c.connection == 0 for c in tap.chunks)
    times = [c.time for c in tap.chunks]
    assert times == sorted(times) and times[0] >= 0


def test_the_tap_records_the_exact_bytes_of_a_small_text_frame():
    tap = run(hello_through_a_tap())
    server_body = wire.split_head(tap.data(wire.SERVER))[1]
    assert server_body.startswith(bytes.fromhex("81 05") + b"Hello")  # RFC 6455 §5.7, unmasked
    client_body = wire.split_head(tap.data(wire.CLIENT))[1]
    assert client_body[:2] == bytes.fromhex("81 85")  # masked, 5 bytes
    mask, masked = client_body[2:6], client_body[6:11]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(masked)) == b"Hello"


def test_the_tap_closes_the_client_when_the_server_drops_the_connection():
    async def scenario():
        async with servers.closer() as server, wire.Tap(server) as tap:
            async with connect(tap.url + "/?code=1006") as ws:
                await ws.wait_closed()
                return ws.protocol.close_rcvd, tap

    close_rcvd, tap = run(scenario())
    assert close_rcvd is None  # the cut reached the client as a cut, not as a close frame
    assert wire.split_head(tap.data(wire.SERVER))[1] == b""


def test_each_connection_is_numbered():
    async def scenario():
        async with servers.echo() as server, wire.Tap(server) as tap:
            for text in ("one", "two"):
                async with connect(tap.url) as ws:
                    await ws.send(text)
                    await ws.recv()
            await asyncio.sleep(0.05)
            return tap

    tap = run(scenario())
    assert {c.connection for c in tap.chunks} == {0, 1}
    assert tap.head(wire.CLIENT, 1).startswith(b"GET /")


def test_the_tap_refuses_non_loopback_addresses():
    import pytest

    with pytest.raises(ValueError, match="loopback"):
        run(wire.Tap(("127.0.0.1", 1), host="0.0.0.0").start())


def test_hexdump_shows_offsets_hex_and_text():
    dump = wire.hexdump(b"Hello, WebSocket!\x00")
    assert dump.splitlines()[0].startswith("00000000  48 65 6c 6c 6f")
    assert dump.splitlines()[1].startswith("00000010  21 00")
    assert "Hello, WebSocke" in dump


def test_timeline_lists_both_directions_frames_in_wire_order():
    timeline = run(hello_through_a_tap()).timeline()
    kinds = [(direction, frame.opcode.name, frame.payload[:5]) for _, direction, frame in timeline]
    assert kinds == [
        (wire.CLIENT, "TEXT", b"Hello"),
        (wire.SERVER, "TEXT", b"Hello"),
        (wire.CLIENT, "CLOSE", b"\x03\xe8"),
        (wire.SERVER, "CLOSE", b"\x03\xe8"),
    ]
    times = [t for t, _, _ in timeline]
    assert times == sorted(times)
    assert timeline[0][2].mask is not None and timeline[1][2].mask is None
