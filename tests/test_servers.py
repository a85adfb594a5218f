"""The course's local servers, checked with the real `websockets` client."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import pytest
from helpers import RawWebSocket, read_to_eof, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from wslearn import servers


def test_echo_server_echoes_text_and_binary_on_loopback():
    async def scenario():
        async with servers.echo() as server:
            assert server.url.startswith("ws://127.0.0.1:")
            assert server.bound_port != 0
            async with connect(server.url) as ws:
                await ws.send("héllo")
                text = await ws.recv()
                await ws.send(b"\x00\xff")
                data = await ws.recv()
            return text, data

    assert run(scenario()) == ("héllo", b"\x00\xff")


def test_subprotocol_server_picks_the_clients_first_supported_choice():
    async def scenario():
        async with servers.subprotocol(["chat.v2", "chat.v1"]) as server:
            chosen = []
            for offered in (["chat.v1", "chat.v2"], ["x", "chat.v2"], ["x"], None):
                async with connect(server.url, subprotocols=offered) as ws:
                    chosen.append(ws.subprotocol)
            return chosen

    assert run(scenario()) == ["chat.v1", "chat.v2", None, None]


@pytest.mark.parametrize(
    ("query", "code", "reason", "error"),
    [
        ("?code=1000&reason=done", 1000, "done", ConnectionClosedOK),
        ("?code=4000&reason=go+away", 4000, "go away", ConnectionClosedError),
        ("?code=1005", 1005, "", ConnectionClosedOK),
        ("?code=1006", None, None, ConnectionClosedError),
    ],
    ids=["1000", "4000-with-reason", "1005-empty-close-frame", "1006-tcp-cut"],
)
def test_closer_server_closes_as_asked(query, code, reason, error):
    async def scenario():
        async with servers.closer() as server, connect(server.url + "/" + query) as ws:
            with pytest.raises(error):
                await ws.recv()
            return ws.protocol.close_rcvd

    received = run(scenario())
    if code is None:
        assert received is None  # no close frame at all
    else:
        assert (received.code, received.reason) == (code, reason)


def test_closer_server_closes_on_a_close_message():
    async def scenario():
        async with servers.closer() as server, connect(server.url) as ws:
            await ws.send("ping?")
            echoed = await ws.recv()
            await ws.send("close 4321 bye now")
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            return echoed, ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason

    assert run(scenario()) == ("ping?", 4321, "bye now")


def test_reject_server_answers_with_the_status():
    async def scenario():
        async with servers.reject(403) as server:
            with pytest.raises(InvalidStatus) as info:
                async with connect(server.url):
                    pass
            return info.value.response.status_code

    assert run(scenario()) == 403


def test_servers_refuse_non_loopback_unless_asked():
    with pytest.raises(ValueError, match="loopback"):
        run(servers.echo(host="0.0.0.0").start())
    servers.check_loopback("0.0.0.0", allow_remote=True)  # explicit opt-in is allowed


def test_starting_a_named_server_again_replaces_it_without_leaking_the_port():
    async def scenario():
        first = await servers.start("echo")
        old_port = first.bound_port
        second = await servers.start("echo")
        assert not first.running and second.running
        # the old port is free again: binding it works
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", old_port))
        async with connect(second.url) as ws:
            await ws.send("still here")
            reply = await ws.recv()
        await servers.stop()
        return reply, servers.running()

    assert run(scenario()) == ("still here", {})


def test_a_background_server_keeps_serving_after_the_starting_task_ends():
    async def scenario():
        await asyncio.create_task(servers.start("echo"))  # like a notebook cell that finished
        await asyncio.sleep(0.05)
        async with connect(servers.running()["echo"].url) as ws:
            await ws.send("later")
            reply = await ws.recv()
        await servers.stop("echo")
        return reply

    assert run(scenario()) == "later"


def test_servers_serve_pages_over_http_on_the_same_port():
    async def scenario():
        async with servers.echo(pages={"/": "<p>hi</p>"}) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(9)
            writer.close()
            async with connect(server.url) as ws:  # and still a WebSocket server
                await ws.send("x")
                await ws.recv()
            return head, body

    head, body = run(scenario())
    assert head.startswith(b"HTTP/1.1 200 OK") and b"text/html" in head
    assert body == b"<p>hi</p>"


def test_command_line_echo_server_prints_its_url_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "wslearn", "serve", "echo"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        url = line.split()[4]
        assert url.startswith("ws://127.0.0.1:")

        async def talk():
            async with connect(url) as ws:
                await ws.send("from the terminal")
                return await ws.recv()

        assert run(talk()) == "from the terminal"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait(timeout=5)


# --- stopping never raises, even with a client that does not answer ----------------------


def _silent_client(url: str):
    """A raw client: it completes the opening handshake, then never reads or answers."""
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    return RawWebSocket.connect(host, int(port))


def test_stop_cuts_off_a_client_that_never_answers_the_close_after_its_timeout():
    async def scenario():
        loop = asyncio.get_running_loop()
        server = await servers.echo(close_timeout=None).start()  # websockets would wait forever
        async with _silent_client(server.url) as raw:
            start = loop.time()
            await server.stop(timeout=0.5)  # used to raise TimeoutError after 5 s
            took = loop.time() - start
            rest = await read_to_eof(raw.reader, timeout=2)  # the close frame, then the cut
        return took, rest[:2], server.running

    took, close_frame_head, running = run(scenario())
    assert 0.4 <= took <= 2.0
    assert close_frame_head == b"\x88\x02"  # the 1001 close frame was sent first
    assert running is False


def test_restarting_a_named_server_with_a_silent_client_neither_raises_nor_waits_long():
    async def scenario():
        loop = asyncio.get_running_loop()
        first = await servers.start("echo")
        async with _silent_client(first.url):
            start = loop.time()
            second = await servers.start("echo")  # a re-run notebook cell
            took = loop.time() - start
        async with connect(second.url) as ws:
            await ws.send("fresh")
            reply = await ws.recv()
        await servers.stop()
        return took, reply

    took, reply = run(scenario(), timeout=10)
    assert took <= 3.5 and reply == "fresh"


def test_command_line_server_exits_0_on_ctrl_c_with_a_silent_client():
    proc = subprocess.Popen(
        [sys.executable, "-m", "wslearn", "serve", "echo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = proc.stdout.readline().split()[4]

        async def interrupt_while_a_silent_client_is_connected():
            async with _silent_client(url):
                proc.send_signal(signal.SIGINT)
                return await asyncio.to_thread(proc.communicate, timeout=10)

        out, err = run(interrupt_while_a_silent_client_is_connected())
        assert (proc.returncode, "Traceback" in err) == (0, False), err
        assert "stopped" in out
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_course_servers_ping_at_ping_interval_and_drop_a_silent_client_after_ping_timeout():
    async def scenario():
        loop = asyncio.get_running_loop()
        async with servers.closer(ping_interval=0.2, ping_timeout=0.4) as server:
            async with _silent_client(server.url) as raw:
                start = loop.time()
                ping = await raw.recv_frame(timeout=2)
                pinged = loop.time() - start
                close = await raw.recv_frame(timeout=2)
                dropped = loop.time() - start
        return ping.opcode.name, pinged, close.opcode.name, close.payload[:2], dropped

    kind, pinged, closing, code, dropped = run(scenario())
    assert (kind, closing, code) == ("PING", "CLOSE", (1011).to_bytes(2, "big"))
    assert 0.15 <= pinged <= 0.5 and 0.55 <= dropped <= 1.2  # §5.5.2; websockets: 1011
