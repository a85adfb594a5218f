"""The course's one raw WebSocket peer: frames by hand over asyncio streams.

Tests, exercise checks and notebooks need a peer that does *exactly* what
they say, byte for byte, broken frames included, and shows exactly what came
back. This module is that peer, client or server side, built from the course's
own parts: :mod:`wslearn.handshake` for the opening handshake,
:mod:`wslearn.framing` for frames, and :func:`wslearn.connection.close_reply`
as its one policy for answering a close frame::

    async with RawWebSocket.connect("127.0.0.1", port, "/chat") as raw:
        await raw.send(Frame(True, Opcode.TEXT, b"hi"))   # masked for us (client side)
        await raw.send(b"\\x81\\x05...")                   # or any bytes, as they are
        assert await raw.recv_frame() == Frame(True, Opcode.TEXT, b"hi")
        await raw.send(Frame(True, Opcode.CLOSE, encode_close(1000)))
        assert decode_close((await raw.recv_close()).payload) == (1000, "")
        assert await raw.hung_up()                        # §7.1.1: the server closes TCP first

A raw server is :func:`listen` plus :meth:`RawWebSocket.accept`. Every wait is
bounded (``timeout``, :data:`TIMEOUT` seconds by default) and raises
:class:`TimeoutError` when it runs out, except :meth:`RawWebSocket.hung_up`,
which then answers ``False``: a caller fails instead of hanging.

It also holds the one *page-or-upgrade* rule every course server that serves
an HTML page follows (:func:`page_for`): a plain GET of a known path gets the
page, a request asking for ``Upgrade: websocket`` never does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from wslearn import handshake
from wslearn.connection import close_reply
from wslearn.framing import Frame, FrameReader, Opcode, encode_frame
from wslearn.net import LOOPBACK

__all__ = [
    "READ_SIZE",
    "TIMEOUT",
    "RawWebSocket",
    "listen",
    "page_for",
    "page_headers",
    "page_response",
    "read_head",
    "read_to_eof",
    "tcp",
]

TIMEOUT = 5.0  # seconds any single wait may take
READ_SIZE = 65536  # bytes asked from the socket per read


# --- HTTP heads and pages ----------------------------------------------------------------------


async def read_head(
    reader: asyncio.StreamReader,
    parse: Callable[[bytearray], Any],
    timeout: float | None = TIMEOUT,
) -> tuple[Any, bytes]:
    """Read until ``parse`` (``parse_request`` or ``parse_response``) finds a whole head.

    Returns the parsed head and the bytes that came after it: frames the peer
    sent straight away. ``parse`` raises :class:`~wslearn.handshake.HandshakeError`
    (431) when the head grows past ``MAX_HEAD_SIZE`` without ending, so this
    never buffers without bound; :class:`ConnectionError` if the peer hangs up
    first, :class:`TimeoutError` after ``timeout`` seconds (``None``: no limit).
    """
    buffer = bytearray()
    async with asyncio.timeout(timeout):
        while (parsed := parse(buffer)) is None:
            chunk = await reader.read(READ_SIZE)
            if not chunk:
                raise ConnectionError("the peer closed the connection during the handshake")
            buffer += chunk
    head, consumed = parsed
    return head, bytes(buffer[consumed:])


def page_for(method: str, target: str, upgrade: str | None, pages: Mapping[str, str]) -> str | None:
    """The HTML a request gets instead of a WebSocket, or ``None`` (go on with the handshake).

    A plain ``GET`` of one of ``pages``' paths gets its page; a request whose
    ``Upgrade`` header (``upgrade``) names ``websocket`` never does, so a path
    can hold a page and a WebSocket endpoint at once.
    """
    if method != "GET" or urlsplit(target).path not in pages:
        return None
    if upgrade and "websocket" in (token.strip().lower() for token in upgrade.split(",")):
        return None
    return pages[urlsplit(target).path]


def page_headers(body: bytes) -> list[tuple[str, str]]:
    """The header fields of a page response: HTML, its length, never cached, then closed."""
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
    ]


def page_response(html: str) -> bytes:
    """``200 OK`` carrying ``html``, as bytes to write."""
    body = html.encode("utf-8")
    headers = handshake.Headers(page_headers(body))
    return handshake.Response("HTTP/1.1", 200, "OK", headers).serialize() + body


# --- TCP ------------------------------------------------------------------------------------


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> bytes:
    """Everything the peer sends until it closes TCP (its FIN)."""
    async with asyncio.timeout(timeout):
        return await reader.read()


@contextlib.asynccontextmanager
async def tcp(
    host: str, port: int, timeout: float = TIMEOUT
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A plain TCP connection, ``(reader, writer)``, closed on the way out."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(timeout):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def listen(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    host: str = LOOPBACK,
    timeout: float = TIMEOUT,
) -> AsyncIterator[int]:
    """A TCP server on ``host`` calling ``handle(reader, writer)`` per connection; yields its port.

    Each connection is closed when ``handle`` returns or fails; on the way out
    the server stops, and handlers still running after ``timeout`` seconds are
    cancelled, so nothing is left behind.
    """
    tasks: set[asyncio.Task[None]] = set()

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handle(reader, writer)
        except (OSError, TimeoutError):
            pass  # the peer went away, or a wait ran out: nothing to answer
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(serve_one, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        if tasks:
            _, pending = await asyncio.wait(set(tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()


# --- the raw peer -----------------------------------------------------------------------------


class RawWebSocket:
    """One end of a WebSocket connection after the opening handshake, frames by hand.

    ``client=True`` (from :meth:`connect`): :meth:`send` masks frames and the
    peer's frames must be unmasked; ``client=False`` (from :meth:`accept`): the
    other way round (§5.1). The frames read are checked by
    :class:`~wslearn.framing.FrameReader` (masking, RSV bits, opcodes, control
    frame rules), which raises :class:`~wslearn.framing.ProtocolError` on a
    broken one.

    Attributes: ``reader`` and ``writer`` (the streams, for odd cases),
    ``leftover`` (the bytes that came right behind the peer's HTTP head; they
    are frames, and already queued for :meth:`recv_frame`), ``request`` (server
    side: the parsed request) and on the client side ``response`` (the parsed
    101), ``key`` (our Sec-WebSocket-Key) and ``subprotocol`` (the server's choice).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        leftover: bytes = b"",
        *,
        client: bool = True,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.client = client
        self.leftover = leftover
        self.frames = FrameReader(expect_masked=not client)
        self.frames.receive(leftover)
        self.request: handshake.Request | None = None
        self.response: handshake.Response | None = None
        self.key: str | None = None
        self.subprotocol: str | None = None

    # --- opening -----------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        host: str,
        port: int,
        path: str = "/",
        *,
        subprotocols: Iterable[str] = (),
        timeout: float = TIMEOUT,
    ) -> AsyncIterator[RawWebSocket]:
        """Open TCP, do the client's opening handshake (§4.1), close TCP on the way out.

        The request comes from :func:`~wslearn.handshake.build_request`, the
        answer must pass :func:`~wslearn.handshake.check_response` (else
        :class:`~wslearn.handshake.HandshakeError` carrying the server's status).
        """
        offered = list(subprotocols)
        async with tcp(host, port, timeout) as (reader, writer):
            request, key = handshake.build_request(f"{host}:{port}", path, subprotocols=offered)
            writer.write(request)
            response, rest = await read_head(reader, handshake.parse_response, timeout)
            subprotocol = handshake.check_response(response, key, offered)
            raw = cls(reader, writer, rest, client=True)
            raw.response, raw.key, raw.subprotocol = response, key, subprotocol
            yield raw

    @classmethod
    async def accept(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout: float = TIMEOUT,
        *,
        respond: Callable[[handshake.Request, str], bytes] | None = None,
    ) -> RawWebSocket:
        """The server's side: read the request, check it, answer 101 (§4.2.2), no subprotocol.

        ``respond(request, key)``, if given, builds the answer instead of
        :func:`~wslearn.handshake.build_response` (to answer wrongly on purpose).
        Raises :class:`~wslearn.handshake.HandshakeError` for a bad request
        (nothing is written then) and :class:`ConnectionError` if the client
        hangs up during the handshake.
        """
        request, rest = await read_head(reader, handshake.parse_request, timeout)
        key = handshake.check_request(request)
        writer.write(handshake.build_response(key) if respond is None else respond(request, key))
        raw = cls(reader, writer, rest, client=False)
        raw.request = request
        return raw

    # --- sending -----------------------------------------------------------------

    async def send(
        self, data: Frame | bytes, *, mask: bytes | bool | None = None, timeout: float = TIMEOUT
    ) -> None:
        """Write a frame, or raw bytes exactly as given, and wait until they are sent.

        A :class:`~wslearn.framing.Frame` is encoded with no rule checked, so
        broken frames go out too (RSV bits, 126-byte control frames, ...). It
        is masked with a fresh key on the client side and left unmasked on the
        server side, unless ``mask`` says otherwise (see
        :func:`~wslearn.framing.encode_frame`).
        """
        if isinstance(data, Frame):
            data = encode_frame(data, self.client if mask is None else mask, check=False)
        self.writer.write(data)
        async with asyncio.timeout(timeout):
            await self.writer.drain()

    # --- receiving ---------------------------------------------------------------

    async def recv_frame(self, timeout: float = TIMEOUT) -> Frame | None:
        """The peer's next frame, or ``None`` once it has closed TCP (a FIN or a reset).

        Frames come out in order, each as soon as it is complete; a broken one
        raises :class:`~wslearn.framing.ProtocolError` after those before it.
        """
        async with asyncio.timeout(timeout):
            while (frame := self.frames.next_frame()) is None:
                try:
                    chunk = await self.reader.read(READ_SIZE)
                except ConnectionError:  # a reset instead of a FIN
                    chunk = b""
                if not chunk:
                    return None
                self.frames.receive(chunk)
            return frame

    async def recv_frames(self, timeout: float = TIMEOUT) -> list[Frame]:
        """Every frame up to and including the peer's close frame, or until it closes TCP."""
        frames: list[Frame] = []
        async with asyncio.timeout(timeout):
            while (frame := await self.recv_frame(timeout)) is not None:
                frames.append(frame)
                if frame.opcode is Opcode.CLOSE:
                    break
        return frames

    async def recv_close(self, timeout: float = TIMEOUT) -> Frame:
        """Skip frames until the peer's close frame; return it (``.payload``: the raw body).

        Raises :class:`ConnectionError` if the peer closes TCP without one.
        """
        frames = await self.recv_frames(timeout)
        if frames and frames[-1].opcode is Opcode.CLOSE:
            return frames[-1]
        raise ConnectionError("the peer hung up without a close frame")

    async def answer_close(self, timeout: float = TIMEOUT) -> Frame:
        """Wait for the peer's close frame; answer it with ``connection.close_reply``."""
        frame = await self.recv_close(timeout)
        await self.send(Frame(True, Opcode.CLOSE, close_reply(frame.payload)), timeout=timeout)
        return frame

    async def hung_up(self, timeout: float = TIMEOUT) -> bool:
        """Did the peer close TCP (a FIN) without sending anything more?

        ``False`` if more bytes come (or were already read but not returned as
        frames), or if the connection is still open after ``timeout`` seconds.
        A reset raises :class:`ConnectionResetError`.
        """
        if self.frames.buffered:
            return False
        try:
            return await read_to_eof(self.reader, timeout) == b""
        except TimeoutError:
            return False
