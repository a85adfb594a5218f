"""``bufferedAmount``, backpressure and throttling against a real slow consumer (notebook 05).

Theory of operation
-------------------
In a browser ``ws.send(data)`` never blocks: it copies ``data`` into a queue
and returns.  ``bufferedAmount`` is the size of that queue, in bytes of
application data (UTF-8 for text) that ``send()`` accepted and that have not
yet been handed to the network.  Behind it there are more buffers that
``bufferedAmount`` does not show: the transport's write buffer, the operating
system's socket send buffer, the network, and the receiver's socket receive
buffer.  When the receiver reads more slowly than the sender sends, those
fill up first; then TCP's flow control stops the sender's socket, and only
then does ``bufferedAmount`` start to grow, without limit, for as long as the
page keeps calling ``send()``.  (On Linux the sender's send buffer grows by
itself up to several megabytes while the receiver's window is closed;
``limit_send_buffer`` fixes it small so the demos take seconds, not minutes.)

This module builds that situation on 127.0.0.1 and measures it:

- ``SlowConsumer``: a WebSocket server written with raw asyncio sockets and
  the course's sans-I/O modules (``wslearn.handshake``, ``wslearn.framing``).
  It reads at most ``rate`` bytes per second from TCP (a token bucket) with a
  small ``SO_RCVBUF``, so backpressure reaches the sender within a second.
  It can be paused, resumed or sped up, and it records when each message
  arrived (``Arrival``).  It accepts no extension, so a browser's offer of
  ``permessage-deflate`` is declined and random bytes stay incompressible.
- ``Sampler``: ``(time, bufferedAmount)`` every few milliseconds.
- Senders, each bounded in time (``duration``) and so in count:
  ``send_unthrottled`` (what a naive page does), ``send_throttled`` (the
  seed's ``setInterval`` pattern: send only while ``bufferedAmount <
  max_data``), ``send_latest`` (real-time data: a fresh value every tick,
  dropped when the buffer is full, so what arrives is never stale),
  ``send_when_drained`` (no timer: wait for the buffer to fall below a
  low-water mark, then fill it up to ``max_data``) and ``send_with_websockets``
  (the ``websockets`` library's own ``await ws.send()`` backpressure).
- ``experiment()``: one run of one sender against a fresh consumer, returned
  as a ``Run`` with the samples, the arrivals and the derived numbers.

Each message starts with a 16-byte stamp (``message()``): a sequence number
and the ``loop.time()`` at which it was sent, then random bytes.  The consumer
reads the stamp back, so order and delivery delay are measured, not guessed.

Polling, events, or awaiting
----------------------------
The seed polls on a timer: every ``interval`` it looks at ``bufferedAmount``
and sends at most one message.  That is simple and bounds the queue to
``max_data`` plus one message, but it caps throughput at one message per tick
(``size / interval``) even when the network could take more, and a
``max_data`` smaller than ``rate * interval`` lets the link idle between
ticks.  The browser's ``WebSocket`` fires no event when the buffer drains (a
WebRTC ``RTCDataChannel`` has ``bufferedamountlow`` for exactly this), and
neither does ``wslearn.websocket``; ``wait_for_low_water()`` therefore looks
at the number every millisecond (with ``poll=0``, on every turn of the event
loop: a quicker reaction, but a core kept busy).  ``send_when_drained`` uses
it to refill the buffer as soon as it falls below a low-water mark, so the
link never idles and the queue still never exceeds ``max_data`` plus one
message.  The ``websockets`` library makes ``send()`` a coroutine instead:
``await ws.send(msg)`` returns only when its write buffer is below
``write_limit`` again, so a plain loop of sends is paced by the receiver, with
no number to watch and no CPU spent waiting.  That is the library way, and
the one to prefer in Python; a browser page, whose ``send()`` cannot wait,
has to watch ``bufferedAmount`` (or use Chromium's ``WebSocketStream``, whose
``write()`` returns a promise that waits the same way).
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

from wslearn import framing, handshake
from wslearn.servers import LOOPBACK, check_loopback
from wslearn.websocket import WebSocket

__all__ = [
    "STAMP",
    "Arrival",
    "Run",
    "Sampler",
    "SendLog",
    "SlowConsumer",
    "experiment",
    "limit_send_buffer",
    "message",
    "read_stamp",
    "send_latest",
    "send_throttled",
    "send_unthrottled",
    "send_when_drained",
    "send_with_websockets",
    "wait_for_low_water",
]

#: the first bytes of every message: sequence number, send time (``loop.time()``)
STAMP = struct.Struct("!Qd")
#: receive buffer asked for on the consumer's sockets (Linux doubles it)
RCVBUF = 4096
#: send buffer given to the sending socket by ``limit_send_buffer`` (Linux doubles it)
SNDBUF = 16 * 1024
#: seconds of reading the consumer may catch up on at once (token bucket depth)
BURST = 0.05
#: largest single read of the consumer, in bytes
READ_CHUNK = 64 * 1024
#: hard limits that keep every loop bounded
MAX_DURATION = 60.0
MAX_SAMPLES = 200_000

#: how often ``wait_for_low_water`` looks at ``bufferedAmount``, in seconds
POLL = 0.001

SENDERS = ("unthrottled", "throttled", "latest", "drained", "websockets")


# --------------------------------------------------------------------------- messages


def message(seq: int, size: int, sent_at: float) -> bytes:
    """A binary message of ``size`` bytes: the stamp, then random bytes.

    Random bytes do not compress, so no extension could hide their size.
    """
    if size < STAMP.size:
        raise ValueError(f"a stamped message needs at least {STAMP.size} bytes")
    return STAMP.pack(seq, sent_at) + os.urandom(size - STAMP.size)


def read_stamp(data: bytes) -> tuple[int, float] | None:
    """``(seq, sent_at)`` from the start of a message, or ``None`` if it is too short."""
    if len(data) < STAMP.size:
        return None
    seq, sent_at = STAMP.unpack_from(data)
    return seq, sent_at


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


class _Reader:
    """One accepted connection of a ``SlowConsumer``."""

    def __init__(self, consumer: SlowConsumer, sock: socket.socket) -> None:
        self.consumer = consumer
        self.sock = sock
        self.frames = framing.FrameReader(expect_masked=True)
        self.messages = framing.Assembler()
        self.arrivals: list[Arrival] = []
        self.bytes_read = 0  # WebSocket bytes (frames, after the handshake)
        self.closed = False
        self.error: Exception | None = None  # why the connection ended, if it failed
        self._control: list[framing.Frame] = []  # pings and closes to answer

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            rest = await self._handshake(loop)
            if rest is None:
                return
            self._feed(rest, loop.time())
            await self._read_frames(loop)
        except (ConnectionError, OSError, framing.ProtocolError, handshake.HandshakeError) as exc:
            self.error = exc
        finally:
            self.closed = True
            self.sock.close()

    async def _handshake(self, loop: asyncio.AbstractEventLoop) -> bytes | None:
        """Read the request (at full speed), answer it; return bytes read past the head."""
        data = bytearray()
        while (parsed := handshake.parse_request(data)) is None:
            chunk = await loop.sock_recv(self.sock, 4096)
            if not chunk:
                return None
            data += chunk
        request, used = parsed
        page = self.consumer.page
        if page is not None and not request.headers.has_token("Upgrade", "websocket"):
            body = page.encode()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            )
            await loop.sock_sendall(self.sock, head.encode() + body)
            return None
        try:
            key = handshake.check_request(request)
        except handshake.HandshakeError as error:
            self.error = error
            await loop.sock_sendall(self.sock, handshake.build_error_response(error))
            return None
        # No Sec-WebSocket-Extensions in the answer: permessage-deflate is declined.
        await loop.sock_sendall(self.sock, handshake.build_response(key))
        return bytes(data[used:])

    async def _read_frames(self, loop: asyncio.AbstractEventLoop) -> None:
        consumer = self.consumer
        budget, last = 0.0, loop.time()
        while not self.closed:
            rate, now = consumer.rate, loop.time()
            if rate is None or math.isinf(rate):  # read as fast as the data comes
                budget, want = 0.0, READ_CHUNK
            elif consumer.paused or rate <= 0:
                budget, last = 0.0, now
                await asyncio.sleep(consumer.tick)
                continue
            else:
                # token bucket: `rate` bytes per second; credit for up to BURST seconds,
                # so a busy event loop that wakes us late costs no throughput
                budget = min(budget + (now - last) * rate, max(rate * BURST, 1.0))
                last = now
                want = min(int(budget), READ_CHUNK)
                if want < 1:
                    await asyncio.sleep(consumer.tick)
                    continue
            data = await loop.sock_recv(self.sock, want)
            if not data:
                return
            if rate is not None:
                budget -= len(data)
                last = loop.time()  # waiting for data earns no credit
            self._feed(data, loop.time())
            if self.closed:
                return
            await self._answer_control()

    def _feed(self, data: bytes, now: float) -> None:
        self.bytes_read += len(data)
        self.consumer.bytes_read += len(data)
        for frame in self.frames.feed(data):
            item = self.messages.feed(frame)
            if isinstance(item, framing.Message):
                payload = item.data if isinstance(item.data, bytes) else item.data.encode()
                seq, sent_at = read_stamp(payload) or (-1, math.nan)
                arrival = Arrival(seq, sent_at, now, len(payload))
                self.arrivals.append(arrival)
                self.consumer.arrivals.append(arrival)
            elif isinstance(item, framing.Frame):
                self._control.append(item)

    async def _answer_control(self) -> None:
        loop = asyncio.get_running_loop()
        while self._control:
            frame = self._control.pop(0)
            if frame.opcode is framing.Opcode.PING:
                pong = framing.Frame(True, framing.Opcode.PONG, frame.payload)
                await loop.sock_sendall(self.sock, framing.encode_frame(pong, mask=False))
            elif frame.opcode is framing.Opcode.CLOSE:
                # Echo the status code (RFC 6455 §5.5.1), then close TCP: the server
                # closes first (§7.1.1).
                reply = framing.Frame(True, framing.Opcode.CLOSE, frame.payload[:2])
                with contextlib.suppress(OSError):
                    await loop.sock_sendall(self.sock, framing.encode_frame(reply, mask=False))
                self.closed = True
                return


class SlowConsumer:
    """A WebSocket server on 127.0.0.1 that reads at most ``rate`` bytes per second.

    ``rate=None`` (or ``math.inf``) reads as fast as data comes;
    ``pause()``/``resume()`` stop and restart reading; ``rate`` can be
    changed at any time.  The listening
    socket gets a small ``SO_RCVBUF`` before ``listen()``, so every accepted
    socket inherits it and TCP's window stays small: a sender feels the
    backpressure after a few kilobytes instead of a few megabytes.

    ``arrivals`` lists every message received (all connections, in order of
    arrival) and ``bytes_read`` counts WebSocket bytes read (frame headers
    included).  ``page``, if given, is served as HTML to a plain HTTP GET, so
    a browser can load a page from the same origin and connect back.
    Use it as ``async with SlowConsumer(rate=...) as consumer:``.
    """

    def __init__(
        self,
        rate: float | None = 100_000,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        rcvbuf: int = RCVBUF,
        tick: float = 0.005,
        page: str | None = None,
        allow_remote: bool = False,
    ) -> None:
        check_loopback(host, allow_remote=allow_remote)
        self.rate = rate
        self.host, self.port = host, port
        self.rcvbuf = rcvbuf
        self.tick = tick
        self.page = page
        self.paused = False
        self.arrivals: list[Arrival] = []
        self.bytes_read = 0
        self.connections: list[_Reader] = []
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting: asyncio.Task[None] | None = None
        self._connected: asyncio.Event | None = None

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
        """Stop reading: the kernel's small receive buffer fills, then TCP stops the sender."""
        self.paused = True

    def resume(self) -> None:
        """Read again, at ``rate`` (change ``consumer.rate`` at any time; ``None``: full speed)."""
        self.paused = False

    async def start(self) -> SlowConsumer:
        if self._listener is not None:
            return self
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Before listen(): accepted sockets inherit it, and TCP's window scale
            # is negotiated from it in the SYN-ACK.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.bind((self.host, self.port))
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._listener = sock
        self._connected = asyncio.Event()
        self._accepting = loop.create_task(self._accept(loop, sock))
        return self

    async def _accept(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        while True:
            sock, _ = await loop.sock_accept(listener)
            sock.setblocking(False)
            reader = _Reader(self, sock)
            self.connections.append(reader)
            task = loop.create_task(reader.serve())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            assert self._connected is not None
            self._connected.set()

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Wait until a client has connected (TCP accepted)."""
        if self._connected is None:
            raise RuntimeError("the slow consumer is not running")
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def stop(self) -> None:
        """Stop listening and drop every connection (unread data makes the kernel send RST)."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        tasks = [t for t in (self._accepting, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for reader in self.connections:
            reader.sock.close()
        listener.close()

    async def __aenter__(self) -> SlowConsumer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = self.url if self._listener is not None else "stopped"
        rate = "unlimited" if self.rate is None else f"{self.rate:,.0f} B/s"
        state = " paused" if self.paused else ""
        return f"<SlowConsumer {where} {rate}{state} read={self.bytes_read:,} B>"


# --------------------------------------------------------------------------- the sender's socket


def limit_send_buffer(ws: WebSocket, size: int = SNDBUF) -> int:
    """Give an open ``ws``'s TCP socket a small ``SO_SNDBUF``; return the size the kernel set.

    On Linux a loopback socket's send buffer grows by itself up to
    ``net.ipv4.tcp_wmem``'s maximum (4 MB here) while the receiver's window is
    closed, so megabytes vanish into the kernel before ``bufferedAmount``
    moves at all.  Fixing the size (Linux doubles the number asked for) turns
    that autotuning off, so the demo shows backpressure within a second.
    ``wslearn.websocket`` has no public handle on its socket, hence the
    private ``_connection`` here.
    """
    connection = getattr(ws, "_connection", None)
    transport = getattr(connection, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        raise RuntimeError("the WebSocket has no TCP socket yet: wait for 'open' first")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


# --------------------------------------------------------------------------- sampling


class Sampler:
    """Record ``(seconds, bufferedAmount)`` every ``interval`` seconds in the background.

    ``source`` is a ``WebSocket`` (its ``bufferedAmount`` is read) or any
    function returning a number of bytes.  Times count from ``origin`` (a
    ``loop.time()``; default: when ``start()`` was called).  At most
    ``limit`` samples are kept.  Use ``start()``/``await stop()``, or
    ``async with Sampler(ws) as sampler:``.
    """

    def __init__(
        self,
        source: WebSocket | Callable[[], int],
        interval: float = 0.005,
        *,
        origin: float | None = None,
        limit: int = MAX_SAMPLES,
    ) -> None:
        self.read: Callable[[], int] = (
            source if callable(source) else lambda: source.bufferedAmount  # type: ignore[union-attr]
        )
        self.interval = interval
        self.origin = origin
        self.limit = limit
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Sampler:
        loop = asyncio.get_running_loop()
        if self.origin is None:
            self.origin = loop.time()
        self._task = loop.create_task(self._run(loop))
        return self

    def sample(self) -> int:
        """Take one sample now and return it."""
        assert self.origin is not None
        value = self.read()
        if len(self.samples) < self.limit:
            self.samples.append((asyncio.get_running_loop().time() - self.origin, value))
        return value

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        next_at = start = loop.time()
        while len(self.samples) < self.limit and loop.time() - start < 3 * MAX_DURATION:
            self.sample()
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def stop(self) -> list[tuple[float, int]]:
        """Stop sampling (after one last sample) and return the samples."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.sample()
        return self.samples

    @property
    def peak(self) -> int:
        return max((value for _, value in self.samples), default=0)

    async def __aenter__(self) -> Sampler:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


# --------------------------------------------------------------------------- senders


@dataclass
class SendLog:
    """What a sender did: each message's ``(seq, sent_at)``, and what it skipped."""

    name: str
    size: int
    sent: list[tuple[int, float]] = field(default_factory=list)
    skipped: int = 0  # ticks when the buffer was too full (throttled) ...
    dropped: int = 0  # ... or values thrown away because they were stale (latest)
    ticks: int = 0
    started: float = 0.0
    ended: float = 0.0

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
    log.started = start = loop.time()
    for n in range(math.ceil(duration / interval)):  # bounded in count and time
        now = loop.time()
        if now - start >= duration:
            break
        log.ticks += 1
        tick(now)
        await asyncio.sleep(max(0.0, start + (n + 1) * interval - loop.time()))
    log.ended = loop.time()
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
    """The seed's pattern: every ``interval``, send only if ``bufferedAmount < max_data``.

    In JS: ``setInterval(() => { if (ws.bufferedAmount < maxData) ws.send(data) }, ms)``.
    The queue never exceeds ``max_data - 1 + size``.  Applied to a stream (a
    file in chunks) nothing is lost: the next chunk is simply read at a later
    tick.  ``should_send(bufferedAmount, max_data)`` is the test (``<``).
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
    """Real-time updates, latest value wins: every ``interval`` a fresh value is made;
    it is sent if ``bufferedAmount < max_data`` and dropped otherwise.

    Nothing stale ever waits in the queue: a value that cannot go now is
    replaced by the next tick's fresher one.  Each delivered value waits for
    at most what was queued ahead of it (``max_data - 1`` bytes in
    ``bufferedAmount``, plus the buffers behind it) to drain.
    """
    log = SendLog("latest", size)

    def tick(now: float) -> None:
        if ws.bufferedAmount < max_data:
            _send(ws, log, now)
        else:
            log.dropped += 1

    return await _every(interval, duration, log, tick)


async def wait_for_low_water(
    ws: WebSocket | Callable[[], int],
    mark: int,
    *,
    timeout: float | None = None,
    poll: float = POLL,
) -> int:
    """Wait until ``bufferedAmount <= mark``; return it.

    ``wslearn.websocket`` (like the browser's ``WebSocket``) fires no event when
    its buffer drains, so this looks at the number every ``poll`` seconds
    (1 ms: a thousand cheap wake-ups a second, a reaction time far below what
    a slow network takes to drain anything).  ``poll=0`` looks on every turn
    of the event loop: the fastest reaction, but it keeps a core busy while
    it waits.  Raises ``TimeoutError`` after ``timeout`` seconds and
    ``ConnectionError`` if the socket closed with more than ``mark`` bytes
    still queued (they will never drain).
    """
    read = ws if callable(ws) else (lambda: ws.bufferedAmount)  # type: ignore[union-attr]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (MAX_DURATION if timeout is None else timeout)
    while (amount := read()) > mark:
        if isinstance(ws, WebSocket) and ws.readyState == WebSocket.CLOSED:
            raise ConnectionError(f"the WebSocket closed with {amount} bytes still buffered")
        if loop.time() >= deadline:
            raise TimeoutError(f"bufferedAmount still {amount} > {mark}")
        await asyncio.sleep(poll)
    return amount


async def send_when_drained(
    ws: WebSocket,
    *,
    max_data: int,
    size: int,
    duration: float,
    low_water: int | None = None,
    poll: float = POLL,
) -> SendLog:
    """Event-driven, no timer: fill the buffer up to ``max_data``, wait for it to
    fall to ``low_water`` (default ``max_data // 2``), fill again, for ``duration`` s.

    Like the seed's pattern the queue never exceeds ``max_data - 1 + size``, but
    the refill happens as soon as there is room, so throughput is whatever the
    receiver allows rather than one message per tick.
    """
    _check_duration(duration)
    low = max_data // 2 if low_water is None else low_water
    if not 0 <= low < max_data:
        raise ValueError(f"low_water must be in [0, max_data), not {low}")
    log = SendLog("drained", size)
    loop = asyncio.get_running_loop()
    log.started = start = loop.time()
    while (now := loop.time()) - start < duration:
        log.ticks += 1
        while ws.bufferedAmount < max_data:
            _send(ws, log, now)
        with contextlib.suppress(TimeoutError):
            await wait_for_low_water(ws, low, timeout=start + duration - loop.time(), poll=poll)
    log.ended = loop.time()
    return log


async def send_with_websockets(
    url: str,
    *,
    size: int,
    duration: float,
    write_limit: int = 2**15,
    sndbuf: int | None = SNDBUF,
    connections: list[Any] | None = None,
) -> SendLog:
    """The library way: ``await ws.send(msg)`` in a loop, paced by ``websockets`` itself.

    ``send()`` is a coroutine that returns once the transport's buffer is below
    ``write_limit`` again, so the loop runs exactly as fast as the receiver
    reads.  ``sndbuf`` fixes the socket's kernel buffer as ``limit_send_buffer``
    does.  If ``connections`` is a list, the connection is appended to it (to
    sample ``connection.transport.get_write_buffer_size()``, say).
    """
    from websockets.asyncio.client import connect

    _check_duration(duration)
    log = SendLog("websockets", size)
    loop = asyncio.get_running_loop()
    async with connect(url, compression=None, write_limit=write_limit, open_timeout=5) as ws:
        sock = ws.transport.get_extra_info("socket")
        if sndbuf is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if connections is not None:
            connections.append(ws)
        log.started = start = loop.time()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                while loop.time() - start < duration:
                    seq, now = len(log.sent), loop.time()
                    await ws.send(message(seq, size, now))
                    log.sent.append((seq, now))
                    log.ticks += 1
        log.ended = loop.time()
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
    stopped: float  # when sending stopped (seconds from t0)
    caught_up: float | None = None  # when bufferedAmount reached 0 and all had arrived
    buffered_at_stop: int = 0  # bufferedAmount when sending stopped
    read_at_stop: int = 0  # bytes the consumer had read by then

    @property
    def in_flight(self) -> int:
        """Bytes that had left ``bufferedAmount`` but not reached the consumer when
        sending stopped: the transport's buffer, both kernels' socket buffers
        (frame headers make it a few bytes per message too small)."""
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
    poll: float = POLL,
    catch_up: float = 0.0,
    catch_up_rate: float | None = None,
    sample_every: float = 0.005,
    sndbuf: int | None = SNDBUF,
) -> Run:
    """Run ``sender`` (one of ``SENDERS``) for ``duration`` s against a fresh ``SlowConsumer``.

    After sending stops, the consumer keeps reading for up to ``catch_up``
    seconds (at ``catch_up_rate`` if given, ``math.inf`` meaning full speed)
    until ``bufferedAmount`` is 0 and every message has arrived; the samples
    go on meanwhile, so a figure shows the buffer draining.  ``sndbuf`` fixes
    the sending socket's kernel buffer (``limit_send_buffer``; ``None`` leaves
    Linux's autotuning on).  Before returning, the socket is closed: cleanly
    if everything arrived, otherwise by dropping the connection (what a
    browser does when a page with a full buffer goes away).
    """
    if sender not in SENDERS:
        raise ValueError(f"sender must be one of {SENDERS}, not {sender!r}")
    _check_duration(duration)
    loop = asyncio.get_running_loop()
    ws: WebSocket | None = None
    async with SlowConsumer(rate) as consumer:
        connections: list[Any] = []
        if sender == "websockets":

            def queued() -> int:
                return connections[0].transport.get_write_buffer_size() if connections else 0

            t0 = loop.time()
            sampler = Sampler(queued, sample_every, origin=t0).start()
            work = send_with_websockets(
                consumer.url,
                size=size,
                duration=duration,
                write_limit=max_data,
                sndbuf=sndbuf,
                connections=connections,
            )
        else:
            ws = WebSocket(consumer.url)
            await ws.wait_for("open", timeout=5)
            if sndbuf is not None:
                limit_send_buffer(ws, sndbuf)
            t0 = loop.time()
            sampler = Sampler(ws, sample_every, origin=t0).start()
            options: dict[str, Any] = {"size": size, "duration": duration}
            if sender == "drained":
                work = send_when_drained(
                    ws, max_data=max_data, low_water=low_water, poll=poll, **options
                )
            elif sender == "unthrottled":
                work = send_unthrottled(ws, interval=interval, **options)
            else:
                chosen = send_throttled if sender == "throttled" else send_latest
                work = chosen(ws, max_data=max_data, interval=interval, **options)
        try:
            log = await work
            stopped = loop.time() - t0
            buffered_at_stop = sampler.sample()
            read_at_stop = consumer.bytes_read
            caught_up = None
            if catch_up > 0 and ws is not None:
                if catch_up_rate is not None:
                    consumer.rate = catch_up_rate
                caught_up = await _catch_up(ws, consumer, log, catch_up, t0)
        finally:
            samples = await sampler.stop()
        arrivals = list(consumer.arrivals)
        if ws is not None and ws.bufferedAmount == 0 and len(arrivals) == len(log.sent):
            ws.close(1000)  # everything arrived: the closing handshake is quick
            with contextlib.suppress(TimeoutError, ConnectionError):
                await ws.closed(timeout=2)
    # leaving the block stopped the consumer: any connection still open was dropped
    if ws is not None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            await ws.closed(timeout=2)
    return Run(
        sender,
        rate,
        size,
        None if sender == "unthrottled" else max_data,
        samples,
        arrivals,
        log,
        t0,
        stopped,
        caught_up,
        buffered_at_stop,
        read_at_stop,
    )


async def _catch_up(
    ws: WebSocket, consumer: SlowConsumer, log: SendLog, limit: float, t0: float
) -> float | None:
    """Wait (at most ``limit`` s) until the buffer is empty and every message arrived."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if ws.bufferedAmount == 0 and len(consumer.arrivals) >= len(log.sent):
            return loop.time() - t0
        await asyncio.sleep(0.005)
    return None
