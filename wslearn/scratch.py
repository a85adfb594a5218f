"""A WebSocket server and client from scratch (notebook 06): asyncio around the course's parts.

The protocol is all in :class:`wslearn.connection.Connection`, sans-I/O: bytes
in, events out; messages in, bytes out. This module only moves bytes between
it and a TCP connection, and keeps time. The opening handshake is
:mod:`wslearn.handshake` (read with :func:`wslearn.raw.read_head`). There is no
``websockets`` inside; the tests check it against ``websockets`` anyway.

Theory of operation
-------------------
The opening handshake runs on asyncio streams (:func:`accept`, :func:`connect`).
Then a :class:`Connection` takes the TCP transport over; asyncio reads each
chunk of bytes into its buffer and calls it, and the bytes go straight to the
protocol object::

    buffer_updated(n) --> protocol.receive_data() --> events --+-- Message --> queue --> recv()
                                                               +-- Pong    --> wake up ping()
    protocol.data_to_send() --> transport.write() (pongs, close replies, send(), ping(), close())

and, with ``ping_interval`` set, a keepalive task: a peer silent for
``ping_interval`` seconds gets a PING, and one that has not answered
``ping_timeout`` seconds later is dropped (close code 1011, then TCP cut), so
dead peers do not hold a server's memory for ever (websockets' defaults: 20 s
and 20 s). A server refuses connections beyond ``max_connections`` with
HTTP 503.

Closing (§7.1): the protocol object says when the TCP connection should close
(``protocol.close_tcp``); the server then closes it first (§7.1.1), so that
the client's port is not stuck in TIME_WAIT. A peer that does not answer
within ``close_timeout`` seconds is cut off, and a TCP connection that ends
without a close frame is reported as code 1006.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Generator,
    Iterable,
    Mapping,
)
from typing import Any
from urllib.parse import urlsplit

from wslearn import connection, deflate
from wslearn.close import CloseCode
from wslearn.connection import InvalidState, Message, Pong, State
from wslearn.handshake import (
    HandshakeError,
    Request,
    build_error_response,
    build_request,
    build_response,
    check_request,
    check_response,
    parse_request,
    parse_response,
    select_subprotocol,
)
from wslearn.net import LOOPBACK, check_loopback
from wslearn.raw import page_for, page_response, read_head

__all__ = [
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeError",
    "Server",
    "State",
    "accept",
    "connect",
    "echo",
    "read_head",
    "serve",
]

logger = logging.getLogger(__name__)

MAX_QUEUE = 16  # received messages buffered before we stop reading the socket
OPEN_TIMEOUT = 10.0  # seconds for the opening handshake
CLOSE_TIMEOUT = 10.0  # seconds to wait for the peer during the closing handshake
PING_INTERVAL = 20.0  # seconds of silence before a keepalive PING (websockets' default)
PING_TIMEOUT = 20.0  # seconds to wait for its PONG before dropping the peer (same)
MAX_CONNECTIONS = 1024  # open TCP connections per server; more get HTTP 503
READ_SIZE = 65536  # bytes asked from the socket per read (during the handshake)
INBOX_SIZE = 131072  # bytes the socket may write per read once open (see get_buffer)

# Close codes after which `async for message in ws` simply ends (as in websockets).
OK_CODES = {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}


class ConnectionClosed(Exception):
    """The connection is closed; ``code`` and ``reason`` are what the peer sent.

    ``code`` is 1006 when no close frame arrived (§7.1.5) and 1005 when it
    had no payload. ``sent`` is the ``(code, reason)`` we sent, or ``None``.
    """

    def __init__(self, received: tuple[int, str] | None, sent: tuple[int, str] | None) -> None:
        self.received, self.sent = received, sent
        self.code, self.reason = received or (int(CloseCode.ABNORMAL_CLOSURE), "")
        got = f"received {self.code} {self.reason!r}" if received else "no close frame received"
        gave = f"sent {sent[0]} {sent[1]!r}" if sent else "no close frame sent"
        super().__init__(f"{got}; {gave}")


class ConnectionClosedOK(ConnectionClosed):
    """Both close frames carried 1000, 1001 or 1005: a normal end."""


class ConnectionClosedError(ConnectionClosed):
    """Any other end: an error code, or no closing handshake at all."""


async def close_tcp(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, first: bool, timeout: float
) -> None:
    """Close a TCP connection without losing the last bytes we wrote.

    ``first=True`` (the server, §7.1.1) sends our FIN right away. Either side
    then reads and drops whatever still arrives (§1.4: "a peer discards any
    further data received") until the peer's FIN, for at most ``timeout``
    seconds. Closing a socket with unread data makes the kernel send a
    reset, which could destroy our close frame before the peer reads it.
    """
    try:
        if first and writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(timeout):
            while await reader.read(READ_SIZE):
                pass
    except (TimeoutError, OSError):
        writer.transport.abort()  # the peer did not finish in time: cut it off
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


# --- A connection: both sides, after the handshake -----------------------------


_inboxes = threading.local()


class Connection(asyncio.BufferedProtocol):
    """One open WebSocket connection; the server's handler and ``connect()`` both get one.

    ``send()``, ``recv()``, ``ping()``, ``close()`` and ``async for message in
    connection`` are the whole interface; ``protocol`` is the sans-I/O
    :class:`wslearn.connection.Connection` doing the work. After the handshake
    this object takes the TCP transport over from the asyncio streams and is
    called by it (``get_buffer``/``buffer_updated``, ...), so bytes reach the
    protocol without a task in between. Received messages wait in a queue;
    after ``max_queue`` of them the connection stops reading the socket until
    ``recv()`` takes some, so a slow handler slows the sender down (TCP flow
    control) instead of filling memory. ``protocol_options`` (``max_size``, ``max_fragments``,
    ``pong_for``, ``reassemble``, ``close_reply``) go to the protocol object.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        *,
        client: bool,
        subprotocol: str | None = None,
        request: Request | None = None,
        data: bytes = b"",
        max_queue: int = MAX_QUEUE,
        close_timeout: float = CLOSE_TIMEOUT,
        ping_interval: float | None = PING_INTERVAL,
        ping_timeout: float | None = PING_TIMEOUT,
        **protocol_options: Any,
    ) -> None:
        self.client = client
        self.subprotocol = subprotocol
        self.request = request  # the client's handshake request (server side only)
        self.max_queue, self.close_timeout = max_queue, close_timeout
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.protocol = connection.Connection(client, **protocol_options)
        self.transport = transport
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        loop = asyncio.get_running_loop()
        self._messages: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None  # a recv() waiting for a message
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._last_heard = time.monotonic()
        self._closing: asyncio.Task[None] | None = None  # closing TCP, once the protocol says so
        self._lost: asyncio.Future[None] = loop.create_future()  # TCP is closed
        self._keepalive_task = (
            loop.create_task(self._keepalive()) if ping_interval is not None else None
        )
        self._deliver(self.protocol.receive_data(data))

    @classmethod
    async def take_over(
        cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, **options: Any
    ) -> Connection:
        """A connection on the TCP transport of ``reader``/``writer`` once the handshake is done.

        ``data`` came right after the HTTP head; whatever else the stream
        buffered follows it, so no byte is lost or reordered.
        """
        reader.feed_eof()  # the stream gets no more bytes: read() returns what it holds, at once
        data += await reader.read()
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)
        ws = cls(transport, data=data, **options)
        ws._streams = (reader, writer)  # a dropped StreamWriter would close the transport
        transport.set_protocol(ws)
        transport.resume_reading()
        return ws

    @property
    def state(self) -> State:
        """OPEN, CLOSING (a close frame went out or came in), CLOSED (TCP is closed)."""
        if self._lost.done():
            return State.CLOSED
        return State.OPEN if self.protocol.state is State.OPEN else State.CLOSING

    # -- what the application uses --

    async def send(self, message: str | bytes, *, fragment_size: int | None = None) -> None:
        """Send one message: ``str`` as TEXT, ``bytes`` as BINARY.

        With ``fragment_size``, the message leaves as several frames of at most
        that many payload bytes (§5.4). They are written in one go, so nothing
        else we send can land between them.
        """
        try:
            if isinstance(message, str):
                self.protocol.send_text(message, fragment_size=fragment_size)
            elif isinstance(message, bytes | bytearray | memoryview):
                self.protocol.send_binary(message, fragment_size=fragment_size)
            else:
                raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        except InvalidState:
            await self.wait_closed()
            raise self._closed_error() from None
        await self._write_out()

    async def recv(self) -> str | bytes:
        """The next message (``str`` or ``bytes``); raises :class:`ConnectionClosed` at the end."""
        while not self._messages:
            if self._lost.done():
                raise self._closed_error()
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting in recv()")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._messages.popleft()
        if self._reading_paused and len(self._messages) < self.max_queue:
            self._reading_paused = False
            self.transport.resume_reading()
        return message

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Messages until the connection closes; ends quietly after 1000, 1001 or 1005."""
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def ping(self, data: bytes | None = None) -> float:
        """Send a PING (§5.5.2), wait for its PONG, return the round-trip time in seconds.

        Raises :class:`ConnectionClosed` if the connection ends first.
        """
        payload = secrets.token_bytes(4) if data is None else bytes(data)
        if payload in self._pings:
            raise ValueError("already waiting for a pong with this payload")
        try:
            self.protocol.send_ping(payload)  # ValueError over 125 bytes
        except InvalidState:
            await self.wait_closed()
            raise self._closed_error() from None
        waiter = asyncio.get_running_loop().create_future()
        self._pings[payload] = (waiter, time.monotonic())
        await self._write_out()
        await asyncio.wait({waiter, self._lost}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():  # the connection ended first: no pong is coming
            raise self._closed_error()
        return waiter.result()

    async def close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2) and return once TCP is closed.

        ``code=None`` sends a close frame without a payload (the peer reads
        1005). Waits up to ``close_timeout`` seconds for the peer's close frame
        and its end of TCP, then cuts the connection. If the connection is
        already closing, this only waits.
        """
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)  # ValueError for a code that may not be sent
            self._deliver([])  # write it; keep reading: the peer's close frame must get through
            self._resume_reading()
        try:
            async with asyncio.timeout(self.close_timeout):
                await asyncio.shield(self._lost)
        except TimeoutError:
            self.transport.abort()  # no answer in time: the result is a 1006
            await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._lost)

    @property
    def close_code(self) -> int | None:
        """The code of the peer's close frame; 1006 if none came; ``None`` until closed."""
        return self._closed_error().code if self._lost.done() else None

    @property
    def close_reason(self) -> str | None:
        """The reason in the peer's close frame (``""`` if none); ``None`` until closed."""
        return self._closed_error().reason if self._lost.done() else None

    def __repr__(self) -> str:
        side = "client" if self.client else "server"
        return f"<Connection {side} {self.state.name} subprotocol={self.subprotocol!r}>"

    # -- called by the transport (asyncio.BufferedProtocol) --

    def get_buffer(self, sizehint: int) -> memoryview:
        # The socket reads straight into one buffer per thread (one event loop
        # runs there, and the protocol copies what it keeps before we return),
        # already in memory: no new 256 KiB bytes object, and its page faults,
        # for every read, as asyncio's data_received path costs. 128 KiB holds
        # a 64 KiB message whole; in bench_echo it beat 64, 256, 512 KiB and
        # 1 MiB at every message size.
        inbox = getattr(_inboxes, "buffer", None)
        if inbox is None:
            inbox = _inboxes.buffer = memoryview(bytearray(INBOX_SIZE))
        return inbox

    def buffer_updated(self, nbytes: int) -> None:
        self._last_heard = time.monotonic()
        with _inboxes.buffer[:nbytes] as data:
            self._deliver(self.protocol.receive_data(data))

    def eof_received(self) -> bool:
        self.protocol.receive_eof()  # TCP ended: without a close frame that is a 1006
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()
        if self.protocol.error is not None:
            logger.debug("failed the connection: %s", self.protocol.error)
        if not self._lost.done():
            self._lost.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)  # recv() raises ConnectionClosed
        self._wake_writers()
        self._pings.clear()
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writers()

    # -- the glue --

    def _deliver(self, events: list[connection.Event]) -> None:
        """Queue messages, wake up pings, write what the protocol queued, close TCP when due."""
        for event in events:
            if type(event) is Message:
                self._messages.append(event.data)
            elif type(event) is Pong:
                self._on_pong(event.payload)
        if self._messages:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
            full = len(self._messages) >= self.max_queue and self.protocol.state is State.OPEN
            if full and not self._reading_paused:
                self._reading_paused = True  # TCP flow control slows the peer down
                self.transport.pause_reading()
        if data := self.protocol.data_to_send():
            self.transport.write(data)
        if self.protocol.close_tcp and self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close_tcp())

    async def _close_tcp(self) -> None:
        """Close TCP once the closing handshake is over, or the protocol failed.

        The server sends its FIN first (§7.1.1), so that the client's port is
        not stuck in TIME_WAIT; either side then waits for the peer's FIN for
        at most ``close_timeout`` seconds (reading and dropping what still
        comes, §1.4) before cutting the connection off.
        """
        self._resume_reading()
        if not self.client and self.transport.can_write_eof() and not self.transport.is_closing():
            self.transport.write_eof()
        try:
            async with asyncio.timeout(self.close_timeout):
                await asyncio.shield(self._lost)
        except TimeoutError:
            self.transport.abort()

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def _on_pong(self, payload: bytes) -> None:
        """Wake up the ``ping()`` this PONG answers, and any earlier one.

        §5.5.3: a PONG "MAY be sent unsolicited"; one that matches no ping is ignored.
        """
        if payload not in self._pings:
            return
        now = time.monotonic()
        for key in list(self._pings):
            waiter, sent_at = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent_at)
            if key == payload:
                break

    async def _keepalive(self) -> None:
        """Ping a peer silent for ``ping_interval`` s; drop it if no PONG in ``ping_timeout`` s."""
        assert self.ping_interval is not None
        while self.protocol.state is State.OPEN:
            idle = time.monotonic() - self._last_heard
            if idle < self.ping_interval or self._reading_paused:
                # Not idle yet; or our own inbox is full, so we are not reading its pong.
                await asyncio.sleep(max(self.ping_interval - idle, 0.001))
                continue
            try:
                async with asyncio.timeout(self.ping_timeout):
                    await self.ping()
            except TimeoutError:
                # No PONG: the peer (or the path to it) is dead. Say why, then cut TCP.
                logger.debug("keepalive ping timeout: dropping %r", self)
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                self.transport.write(self.protocol.data_to_send())
                self.transport.abort()
                return
            except ConnectionClosed:
                return

    async def _write_out(self) -> None:
        """Write what the protocol queued; wait while the transport's buffer is too full."""
        if self._lost.done():
            raise self._closed_error()
        self.transport.write(self.protocol.data_to_send())
        if self._writing_paused:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            await waiter
            if self._lost.done():
                raise self._closed_error()

    def _wake_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _closed_error(self) -> ConnectionClosed:
        """The exception describing how this connection ended."""
        received, sent = self.protocol.close_received, self.protocol.close_sent
        ok = received and sent and received[0] in OK_CODES and sent[0] in OK_CODES
        return (ConnectionClosedOK if ok else ConnectionClosedError)(received, sent)


# --- The server side: handshake, then the handler ------------------------------


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    subprotocols: Iterable[str] = (),
    origins: Collection[str | None] | None = None,
    open_timeout: float = OPEN_TIMEOUT,
    pages: Mapping[str, str] | None = None,
    compression: Mapping[str, Any] | None = None,
    **options: Any,
) -> Connection | None:
    """Do the server's half of the opening handshake on a new TCP connection.

    Returns the open :class:`Connection`, or ``None`` after refusing the
    request with the HTTP status of its :class:`HandshakeError` (400, 403,
    426, 431) or after a timeout. ``options`` go to :class:`Connection`.
    ``pages`` maps paths to HTML that a plain HTTP GET (no upgrade) receives
    instead (:func:`wslearn.raw.page_for`), so that a browser can load a page
    from this very server. ``compression``: accept permessage-deflate with these
    settings (keyword arguments of :func:`wslearn.deflate.accept`, ``{}`` for the
    RFC's defaults); ``None`` (the default) declines it.
    """
    timeout = options.get("close_timeout", CLOSE_TIMEOUT)
    try:
        request, data = await read_head(reader, parse_request, open_timeout)
        page = page_for(request.method, request.target, request.headers.get("Upgrade"), pages or {})
        if page is not None:
            writer.write(page_response(page))
            await writer.drain()
            await close_tcp(reader, writer, first=True, timeout=timeout)
            return None
        key = check_request(request, origins=origins)
        offers = request.headers.get_all("Sec-WebSocket-Extensions")
        agreed = None if compression is None else deflate.accept(offers, **compression)
    except HandshakeError as exc:
        await refuse(reader, writer, exc, timeout)
        return None
    except (TimeoutError, OSError):
        writer.transport.abort()  # too slow, or gone: nobody to answer
        return None
    subprotocol = select_subprotocol(request.subprotocols, subprotocols)
    extensions = [("Sec-WebSocket-Extensions", agreed[0])] if agreed else []
    writer.write(build_response(key, subprotocol=subprotocol, extra_headers=extensions))
    await writer.drain()
    if agreed:
        options["deflate"] = agreed[1]
    return await Connection.take_over(
        reader, writer, data, client=False, subprotocol=subprotocol, request=request, **options
    )


async def refuse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    error: HandshakeError,
    timeout: float = CLOSE_TIMEOUT,
) -> None:
    """Answer a handshake with ``error``'s HTTP status, then close TCP (the server first)."""
    logger.debug("refusing a handshake: %s %s", error.status, error)
    with contextlib.suppress(OSError):
        writer.write(build_error_response(error))
        await writer.drain()
    await close_tcp(reader, writer, first=True, timeout=timeout)


Handler = Callable[[Connection], Awaitable[None]]


class Server:
    """A listening WebSocket server; ``await`` it, or use ``async with``, to start it.

    Each TCP connection gets its own task: handshake, then ``handler(connection)``,
    then a close with 1000 when the handler returns or 1011 when it raises.
    """

    def __init__(
        self,
        handler: Handler,
        host: str = LOOPBACK,
        port: int = 0,
        *,
        subprotocols: Iterable[str] = (),
        origins: Collection[str | None] | None = None,
        allow_remote: bool = False,
        open_timeout: float = OPEN_TIMEOUT,
        pages: Mapping[str, str] | None = None,
        max_connections: int | None = MAX_CONNECTIONS,
        **options: Any,
    ) -> None:
        check_loopback(host, allow_remote=allow_remote)
        self.handler, self.host, self.port = handler, host, port
        self.subprotocols, self.origins = tuple(subprotocols), origins
        self.open_timeout, self.max_connections = open_timeout, max_connections
        self.pages = dict(pages or {})  # path -> HTML for plain HTTP GETs
        self.options = options  # for each Connection (see Connection and serve())
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[Connection] = set()
        self._closing: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The ``ws://`` URL of this server (with the port the OS chose)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The ``http://`` URL of the same port, where ``pages`` are served."""
        return "http" + self.url[2:]

    async def start(self) -> Server:
        """Start listening; ``port=0`` lets the OS choose a free port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve_one, self.host, self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Everything one client gets: handshake, handler, close."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.max_connections is not None and len(self._tasks) > self.max_connections:
                # Full: say so in HTTP (RFC 9110 §15.6.4 503 "Service Unavailable")
                # instead of holding a socket and memory for one more client.
                busy = HandshakeError("too many connections", 503, [("Retry-After", "1")])
                await refuse(reader, writer, busy, self.options.get("close_timeout", CLOSE_TIMEOUT))
                return
            ws = await accept(
                reader,
                writer,
                subprotocols=self.subprotocols,
                origins=self.origins,
                open_timeout=self.open_timeout,
                pages=self.pages,
                **self.options,
            )
            if ws is None:
                return
            if self._closing is not None:  # the server stopped during the handshake
                await ws.close(CloseCode.GOING_AWAY, "server shutting down")
                return
            self._connections.add(ws)
            code, reason = CloseCode.NORMAL_CLOSURE, ""
            try:
                await self.handler(ws)
            except ConnectionClosed:
                pass  # the connection ended under the handler: nothing to report
            except Exception:
                logger.exception("connection handler failed")
                # §7.4.1: 1011 "encountered an unexpected condition".
                code, reason = CloseCode.INTERNAL_ERROR, "internal error"
            finally:
                self._connections.discard(ws)
            await ws.close(code, reason)
        except OSError:
            writer.transport.abort()
        finally:
            self._tasks.discard(task)

    def close(self) -> None:
        """Stop accepting; close every connection with 1001 "going away" (see wait_closed)."""
        if self._server is not None and self._closing is None:
            self._server.close()
            self._closing = asyncio.create_task(self._close_all())

    async def _close_all(self) -> None:
        await asyncio.gather(
            *(ws.close(CloseCode.GOING_AWAY, "server shutting down") for ws in self._connections),
            return_exceptions=True,
        )
        if self._tasks:  # handlers that ignore the end of their connection, slow handshakes
            timeout = self.options.get("close_timeout", CLOSE_TIMEOUT)
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def wait_closed(self) -> None:
        """Wait until the server and all its connections are closed."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
        if self._server is not None:
            await self._server.wait_closed()

    async def stop(self) -> None:
        """``close()`` then ``wait_closed()``."""
        self.close()
        await self.wait_closed()

    def __await__(self) -> Generator[Any, None, Server]:
        return self.start().__await__()

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<scratch.Server {self.url} connections={len(self._connections)}>"


def serve(
    handler: Handler,
    host: str = LOOPBACK,
    port: int = 0,
    *,
    subprotocols: Iterable[str] = (),
    max_size: int | None = connection.MAX_SIZE,
    origins: Collection[str | None] | None = None,
    allow_remote: bool = False,
    pages: Mapping[str, str] | None = None,
    **options: Any,
) -> Server:
    """A WebSocket server calling ``handler(connection)`` for each client.

    ``server = await serve(handler)`` or ``async with serve(handler) as server:``.
    ``origins`` is an allow-list of ``Origin`` values (``None`` in it admits
    clients that send none). ``pages`` maps paths to HTML served to plain
    HTTP GETs (``server.http_url + "/"``), so a browser can load a page and
    open its WebSocket on one origin. Other options: ``open_timeout``,
    ``close_timeout``, ``max_queue``, ``max_connections`` (more get HTTP
    503), ``ping_interval`` and ``ping_timeout`` (keepalive; ``None`` turns it
    off), and the protocol's ``max_fragments``, ``pong_for``, ``reassemble``,
    ``close_reply`` (see :class:`wslearn.connection.Connection`).
    """
    return Server(
        handler,
        host,
        port,
        subprotocols=subprotocols,
        origins=origins,
        allow_remote=allow_remote,
        pages=pages,
        max_size=max_size,
        **options,
    )


async def echo(ws: Connection) -> None:
    """A handler that sends every message back, text as text, bytes as bytes."""
    async for message in ws:
        await ws.send(message)


# --- The client side -----------------------------------------------------------


class connect:
    """Open a client connection: ``ws = await connect(url)`` or ``async with connect(url) as ws``.

    A class rather than a function so that both forms work. Only ``ws://``
    URLs (no TLS). Raises :class:`HandshakeError`, whose ``status`` is the
    server's HTTP status, when the server refuses.
    """

    def __init__(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        origin: str | None = None,
        open_timeout: float = OPEN_TIMEOUT,
        **options: Any,
    ) -> None:
        self.url, self.subprotocols, self.origin = url, list(subprotocols), origin
        self.open_timeout, self.options = open_timeout, options
        self._connection: Connection | None = None

    async def _open(self) -> Connection:
        parts = urlsplit(self.url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"expected a ws:// URL, got {self.url!r}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        async with asyncio.timeout(self.open_timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            try:
                request, key = build_request(
                    parts.netloc, target, origin=self.origin, subprotocols=self.subprotocols
                )
                writer.write(request)
                await writer.drain()
                response, data = await read_head(reader, parse_response, None)
                subprotocol = check_response(response, key, self.subprotocols)
            except BaseException:
                writer.transport.abort()
                raise
        return await Connection.take_over(
            reader, writer, data, client=True, subprotocol=subprotocol, **self.options
        )

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._connection is not None
        await self._connection.close()
