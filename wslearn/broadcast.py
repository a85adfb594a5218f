"""Send one message to many WebSocket clients without letting a slow one stall the rest.

Theory of operation
-------------------
There are three ways to fan a message out from one server process:

- **the naive loop** ``for ws in clients: await ws.send(m)``. ``send()`` waits
  while that connection's write buffer is above its high-water mark, so one
  client that stops reading stops the loop, and every client after it (and
  every later message) waits behind it;
- **``websockets.broadcast(clients, m)``** writes the frame into every
  connection's buffer without waiting. Nobody waits for the slow client, but
  its buffer grows without limit: memory is the price;
- **a ``Hub``**: every client gets a bounded queue and a writer task of its
  own. ``publish()`` only appends to the queues (it never waits), and each
  writer drains its queue at its client's own pace. When a queue is full the
  hub applies an explicit *policy*:

  ``drop_oldest``  the client skips the oldest queued message (fresh data wins);
  ``drop_newest``  the new message is not queued for it (history wins);
  ``disconnect``   the client is closed with 1013 Try Again Later (RFC 6455
                   §7.4.1 via the IANA registry: "the server is overloaded",
                   the client may come back) or 1008 Policy Violation.

A policy is a plain function ``policy(queue, message, limit) -> dropped``: it
puts ``message`` into the ``deque`` ``queue`` holding at most ``limit``
messages and returns how many messages were dropped, or raises ``TooSlow``
to have the client disconnected. It knows nothing about sockets, so it can be
tested (and written, in notebook 09) on its own.

``Rooms`` keeps one hub per room (a connection's URL path) and is the whole
chat server: ``relay()`` runs it in this process, and each ``wslearn.scale``
relay process runs it with Redis between publishing and delivering.

The measuring harness (``fanout()``, ``slow_client()``) runs a real
``websockets`` server and real ``websockets`` clients in this process, on
127.0.0.1: the numbers include both ends' work on one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from wslearn.net import LOOPBACK

if TYPE_CHECKING:
    from wslearn.servers import LocalServer

__all__ = [
    "METHODS",
    "POLICIES",
    "FanoutResult",
    "Hub",
    "Policy",
    "Rooms",
    "SlowClientResult",
    "Subscriber",
    "TooSlow",
    "disconnect",
    "drop_newest",
    "drop_oldest",
    "fanout",
    "percentile",
    "relay",
    "send_broadcast",
    "send_naive",
    "slow_client",
]

Policy = Callable[[deque, Any, int], int]

#: close codes a hub may use for a client that falls behind
TRY_AGAIN_LATER, POLICY_VIOLATION = 1013, 1008


class TooSlow(Exception):
    """Raised by a policy: close this client (``code`` 1013 or 1008)."""

    def __init__(self, reason: str = "too slow", code: int = TRY_AGAIN_LATER) -> None:
        if code not in (TRY_AGAIN_LATER, POLICY_VIOLATION):
            raise ValueError("a client that falls behind is closed with 1013 or 1008")
        super().__init__(reason)
        self.code = code
        self.reason = reason


# -- policies (sans-I/O) ----------------------------------------------------------------------


def drop_oldest(queue: deque, message: Any, limit: int) -> int:
    """Queue ``message``; if that makes more than ``limit``, drop the oldest one."""
    queue.append(message)
    dropped = 0
    while len(queue) > limit:
        queue.popleft()
        dropped += 1
    return dropped


def drop_newest(queue: deque, message: Any, limit: int) -> int:
    """Queue ``message`` only if there is room; otherwise it is dropped (returns 1)."""
    if len(queue) >= limit:
        return 1
    queue.append(message)
    return 0


def disconnect(queue: deque, message: Any, limit: int) -> int:
    """Queue ``message`` if there is room; otherwise the client must go (``TooSlow``)."""
    if len(queue) >= limit:
        raise TooSlow(f"fell {len(queue)} messages behind", TRY_AGAIN_LATER)
    queue.append(message)
    return 0


POLICIES: dict[str, Policy] = {
    "drop-oldest": drop_oldest,
    "drop-newest": drop_newest,
    "disconnect": disconnect,
}


# -- the hub -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Subscriber:
    """One client of a ``Hub``: its bounded queue, its writer task and its counters."""

    ws: Any
    queue: deque = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0
    dropped: int = 0
    peak: int = 0  # the longest the queue has been
    sending: bool = False  # the writer is inside ``await ws.send()``
    writer: asyncio.Task[None] | None = None


class Hub:
    """Fan messages out to many connections, each with a bounded queue and a policy.

    ``connection`` objects need an ``async send(message)`` and an
    ``async close(code, reason)`` (``websockets`` connections have both).
    ``publish()`` is synchronous and never waits for a client: a slow client
    costs the others one ``append`` per message, however slow it is.

    The common case costs no more than ``websockets.broadcast()``: while a
    ``websockets`` connection's write buffer is below its high-water mark
    (when ``await send()`` would not wait) and nothing is queued for it, the
    frame goes straight into that buffer. Only a client whose buffer is full
    gets its queue, its writer and, once the queue is full, the policy.
    """

    def __init__(
        self, *, queue_size: int = 64, policy: str | Policy = "drop-oldest"
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if isinstance(policy, str):
            if policy not in POLICIES:
                raise ValueError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}")
            policy = POLICIES[policy]
        self.queue_size = queue_size
        self.policy: Policy = policy
        self.subscribers: dict[Any, Subscriber] = {}
        self.published = 0
        self.dropped = 0
        self.disconnected: list[tuple[Any, int, str]] = []
        self._closing: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self.subscribers)

    def add(self, ws: Any) -> Subscriber:
        """Start delivering to ``ws`` (from the next ``publish()`` on)."""
        if ws in self.subscribers:
            return self.subscribers[ws]
        sub = Subscriber(ws)
        sub.writer = asyncio.get_running_loop().create_task(self._write(sub))
        self.subscribers[ws] = sub
        return sub

    def discard(self, ws: Any) -> None:
        """Stop delivering to ``ws`` (what is still queued for it is dropped)."""
        sub = self.subscribers.pop(ws, None)
        if sub is not None and sub.writer is not None:
            sub.writer.cancel()

    def publish(self, message: Any) -> int:
        """Queue ``message`` for every subscriber; returns how many took it."""
        self.published += 1
        taken = 0
        for sub in list(self.subscribers.values()):
            if self._write_now(sub, message):
                taken += 1
                continue
            try:
                dropped = self.policy(sub.queue, message, self.queue_size)
            except TooSlow as exc:
                self._drop_client(sub, exc.code, exc.reason)
                continue
            sub.dropped += dropped
            self.dropped += dropped
            sub.peak = max(sub.peak, len(sub.queue))
            taken += dropped == 0
            if len(sub.queue) > self.queue_size:
                raise RuntimeError(
                    f"the policy let a queue grow to {len(sub.queue)} > {self.queue_size}"
                )
            sub.ready.set()
        return taken

    @staticmethod
    def _write_now(sub: Subscriber, message: Any) -> bool:
        """The fast path: write into the connection's buffer if it has room and nothing waits."""
        if sub.queue or sub.sending:
            return False  # keep the order: what is queued goes first
        transport = getattr(sub.ws, "transport", None)
        if transport is None or not hasattr(sub.ws, "protocol"):
            return False  # not a websockets connection: always through the queue
        if transport.get_write_buffer_size() >= transport.get_write_buffer_limits()[1]:
            return False  # above the high-water mark: await send() would wait here
        websockets.broadcast([sub.ws], message)  # frames and writes, never waits
        sub.sent += 1
        return True

    def _drop_client(self, sub: Subscriber, code: int, reason: str) -> None:
        self.discard(sub.ws)
        self.disconnected.append((sub.ws, code, reason))
        task = asyncio.get_running_loop().create_task(sub.ws.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _write(self, sub: Subscriber) -> None:
        try:
            while True:
                while not sub.queue:
                    sub.ready.clear()
                    await sub.ready.wait()
                sub.sending = True
                await sub.ws.send(sub.queue.popleft())
                sub.sending = False
                sub.sent += 1
        except ConnectionClosed:
            self.subscribers.pop(sub.ws, None)

    async def close(self) -> None:
        """Stop every writer (connections stay open; close them yourself)."""
        for ws in list(self.subscribers):
            self.discard(ws)
        if self._closing:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await asyncio.gather(*self._closing, return_exceptions=True)

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# -- rooms: a hub per URL path --------------------------------------------------------------


class Rooms:
    """One ``Hub`` per room (a connection's URL path): the chat server's whole state.

    ``serve(ws)`` is a connection handler: it adds ``ws`` to its room and hands
    every text message it sends to ``publish(room, message)``. By default that
    publishes to the room's hub in this process; a relay process passes a
    function that PUBLISHes to Redis instead, and calls ``deliver()`` with
    what Redis sends back.
    """

    def __init__(self, *, queue_size: int = 256, policy: str | Policy = "drop-oldest") -> None:
        self.queue_size = queue_size
        self.policy = policy
        self.hubs: dict[str, Hub] = {}

    def deliver(self, room: str, message: str) -> int:
        """Fan ``message`` out to this process's clients in ``room``."""
        hub = self.hubs.get(room)
        return hub.publish(message) if hub is not None else 0

    async def _local(self, room: str, message: str) -> None:
        self.deliver(room, message)

    async def serve(
        self, ws: ServerConnection, publish: Callable[[str, str], Any] | None = None
    ) -> None:
        publish = publish or self._local
        room = urlsplit(ws.request.path).path if ws.request else "/"
        hub = self.hubs.setdefault(room, Hub(queue_size=self.queue_size, policy=self.policy))
        hub.add(ws)
        try:
            async for message in ws:
                if not isinstance(message, str):
                    await ws.close(1003, "text messages only")  # 1003: unsupported data
                    return
                await publish(room, message)
        except ConnectionClosed:
            pass
        finally:
            hub.discard(ws)


def relay(**options: Any) -> LocalServer:
    """A one-process chat server: every text message to every client in the same room.

    The same handler as a ``wslearn.scale`` relay process, without Redis: the
    baseline for what Redis adds. ``options`` go to ``websockets.serve``.
    """
    from wslearn.servers import LocalServer  # lazily: relay processes need only the hub

    rooms = Rooms()
    return LocalServer("relay", rooms.serve, options=options)


# -- the other two ways ---------------------------------------------------------------------


async def send_naive(clients: Iterable[Any], message: Any) -> None:
    """The naive loop: one ``await ws.send()`` after the other."""
    for ws in list(clients):
        with contextlib.suppress(ConnectionClosed):
            await ws.send(message)


async def send_broadcast(clients: Iterable[Any], message: Any) -> None:
    """``websockets.broadcast()``: write to every buffer at once, wait for nobody."""
    websockets.broadcast(list(clients), message)


METHODS = ("naive", "broadcast", "hub")


# -- measuring ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, nearest rank; nan if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class _Room:
    """The server side of a measurement: every connection, a hub, three ways to publish."""

    def __init__(self, hub: Hub | None, send_buffer: int | None) -> None:
        self.hub = hub if hub is not None else Hub()
        self.send_buffer = send_buffer
        self.clients: list[ServerConnection] = []
        self.joined = asyncio.Condition()

    async def handler(self, ws: ServerConnection) -> None:
        if self.send_buffer:  # a fixed kernel buffer: backpressure shows within a second
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        self.clients.append(ws)
        self.hub.add(ws)  # its writer idles unless the hub publishes
        async with self.joined:
            self.joined.notify_all()
        with contextlib.suppress(ConnectionClosed):
            await ws.wait_closed()
        self.hub.discard(ws)

    async def publish(self, method: str, message: str) -> None:
        if method == "naive":
            await send_naive(self.clients, message)
        elif method == "broadcast":
            await send_broadcast(self.clients, message)
        elif method == "hub":
            self.hub.publish(message)
        else:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")


class _Tally:
    """How many listeners got each message; wakes whoever waits for "all of them"."""

    def __init__(self, listeners: int) -> None:
        self.listeners = listeners
        self.counts: dict[int, int] = {}
        self.complete: dict[int, asyncio.Event] = {}

    def arrived(self, seq: int) -> None:
        self.counts[seq] = self.counts.get(seq, 0) + 1
        if self.counts[seq] >= self.listeners:
            self.event(seq).set()

    def event(self, seq: int) -> asyncio.Event:
        return self.complete.setdefault(seq, asyncio.Event())


class _Listener:
    """A client that notes when each numbered message arrives."""

    def __init__(self, ws: ClientConnection, tally: _Tally | None = None) -> None:
        self.ws = ws
        self.tally = tally
        self.arrived: dict[int, float] = {}
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                seq = int(message.split(" ", 1)[0])
                self.arrived[seq] = loop.time()
                if self.tally is not None:
                    self.tally.arrived(seq)


@contextlib.asynccontextmanager
async def _room(clients: int, *, hub: Hub | None = None, send_buffer: int | None = None):
    """A server and ``clients`` connected clients, torn down afterwards."""
    room = _Room(hub, send_buffer)
    async with serve(room.handler, LOOPBACK, 0, compression=None, family=socket.AF_INET) as srv:
        url = f"ws://{LOOPBACK}:{srv.sockets[0].getsockname()[1]}"
        connections: list[ClientConnection] = []
        try:
            async with asyncio.timeout(10 + clients / 50):
                for start in range(0, clients, 100):  # a batch at a time: no backlog overflow
                    batch = range(start, min(clients, start + 100))
                    connections += await asyncio.gather(
                        *(connect(url, compression=None, open_timeout=10) for _ in batch)
                    )
                async with room.joined:
                    await room.joined.wait_for(lambda: len(room.clients) >= clients)
            yield room, connections
        finally:
            for ws in connections:
                ws.transport.abort()
            srv.close(close_connections=False)
            for ws in room.clients:
                ws.transport.abort()
            await room.hub.close()


@dataclass
class FanoutResult:
    """One fan-out run: ``clients`` clients, ``messages`` messages, one method."""

    method: str
    clients: int
    messages: int
    size: int
    seconds: float  # from the first publish to the last delivery (wall clock)
    cpu_seconds: float  # CPU this process used meanwhile (server and clients, both)
    latencies: list[float] = field(repr=False)  # one per delivery, seconds
    missing: int = 0

    @property
    def deliveries(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        """Deliveries per second."""
        return self.deliveries / self.seconds if self.seconds else float("nan")

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def cost_per_delivery(self) -> float:
        """CPU seconds per delivery, both ends included (on a busy machine, unlike the wall
        clock, this does not count the time other programs had the core)."""
        return self.cpu_seconds / self.deliveries if self.deliveries else float("nan")

    def row(self) -> str:
        return (
            f"{self.method:9} {self.clients:6,} clients  {self.rate:9,.0f} msg/s  "
            f"p50 {1000 * self.p50:7.2f} ms  p99 {1000 * self.p99:7.2f} ms"
            + (f"  missing {self.missing}" if self.missing else "")
        )


def _message(seq: int, t: float, size: int) -> str:
    head = f"{seq} {t:.6f} "
    return head + "x" * max(0, size - len(head))


async def fanout(
    clients: int,
    methods: Sequence[str] = METHODS,
    *,
    messages: int = 20,
    rounds: int = 1,
    size: int = 64,
    timeout: float = 10.0,
) -> dict[str, FanoutResult]:
    """Fan ``messages`` messages out to ``clients`` clients with each method; measure.

    One server, one set of clients for all methods; each round runs every
    method once, in a shuffled order (timings drift on a shared machine, so
    the methods are interleaved and their results pooled). Each message is
    published once the previous one reached every client, so the latency of
    a message is the time to fan it out to everybody.
    """
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    loop = asyncio.get_running_loop()
    results = {m: FanoutResult(m, clients, 0, size, 0.0, 0.0, []) for m in methods}
    seq = 0
    async with _room(clients) as (room, connections):
        listeners = [_Listener(ws) for ws in connections]
        try:
            for _ in range(rounds):
                for method in random.sample(list(methods), len(methods)):
                    tally = _Tally(clients)
                    for x in listeners:
                        x.tally, x.arrived = tally, {}
                    result = results[method]
                    sent_at: dict[int, float] = {}
                    start, cpu = loop.time(), time.process_time()
                    deadline = start + timeout
                    for _ in range(messages):
                        seq += 1
                        t = sent_at[seq] = loop.time()
                        await room.publish(method, _message(seq, t, size))
                        with contextlib.suppress(TimeoutError):
                            left = max(0.0, deadline - loop.time())
                            await asyncio.wait_for(tally.event(seq).wait(), left)
                    end = max(max(x.arrived.values(), default=start) for x in listeners)
                    result.seconds += end - start
                    result.cpu_seconds += time.process_time() - cpu
                    result.messages += messages
                    got = [at - sent_at[n] for x in listeners for n, at in x.arrived.items()]
                    result.latencies += got
                    result.missing += clients * messages - len(got)
        finally:
            for x in listeners:
                x.task.cancel()
    return results


@dataclass
class SlowClientResult:
    """One run with a client that stopped reading, among ``clients`` fast ones."""

    method: str
    policy: str
    clients: int
    interval: float
    scheduled: list[float]  # when each message was due (seconds from the start)
    fast: list[list[float]] = field(repr=False)  # per message: the fast clients' latencies
    slow_buffered: int = 0  # bytes held for the slow client at the end: socket buffer + hub queue
    slow_queue_peak: int = 0  # the hub's queue for it (hub only)
    closed_code: int | None = None  # how the server closed the slow client, if it did

    @property
    def worst(self) -> list[float]:
        """Per message: the latest arrival among fast clients (nan if one never got it)."""
        return [max(row) if len(row) == self.clients else float("nan") for row in self.fast]

    @property
    def max_latency(self) -> float:
        got = [w for w in self.worst if w == w]
        return max(got) if got else float("nan")

    @property
    def delivered(self) -> float:
        """Share of (fast client, message) pairs delivered."""
        total = self.clients * len(self.fast)
        return sum(len(row) for row in self.fast) / total if total else 0.0

    def row(self) -> str:
        label = self.method if self.method != "hub" else f"hub/{self.policy}"
        closed = f", closed {self.closed_code}" if self.closed_code else ""
        return (
            f"{label:16} fast clients: {100 * self.delivered:5.1f}% delivered, "
            f"worst {1000 * self.max_latency:7.1f} ms   slow client: "
            f"{self.slow_buffered:,} B held for it{closed}"
        )


async def slow_client(
    method: str,
    *,
    policy: str | Policy = "drop-oldest",
    clients: int = 20,
    messages: int = 100,
    interval: float = 0.005,
    size: int = 4096,
    queue_size: int = 16,
    send_buffer: int = 16 * 1024,
) -> SlowClientResult:
    """Publish a message every ``interval`` s while one extra client reads nothing at all.

    The slow client pauses its socket before the first message, so its kernel
    buffers fill and the server's ``send()`` to it eventually has to wait.
    Latency is measured from the time each message was *due*: a publisher
    stuck on the slow client delays every later message too.
    """
    loop = asyncio.get_running_loop()
    hub = Hub(queue_size=queue_size, policy=policy)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    async with _room(clients + 1, hub=hub, send_buffer=send_buffer) as (room, conns):
        slow, fast = conns[0], conns[1:]
        slow.transport.pause_reading()
        slow.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
        )
        listeners = [_Listener(ws) for ws in fast]
        port = slow.local_address[1]
        server_slow = next(ws for ws in room.clients if ws.remote_address[1] == port)
        start = loop.time()
        due: list[float] = []

        async def produce() -> None:
            for seq in range(messages):
                t = start + seq * interval
                await asyncio.sleep(max(0.0, t - loop.time()))
                due.append(t)
                await room.publish(method, _message(seq, t, size))

        producer = loop.create_task(produce())
        budget = messages * interval + 0.3
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(producer), budget)
        await asyncio.sleep(0.05)
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        fast_rows = [
            [x.arrived[seq] - (start + seq * interval) for x in listeners if seq in x.arrived]
            for seq in range(messages)
        ]
        sub = hub.subscribers.get(server_slow)
        closed = [code for ws, code, _ in hub.disconnected if ws is server_slow]
        result = SlowClientResult(
            method,
            policy if isinstance(policy, str) else getattr(policy, "__name__", "custom"),
            clients,
            interval,
            [seq * interval for seq in range(messages)],
            fast_rows,
            slow_buffered=server_slow.transport.get_write_buffer_size()
            + sum(len(m) for m in (sub.queue if sub else ())),
            slow_queue_peak=sub.peak if sub else (0 if not closed else queue_size),
            closed_code=closed[0] if closed else None,
        )
        for x in listeners:
            x.task.cancel()
    return result
