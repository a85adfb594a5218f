"""A WebSocket server and client from scratch (notebook 06).

Everything here is asyncio streams plus the course's own sans-I/O modules:
:mod:`wslearn.handshake` for the opening handshake, :mod:`wslearn.framing`
for frames and messages, :mod:`wslearn.close` for close payloads. There is
no ``websockets`` inside; the tests check it against ``websockets`` anyway.

Theory of operation
-------------------
Opening: the client writes an HTTP request, the server reads it up to the
blank line (:func:`read_head`), checks it and answers ``101`` or an error
status (:func:`accept`, :func:`connect`). Bytes that arrive after the head
are already frames.

Then each :class:`Connection` runs one background task, the *frame loop*::

    socket bytes --FrameReader---> Frame --+-- TEXT/BINARY/CONTINUATION --> Assembler --> recv()
                                           +-- PING  --> pong_for()     --> write a PONG
                                           +-- PONG  --> wake up ping()
                                           +-- CLOSE --> close_reply()  --> write a CLOSE, stop

A broken rule anywhere in there is a :class:`~wslearn.framing.ProtocolError`
carrying its close code (1002, 1007, 1009): the loop answers with a close
frame holding that code and stops reading frames (§7.1.7 "_Fail the
WebSocket Connection_").

Closing (§7.1): whoever closes first sends a close frame and keeps reading
until the peer's close frame comes back; whoever receives a close frame first
answers with the same code. Then the TCP connection is closed, the server
first (§7.1.1), so that the client's port is not stuck in TIME_WAIT. A peer
that does not answer within ``close_timeout`` seconds is cut off, and a TCP
connection that ends without a close frame is reported as code 1006.

``state`` goes OPEN -> CLOSING -> CLOSED, with the browser's ``readyState``
numbers (1, 2, 3); a connection object only exists once the handshake is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import time
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

from wslearn.close import CloseCode, decode_close, encode_close
from wslearn.framing import (
    Assembler,
    Frame,
    FrameReader,
    Opcode,
    ProtocolError,
    encode_frame,
    fragment,
)
from wslearn.handshake import (
    HandshakeError,
    Headers,
    Request,
    Response,
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

__all__ = [
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeError",
    "Server",
    "State",
    "accept",
    "close_reply",
    "connect",
    "echo",
    "pong_for",
    "read_head",
    "serve",
]

logger = logging.getLogger(__name__)

MAX_SIZE = 2**20  # largest message accepted, in bytes (the same default as websockets)
MAX_QUEUE = 16  # received messages buffered before we stop reading the socket
OPEN_TIMEOUT = 10.0  # seconds for the opening handshake
CLOSE_TIMEOUT = 10.0  # seconds to wait for the peer during the closing handshake
READ_SIZE = 65536  # bytes asked from the socket per read

# Close codes after which `async for message in ws` simply ends (as in websockets).
OK_CODES = {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}


class State(enum.IntEnum):
    """Where a connection is in its life; the numbers are the browser's ``readyState``."""

    OPEN = 1
    CLOSING = 2  # a close frame was sent: no more data from us
    CLOSED = 3  # the TCP connection is closed


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


# --- The frame loop's pure pieces (sans-I/O, easy to test) ---------------------


def pong_for(ping: Frame) -> Frame:
    """The PONG that answers ``ping``.

    §5.5.3: "A Pong frame sent in response to a Ping frame must have
    identical 'Application data' as found in the message body of the Ping
    frame being replied to."
    """
    return Frame(fin=True, opcode=Opcode.PONG, payload=ping.payload)


def close_reply(code: int, reason: str = "") -> bytes:
    """The close payload that answers a peer's close frame carrying ``code`` and ``reason``.

    §5.5.1: the endpoint "typically echos the status code it received". We
    echo the reason too, as ``websockets`` does. 1005 means the peer's close
    frame was empty, and 1005 may never be sent (§7.4.1), so an empty close
    frame gets an empty one back.
    """
    if code == CloseCode.NO_STATUS_RCVD:
        return b""
    return encode_close(code, reason)


def _short_reason(text: str) -> str:
    """``text`` cut to the 123 UTF-8 bytes a close reason can hold (§5.5)."""
    return text.encode("utf-8")[:123].decode("utf-8", "ignore")


# --- Reading a handshake head, closing TCP: shared by both sides ---------------


async def read_head(
    reader: asyncio.StreamReader, parse: Callable[[bytearray], Any]
) -> tuple[Any, bytes]:
    """Read until ``parse`` (``parse_request`` or ``parse_response``) finds a whole head.

    Returns the parsed head and the bytes that came after it: frames the peer
    sent straight away. ``parse`` raises :class:`HandshakeError` (431) when the
    head grows past ``MAX_HEAD_SIZE`` without ending, so this never buffers
    without bound.
    """
    buffer = bytearray()
    while (parsed := parse(buffer)) is None:
        chunk = await reader.read(READ_SIZE)
        if not chunk:
            raise ConnectionError("the peer closed the connection during the handshake")
        buffer += chunk
    head, consumed = parsed
    return head, bytes(buffer[consumed:])


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


class Connection:
    """One open WebSocket connection; the server's handler and ``connect()`` both get one.

    ``send()``, ``recv()``, ``ping()``, ``close()`` and ``async for message in
    connection`` are the whole interface. Received messages wait in a queue;
    after ``max_queue`` of them the frame loop stops reading the socket until
    ``recv()`` takes some, so a slow handler slows the sender down (TCP
    flow control) instead of filling memory.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        client: bool,
        subprotocol: str | None = None,
        request: Request | None = None,
        data: bytes = b"",
        max_size: int | None = MAX_SIZE,
        max_queue: int = MAX_QUEUE,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self.client = client
        self.subprotocol = subprotocol
        self.request = request  # the client's handshake request (server side only)
        self.max_size, self.max_queue, self.close_timeout = max_size, max_queue, close_timeout
        self.state = State.OPEN
        self._reader, self._writer = reader, writer
        # §5.1: a client masks every frame it sends, a server never does, and
        # each side refuses frames masked the wrong way.
        self._mask = client
        self._assembler = Assembler(max_size=max_size)
        self._inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._room = asyncio.Event()  # set while the inbox has room: the frame loop may read
        self._room.set()
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._close_sent: tuple[int, str] | None = None
        self._close_received: tuple[int, str] | None = None
        self._task = asyncio.create_task(self._run(data))

    # -- what the application uses --

    async def send(self, message: str | bytes, *, fragment_size: int | None = None) -> None:
        """Send one message: ``str`` as TEXT, ``bytes`` as BINARY.

        With ``fragment_size``, the message leaves as several frames of at most
        that many payload bytes (§5.4). They are written in one go, so nothing
        else we send can land between them.
        """
        if isinstance(message, str):
            opcode, payload = Opcode.TEXT, message.encode("utf-8")
        elif isinstance(message, bytes | bytearray | memoryview):
            opcode, payload = Opcode.BINARY, bytes(message)
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}")
        if fragment_size is None:
            data = encode_frame(Frame(True, opcode, payload), mask=self._mask)
        else:
            frames = fragment(payload, opcode, fragment_size)
            data = b"".join(encode_frame(frame, mask=self._mask) for frame in frames)
        await self._send_frames(data)

    async def recv(self) -> str | bytes:
        """The next message (``str`` or ``bytes``); raises :class:`ConnectionClosed` at the end."""
        message = await self._inbox.get()
        if message is None:  # the end marker: leave it there for the next caller
            self._inbox.put_nowait(None)
            raise self._closed_error()
        if self._inbox.qsize() < self.max_queue:
            self._room.set()
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
        if len(payload) > 125:  # §5.5: control frames carry 125 bytes at most
            raise ValueError(f"a ping payload is at most 125 bytes, got {len(payload)}")
        if payload in self._pings:
            raise ValueError("already waiting for a pong with this payload")
        waiter = asyncio.get_running_loop().create_future()
        self._pings[payload] = (waiter, time.monotonic())
        await self._send_frames(encode_frame(Frame(True, Opcode.PING, payload), mask=self._mask))
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():  # the frame loop ended first: no pong is coming
            raise self._closed_error()
        return waiter.result()

    async def close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2) and return once TCP is closed.

        ``code=None`` sends a close frame without a payload (the peer reads
        1005). Waits up to ``close_timeout`` seconds for the peer's close frame
        and its end of TCP, then cuts the connection. If the connection is
        already closing, this only waits.
        """
        if self.state is State.OPEN:
            payload = encode_close(code, reason)  # ValueError for a code that may not be sent
            with contextlib.suppress(OSError):
                await self._send_close(payload)
        done, _ = await asyncio.wait({self._task}, timeout=self.close_timeout)
        if not done:
            self._writer.transport.abort()  # no answer in time: the result is a 1006
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._task)

    @property
    def close_code(self) -> int | None:
        """The code of the peer's close frame; 1006 if none came; ``None`` until closed."""
        if self.state is not State.CLOSED:
            return None
        return self._closed_error().code

    @property
    def close_reason(self) -> str | None:
        """The reason in the peer's close frame (``""`` if none); ``None`` until closed."""
        if self.state is not State.CLOSED:
            return None
        return self._closed_error().reason

    def __repr__(self) -> str:
        side = "client" if self.client else "server"
        return f"<Connection {side} {self.state.name} subprotocol={self.subprotocol!r}>"

    # -- the frame loop --

    async def _run(self, data: bytes) -> None:
        """The background task: the frame loop, then closing TCP."""
        try:
            await self._frame_loop(data)
        except ProtocolError as exc:
            # §7.1.7: the peer broke the protocol. Tell it why with a close frame
            # carrying the error's code, and stop reading frames.
            logger.debug("failing the connection: %s (%s)", exc, exc.code)
            with contextlib.suppress(OSError):
                await self._send_close(encode_close(exc.code, _short_reason(str(exc))))
        except OSError:
            pass  # the TCP connection broke: nothing can be sent any more
        finally:
            await close_tcp(
                self._reader, self._writer, first=not self.client, timeout=self.close_timeout
            )
            self._set_closed()

    async def _frame_loop(self, data: bytes) -> None:
        """Decode frames and act on each, until a close frame comes in or TCP ends.

        ``data`` holds bytes that arrived with the handshake. ``next_frame()``
        hands out one frame at a time, so every frame before a broken one is
        acted on, and nothing after it.
        """
        frames = FrameReader(max_size=self.max_size, expect_masked=not self.client)
        frames.receive(data)
        while True:
            frame = frames.next_frame()
            if frame is None:  # not a whole frame yet: read more
                chunk = await self._reader.read(READ_SIZE)
                if not chunk:
                    return  # TCP ended without a close frame: abnormal closure (1006)
                frames.receive(chunk)
                continue
            if frame.opcode is Opcode.CLOSE:
                await self._on_close(frame)
                return  # §1.4: after a close frame, further data is discarded
            if frame.opcode is Opcode.PING:
                await self._on_ping(frame)
            elif frame.opcode is Opcode.PONG:
                self._on_pong(frame)
            else:
                await self._on_data(frame)

    async def _on_data(self, frame: Frame) -> None:
        """Hand a data frame to the Assembler; queue the message it completes, if any.

        The Assembler enforces §5.4 (continuations need a start; no new message
        inside a fragmented one), max_size (1009) and UTF-8 for text (1007),
        checking each fragment as it arrives.
        """
        message = self._assembler.feed(frame)
        if message is None:
            return
        self._inbox.put_nowait(message.data)
        if self._inbox.qsize() >= self.max_queue and self.state is State.OPEN:
            self._room.clear()
            await self._room.wait()  # recv() or close() makes room

    async def _on_ping(self, frame: Frame) -> None:
        """Answer a PING with a PONG carrying the same payload (§5.5.2).

        Not once our close frame is out: the RFC would still allow a PONG then,
        but like ``websockets`` we send nothing after our close frame.
        """
        if self.state is State.OPEN:
            await self._write(encode_frame(pong_for(frame), mask=self._mask))

    def _on_pong(self, frame: Frame) -> None:
        """Wake up the ``ping()`` this PONG answers, and any earlier one.

        §5.5.3: a PONG "MAY be sent unsolicited"; one that matches no ping is ignored.
        """
        if frame.payload not in self._pings:
            return
        now = time.monotonic()
        for payload in list(self._pings):
            waiter, sent_at = self._pings.pop(payload)
            if not waiter.done():
                waiter.set_result(now - sent_at)
            if payload == frame.payload:
                break

    async def _on_close(self, frame: Frame) -> None:
        """Read the peer's close frame and answer it if we have not sent ours (§5.5.1).

        ``decode_close`` raises ProtocolError for a malformed payload: a 1-byte
        body, a code that may not be sent (1002), a reason that is not UTF-8
        (1007). The frame loop then fails the connection with that code.
        """
        self._close_received = decode_close(frame.payload)
        if self._close_sent is None:
            await self._send_close(close_reply(*self._close_received))

    # -- writing --

    async def _write(self, data: bytes) -> None:
        """Write bytes, then wait while the socket's send buffer is full (flow control)."""
        self._writer.write(data)
        await self._writer.drain()

    async def _send_frames(self, data: bytes) -> None:
        """Write data or ping frames: only while OPEN (§5.5.1: nothing after a close frame)."""
        if self.state is State.OPEN:
            try:
                await self._write(data)
                return
            except OSError:
                self._writer.transport.abort()  # the connection broke under us
        await self.wait_closed()
        raise self._closed_error()

    async def _send_close(self, payload: bytes) -> None:
        """Send our close frame (once) and enter CLOSING."""
        if self._close_sent is not None:
            return
        self._close_sent = decode_close(payload)  # remembered as (code, reason)
        self.state = State.CLOSING
        self._room.set()  # keep reading: the peer's close frame must get through
        await self._write(encode_frame(Frame(True, Opcode.CLOSE, payload), mask=self._mask))

    def _set_closed(self) -> None:
        """TCP is closed: wake up recv() (ping() watches the task itself)."""
        self.state = State.CLOSED
        self._room.set()
        self._inbox.put_nowait(None)
        self._pings.clear()

    def _closed_error(self) -> ConnectionClosed:
        """The exception describing how this connection ended."""
        received, sent = self._close_received, self._close_sent
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
    **options: Any,
) -> Connection | None:
    """Do the server's half of the opening handshake on a new TCP connection.

    Returns the open :class:`Connection`, or ``None`` after refusing the
    request with the HTTP status of its :class:`HandshakeError` (400, 403,
    426, 431) or after a timeout. ``options`` go to :class:`Connection`.
    ``pages`` maps paths to HTML that a plain HTTP GET (no upgrade) receives
    instead, so that a browser can load a page from this very server.
    """
    try:
        async with asyncio.timeout(open_timeout):
            request, data = await read_head(reader, parse_request)
        page = _page_response(request, pages or {})
        if page is not None:
            writer.write(page)
            await writer.drain()
            timeout = options.get("close_timeout", CLOSE_TIMEOUT)
            await close_tcp(reader, writer, first=True, timeout=timeout)
            return None
        key = check_request(request, origins=origins)
    except HandshakeError as exc:
        logger.debug("refusing a handshake: %s %s", exc.status, exc)
        with contextlib.suppress(OSError):
            writer.write(build_error_response(exc))
            await writer.drain()
        timeout = options.get("close_timeout", CLOSE_TIMEOUT)
        await close_tcp(reader, writer, first=True, timeout=timeout)
        return None
    except (TimeoutError, OSError):
        writer.transport.abort()  # too slow, or gone: nobody to answer
        return None
    subprotocol = select_subprotocol(request.subprotocols, subprotocols)
    writer.write(build_response(key, subprotocol=subprotocol))
    await writer.drain()
    return Connection(
        reader, writer, client=False, subprotocol=subprotocol, request=request, data=data, **options
    )


def _page_response(request: Request, pages: Mapping[str, str]) -> bytes | None:
    """``200 OK`` with the page for a plain GET of one of ``pages``' paths, else ``None``.

    A request asking for ``Upgrade: websocket`` is never a page request, so a
    path can hold a page and a WebSocket endpoint at once.
    """
    path = urlsplit(request.target).path
    if request.method != "GET" or path not in pages:
        return None
    if request.headers.has_token("Upgrade", "websocket"):
        return None
    body = pages[path].encode("utf-8")
    headers = Headers(
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    return Response("HTTP/1.1", 200, "OK", headers).serialize() + body


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
        **options: Any,
    ) -> None:
        check_loopback(host, allow_remote=allow_remote)
        self.handler, self.host, self.port = handler, host, port
        self.subprotocols, self.origins = tuple(subprotocols), origins
        self.open_timeout = open_timeout
        self.pages = dict(pages or {})  # path -> HTML for plain HTTP GETs
        self.options = options  # for each Connection: max_size, max_queue, close_timeout
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
    max_size: int | None = MAX_SIZE,
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
    ``close_timeout``, ``max_queue``.
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
                response, data = await read_head(reader, parse_response)
                subprotocol = check_response(response, key, self.subprotocols)
            except BaseException:
                writer.transport.abort()
                raise
        return Connection(
            reader, writer, client=True, subprotocol=subprotocol, data=data, **self.options
        )

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._open()
        return self._connection

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._connection is not None
        await self._connection.close()
