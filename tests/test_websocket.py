"""Tests for wslearn.websocket, the Python port of the browser's WebSocket API.

Every test talks to a real peer started here on 127.0.0.1 (a `websockets`
asyncio server, or a few lines of raw asyncio where a server must misbehave in
a way `websockets` never would).  The expected values come from the WHATWG
WebSockets Standard and from Chromium (tests/test_browser_parity.py runs the
same kinds of scenario in the browser).  Tests are plain functions running
`asyncio.run`, each bounded by `asyncio.timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from conftest import async_test
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.utils import accept_key

import wslearn.dom
from wslearn.url import parse_websocket_url
from wslearn.websocket import (
    CloseEvent,
    DOMException,
    Event,
    LogEntry,
    MessageEvent,
    WebSocket,
)


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[ServerConnection], Awaitable[None]], **options: Any
) -> AsyncIterator[str]:
    """Start a `websockets` server on 127.0.0.1:0; yield its ws:// base URL."""
    options.setdefault("compression", None)
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


class Seen:
    """What a test server saw: messages, request headers, the close frame received."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.headers: dict[str, str] = {}
        self.close: tuple[int, str] | None = None
        self.done = asyncio.Event()


def echo_server(seen: Seen) -> Callable[[ServerConnection], Awaitable[None]]:
    async def handler(ws: ServerConnection) -> None:
        seen.headers = {k.lower(): v for k, v in ws.request.headers.raw_items()}
        try:
            async for message in ws:
                seen.messages.append(message)
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            seen.close = None if rcvd is None else (int(rcvd.code), rcvd.reason)
            seen.done.set()

    return handler


async def close_with(ws: ServerConnection, code: int | None, reason: str = "") -> None:
    await ws.close(code, reason)  # type: ignore[arg-type]  # None: empty close frame


def record(ws: WebSocket) -> list[tuple[Any, ...]]:
    """Listen to all four events; log (type, readyState, details) as they fire."""
    log: list[tuple[Any, ...]] = []
    ws.addEventListener("open", lambda e: log.append(("open", ws.readyState)))
    ws.addEventListener("message", lambda e: log.append(("message", ws.readyState, e.data)))
    ws.addEventListener("error", lambda e: log.append(("error", ws.readyState)))
    ws.addEventListener(
        "close", lambda e: log.append(("close", ws.readyState, e.code, e.reason, e.wasClean))
    )
    return log


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- lifecycle


@async_test
async def test_open_message_close_event_order_and_ready_states() -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        ws = WebSocket(f"{base}/echo")
        log = record(ws)
        assert ws.readyState == WebSocket.CONNECTING == 0
        ws.onopen = lambda e: ws.send("hello")
        ws.onmessage = lambda e: ws.close(1000, "bye")
        event = await ws.closed()
    assert log == [
        ("open", 1),
        ("message", 1, "hello"),
        ("close", 3, 1000, "bye", True),
    ]
    assert (event.code, event.reason, event.wasClean, event.target) == (1000, "bye", True, ws)
    assert seen.messages == ["hello"] and seen.close == (1000, "bye")
    assert ws.readyState == WebSocket.CLOSED


@async_test
async def test_event_log_records_every_ready_state_change_with_times() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(f"{base}/echo")
        ws.onopen = lambda e: ws.send("hi")
        ws.onmessage = lambda e: ws.close()
        await ws.closed()
    assert [(e.type, e.readyState) for e in ws.events] == [
        ("connecting", 0),
        ("open", 1),
        ("message", 1),
        ("closing", 2),
        ("close", 3),
    ]
    assert all(isinstance(e, LogEntry) for e in ws.events)
    times = [e.time for e in ws.events]
    assert times == sorted(times) and times[0] >= 0
    assert ws.events[2].details == {"kind": "text", "size": 2, "preview": "hi"}
    assert ws.events[3].details == {"by": "client", "code": None, "reason": ""}
    assert ws.events[4].details == {"code": 1005, "reason": "", "wasClean": True}


@async_test
async def test_server_initiated_close_reports_code_and_reason() -> None:
    async def handler(ws: ServerConnection) -> None:
        await close_with(ws, 4001, "go away")

    async with serving(handler) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.closed()
    assert log == [("open", 1), ("close", 3, 4001, "go away", True)]
    closing = [e for e in ws.events if e.type == "closing"]
    assert closing[0].details == {"by": "server", "code": 4001, "reason": "go away"}
    assert closing[0].readyState == WebSocket.CLOSING


@async_test
async def test_close_frame_without_status_gives_1005() -> None:
    async def handler(ws: ServerConnection) -> None:
        await close_with(ws, None)

    async with serving(handler) as base:
        ws = WebSocket(base)
        event = await ws.closed()
    assert (event.code, event.reason, event.wasClean) == (1005, "", True)


@async_test
async def test_tcp_drop_gives_1006_unclean_without_error_event() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last words")
        await asyncio.sleep(0.05)
        ws.transport.abort()

    async with serving(handler) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.closed()
    # Chromium: no "error" here -- the connection was not *failed*, it broke.
    assert log == [("open", 1), ("message", 1, "last words"), ("close", 3, 1006, "", False)]


@async_test
async def test_refused_connection_fires_error_then_close_1006() -> None:
    ws = WebSocket(f"ws://127.0.0.1:{free_port()}/")
    log = record(ws)
    await ws.closed()
    assert log == [("error", 3), ("close", 3, 1006, "", False)]
    error = next(e for e in ws.events if e.type == "error")
    assert error.details["message"] == "Error in connection establishment: Connection refused"


@pytest.mark.parametrize("status", [400, 403, 404])
@async_test
async def test_rejected_handshake_fires_error_then_close_1006(status: int) -> None:
    def reject(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, "no\n")

    async with serving(echo_server(Seen()), process_request=reject) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.closed()
    assert log == [("error", 3), ("close", 3, 1006, "", False)]
    message = next(e for e in ws.events if e.type == "error").details["message"]
    assert message == f"Error during WebSocket handshake: Unexpected response code: {status}"


@async_test
async def test_close_while_connecting_fails_the_connection() -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        ws = WebSocket(base)
        log = record(ws)
        ws.close()
        assert ws.readyState == WebSocket.CLOSING  # set inside close(), at once
        assert log == []  # events come later, from the loop
        await ws.closed()
        await asyncio.sleep(0.05)
    assert log == [("error", 3), ("close", 3, 1006, "", False)]
    assert seen.messages == [] and "open" not in [e.type for e in ws.events]


@async_test
async def test_close_after_handshake_but_before_open_event_still_fails() -> None:
    # The handshake completes on the network, but the "open" task has not run
    # yet: from the script's point of view the socket is CONNECTING.
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        log = record(ws)
        connection = None
        while connection is None or not connection.opened:
            await asyncio.sleep(0)
            connection = ws._connection
        assert ws.readyState == WebSocket.CONNECTING
        ws.close()
        await ws.closed()
    assert log == [("error", 3), ("close", 3, 1006, "", False)]


@async_test
async def test_server_that_never_answers_close_is_dropped_after_close_timeout() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = re.search(rb"(?i)sec-websocket-key: *(\S+)", request)[1].decode()  # type: ignore[index]
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_key(key).encode()
            + b"\r\n\r\n"
        )
        while await reader.read(65536):  # reads the close frame, never answers
            pass
        writer.close()

    server = await asyncio.start_server(deaf, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        ws = WebSocket(f"ws://127.0.0.1:{port}/", close_timeout=0.3)
        await ws.wait_for("open")
        loop = asyncio.get_running_loop()
        start = loop.time()
        ws.close(1000)
        log = record(ws)
        await ws.closed()
        assert 0.25 < loop.time() - start < 2
    assert log == [("close", 3, 1006, "", False)]


# --------------------------------------------------------------------------- constructor


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("ws://127.0.0.1:8765", "ws://127.0.0.1:8765/"),
        ("http://127.0.0.1:8765/echo", "ws://127.0.0.1:8765/echo"),
        ("https://127.0.0.1/x", "wss://127.0.0.1/x"),
        ("WS://LOCALHOST:8765", "ws://localhost:8765/"),
        ("ws://127.0.0.1:80/", "ws://127.0.0.1/"),
        ("wss://127.0.0.1:443/", "wss://127.0.0.1/"),
        ("ws:127.0.0.1:8765/echo", "ws://127.0.0.1:8765/echo"),
        ("  ws://127.0.0.1/\t\n ", "ws://127.0.0.1/"),
        ("ws://127.0.0.1:8765\\path\\x", "ws://127.0.0.1:8765/path/x"),
        ("ws://127.0.0.1/p/../q/./r", "ws://127.0.0.1/q/r"),
        ("ws://127.0.0.1/a b?q=1 2&é", "ws://127.0.0.1/a%20b?q=1%202&%C3%A9"),
        ("ws://127.0.0.1/%7e?%41", "ws://127.0.0.1/%7e?%41"),
        ("ws://127.1:8765/", "ws://127.0.0.1:8765/"),
        ("ws://[0:0::1]:8765/", "ws://[::1]:8765/"),
        ("ws://bücher.de/", "ws://xn--bcher-kva.de/"),
        ("ws://127.0.0.1/?", "ws://127.0.0.1/?"),
    ],
)
def test_url_is_parsed_and_serialized_like_chromium(url: str, href: str) -> None:
    # Values observed in Chromium 156 (``new WebSocket(url).url``).
    assert parse_websocket_url(url).href == href


@async_test
async def test_url_attribute_turns_http_into_ws() -> None:
    ws = WebSocket("http://127.0.0.1:9/echo")
    ws.close()
    assert ws.url == "ws://127.0.0.1:9/echo"
    await ws.closed()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ws://127.0.0.1/echo#frag", "fragment identifier ('frag')"),
        ("ws://127.0.0.1/echo#", "fragment identifier ('')"),
        ("ftp://127.0.0.1/", "'ftp' is not allowed"),
        ("file:///etc/passwd", "'file' is not allowed"),
        ("mailto:someone@example.com", "'mailto' is not allowed"),
        ("/relative", "is invalid"),
        ("nonsense", "is invalid"),
        ("ws://", "is invalid"),
        ("ws://127.0.0.1:99999/", "is invalid"),
        ("ws://127.0.0.1:8x/", "is invalid"),
        ("ws://[::1/", "is invalid"),
        ("ws://a<b/", "is invalid"),
    ],
)
@async_test
async def test_bad_url_throws_syntax_error(url: str, message: str) -> None:
    with pytest.raises(DOMException) as info:
        WebSocket(url)
    assert info.value.name == "SyntaxError"
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("protocols", "message"),
    [
        (["chat", "chat"], "'chat' is duplicated"),
        (["a b"], "'a b' is invalid"),
        ([""], "'' is invalid"),
        (["é"], "is invalid"),
        (["a,b"], "'a,b' is invalid"),
        (["chat", "a/b"], "'a/b' is invalid"),
    ],
)
@async_test
async def test_bad_subprotocols_throw_syntax_error(protocols: list[str], message: str) -> None:
    with pytest.raises(DOMException) as info:
        WebSocket("ws://127.0.0.1:9/", protocols)
    assert info.value.name == "SyntaxError"
    assert message in str(info.value)


@async_test
async def test_url_is_checked_before_subprotocols() -> None:
    with pytest.raises(DOMException, match="fragment"):
        WebSocket("ws://127.0.0.1:9/#x", ["a", "a"])


@async_test
async def test_non_string_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        WebSocket(b"ws://127.0.0.1/")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WebSocket("ws://127.0.0.1/", [1])  # type: ignore[list-item]


def test_constructor_needs_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        WebSocket("ws://127.0.0.1:9/")


@async_test
async def test_initial_attributes() -> None:
    ws = WebSocket("ws://127.0.0.1:9/")
    assert (ws.readyState, ws.bufferedAmount, ws.protocol, ws.extensions) == (0, 0, "", "")
    assert ws.binaryType == "blob"
    assert (ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED) == (0, 1, 2, 3)
    assert repr(ws) == "<WebSocket 'ws://127.0.0.1:9/' CONNECTING bufferedAmount=0>"
    with pytest.raises(AttributeError):
        ws.readyState = 1  # type: ignore[misc]
    ws.close()
    await ws.closed()


def test_dom_exception_is_reexported() -> None:
    assert DOMException is wslearn.dom.DOMException


# --------------------------------------------------------------------------- subprotocols


@async_test
async def test_subprotocol_negotiation_server_preference_wins() -> None:
    seen = Seen()
    async with serving(echo_server(seen), subprotocols=["chat.v1", "chat.v2"]) as base:
        ws = WebSocket(base, ["chat.v2", "chat.v1"])
        assert ws.protocol == ""  # only set when "open" fires
        await ws.wait_for("open")
        assert ws.protocol == "chat.v1"
        ws.close()
        await ws.closed()
    assert seen.headers["sec-websocket-protocol"] == "chat.v2, chat.v1"


@async_test
async def test_single_subprotocol_string_is_offered() -> None:
    seen = Seen()
    async with serving(echo_server(seen), subprotocols=["chat.v2"]) as base:
        async with WebSocket(base, "chat.v2") as ws:
            assert ws.protocol == "chat.v2"
    assert seen.headers["sec-websocket-protocol"] == "chat.v2"


@async_test
async def test_server_requiring_a_subprotocol_rejects_a_client_offering_none() -> None:
    async with serving(echo_server(Seen()), subprotocols=["chat.v1"]) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.closed()
    assert log == [("error", 3), ("close", 3, 1006, "", False)]
    message = next(e for e in ws.events if e.type == "error").details["message"]
    assert message.endswith("Unexpected response code: 400")


@async_test
async def test_offered_subprotocol_not_selected_fails_the_connection() -> None:
    async with serving(echo_server(Seen())) as base:  # selects no subprotocol
        ws = WebSocket(base, ["chat.v1"])
        log = record(ws)
        await ws.closed()
    assert log == [("error", 3), ("close", 3, 1006, "", False)]


@async_test
async def test_permessage_deflate_is_offered_as_chromium_offers_it() -> None:
    """The offer is Chromium's; ``extensions`` is the server's answer (tests/test_deflate.py)."""
    seen = Seen()
    async with serving(echo_server(seen), compression="deflate") as base:
        async with WebSocket(base) as ws:
            assert ws.extensions == (
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            )
    assert seen.headers["sec-websocket-extensions"] == "permessage-deflate; client_max_window_bits"


# --------------------------------------------------------------------------- send()


@async_test
async def test_send_while_connecting_throws_invalid_state_error() -> None:
    ws = WebSocket("ws://127.0.0.1:9/")
    with pytest.raises(DOMException) as info:
        ws.send("too early")
    assert info.value.name == "InvalidStateError"
    assert ws.bufferedAmount == 0
    ws.close()
    await ws.closed()


@async_test
async def test_send_after_close_discards_data_but_grows_buffered_amount() -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        ws = WebSocket(base)
        await ws.wait_for("open")
        ws.close()
        ws.send("abc")
        ws.send(b"\x00\x01")
        assert ws.bufferedAmount == 5
        await ws.closed()
        ws.send("défg")  # CLOSED: still counted (5 bytes of UTF-8)
        assert ws.bufferedAmount == 10
        await seen.done.wait()
    assert seen.messages == []
    assert seen.close == (1005, "")


@async_test
async def test_buffered_amount_counts_utf8_bytes_and_falls_from_the_loop() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        await ws.wait_for("open")
        ws.send("héllo 😀")  # 11 bytes of UTF-8
        ws.send(bytearray(b"12345"))
        ws.send(memoryview(b"xyz"))
        assert ws.bufferedAmount == 19  # nothing is handed over inside send()
        messages = []
        ws.onmessage = lambda e: messages.append(e.data)
        while len(messages) < 3:
            await asyncio.sleep(0.01)
        assert ws.bufferedAmount == 0
        assert messages == ["héllo 😀", b"12345", b"xyz"]
        ws.close()
        await ws.closed()


@async_test
async def test_lone_surrogates_are_sent_as_replacement_characters() -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        async with WebSocket(base) as ws:
            ws.send("a\ud800b")
            ws.send("\ud83d\ude00")  # a surrogate pair joins into one character
            assert ws.bufferedAmount == 5 + 4
            await ws.wait_for("message")
            await ws.wait_for("message")
    assert seen.messages == ["a\ufffdb", "😀"]


@async_test
async def test_send_rejects_other_types() -> None:
    async with serving(echo_server(Seen())) as base:
        async with WebSocket(base) as ws:
            with pytest.raises(TypeError):
                ws.send(42)  # type: ignore[arg-type]
            assert ws.bufferedAmount == 0


@async_test
async def test_buffered_amount_grows_against_a_stalled_reader_and_drains_to_zero() -> None:
    reading = asyncio.Event()
    received: list[int] = []

    async def slow_reader(ws: ServerConnection) -> None:
        await reading.wait()
        async for message in ws:
            received.append(len(message))
            await asyncio.sleep(0.002)

    payload = os.urandom(256 * 1024)  # random: nothing to compress away
    count = 128  # 32 MiB, far more than the kernel buffers hold
    async with serving(slow_reader, max_queue=1, max_size=None) as base:
        ws = WebSocket(base)
        await ws.wait_for("open")
        for _ in range(count):
            ws.send(payload)
        assert ws.bufferedAmount == count * len(payload)
        await asyncio.sleep(0.3)
        stalled = ws.bufferedAmount
        await asyncio.sleep(0.2)
        # the peer stopped reading: the kernel buffers filled, then nothing moved
        assert ws.bufferedAmount == stalled
        assert 0 < stalled < count * len(payload)
        reading.set()
        samples = [stalled]
        while samples[-1] > 0:
            await asyncio.sleep(0.01)
            samples.append(ws.bufferedAmount)
        assert samples == sorted(samples, reverse=True)  # never grows back
        assert len(set(samples)) > 3  # fell step by step, as the reader caught up
        ws.close()
        await ws.closed()
    assert received == [len(payload)] * count


# --------------------------------------------------------------------------- close()


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((999,), "InvalidAccessError"),
        ((1001,), "InvalidAccessError"),
        ((1005,), "InvalidAccessError"),
        ((2999,), "InvalidAccessError"),
        ((5000,), "InvalidAccessError"),
        ((1000, "x" * 124), "SyntaxError"),
        ((1000, "é" * 62), "SyntaxError"),
        ((1001, "x" * 124), "InvalidAccessError"),  # the code is checked first
    ],
)
@async_test
async def test_close_argument_rules(args: tuple[Any, ...], name: str) -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        ws = WebSocket(base)
        await ws.wait_for("open")
        with pytest.raises(DOMException) as info:
            ws.close(*args)
        assert info.value.name == name
        assert ws.readyState == WebSocket.OPEN  # nothing happened
        ws.close(4999, "é" * 61 + "a")  # 123 bytes: the longest allowed reason
        event = await ws.closed()
        await seen.done.wait()
    assert (event.code, event.reason) == seen.close == (4999, "é" * 61 + "a")


@async_test
async def test_close_arguments_are_checked_even_when_closed() -> None:
    ws = WebSocket(f"ws://127.0.0.1:{free_port()}/")
    await ws.closed()
    with pytest.raises(DOMException, match="1001"):
        ws.close(1001)
    ws.close(1000)  # valid arguments: nothing to do
    assert ws.readyState == WebSocket.CLOSED


@pytest.mark.parametrize(
    ("args", "kwargs", "server_sees", "client_sees"),
    [
        ((), {}, (1005, ""), (1005, "")),  # empty close frame, as Chromium sends it
        ((1000,), {}, (1000, ""), (1000, "")),
        ((3000, "done"), {}, (3000, "done"), (3000, "done")),
        ((), {"reason": "bye"}, (1000, "bye"), (1000, "bye")),  # WHATWG: code 1000
    ],
)
@async_test
async def test_close_frame_sent_by_close(
    args: tuple[Any, ...], kwargs: dict[str, Any], server_sees: Any, client_sees: Any
) -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        ws = WebSocket(base)
        await ws.wait_for("open")
        ws.close(*args, **kwargs)
        assert ws.readyState == WebSocket.CLOSING
        event = await ws.closed()
        await seen.done.wait()
    assert seen.close == server_sees
    assert (event.code, event.reason, event.wasClean) == (*client_sees, True)


@async_test
async def test_second_close_does_nothing() -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        ws = WebSocket(base)
        await ws.wait_for("open")
        ws.close(1000, "first")
        ws.close(3000, "second")
        event = await ws.closed()
        await seen.done.wait()
    assert seen.close == (1000, "first") and event.code == 1000


@async_test
async def test_messages_arriving_after_close_are_dropped() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.wait_for("open")
        ws.send("echoed while CLOSING")
        ws.close()
        await ws.closed()
    assert log == [("open", 1), ("close", 3, 1005, "", True)]


# --------------------------------------------------------------------------- receiving


@async_test
async def test_fragmented_and_binary_messages_arrive_whole() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["frag", "men", "ted ✓"])
        await ws.send([b"\x00\x01", b"\x02"])
        await ws.send(b"\xff")
        await ws.close()

    async with serving(handler) as base:
        ws = WebSocket(base)
        log = record(ws)
        ws.binaryType = "arraybuffer"
        await ws.closed()
    assert log == [
        ("open", 1),
        ("message", 1, "fragmented ✓"),
        ("message", 1, b"\x00\x01\x02"),
        ("message", 1, b"\xff"),
        ("close", 3, 1000, "", True),
    ]


@async_test
async def test_binary_type_values() -> None:
    ws = WebSocket("ws://127.0.0.1:9/")
    ws.binaryType = "arraybuffer"
    assert ws.binaryType == "arraybuffer"
    ws.binaryType = "text"  # not a BinaryType: ignored, as in JS
    assert ws.binaryType == "arraybuffer"
    ws.close()
    await ws.closed()


@async_test
async def test_large_message_has_no_size_limit() -> None:
    payload = os.urandom(3 * 2**20)  # past websockets' default 1 MiB limit
    async with serving(echo_server(Seen()), max_size=None) as base:
        async with WebSocket(base) as ws:
            ws.send(payload)
            event = await ws.wait_for("message")
    assert isinstance(event, MessageEvent) and event.data == payload


@async_test
async def test_message_event_fields() -> None:
    async with serving(echo_server(Seen())) as base:
        async with WebSocket(base.replace("ws://", "http://") + "/x") as ws:
            ws.send("hi")
            event = await ws.wait_for("message")
    assert isinstance(event, MessageEvent)
    assert (event.type, event.data, event.target) == ("message", "hi", ws)
    assert event.origin == base


@async_test
async def test_ping_from_server_is_answered_automatically() -> None:
    async def handler(ws: ServerConnection) -> None:
        latency = await asyncio.wait_for(await ws.ping(b"ping?"), 2)
        await ws.send(f"pong after {latency >= 0}")
        await ws.close()

    async with serving(handler) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.closed()
    assert log == [("open", 1), ("message", 1, "pong after True"), ("close", 3, 1000, "", True)]


@async_test
async def test_invalid_utf8_fails_the_connection_with_1002_like_chromium() -> None:
    seen = Seen()

    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"\xc3\x28", text=True)
        await echo_server(seen)(ws)

    async with serving(handler) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.closed()
        await seen.done.wait()
    assert log == [("open", 1), ("error", 3), ("close", 3, 1006, "", False)]
    assert seen.close == (1002, "Invalid UTF-8 in text frame")


# --------------------------------------------------------------------------- events


@async_test
async def test_events_never_fire_inside_send_or_close() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        log = record(ws)
        await ws.wait_for("open")
        ws.send("x")
        ws.close()
        assert log == [("open", 1)]  # message and close come from the loop, later
        await ws.closed()
    assert [entry[0] for entry in log] == ["open", "close"]


@async_test
async def test_listener_exception_is_reported_and_socket_carries_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        got = []

        def broken(event: Event) -> None:
            raise ValueError("listener bug")

        def collect(event: MessageEvent) -> None:
            got.append(event.data)
            if len(got) == 2:
                ws.close(1000)

        ws.addEventListener("message", broken)
        ws.addEventListener("message", collect)  # type: ignore[arg-type]
        await ws.wait_for("open")
        ws.send("one")
        ws.send("two")
        event = await ws.closed()
    assert got == ["one", "two"]  # the next listener and later events still ran
    assert (event.code, event.wasClean) == (1000, True)
    err = capsys.readouterr().err
    lines = err.splitlines()
    expected = "Uncaught ValueError in a 'message' listener: listener bug at broken (line"
    assert [line.startswith(expected) for line in lines] == [True, True]  # one line each
    assert "Traceback" not in err and "/" not in err  # no machine paths


@async_test
async def test_async_listener_runs_as_a_task_and_its_errors_are_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        done = asyncio.Event()

        async def on_open(event: Event) -> None:
            await asyncio.sleep(0)
            done.set()
            raise RuntimeError("async bug")

        ws.onopen = on_open
        await done.wait()
        await asyncio.sleep(0.01)
        ws.close()
        await ws.closed()
    assert "Uncaught RuntimeError in a 'open' listener: async bug at on_open" in (
        capsys.readouterr().err
    )


@async_test
async def test_listener_order_handlers_once_and_removal() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        calls: list[str] = []

        def a(e: Event) -> None:
            calls.append("a")

        def b(e: Event) -> None:
            calls.append("b")

        ws.addEventListener("message", a)
        ws.onmessage = lambda e: calls.append("handler")
        ws.addEventListener("message", b)
        ws.addEventListener("message", a)  # the same listener twice: ignored
        ws.addEventListener("message", lambda e: calls.append("once"), once=True)
        await ws.wait_for("open")
        ws.send("1")
        await ws.wait_for("message")
        assert calls == ["a", "handler", "b", "once"]

        calls.clear()
        ws.onmessage = lambda e: calls.append("handler2")  # keeps its place
        ws.send("2")
        await ws.wait_for("message")
        assert calls == ["a", "handler2", "b"]

        calls.clear()
        ws.onmessage = None  # removes the slot ...
        ws.onmessage = lambda e: calls.append("handler3")  # ... so this goes last
        ws.removeEventListener("message", a)
        ws.send("3")
        await ws.wait_for("message")
        assert calls == ["b", "handler3"]
        assert ws.onmessage is not None and ws.onopen is None
        ws.close()
        await ws.closed()


@async_test
async def test_listener_removed_during_dispatch_is_not_called() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        calls: list[str] = []

        def second(e: Event) -> None:
            calls.append("second")

        def first(e: Event) -> None:
            calls.append("first")
            ws.removeEventListener("open", second)

        ws.addEventListener("open", first)
        ws.addEventListener("open", second)
        await ws.wait_for("open")
        assert calls == ["first"]
        ws.close()
        await ws.closed()


# --------------------------------------------------------------------------- helpers


@async_test
async def test_wait_for_returns_past_one_off_events_and_fails_after_close() -> None:
    async with serving(echo_server(Seen())) as base:
        ws = WebSocket(base)
        opened = await ws.wait_for("open")
        assert opened.type == "open" and opened.target is ws
        assert await ws.wait_for("open") is opened  # already fired: returned at once
        ws.close()
        closed = await ws.closed()
        assert isinstance(closed, CloseEvent)
        assert await ws.closed() is closed
        with pytest.raises(ConnectionError) as info:
            await ws.wait_for("message")
        assert info.value.event is closed  # type: ignore[attr-defined]


@async_test
async def test_wait_for_raises_if_the_socket_closes_first() -> None:
    ws = WebSocket(f"ws://127.0.0.1:{free_port()}/")
    with pytest.raises(ConnectionError, match="code 1006"):
        await ws.wait_for("open")


@async_test
async def test_wait_for_timeout() -> None:
    async with serving(echo_server(Seen())) as base:
        async with WebSocket(base) as ws:
            with pytest.raises(TimeoutError):
                await ws.wait_for("message", timeout=0.05)


@async_test
async def test_async_with_opens_and_closes() -> None:
    seen = Seen()
    async with serving(echo_server(seen)) as base:
        async with WebSocket(base) as ws:
            assert ws.readyState == WebSocket.OPEN
        assert ws.readyState == WebSocket.CLOSED
        await seen.done.wait()
    assert seen.close == (1005, "")


# ----------------------------------------------------------------- draining (Python extras)


def test_buffered_below_wakes_when_the_buffer_drains_and_fails_when_it_never_will() -> None:
    """A reader that stalls, then reads: the waiter wakes exactly when bytes are handed over."""
    import socket as socket_module

    async def scenario() -> tuple[int, int, int, str]:
        gate = asyncio.Event()

        async def stall_then_read(ws: Any) -> None:
            await gate.wait()
            async for _ in ws:
                pass

        async with serve(stall_then_read, "127.0.0.1", 0, compression=None, max_queue=1) as server:
            port = server.sockets[0].getsockname()[1]
            ws = WebSocket(f"ws://127.0.0.1:{port}", send_buffer=8192)
            await ws.wait_for("open")
            sock = ws._connection.transport.get_extra_info("socket")
            sndbuf = sock.getsockopt(socket_module.SOL_SOCKET, socket_module.SO_SNDBUF)
            for _ in range(40):
                ws.send(os.urandom(64 * 1024))
            await asyncio.sleep(0.3)
            stuck = ws.bufferedAmount
            with pytest.raises(TimeoutError):
                await ws.buffered_below(0, timeout=0.2)
            gate.set()
            drained = await ws.buffered_below(64 * 1024, timeout=5)
            # closing with data queued: a waiter for 0 gets ConnectionError
            for _ in range(40):
                ws.send(os.urandom(64 * 1024))
            waiter = asyncio.ensure_future(ws.buffered_below(0, timeout=10))
            ws._connection.abort("test")
            try:
                await waiter
                outcome = "drained"
            except ConnectionError:
                outcome = "ConnectionError"
            return sndbuf, stuck, drained, outcome

    sndbuf, stuck, drained, outcome = asyncio.run(asyncio.wait_for(scenario(), 15))
    assert sndbuf <= 2 * 8192  # the kernel kept the small buffer (Linux doubles it)
    assert stuck > 1_000_000  # the stalled reader left most of 2.5 MiB queued
    assert drained <= 64 * 1024
    assert outcome == "ConnectionError"


def test_the_two_halves_talk_only_through_public_names() -> None:
    """Neither half of wslearn's ``WebSocket`` touches the other's private attributes.

    The API half holds ``self._connection`` and may only use its public
    methods; the network half holds ``self.feedback`` callbacks and nothing of
    the ``WebSocket``. A private name reached through any object other than
    ``self`` (``ws._buffered_amount``, ``self._connection._x``) fails this test.
    """
    import ast
    from pathlib import Path

    import wslearn.websocket as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    reach_ins = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        if cls.name not in ("WebSocket", "_Connection"):
            continue
        for node in ast.walk(cls):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
                continue
            if node.attr.startswith("__") or (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            ):
                continue
            reach_ins.append(f"{cls.name} line {node.lineno}: {ast.unparse(node)}")
    assert reach_ins == []


@async_test
async def test_wss_with_a_context_that_trusts_the_course_ca() -> None:
    """A TLS server with a certificate from a course CA (trustme): trusted only if asked."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    seen = Seen()
    async with serving(echo_server(seen), ssl=server_context) as url:
        wss = url.replace("ws://", "wss://")
        async with WebSocket(wss, ssl=client_context) as ws:
            ws.send("over TLS")
            reply = await ws.wait_for("message", timeout=5)
        untrusted = WebSocket(wss)  # the system's CAs do not know the course CA
        refused = await untrusted.closed(timeout=5)
    assert (ws.url, reply.data) == (wss + "/", "over TLS")
    assert [entry.type for entry in untrusted.events] == ["connecting", "error", "close"]
    assert (refused.code, refused.wasClean) == (1006, False)
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.events[1].details["message"]
