"""Talk WebSocket by hand to a real peer, for the tests: one raw-socket connection.

The live tests need a peer that does *exactly* what they say, byte for byte,
broken frames included, and that shows them exactly what came back. This
module is that peer, built from asyncio streams and the course's own sans-I/O
modules (:mod:`wslearn.handshake` for the opening handshake,
:mod:`wslearn.framing` for frames), so no test carries its own copy::

    async with RawWebSocket.connect("127.0.0.1", port, "/chat") as raw:
        await raw.send(Frame(True, Opcode.TEXT, b"hi"))   # masked for us (client side)
        await raw.send(b"\\x81\\x05...")                   # or any bytes, as they are
        assert await raw.recv_frame() == Frame(True, Opcode.TEXT, b"hi")
        await raw.send(Frame(True, Opcode.CLOSE, encode_close(1000)))
        assert decode_close((await raw.recv_close()).payload) == (1000, "")
        assert await raw.hung_up()                        # §7.1.1: the server closes TCP first

The server side of a raw server is the same class, from :meth:`RawWebSocket.accept`
(or built on :func:`read_head` for a server that answers the handshake its own way).

Every wait is bounded (``timeout``, :data:`TIMEOUT` seconds by default) and
raises :class:`TimeoutError` when it runs out, except :meth:`RawWebSocket.hung_up`,
which then answers ``False``: a test fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from wslearn import handshake
from wslearn.framing import Frame, FrameReader, Opcode, encode_frame
from wslearn.scratch import read_head as _read_head_unbounded

TIMEOUT = 5.0  # seconds any single wait may take
READ_SIZE = 65536  # bytes asked from the socket per read


async def read_head(
    reader: asyncio.StreamReader, parse: Callable[[bytearray], Any], timeout: float = TIMEOUT
) -> tuple[Any, bytes]:
    """Read an HTTP head with ``parse`` (``parse_request`` or ``parse_response``).

    Returns ``(head, bytes after it)``. Raises :class:`ConnectionError` if the
    peer hangs up first, :class:`~wslearn.handshake.HandshakeError` (431) if
    the head grows too big, :class:`TimeoutError` after ``timeout`` seconds.
    """
    async with asyncio.timeout(timeout):
        return await _read_head_unbounded(reader, parse)


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
    are frames, and already queued for :meth:`recv_frame`), and on the client
    side ``response`` (the parsed 101), ``key`` (our Sec-WebSocket-Key) and
    ``subprotocol`` (what the server chose, or ``None``).
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
        :class:`~wslearn.handshake.HandshakeError`).
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
        cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float = TIMEOUT
    ) -> RawWebSocket:
        """The server's side: read the request, check it, answer 101 (§4.2.2), no subprotocol.

        Raises :class:`~wslearn.handshake.HandshakeError` for a bad request
        (nothing is written then) and :class:`ConnectionError` if the client
        hangs up during the handshake.
        """
        request, rest = await read_head(reader, handshake.parse_request, timeout)
        writer.write(handshake.build_response(handshake.check_request(request)))
        return cls(reader, writer, rest, client=False)

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

    async def recv_close(self, timeout: float = TIMEOUT) -> Frame:
        """Skip frames until the peer's close frame; return it (``.payload``: the raw body).

        Raises :class:`ConnectionError` if the peer closes TCP without one.
        """
        async with asyncio.timeout(timeout):
            while (frame := await self.recv_frame(timeout)) is not None:
                if frame.opcode is Opcode.CLOSE:
                    return frame
        raise ConnectionError("the peer hung up without a close frame")

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
