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

Forwarding is faithful: chunks are relayed as they arrive, a half-close
(EOF) on one side is passed on to the other, and once both directions have
ended (or one has and the other stays silent for ``linger`` seconds) both
sockets are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wslearn.net import LOOPBACK, check_loopback


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


@dataclass
class Tap:
    """A TCP proxy on loopback that records both directions.

    ``target`` is anything with ``host`` and ``bound_port`` (a ``LocalServer``),
    a ``(host, port)`` pair, or a ``ws://host:port`` URL.
    """

    target: Any
    host: str = LOOPBACK
    port: int = 0
    linger: float = 2.0
    allow_remote: bool = False
    chunks: list[Chunk] = field(default_factory=list, init=False)
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    _t0: float = field(default=0.0, init=False, repr=False)

    @property
    def bound_port(self) -> int:
        if self._server is None:
            raise RuntimeError("the tap is not running")
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """``ws://`` URL of the tap: connect here instead of to the server."""
        return f"ws://{self.host}:{self.bound_port}"

    def _target_address(self) -> tuple[str, int]:
        target = self.target
        if isinstance(target, tuple):
            return target
        if isinstance(target, str):
            hostport = target.split("://", 1)[-1].split("/", 1)[0]
            host, _, port = hostport.rpartition(":")
            return host, int(port)
        return target.host, target.bound_port

    async def start(self) -> Tap:
        check_loopback(self.host, allow_remote=self.allow_remote)
        self._t0 = time.perf_counter()
        self._server = await asyncio.start_server(
            self._relay, self.host, self.port, family=socket.AF_INET
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
        pumps = [
            asyncio.create_task(self._pump(client_r, server_w, CLIENT, number)),
            asyncio.create_task(self._pump(server_r, client_w, SERVER, number)),
        ]
        try:
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=self.linger)
        except asyncio.CancelledError:
            # stop() while the connection is open: end quietly (asyncio's stream
            # callback would otherwise report the cancelled task as an error).
            pass
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_w, server_w):
                writer.close()
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
        number: int,
    ) -> None:
        try:
            while data := await reader.read(65536):
                self.chunks.append(Chunk(self.elapsed(), direction, data, number))
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.transport.abort()

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
        """The WebSocket frames that followed the head, decoded with ``wslearn.framing``."""
        from wslearn.framing import FrameReader

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
