"""A recording TCP proxy: the real bytes between a client and a server.

Put a ``Tap`` between any client and any server on loopback and it forwards
every byte unchanged while recording each chunk it saw, with its direction
and the time since the tap started. Notebooks use it to show the exact
handshake text and frame bytes of real ``websockets`` connections::

    async with servers.echo() as server, wire.Tap(server) as tap:
        async with websockets.connect(tap.url) as ws:
            await ws.send("Hello")
            await ws.recv()
    print(tap.head(CLIENT).decode())       # the HTTP upgrade request
    tap.frames(CLIENT)                     # the frames after it, decoded

Forwarding is faithful: chunks are relayed as they arrive; a half-close
(FIN) from one side is passed on as a half-close, and the other direction is
forwarded until it ends too or stays silent for ``linger`` seconds (counted
from its last byte); a reset (RST) from either side is passed on as a reset
to the other. ``blackhole()``, ``restore()`` and ``reset()`` break the
network on purpose, for keepalive and reconnection demos.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from wslearn.net import LOOPBACK, check_loopback

__all__ = [
    "CLIENT",
    "SERVER",
    "Chunk",
    "Direction",
    "Tap",
    "hexdump",
    "send_reset",
    "split_head",
    "tls_records",
]


class Direction(StrEnum):
    """Who sent a chunk."""

    CLIENT = "client→server"
    SERVER = "server→client"


CLIENT = Direction.CLIENT
SERVER = Direction.SERVER


@dataclass(frozen=True)
class Chunk:
    """One read from a socket, as it was forwarded."""

    time: float  # seconds since the tap started
    direction: Direction
    data: bytes
    connection: int  # 0 for the first connection through the tap, 1 for the next, ...


def send_reset(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s TCP connection with a reset (RST) instead of a FIN.

    With ``SO_LINGER`` on and a linger time of 0, closing a socket discards
    whatever is unsent and sends RST: TCP's ABORT call (RFC 9293, 3.10.5),
    which is what the peer of a crashed or reset host sees.
    """
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.fileno() != -1:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    """One connection through the tap: its two sockets, two pumps and last activity."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    last: float  # loop time of the last byte read or written, either direction
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        """RST both sides and stop both pumps."""
        for writer in (self.client, self.server):
            send_reset(writer)
        for pump in self.pumps:
            if pump is not asyncio.current_task():
                pump.cancel()


@dataclass
class Tap:
    """A TCP proxy on loopback that records both directions.

    ``target`` is anything with ``host`` and ``bound_port`` (a ``LocalServer``),
    a ``(host, port)`` pair, or a ``ws://host:port`` URL. ``host`` is where
    the tap listens: ``127.0.0.1`` by default, ``"::1"`` for IPv6 loopback.

    Besides forwarding, a tap can break the network on purpose:
    :meth:`blackhole` (a pulled cable), :meth:`restore`, :meth:`reset`.
    """

    target: Any
    host: str = LOOPBACK
    port: int = 0
    linger: float = 2.0
    allow_remote: bool = False
    chunks: list[Chunk] = field(default_factory=list, init=False)
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _links: set[_Link] = field(default_factory=set, init=False, repr=False)
    _flowing: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _restored: float = field(default=0.0, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    _t0: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._flowing.set()

    @property
    def bound_port(self) -> int:
        if self._server is None:
            raise RuntimeError("the tap is not running")
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """``ws://`` URL of the tap: connect here instead of to the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # RFC 3986 IP-literal
        return f"ws://{host}:{self.bound_port}"

    def _target_address(self) -> tuple[str, int]:
        target = self.target
        if isinstance(target, tuple):
            return target
        if isinstance(target, str):
            parts = urlsplit(target if "://" in target else f"//{target}")
            if parts.hostname is None or parts.port is None:
                raise ValueError(f"no host and port in {target!r}")
            return parts.hostname, parts.port
        return target.host, target.bound_port

    async def start(self) -> Tap:
        check_loopback(self.host, allow_remote=self.allow_remote)
        self._t0 = time.perf_counter()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._server = await asyncio.start_server(
            self._relay, self.host, self.port, family=family
        )
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await server.wait_closed()

    async def __aenter__(self) -> Tap:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- breaking the network on purpose -----------------------------------------

    def blackhole(self) -> None:
        """Stop forwarding in both directions and close nothing: a pulled cable.

        Bytes sent meanwhile are *held*, not dropped: the tap stops reading,
        so they wait in its buffers and the kernel's, the receive window
        fills up and the sender's TCP stops sending, just as it would keep
        retransmitting into a pulled cable. :meth:`restore` delivers them in
        order. Dropping them would be something TCP never does (it would cut
        a hole in the middle of a byte stream and garble the frames after
        it); a lost network shows up as silence, then either delivery or a
        timeout. A new connection accepted while blackholed is held the same
        way. Neither side is told anything: only a timeout (a heartbeat, a
        ping) can notice.
        """
        self._flowing.clear()

    def restore(self) -> None:
        """Forward again after :meth:`blackhole`; what was held goes through in order."""
        self._restored = asyncio.get_running_loop().time()
        self._flowing.set()

    def reset(self) -> int:
        """Reset (RST) both sides of every open connection; return how many there were."""
        links = list(self._links)
        for link in links:
            link.reset()
        return len(links)

    # -- forwarding ----------------------------------------------------------------

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        number, self._count = self._count, self._count + 1
        try:
            host, port = self._target_address()
            async with asyncio.timeout(5):
                server_r, server_w = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            client_w.transport.abort()
            self._tasks.discard(task)
            return
        loop = asyncio.get_running_loop()
        link = _Link(client_w, server_w, loop.time())
        link.pumps = [
            asyncio.create_task(self._pump(client_r, server_w, CLIENT, number, link)),
            asyncio.create_task(self._pump(server_r, client_w, SERVER, number, link)),
        ]
        self._links.add(link)
        try:
            _, pending = await asyncio.wait(link.pumps, return_when=asyncio.FIRST_COMPLETED)
            # One direction has ended and its EOF was passed on (a half-close):
            # keep forwarding the other until it ends too, or has been silent
            # for `linger` seconds since its last byte (time blackholed excluded).
            while pending:
                if not self._flowing.is_set():
                    _, pending = await asyncio.wait(pending, timeout=self.linger)
                    continue
                idle = loop.time() - max(link.last, self._restored)
                if idle >= self.linger:
                    break
                _, pending = await asyncio.wait(pending, timeout=self.linger - idle)
        except asyncio.CancelledError:
            # stop() while the connection is open: end quietly (asyncio's stream
            # callback would otherwise report the cancelled task as an error).
            pass
        finally:
            for pump in link.pumps:
                pump.cancel()
            for writer in (client_w, server_w):
                writer.close()
            self._links.discard(link)
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
        number: int,
        link: _Link,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                await self._flowing.wait()  # blackholed while reading: hold it
                if not data:
                    break
                link.last = loop.time()
                self.chunks.append(Chunk(self.elapsed(), direction, data, number))
                writer.write(data)
                await writer.drain()
                link.last = loop.time()
            if writer.can_write_eof():
                writer.write_eof()  # a half-close: FIN this way, the other way stays open
        except (ConnectionError, OSError):
            # A reset on either socket (read or write) is passed on as a reset.
            link.reset()

    def elapsed(self) -> float:
        """Seconds since the tap started (the clock of ``Chunk.time``)."""
        return time.perf_counter() - self._t0

    # -- reading what was recorded ---------------------------------------------

    def clear(self) -> None:
        self.chunks.clear()

    def data(self, direction: Direction, connection: int | None = None) -> bytes:
        """Everything sent in one direction (on one connection, or all of them)."""
        return b"".join(
            c.data
            for c in self.chunks
            if c.direction == direction and connection in (None, c.connection)
        )

    def head(self, direction: Direction, connection: int = 0) -> bytes:
        """The HTTP head (request or response) that opened ``connection``."""
        return split_head(self.data(direction, connection))[0]

    def frames(self, direction: Direction, connection: int = 0) -> list[Any]:
        """The WebSocket frames that followed the head, decoded with ``wslearn.framing``.

        On a ``wss://`` connection there are no frames to see: ``ValueError``
        (read it with :func:`tls_records` instead).
        """
        from wslearn.framing import FrameReader

        _no_tls(self.data(direction, connection))
        body = split_head(self.data(direction, connection))[1]
        reader = FrameReader(expect_masked=direction == CLIENT)
        return reader.feed(body)

    def timeline(self, connection: int = 0) -> list[tuple[float, Direction, Any]]:
        """Every frame of ``connection``, both directions, in the order the tap saw them.

        Each item is ``(ms since the tap started, direction, frame)``; a frame is
        timed by the chunk that completed it. RSV1 is let through, so a
        compressed connection can be inspected too. Frames that break a rule
        (which the tap forwarded all the same) end that direction's list.
        """
        from wslearn.framing import FrameReader, ProtocolError

        _no_tls(self.data(CLIENT, connection))
        found = []
        for direction in (CLIENT, SERVER):
            head = len(self.head(direction, connection))
            reader = FrameReader(allow_rsv1=True)
            seen = 0
            for chunk in self.chunks:
                if (chunk.direction, chunk.connection) != (direction, connection):
                    continue
                data = chunk.data[max(0, head - seen) :]
                seen += len(chunk.data)
                reader.receive(data)
                try:
                    while (frame := reader.next_frame()) is not None:
                        found.append((chunk.time * 1000, direction, frame))
                except ProtocolError:
                    break
        return sorted(found, key=lambda item: item[0])

    def transcript(self, limit: int = 48) -> str:
        """One line per chunk: time, direction, size, first bytes in hex."""
        lines = []
        for c in self.chunks:
            preview = c.data[:limit].hex(" ") + (" …" if len(c.data) > limit else "")
            lines.append(
                f"{c.time * 1000:9.3f} ms  #{c.connection} {c.direction:<14} "
                f"{len(c.data):6d} B  {preview}"
            )
        return "\n".join(lines)


def split_head(data: bytes) -> tuple[bytes, bytes]:
    """Split a stream at the blank line ending its HTTP head: ``(head, rest)``."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data, b""
    return data[: end + 4], data[end + 4 :]


def hexdump(data: bytes, width: int = 16) -> str:
    """A classic hex dump: offset, hex bytes, printable ASCII."""
    lines = []
    for offset in range(0, len(data), width):
        row = data[offset : offset + width]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{offset:08x}  {row.hex(' '):<{width * 3}} {text}")
    return "\n".join(lines)


# TLS (RFC 8446 §5.1): each record is a type byte, a 2-byte legacy version (3, x)
# and a 2-byte length, then that many bytes (encrypted after the hellos).
_RECORD_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}


def tls_records(data: bytes) -> list[tuple[str, int]]:
    """The TLS records in a recorded stream: ``(content type, length)`` each.

    In TLS 1.3 everything after the first hellos is ``application_data``:
    the WebSocket's handshake and frames are inside, encrypted. A stream that
    is not TLS gives ``[]`` (the list stops at the first header that is not one).
    """
    records = []
    offset = 0
    while offset + 5 <= len(data):
        kind, major = data[offset], data[offset + 1]
        if kind not in _RECORD_TYPES or major != 3:
            break
        records.append((_RECORD_TYPES[kind], int.from_bytes(data[offset + 3 : offset + 5])))
        offset += 5 + records[-1][1]
    return records


def _no_tls(data: bytes) -> None:
    if data[:2] == b"\x16\x03":  # a TLS handshake record; an HTTP head starts "GET" or "HTTP"
        raise ValueError(
            "this connection is TLS (wss://): the tap sees encrypted records, not "
            "frames; read them with wire.tls_records"
        )
