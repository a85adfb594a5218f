"""``bufferedAmount``, backpressure and throttling against a real slow consumer (notebook 05).

A browser's ``ws.send(data)`` never blocks: it queues ``data`` and returns, and
``bufferedAmount`` counts the queued bytes not yet handed to the network.
Below it sit buffers it does not show (the transport's, both kernels' socket
buffers); once a slow receiver has let those fill, TCP stops the sender and
every further ``send()`` stays in ``bufferedAmount``.  This module builds that
on 127.0.0.1 and measures it: ``SlowConsumer`` reads at most ``rate`` bytes
per second and records each message's arrival, ``Sampler`` records
``bufferedAmount`` over time, five senders (``send_*``) fill the socket in
different ways, and ``experiment()`` runs one of them and returns a ``Run``.

Every message starts with a stamp (``message()``: sequence number and send
time), so order and delay are measured, not guessed.  Sending sockets get a
small kernel buffer (``SNDBUF``, via ``WebSocket(url, send_buffer=...)``):
on loopback Linux would grow it to megabytes and hide the backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import operator
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wslearn import connection, handshake
from wslearn.framing import Message
from wslearn.raw import page_for, page_response
from wslearn.servers import LOOPBACK, check_loopback
from wslearn.websocket import WebSocket

#: the first bytes of every message: sequence number, send time (``loop.time()``)
STAMP = struct.Struct("!Qd")
#: receive buffer asked for on the consumer's sockets (Linux doubles it)
RCVBUF = 4096
#: send buffer asked for on the senders' sockets (Linux doubles it)
SNDBUF = 16 * 1024
#: seconds of reading the consumer may catch up on at once (token bucket depth)
BURST = 0.05
#: largest single read of the consumer, in bytes
READ_CHUNK = 64 * 1024
#: how long a paused (or out of budget) consumer sleeps before it looks again
TICK = 0.005
#: hard limits that keep every loop bounded
MAX_DURATION = 60.0
MAX_SAMPLES = 200_000

SENDERS = ("unthrottled", "throttled", "latest", "drained", "websockets")


# --------------------------------------------------------------------------- messages


def message(seq: int, size: int, sent_at: float) -> bytes:
    """``size`` bytes: the stamp, then random bytes (which no extension can compress)."""
    if size < STAMP.size:
        raise ValueError(f"a stamped message needs at least {STAMP.size} bytes")
    return STAMP.pack(seq, sent_at) + os.urandom(size - STAMP.size)


def read_stamp(data: bytes) -> tuple[int, float] | None:
    """``(seq, sent_at)`` from the start of a message, or ``None`` if it is too short."""
    return STAMP.unpack_from(data) if len(data) >= STAMP.size else None


@dataclass(frozen=True)
class Arrival:
    """One message as the consumer received it (times are ``loop.time()``)."""

    seq: int
    sent_at: float
    received_at: float
    size: int

    @property
    def delay(self) -> float:
        """Seconds from ``send()`` to the moment its last byte was read."""
        return self.received_at - self.sent_at


# --------------------------------------------------------------------------- the slow consumer


class SlowConsumer:
    """A WebSocket server on 127.0.0.1 that reads at most ``rate`` bytes per second.

    ``rate`` (``None`` or ``math.inf``: full speed) may change at any time;
    ``pause()``/``resume()`` stop and restart reading.  A small ``SO_RCVBUF``
    makes a sender feel the backpressure after kilobytes, not megabytes.
    ``arrivals`` lists every message received and ``bytes_read`` counts
    WebSocket bytes read.  ``page``, if given, is served as HTML to a plain GET,
    so a browser can connect back from the same origin.
    """

    def __init__(
        self,
        rate: float | None = 100_000,
        *,
        host: str = LOOPBACK,
        page: str | None = None,
        allow_remote: bool = False,
    ) -> None:
        check_loopback(host, allow_remote=allow_remote)
        self.rate = rate
        self.host = host
        self.page = page
        self.paused = False
        self.arrivals: list[Arrival] = []
        self.bytes_read = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT`` (once started)."""
        return f"ws://{self.host}:{self.bound_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.bound_port}"

    @property
    def bound_port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the slow consumer is not running")
        return self._listener.getsockname()[1]

    def pause(self) -> None:
        """Stop reading: the small receive buffer fills, then TCP stops the sender."""
        self.paused = True

    def resume(self) -> None:
        """Read again, at ``rate``."""
        self.paused = False

    async def start(self) -> SlowConsumer:
        if self._listener is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Before listen(): accepted sockets inherit it, and TCP's window
            # scale is negotiated from it in the SYN-ACK.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind((self.host, 0))
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._listener = sock
        self._tasks.add(asyncio.get_running_loop().create_task(self._accept(sock)))
        return self

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            sock.setblocking(False)
            self._sockets.append(sock)
            task = loop.create_task(self._serve(sock))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket) -> None:
        """One connection: the handshake at full speed, then frames at ``rate``."""
        loop = asyncio.get_running_loop()
        try:
            rest = await self._handshake(loop, sock)
            if rest is not None:
                # The protocol is wslearn.connection's: it answers pings, fails broken
                # frames with their close code, and echoes a close frame (§5.5.1).
                await self._read_frames(loop, sock, connection.Connection(client=False), rest)
        except (OSError, handshake.HandshakeError):
            pass  # the peer went away or sent no valid request: drop the connection
        finally:
            sock.close()  # after the closing handshake, the server closes TCP first (§7.1.1)

    async def _handshake(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket
    ) -> bytes | None:
        """Read the request (at full speed) and answer it; return the bytes read past it."""
        data = bytearray()
        while (parsed := handshake.parse_request(data)) is None:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                return None
            data += chunk
        request, used = parsed
        upgrade = request.headers.get("Upgrade")
        page = page_for(
            request.method, request.target, upgrade, {"/": self.page} if self.page else {}
        )
        if page is not None:
            await loop.sock_sendall(sock, page_response(page))
            return None
        try:
            key = handshake.check_request(request)
        except handshake.HandshakeError as error:
            await loop.sock_sendall(sock, handshake.build_error_response(error))
            return None
        # No Sec-WebSocket-Extensions in the answer: permessage-deflate is declined.
        await loop.sock_sendall(sock, handshake.build_response(key))
        return bytes(data[used:])

    async def _read_frames(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: connection.Connection,
        data: bytes,
    ) -> None:
        """Feed ``protocol`` what arrives, at most ``rate`` bytes per second (a token bucket)."""
        budget, last = 0.0, loop.time()
        while True:
            self._record(loop, protocol, data)
            if out := protocol.data_to_send():
                await loop.sock_sendall(sock, out)
            if protocol.close_tcp:
                return
            rate, now = self.rate, loop.time()
            if rate is None or math.isinf(rate):  # read as fast as the data comes
                budget, want = 0.0, READ_CHUNK
            elif self.paused or rate <= 0:
                budget, last, data = 0.0, now, b""
                await asyncio.sleep(TICK)
                continue
            else:
                # `rate` bytes per second, credit for up to BURST seconds, so a loop
                # that wakes us late costs no throughput
                budget = min(budget + (now - last) * rate, max(rate * BURST, 1.0))
                last = now
                want = min(int(budget), READ_CHUNK)
                if want < 1:
                    data = b""
                    await asyncio.sleep(TICK)
                    continue
            data = await loop.sock_recv(sock, want)
            if not data:
                return
            if rate is not None:
                budget -= len(data)
                last = loop.time()  # waiting for data earns no credit

    def _record(
        self, loop: asyncio.AbstractEventLoop, protocol: connection.Connection, data: bytes
    ) -> None:
        """Give ``data`` to the protocol; note each message it completes as an Arrival."""
        if not data:
            return
        now = loop.time()
        self.bytes_read += len(data)
        for event in protocol.receive_data(data):
            if isinstance(event, Message):
                payload = event.data if isinstance(event.data, bytes) else event.data.encode()
                seq, sent_at = read_stamp(payload) or (-1, math.nan)
                self.arrivals.append(Arrival(seq, sent_at, now, len(payload)))

    async def stop(self) -> None:
        """Stop listening and drop every connection (unread data makes the kernel send RST)."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        listener.close()

    async def __aenter__(self) -> SlowConsumer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


# --------------------------------------------------------------------------- sampling


class Sampler:
    """Record ``(seconds, bufferedAmount)`` every ``interval`` seconds, in the background
    while ``async with Sampler(ws) as sampler:`` runs, and once more at its end.

    ``source`` is a ``WebSocket`` or any function returning a number of bytes;
    times count from ``origin`` (a ``loop.time()``; default: entering the block).
    """

    def __init__(
        self,
        source: WebSocket | Callable[[], int],
        interval: float = 0.005,
        *,
        origin: float | None = None,
    ) -> None:
        self.read: Callable[[], int] = (
            source if callable(source) else lambda: source.bufferedAmount  # type: ignore[union-attr]
        )
        self.interval = interval
        self.origin = origin
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> int:
        """Take one sample now and return it."""
        assert self.origin is not None
        value = self.read()
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append((asyncio.get_running_loop().time() - self.origin, value))
        return value

    @property
    def peak(self) -> int:
        return max((value for _, value in self.samples), default=0)

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        next_at = loop.time()
        while len(self.samples) < MAX_SAMPLES:
            self.sample()
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def __aenter__(self) -> Sampler:
        loop = asyncio.get_running_loop()
        if self.origin is None:
            self.origin = loop.time()
        self._task = loop.create_task(self._run(loop))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()


# --------------------------------------------------------------------------- senders


@dataclass
class SendLog:
    """What a sender did: each message's ``(seq, sent_at)``, and what it held back."""

    name: str
    size: int
    sent: list[tuple[int, float]] = field(default_factory=list)
    skipped: int = 0  # ticks when the buffer was too full (throttled) ...
    dropped: int = 0  # ... or values thrown away because they were stale (latest)
    ticks: int = 0  # timer ticks, or refills for the event-driven sender

    @property
    def bytes_sent(self) -> int:
        return len(self.sent) * self.size


def _check_duration(duration: float) -> None:
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION}] seconds, not {duration}")


async def _every(
    interval: float, duration: float, log: SendLog, tick: Callable[[float], None]
) -> SendLog:
    """Call ``tick(now)`` every ``interval`` seconds for ``duration`` seconds (like setInterval)."""
    _check_duration(duration)
    if interval <= 0:
        raise ValueError("interval must be positive")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(math.ceil(duration / interval)):  # bounded in count and time
        if (now := loop.time()) - start >= duration:
            break
        log.ticks += 1
        tick(now)
        await asyncio.sleep(max(0.0, start + (n + 1) * interval - loop.time()))
    return log


def _send(ws: WebSocket, log: SendLog, now: float) -> None:
    seq = len(log.sent)
    ws.send(message(seq, log.size, now))
    log.sent.append((seq, now))


async def send_unthrottled(
    ws: WebSocket, *, size: int, interval: float, duration: float
) -> SendLog:
    """Every ``interval``, send a ``size``-byte message, whatever ``bufferedAmount`` says."""
    log = SendLog("unthrottled", size)
    return await _every(interval, duration, log, lambda now: _send(ws, log, now))


async def send_throttled(
    ws: WebSocket,
    *,
    max_data: int,
    size: int,
    interval: float,
    duration: float,
    should_send: Callable[[int, int], bool] = operator.lt,
) -> SendLog:
    """The classic browser throttle: every ``interval``, send only if ``bufferedAmount < max_data``.

    In JS: ``setInterval(() => { if (ws.bufferedAmount < maxData) ws.send(data) }, ms)``.
    The queue never exceeds ``max_data - 1 + size``, and a stream (a file in
    chunks) loses nothing: the next chunk just goes at a later tick.
    ``should_send(bufferedAmount, max_data)`` is the test (``<``).
    """
    log = SendLog("throttled", size)

    def tick(now: float) -> None:  # the body of setInterval's callback
        if should_send(ws.bufferedAmount, max_data):  # bufferedAmount < max_data
            _send(ws, log, now)  # ws.send(the next chunk)
        else:
            log.skipped += 1  # no room: try again at the next tick

    return await _every(interval, duration, log, tick)


async def send_latest(
    ws: WebSocket, *, max_data: int, size: int, interval: float, duration: float
) -> SendLog:
    """Real-time data, latest value wins: every ``interval`` a fresh value is sent if
    ``bufferedAmount < max_data`` and dropped otherwise.

    Nothing stale waits in the queue, so each delivered value waits at most for
    what was queued ahead of it (``max_data - 1`` bytes, plus the buffers below).
    """
    log = SendLog("latest", size)

    def tick(now: float) -> None:
        if ws.bufferedAmount < max_data:
            _send(ws, log, now)
        else:
            log.dropped += 1

    return await _every(interval, duration, log, tick)


def _low_water(max_data: int, low_water: int | None, duration: float) -> int:
    """``send_when_drained``'s checks; its low-water mark (default ``max_data // 2``)."""
    _check_duration(duration)
    low = max_data // 2 if low_water is None else low_water
    if not 0 <= low < max_data:
        raise ValueError(f"low_water must be in [0, max_data), not {low}")
    return low


async def send_when_drained(
    ws: WebSocket, *, max_data: int, size: int, duration: float, low_water: int | None = None
) -> SendLog:
    """No timer: fill the buffer up to ``max_data``, sleep until it has drained to
    ``low_water`` (default ``max_data // 2``), fill again, for ``duration`` seconds.

    ``ws.buffered_below()`` wakes the sender the moment the socket hands enough
    bytes to the network (a Python extra: a page would have to poll), so the
    link never idles, no CPU is spent waiting, and the queue still never
    exceeds ``max_data - 1 + size``.  ``ConnectionError`` if the socket closes.
    """
    low = _low_water(max_data, low_water, duration)
    log = SendLog("drained", size)
    loop = asyncio.get_running_loop()
    start = loop.time()
    while (now := loop.time()) - start < duration:
        log.ticks += 1
        while ws.bufferedAmount < max_data:
            _send(ws, log, now)
        with contextlib.suppress(TimeoutError):
            await ws.buffered_below(low, timeout=start + duration - loop.time())
    return log


async def send_with_websockets(
    url: str,
    *,
    size: int,
    duration: float,
    write_limit: int = 2**15,
    send_buffer: int | None = SNDBUF,
    connections: list[Any] | None = None,
) -> SendLog:
    """The library way: ``await ws.send(msg)`` in a loop, paced by ``websockets`` itself.

    ``send()`` returns once the transport's buffer is below ``write_limit``, so
    the loop runs as fast as the receiver reads.  ``send_buffer`` is the
    socket's ``SO_SNDBUF``; the connection is appended to ``connections``, if
    given (to sample ``connection.transport.get_write_buffer_size()``).
    """
    from websockets.asyncio.client import connect

    _check_duration(duration)
    log = SendLog("websockets", size)
    loop = asyncio.get_running_loop()
    async with connect(url, compression=None, write_limit=write_limit, open_timeout=5) as ws:
        sock = ws.transport.get_extra_info("socket")
        if send_buffer is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        if connections is not None:
            connections.append(ws)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):  # ends the last send() if it still waits
                while True:
                    seq, now = len(log.sent), loop.time()
                    await ws.send(message(seq, size, now))
                    log.sent.append((seq, now))
                    log.ticks += 1
        ws.transport.abort()  # don't wait for the slow consumer to read the rest
    return log


# --------------------------------------------------------------------------- experiments


@dataclass
class Run:
    """One sender against one slow consumer.  Times are seconds from the start of sending."""

    name: str
    rate: float
    size: int
    max_data: int | None
    samples: list[tuple[float, int]]  # (t, bufferedAmount)
    arrivals: list[Arrival]
    log: SendLog
    t0: float  # loop.time() when sending started
    stopped: float = 0.0  # when sending stopped
    caught_up: float | None = None  # when bufferedAmount reached 0 and all had arrived
    buffered_at_stop: int = 0  # bufferedAmount when sending stopped
    read_at_stop: int = 0  # bytes the consumer had read by then

    @property
    def in_flight(self) -> int:
        """Bytes that had left ``bufferedAmount`` but not reached the consumer when
        sending stopped, in the buffers below it (frame headers not counted)."""
        return self.log.bytes_sent - self.buffered_at_stop - self.read_at_stop

    @property
    def peak(self) -> int:
        """Largest ``bufferedAmount`` sampled."""
        return max((v for _, v in self.samples), default=0)

    @property
    def delays(self) -> list[tuple[float, float]]:
        """``(arrival time, delay)`` of each message, in seconds."""
        return [(a.received_at - self.t0, a.delay) for a in self.arrivals]

    @property
    def delivered(self) -> list[Arrival]:
        """The messages that arrived while the sender was running."""
        return [a for a in self.arrivals if a.received_at - self.t0 <= self.stopped]

    @property
    def throughput(self) -> float:
        """Payload bytes per second that reached the consumer while sending."""
        return sum(a.size for a in self.delivered) / self.stopped if self.stopped else 0.0

    @property
    def newest_age(self) -> float:
        """When sending stopped, how old was the newest message the consumer had?"""
        delivered = self.delivered
        if not delivered:
            return math.inf
        return self.t0 + self.stopped - max(a.sent_at for a in delivered)

    @property
    def max_delay(self) -> float:
        return max((a.delay for a in self.arrivals), default=math.nan)

    @property
    def in_order(self) -> bool:
        seqs = [a.seq for a in self.arrivals]
        return seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    def summary(self) -> str:
        return (
            f"{self.name:12} sent {len(self.log.sent):4} msgs  "
            f"peak bufferedAmount {self.peak:>10,} B  "
            f"throughput {self.throughput / 1000:7.1f} kB/s  "
            f"newest delivered {1000 * self.newest_age:7.0f} ms old"
        )


async def experiment(
    sender: str,
    *,
    rate: float = 100_000,
    duration: float = 2.0,
    size: int = 4096,
    interval: float = 0.01,
    max_data: int = 16 * 1024,
    low_water: int | None = None,
    catch_up: float = 0.0,
    catch_up_rate: float | None = None,
    sample_every: float = 0.005,
    send_buffer: int | None = SNDBUF,
) -> Run:
    """Run ``sender`` (one of ``SENDERS``) for ``duration`` s against a fresh ``SlowConsumer``.

    Afterwards the consumer reads on (at ``catch_up_rate``, if given) for up to
    ``catch_up`` s, until everything has arrived, and the samples show the
    buffer draining.  ``send_buffer`` is the sender's ``SO_SNDBUF`` (``None``:
    Linux's autotuning).  The socket is closed cleanly if everything arrived,
    otherwise dropped (as when a page with a full buffer goes away).
    """
    if sender not in SENDERS:
        raise ValueError(f"sender must be one of {SENDERS}, not {sender!r}")
    _check_duration(duration)
    loop = asyncio.get_running_loop()
    cap = None if sender == "unthrottled" else max_data  # the unthrottled sender has none
    ws: WebSocket | None = None
    source: WebSocket | Callable[[], int]
    async with SlowConsumer(rate) as consumer:
        if sender == "websockets":
            connections: list[Any] = []

            def queued() -> int:  # the library's "bufferedAmount": its transport's buffer
                return connections[0].transport.get_write_buffer_size() if connections else 0

            work = send_with_websockets(
                consumer.url,
                size=size,
                duration=duration,
                write_limit=max_data,
                send_buffer=send_buffer,
                connections=connections,
            )
            source = queued
        else:
            ws = source = WebSocket(consumer.url, send_buffer=send_buffer)
            await ws.wait_for("open", timeout=5)
            options: dict[str, Any] = {"size": size, "duration": duration}
            if sender == "drained":
                work = send_when_drained(ws, max_data=max_data, low_water=low_water, **options)
            elif sender == "unthrottled":
                work = send_unthrottled(ws, interval=interval, **options)
            else:
                chosen = send_throttled if sender == "throttled" else send_latest
                work = chosen(ws, max_data=max_data, interval=interval, **options)
        t0 = loop.time()
        async with Sampler(source, sample_every, origin=t0) as sampler:
            log = await work
            run = Run(sender, rate, size, cap, sampler.samples, consumer.arrivals, log, t0)
            run.stopped = loop.time() - t0
            run.buffered_at_stop, run.read_at_stop = sampler.sample(), consumer.bytes_read
            if catch_up > 0 and ws is not None:
                if catch_up_rate is not None:
                    consumer.rate = catch_up_rate
                run.caught_up = await _catch_up(ws, consumer, len(log.sent), catch_up, t0)
        if ws is not None:
            if ws.bufferedAmount == 0 and len(consumer.arrivals) == len(log.sent):
                ws.close(1000)  # everything arrived: the closing handshake is quick
            else:
                await consumer.stop()  # drop the connection, like a page going away
            with contextlib.suppress(TimeoutError, ConnectionError):
                await ws.closed(timeout=2)
    return run


async def _catch_up(
    ws: WebSocket, consumer: SlowConsumer, sent: int, limit: float, t0: float
) -> float | None:
    """When (at most ``limit`` s from now) the buffer was empty and all ``sent`` messages
    had arrived, in seconds from ``t0``; ``None`` if that did not happen in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    with contextlib.suppress(TimeoutError, ConnectionError):
        await ws.buffered_below(0, timeout=limit)
        while len(consumer.arrivals) < sent and loop.time() < deadline:
            await asyncio.sleep(0.005)  # the consumer has no event for "message arrived"
    if ws.bufferedAmount == 0 and len(consumer.arrivals) >= sent:
        return loop.time() - t0
    return None
