"""The wire tap forwards faithfully and records both directions."""

from __future__ import annotations

import asyncio
import os

from helpers import listen, read_to_eof, run, tcp
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


# --- half-close, reset, IPv6, blackhole ------------------------------------------------------


def test_a_half_close_keeps_the_other_direction_open_longer_than_linger():
    """The client sends its request and half-closes; the answer trickles in for 1 s."""
    answer = bytes(range(250)) * 40  # 10,000 bytes

    async def trickle(reader, writer):
        request = await read_to_eof(reader)  # the client's FIN arrives as EOF
        for i in range(0, len(answer), 1000):  # 10 chunks, 0.1 s apart: 1 s > linger
            writer.write(answer[i : i + 1000])
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(b"got " + request)

    async def scenario():
        async with listen(trickle) as port, wire.Tap(("127.0.0.1", port), linger=0.3) as tap:
            async with tcp("127.0.0.1", tap.bound_port) as (reader, writer):
                writer.write(b"GET")
                writer.write_eof()
                return await read_to_eof(reader)

    assert run(scenario()) == answer + b"got GET"


def test_after_a_half_close_the_tap_closes_a_direction_silent_for_linger():
    async def silent(reader, writer):
        await read_to_eof(reader)
        await asyncio.sleep(1.2)

    async def scenario():
        loop = asyncio.get_running_loop()
        async with listen(silent) as port, wire.Tap(("127.0.0.1", port), linger=0.3) as tap:
            async with tcp("127.0.0.1", tap.bound_port) as (reader, writer):
                writer.write_eof()
                start = loop.time()
                assert await read_to_eof(reader, timeout=2) == b""
                return loop.time() - start

    assert 0.25 <= run(scenario()) <= 1.0


async def _outcome(reader: asyncio.StreamReader) -> str:
    """How a stream ended: "eof" (a FIN) or "reset" (an RST)."""
    try:
        async with asyncio.timeout(3):
            while await reader.read(65536):
                pass
    except ConnectionResetError:
        return "reset"
    return "eof"


def test_a_reset_is_passed_on_as_a_reset_in_both_directions():
    async def scenario(who_resets: str) -> str:
        seen: list[str] = []
        ready = asyncio.Event()

        async def server(reader, writer):
            ready.set()
            if who_resets == "server":
                await asyncio.sleep(0.1)
                wire.send_reset(writer)
            else:
                seen.append(await _outcome(reader))

        async with listen(server) as port, wire.Tap(("127.0.0.1", port)) as tap:
            async with tcp("127.0.0.1", tap.bound_port) as (reader, writer):
                await asyncio.wait_for(ready.wait(), 2)
                await asyncio.sleep(0.05)
                if who_resets == "client":
                    wire.send_reset(writer)
                    await asyncio.sleep(0.2)
                else:
                    seen.append(await _outcome(reader))
        return seen[0]

    assert run(scenario("client")) == "reset"  # the server saw RST, not a FIN
    assert run(scenario("server")) == "reset"  # the client saw RST, not a FIN


def test_the_tap_listens_on_ipv6_loopback():
    async def scenario():
        async with servers.echo() as server, wire.Tap(server, host="::1") as tap:
            async with connect(tap.url, compression=None) as ws:
                await ws.send("over IPv6")
                return tap.url, await ws.recv()

    url, reply = run(scenario())
    assert url.startswith("ws://[::1]:") and reply == "over IPv6"


def test_the_loopback_guard_accepts_ipv6_loopback_only():
    import pytest

    from wslearn.net import check_loopback

    check_loopback("::1")  # no error
    for host in ("::", "2001:db8::1", "0.0.0.0"):
        with pytest.raises(ValueError, match="loopback"):
            check_loopback(host)


def test_a_blackhole_holds_the_bytes_and_closes_nothing_until_restore():
    async def scenario():
        async with servers.echo() as server, wire.Tap(server) as tap:
            async with connect(tap.url, ping_interval=None) as ws:
                await ws.send("before")
                assert await ws.recv() == "before"
                tap.blackhole()
                await ws.send("during")
                pong = await ws.ping()
                try:
                    async with asyncio.timeout(0.5):
                        await ws.recv()
                    silent = False
                except TimeoutError:
                    silent = True
                still_open = ws.state.name
                tap.restore()
                async with asyncio.timeout(2):
                    held = await ws.recv()
                    await pong
                return silent, still_open, held

    assert run(scenario()) == (True, "OPEN", "during")


def test_reset_sends_rst_to_both_sides_of_every_connection():
    async def scenario():
        seen: list[str] = []

        async def server(reader, writer):
            seen.append(await _outcome(reader))

        async with listen(server) as port, wire.Tap(("127.0.0.1", port)) as tap:
            async with (
                tcp("127.0.0.1", tap.bound_port) as (r1, _),
                tcp("127.0.0.1", tap.bound_port) as (r2, _),
            ):
                await asyncio.sleep(0.1)
                count = tap.reset()
                clients = [await _outcome(r1), await _outcome(r2)]
            await asyncio.sleep(0.1)
        return count, clients, seen

    assert run(scenario()) == (2, ["reset", "reset"], ["reset", "reset"])
