"""Local WebSocket servers for the course, on 127.0.0.1 and an OS-chosen port.

The 2016 article's examples talked to a public echo host that no longer exists, and
the course runs offline, so every demo talks to one of these instead:

- ``echo()``: sends every text or binary message straight back.
- ``subprotocol(("chat.v2", "chat.v1"))``: negotiates a subprotocol, then echoes.
- ``closer()``: closes with the code and reason the client asks for (query
  ``?code=4000&reason=bye``, or a message ``close 4000 bye``); code 1005
  sends a close frame with no status and 1006 cuts TCP without any close frame.
- ``reject(403)``: refuses every handshake with that HTTP status.
- ``feed(interval=0.1)``: sends numbered JSON messages ``{"seq": n, "t": ...}``
  to every client; ``?after=N`` first replays the kept messages after ``N``.

Every server answers the application-level heartbeat ``reconnect.HEARTBEAT``
with the same text (the echoing ones by echoing it), and accepts
``ping_interval``/``ping_timeout`` (protocol pings, as in ``websockets``).

Each factory returns a ``LocalServer``. In a test or script use it as an async
context manager::

    async with servers.echo() as server:
        print(server.url)

In a notebook, ``await servers.start("echo")`` starts it in the background of
the kernel's running loop, where it keeps serving after the cell ends; running
the cell again stops the previous server of that name first, so no port leaks.

They are built on ``websockets``' asyncio server with ``compression=None`` by
default, so the bytes a wire tap records are the bytes a learner can decode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wslearn.handshake import select_subprotocol
from wslearn.net import LOOPBACK, check_loopback
from wslearn.raw import page_for, page_headers
from wslearn.reconnect import HEARTBEAT

__all__ = [
    "FACTORIES",
    "FeedServer",
    "Handler",
    "LocalServer",
    "close_with",
    "closer",
    "closer_handler",
    "echo",
    "echo_handler",
    "feed",
    "first_supported",
    "reject",
    "running",
    "start",
    "stop",
    "subprotocol",
]

Handler = Callable[[ServerConnection], Awaitable[None]]


@dataclass
class LocalServer:
    """A ``websockets`` server with a name, bound to loopback, started on demand."""

    name: str
    handler: Handler
    host: str = LOOPBACK
    port: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    pages: Mapping[str, str] = field(default_factory=dict)
    allow_remote: bool = False
    tls: bool = False  # wss:// with the course CA's certificate (wslearn.security)
    _server: Server | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The ``ws://`` (with ``tls``: ``wss://``) URL to connect to, once started."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.bound_port}"

    @property
    def http_url(self) -> str:
        """The ``http://`` (``https://``) URL of the same port, for the pages it serves."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.bound_port}"

    @property
    def bound_port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"server {self.name!r} is not running")
        return self._server.sockets[0].getsockname()[1]

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> LocalServer:
        check_loopback(self.host, allow_remote=self.allow_remote)
        if self._server is not None:
            return self
        options = {"compression": None, **self.options}
        if self.tls:  # another certificate may come in the "ssl" option
            from wslearn.security import course_ca

            options.setdefault("ssl", course_ca().server_context())
        if self.pages:
            options.setdefault("process_request", self._serve_page)
        self._server = await serve(
            self.handler, self.host, self.port, family=socket.AF_INET, **options
        )
        return self

    async def stop(self, timeout: float | None = None) -> None:
        """Close the listening socket and every open connection (code 1001); never raises.

        Clients get ``timeout`` seconds (default: the ``close_timeout`` option,
        10 s as in ``websockets``) to answer the close frame. A connection
        still open then (a client that never answers, or one still in its
        opening handshake) is aborted: its TCP connection is cut, as
        ``websockets`` itself does after ``close_timeout``.
        """
        server, self._server = self._server, None
        if server is None:
            return
        if timeout is None:
            close_timeout = self.options.get("close_timeout", 10.0)
            timeout = 10.0 if close_timeout is None else close_timeout
        server.close()
        try:
            async with asyncio.timeout(timeout):
                await server.wait_closed()
        except TimeoutError:
            for connection in list(server.all_connections):
                connection.transport.abort()
            try:
                async with asyncio.timeout(1):
                    await server.wait_closed()
            except TimeoutError:  # a handler that ignores the closed connection
                for task in list(server.handler_tasks):
                    task.cancel()

    async def kill(self) -> None:
        """Stop at once, as a crashed process would: no close frames (clients see 1006)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        for connection in list(server.connections):
            connection.transport.abort()
        async with asyncio.timeout(5):
            await server.wait_closed()

    async def __aenter__(self) -> LocalServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _serve_page(self, connection: ServerConnection, request: Request) -> Response | None:
        """A page for a plain GET of one of ``pages``' paths (``raw.page_for``'s rule)."""
        page = page_for("GET", request.path, request.headers.get("Upgrade"), self.pages)
        if page is None:
            return None
        body = page.encode()
        return Response(200, "OK", Headers(page_headers(body)), body)

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<LocalServer {self.name} {where}>"


# -- handlers -----------------------------------------------------------------


async def echo_handler(ws: ServerConnection) -> None:
    """Send each message back with the same type (text stays text)."""
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def close_with(ws: ServerConnection, code: int, reason: str = "") -> None:
    """Close ``ws`` with ``code``; 1005 sends an empty close frame, 1006 cuts TCP."""
    if code == 1006:
        ws.transport.abort()
    elif code == 1005:
        await ws.close(code=None)  # type: ignore[arg-type]  # None: a close frame with no body
    else:
        await ws.close(code, reason)


async def closer_handler(ws: ServerConnection) -> None:
    """Close as asked: by the query string on connect, or by a ``close CODE REASON`` message."""
    query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
    if "code" in query:
        delay = float(query.get("delay", ["0"])[0])
        if delay:
            await asyncio.sleep(min(delay, 10.0))
        await close_with(ws, int(query["code"][0]), query.get("reason", [""])[0])
        return
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close "):
                _, code, *reason = message.split(" ", 2)
                await close_with(ws, int(code), reason[0] if reason else "")
                return
            await ws.send(message)
    except ConnectionClosed:
        pass


def first_supported(
    supported: Iterable[str],
) -> Callable[[ServerConnection, list[str]], str | None]:
    """Pick the first subprotocol in the client's list that the server supports.

    ``websockets`` lets the server's own order win by default; the RFC leaves
    the choice to the server. The course follows the client's preference and,
    unlike ``websockets``' default, accepts a client that offers none.
    """
    supported = tuple(supported)

    def select(connection: ServerConnection, offered: list[str]) -> str | None:
        return select_subprotocol(offered, supported)  # the course's one rule (notebook 01)

    return select


# -- factories ----------------------------------------------------------------


def echo(**options: Any) -> LocalServer:
    """An echo server (text and binary); ``options`` go to ``websockets.serve``."""
    return LocalServer("echo", echo_handler, **_split(options))


def subprotocol(supported: Iterable[str] = ("chat.v2", "chat.v1"), **options: Any) -> LocalServer:
    """An echo server that negotiates one of ``supported`` (client's order wins)."""
    supported = tuple(supported)
    options.setdefault("subprotocols", list(supported))
    options.setdefault("select_subprotocol", first_supported(supported))
    return LocalServer("subprotocol", echo_handler, **_split(options))


def closer(**options: Any) -> LocalServer:
    """A server that closes with whatever code and reason the client asks for."""
    return LocalServer("closer", closer_handler, **_split(options))


def reject(status: int = HTTPStatus.FORBIDDEN, **options: Any) -> LocalServer:
    """A server that answers every handshake with ``status`` instead of 101."""

    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, f"{HTTPStatus(status).phrase}\n")

    options["process_request"] = refuse
    return LocalServer(f"reject-{int(status)}", echo_handler, **_split(options))


@dataclass(repr=False)
class FeedServer(LocalServer):
    """Numbered messages to every client, every ``interval`` seconds, with replay.

    Each message is JSON ``{"seq": n, "t": seconds since the feed began}``. A
    client connecting with ``?after=N`` first gets every kept message with
    ``seq > N`` (the last ``history`` of them), then the live ones; without
    ``after`` it gets only the live ones. The feed models a server in front of
    a source that never stops: after ``stop()``/``kill()`` and ``start()`` the
    numbering goes on, and what the source produced meanwhile is in the
    history at once, so a client can resume after a restart. A client too slow
    to take ``history`` messages is closed with 1013 (it may come back with
    ``?after=``).
    """

    interval: float = 0.1
    history: int = 1000
    seq: int = field(default=0, init=False)
    kept: deque[tuple[int, str]] = field(init=False, repr=False)
    _clients: dict[asyncio.Queue[str], ServerConnection] = field(
        default_factory=dict, init=False, repr=False
    )
    _producer: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _closing: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _began: float = field(default=0.0, init=False, repr=False)
    _due: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.interval > 0 or self.history < 1:
            raise ValueError("a feed needs interval > 0 and history >= 1")
        self.kept = deque(maxlen=self.history)
        self.handler = self._serve

    async def start(self) -> FeedServer:
        await super().start()
        if self._producer is None:
            self._producer = asyncio.create_task(self._produce())
        return self

    async def stop(self, timeout: float | None = None) -> None:
        await self._stop_producing()
        await super().stop(timeout)

    async def kill(self) -> None:
        await self._stop_producing()
        await super().kill()

    async def _stop_producing(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        if self._due is None:
            self._began = self._due = loop.time()
        # The source behind the feed never stopped: after a restart, first catch up with what
        # it produced meanwhile (at most `history` of it; older messages are lost anyway).
        missed = int((loop.time() - self._due) / self.interval)
        if missed > self.history:
            self.seq += missed - self.history
            self._due += (missed - self.history) * self.interval
        while True:
            self._due += self.interval
            await asyncio.sleep(max(0.0, self._due - loop.time()))
            self.seq += 1
            t = round(self._due - self._began, 4)
            message = json.dumps({"seq": self.seq, "t": t})
            self.kept.append((self.seq, message))
            for queue, ws in list(self._clients.items()):
                try:
                    queue.put_nowait(message)
                except asyncio.QueueFull:
                    del self._clients[queue]
                    reason = f"too slow: resume with ?after={self.seq - self.history}"
                    task = asyncio.create_task(ws.close(1013, reason))
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)

    async def _serve(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        try:
            after = int(query["after"][0]) if "after" in query else None
        except ValueError:
            await ws.close(1008, "after must be an integer sequence number")
            return
        queue: asyncio.Queue[str] = asyncio.Queue(self.history)
        # snapshot and subscribe in one step, so nothing is missed or sent twice
        replay = [m for seq, m in self.kept if after is not None and seq > after]
        self._clients[queue] = ws
        sender = asyncio.create_task(self._send(ws, replay, queue))
        try:
            async for message in ws:
                if message == HEARTBEAT:
                    await ws.send(HEARTBEAT)
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(queue, None)
            sender.cancel()

    @staticmethod
    async def _send(ws: ServerConnection, replay: list[str], queue: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            for message in replay:
                await ws.send(message)
            while True:
                await ws.send(await queue.get())


def feed(interval: float = 0.1, history: int = 1000, **options: Any) -> FeedServer:
    """A feed of numbered messages every ``interval`` s, replayed from ``?after=N``."""
    return FeedServer("feed", echo_handler, interval=interval, history=history, **_split(options))


FACTORIES: dict[str, Callable[..., LocalServer]] = {
    "echo": echo,
    "subprotocol": subprotocol,
    "closer": closer,
    "reject": reject,
    "feed": feed,
}

_LOCAL_FIELDS = ("host", "port", "pages", "allow_remote", "tls")


def _split(options: dict[str, Any]) -> dict[str, Any]:
    """Separate ``LocalServer`` fields from the options for ``websockets.serve``."""
    mine = {k: options.pop(k) for k in _LOCAL_FIELDS if k in options}
    return {**mine, "options": options}


# -- background servers for notebooks -------------------------------------------

_running: dict[str, LocalServer] = {}


async def start(server: str | LocalServer, **options: Any) -> LocalServer:
    """Start a server in the background of the running loop and return it.

    ``server`` is a factory name (``"echo"``, ``"subprotocol"``, ``"closer"``,
    ``"reject"``) or a ``LocalServer``. A server started earlier under the same
    name is stopped first, so re-running a notebook cell never leaks a port.
    """
    if isinstance(server, str):
        server = FACTORIES[server](**options)
    await stop(server.name)
    _running[server.name] = server
    return await server.start()


async def stop(name: str | None = None, timeout: float = 2.0) -> None:
    """Stop the background server called ``name``, or all of them; never raises.

    A client that has not answered the close frame after ``timeout`` seconds
    is cut off, so re-running a notebook cell never waits long or fails.
    """
    names = list(_running) if name is None else [name]
    for key in names:
        old = _running.pop(key, None)
        if old is None or old._server is None:
            continue
        if old._server.get_loop() is asyncio.get_running_loop():
            await old.stop(timeout)
        else:  # its loop is gone (an earlier asyncio.run): nothing left to close
            old._server = None


def running() -> dict[str, LocalServer]:
    """The background servers started with ``start()``, by name."""
    return dict(_running)
