"""Keepalive and reconnection for the browser-side ``WebSocket`` (notebook 07).

Theory of operation
-------------------
Connections die without a word: a NAT or proxy forgets an idle flow, a laptop
sleeps, a phone changes network. No FIN and no RST arrive, so TCP (and the
browser) may not notice for many minutes, and when it does the page only
learns "1006": no close frame came. A production client therefore needs four
things that the browser API does not give it:

1. **Notice a dead connection.** Pings (RFC 6455 §5.5.2) are sent by servers;
   a page cannot send one. So the client sends its own small text message,
   ``HEARTBEAT``, every ``heartbeat`` seconds, and treats the connection as
   dead when *nothing* has arrived for ``heartbeat_timeout`` seconds. Every
   course server answers ``HEARTBEAT`` with ``HEARTBEAT``.
2. **Decide whether to come back.** A drop (1006), a server error (1011) or
   restart (1001, 1012), "try again later" (1013) or a bad gateway (1014)
   are worth another attempt; a normal end (1000), a policy violation (1008),
   protocol errors and the application's own codes (4000-4999) are not: they
   would happen again. ``reconnectable(code)`` is that default policy.
3. **Wait before coming back.** If every client of a restarted server retries
   at once, the server is hit by a *storm*. ``backoff()`` gives exponentially
   growing, capped and *jittered* delays ("Exponential Backoff And Jitter",
   AWS Architecture Blog, 2015): ``"none"`` is ``min(cap, base * factor**n)``;
   ``"equal"`` keeps half of it and randomises the other half; ``"full"``
   draws uniformly from ``[0, min(cap, base * factor**n)]``.
4. **Resume without loss.** ``url`` may be a function, called before every
   attempt, so a client can ask for what it missed (``?after=<last seq>``).

``ReconnectingWebSocket`` wraps wslearn's ``WebSocket`` (one per attempt) and
keeps its browser interface: ``readyState``, ``onopen``/``onmessage``/
``onerror``/``onclose``, ``addEventListener``, ``send``, ``close``,
``wait_for`` and ``closed()``. Its own rules:

- ``readyState`` is ``CONNECTING`` while any attempt is pending, ``OPEN``
  while a connection is open, ``CLOSED`` only when it has stopped for good.
- ``open`` fires for every connection; ``message`` and ``error`` are passed
  on from each; a ``reconnect`` event (``attempt``, ``delay``, ``code``,
  ``reason``) fires before each new attempt; ``close`` fires once, at the end.
- ``send()`` while not OPEN queues the message (at most ``queue_limit``;
  beyond that it raises ``SendQueueFull``); the queue is sent, in order, as
  soon as the next connection opens and before ``open`` fires.
- ``close()`` stops for good. The backoff starts again from its first step
  once a connection has stayed open ``stable_after`` seconds (not at once: a
  server that accepts and then drops every connection would be hammered).
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from wslearn.dom import DOMException, EventTarget, event_handler
from wslearn.websocket import CLOSE_TIMEOUT, CloseEvent, Event, LogEntry, MessageEvent, WebSocket

__all__ = [
    "HEARTBEAT",
    "JITTERS",
    "RECONNECT_CODES",
    "Backoff",
    "ReconnectEvent",
    "ReconnectingWebSocket",
    "SendQueueFull",
    "Storm",
    "backoff",
    "reconnectable",
    "storm",
    "storms",
]

#: the application-level heartbeat: sent by the client, answered with the same text by
#: every course server (``wslearn.servers``)
HEARTBEAT = "heartbeat"

JITTERS = ("none", "equal", "full")

#: close codes after which a client should come back (the rest mean "do not retry")
RECONNECT_CODES = frozenset(
    {
        1001,  # going away: the server is shutting down or restarting
        1006,  # abnormal closure: no close frame (a drop, a failed connect, a dead peer)
        1011,  # internal error: the server's handler failed
        1012,  # service restart
        1013,  # try again later (overloaded)
        1014,  # bad gateway: a proxy could not reach the server
    }
)


def reconnectable(code: int) -> bool:
    """The default policy: is a connection that ended with ``code`` worth another attempt?

    Yes for drops and temporary server trouble (``RECONNECT_CODES``). No for a
    normal end (1000), no status (1005), protocol and policy errors (1002,
    1003, 1007-1010: the next attempt would break the same rule), a failed TLS
    handshake (1015) and every library or application code (3000-4999).
    """
    return code in RECONNECT_CODES


# --------------------------------------------------------------------------- backoff


class Backoff(Iterator[float]):
    """The endless iterator ``backoff()`` returns; ``reset()`` starts the schedule again."""

    def __init__(
        self, base: float, cap: float, factor: float, jitter: str, rng: random.Random
    ) -> None:
        self.base, self.cap, self.factor, self.jitter = base, cap, factor, jitter
        self.rng = rng
        self.attempt = 0
        """How many delays have been handed out since the last reset."""

    def ceiling(self, attempt: int) -> float:
        """``min(cap, base * factor**attempt)``: the delay before jitter (attempt from 0)."""
        if self.base == 0:
            return 0.0
        if self.factor > 1 and attempt > math.log(self.cap / self.base, self.factor) + 1:
            return self.cap  # avoid float overflow of factor**attempt
        return min(self.cap, self.base * self.factor**attempt)

    def __next__(self) -> float:
        ceiling = self.ceiling(self.attempt)
        self.attempt += 1
        if self.jitter == "none":
            return ceiling
        if self.jitter == "equal":
            return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0

    def __repr__(self) -> str:
        return (
            f"backoff(base={self.base}, cap={self.cap}, factor={self.factor}, "
            f"jitter={self.jitter!r}) at attempt {self.attempt}"
        )


def backoff(
    base: float = 0.5,
    cap: float = 30.0,
    *,
    factor: float = 2.0,
    jitter: str = "full",
    rng: random.Random | None = None,
) -> Backoff:
    """An endless iterator of delays in seconds: exponential, capped, jittered.

    The n-th delay (n from 0) is drawn from ``min(cap, base * factor**n)``:

    - ``"none"``: exactly that: every client waits the same time;
    - ``"equal"``: half of it plus a uniform draw from the other half;
    - ``"full"``: a uniform draw from 0 to all of it (the AWS article's advice:
      the fewest collisions for the least total work).

    ``rng`` is a ``random.Random``; one made with a fixed number, such as
    ``random.Random(7)``, repeats its schedules.
    """
    for name, value in (("base", base), ("cap", cap), ("factor", factor)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise TypeError(f"backoff {name} must be a finite number, not {value!r}")
    if base < 0 or cap < base:
        raise ValueError(f"backoff needs 0 <= base <= cap, got base={base}, cap={cap}")
    if factor < 1:
        raise ValueError(
            f"backoff factor must be at least 1 (delays must not shrink), got {factor}"
        )
    if jitter not in JITTERS:
        raise ValueError(f"jitter must be one of {', '.join(map(repr, JITTERS))}, not {jitter!r}")
    return Backoff(float(base), float(cap), float(factor), jitter, rng or random.Random())


def _default() -> Backoff:
    return backoff()


# --------------------------------------------------------------------------- events


@dataclass(eq=False)
class ReconnectEvent(Event):
    """Fired before each new attempt: its number (1, 2, ...), the delay before it, and why.

    ``code`` and ``reason`` are those of the connection that ended (1006 with
    reason "no message for ... s" when the heartbeat found it dead).
    """

    attempt: int = 0
    delay: float = 0.0
    code: int = 0
    reason: str = ""


class SendQueueFull(BufferError):
    """``send()`` while reconnecting, with ``queue_limit`` messages already waiting."""


# --------------------------------------------------------------------------- the wrapper


class ReconnectingWebSocket(EventTarget):
    """A browser-style ``WebSocket`` that notices dead connections and comes back.

    ``url`` is a ``ws://`` URL or a function returning one, called before every
    attempt. ``backoff`` is any iterable of delays (default ``backoff()``; a
    finite one means "give up after that many attempts"). ``heartbeat``: send
    ``HEARTBEAT`` every that many seconds while open; ``heartbeat_timeout``:
    the connection is dead when nothing arrived for that long (default: twice
    ``heartbeat``; it also works alone, for a server that talks regularly, and it
    bounds each opening handshake too).
    ``should_reconnect(close_event) -> bool`` replaces ``reconnectable``.
    """

    CONNECTING: ClassVar[int] = 0
    OPEN: ClassVar[int] = 1
    CLOSING: ClassVar[int] = 2
    CLOSED: ClassVar[int] = 3

    queue_limit: int = 1000
    """How many messages ``send()`` keeps while not OPEN; one more raises ``SendQueueFull``."""

    stable_after: float = 1.0
    """Seconds a connection must stay open before the backoff starts again from its first
    step. Resetting at ``open`` would retry a server that accepts and drops at once at the
    first step's pace, forever."""

    backlog: int = 10_000
    """Events kept for ``wait_for`` until awaited (per type)."""

    def __init__(
        self,
        url: str | Callable[[], str],
        protocols: str | Iterable[str] | None = None,
        *,
        backoff: Iterable[float] | None = None,
        heartbeat: float | None = None,
        heartbeat_timeout: float | None = None,
        should_reconnect: Callable[[CloseEvent], bool] | None = None,
    ) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        for name, value in (("heartbeat", heartbeat), ("heartbeat_timeout", heartbeat_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if heartbeat is not None and heartbeat_timeout is None:
            heartbeat_timeout = 2 * heartbeat
        self._url = url
        self._protocols = protocols
        self._schedule_source: Iterable[float] = backoff if backoff is not None else _default()
        self._schedule = iter(self._schedule_source)
        self._heartbeat = heartbeat
        self._heartbeat_timeout = heartbeat_timeout
        self._should_reconnect = should_reconnect or (lambda event: reconnectable(event.code))
        self._ready_state = self.CONNECTING
        self._stopping = False  # close() was called: never reconnect
        self._queue: deque[str | bytes] = deque()
        self._queued_bytes = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}  # "beat", "watch", "retry"
        self._last_heard = 0.0
        self._fired_close: CloseEvent | None = None
        self._last_open: Event | None = None
        self._backlog: dict[str, deque[Event]] = {}
        self._waiters: dict[str, deque[asyncio.Future[Event]]] = {}
        self.attempt = 0
        """Attempts since the last stable connection (see ``stable_after``)."""
        self.connections = 0
        """How many connections have opened so far."""
        self.created_at = self._loop.time()
        self.events: list[LogEntry] = []
        """Timestamped from creation: every attempt (``connecting``), every event fired
        (``open``, ``message``, ``error``, ``reconnect``, ``close``), and the heartbeat's
        ``heartbeat`` (sent), ``heartbeat-reply`` (heard) and ``dead`` (gave up)."""
        self._ws: WebSocket = self._connect()  # raises SyntaxError for a bad first URL
        self._current: WebSocket | None = self._ws  # None between attempts

    # -- attributes ----------------------------------------------------------------

    readyState = property(
        lambda self: self._ready_state,
        doc="0 CONNECTING (also between attempts), 1 OPEN, 2 CLOSING (after close()), 3 CLOSED.",
    )
    url = property(lambda self: self._ws.url, doc="The URL of the current (or last) attempt.")
    protocol = property(lambda self: self._ws.protocol, doc="The current connection's subprotocol.")

    @property
    def bufferedAmount(self) -> int:
        """Bytes queued while reconnecting plus the current connection's ``bufferedAmount``."""
        return self._queued_bytes + self._ws.bufferedAmount

    onopen = event_handler("open", "Called with an ``Event`` each time a connection opens.")
    onmessage = event_handler("message", "Called with a ``MessageEvent`` for each message.")
    onerror = event_handler("error", "Called with an ``Event`` when a connection failed.")
    onclose = event_handler("close", "Called once, with the ``CloseEvent`` that ends it for good.")
    onreconnect = event_handler(
        "reconnect", "Called with a ``ReconnectEvent`` (attempt, delay, code) before each attempt."
    )

    # -- methods -----------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send now while OPEN, else queue for the next connection (bounded)."""
        if self._ready_state >= self.CLOSING:
            raise DOMException(
                "ReconnectingWebSocket.send(): close() was called; it will not reconnect.",
                "InvalidStateError",
            )
        current = self._current
        if self._ready_state == self.OPEN and current and current.readyState == WebSocket.OPEN:
            current.send(data)
            return
        if not isinstance(data, str | bytes | bytearray | memoryview):
            raise TypeError(f"send() takes str or bytes-like data, not {type(data).__name__}")
        if len(self._queue) >= self.queue_limit:
            raise SendQueueFull(
                f"not connected (attempt {self.attempt}) and {len(self._queue)} messages are "
                f"already queued (queue_limit); wait for 'open' or drop messages"
            )
        data = data if isinstance(data, str) else bytes(data)
        self._queue.append(data)
        self._queued_bytes += len(data.encode()) if isinstance(data, str) else len(data)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Stop for good: close the current connection (browser rules) and never reconnect."""
        if self._current is None:
            self._ws.close(code, reason)  # a closed socket: only validates code and reason
        if self._stopping or self._ready_state == self.CLOSED:
            return
        self._stopping = True
        self._cancel_timers()
        if self._current is None:  # between attempts: nothing open to close
            self._ready_state = self.CLOSED
            self._end(CloseEvent("close", code=1006, reason="closed while reconnecting"))
        else:
            self._ready_state = self.CLOSING  # the connection's close event finishes it
            self._current.close(code, reason)

    def wait_for(self, type: str, timeout: float | None = None) -> asyncio.Future[Event]:
        """Awaitable: the next ``type`` event.

        ``"open"`` returns at once while OPEN; ``"close"`` once the wrapper has
        stopped for good. Other events are handed out in order, each once, even
        those that fired before the call. Raises ``ConnectionError`` if the
        wrapper stops first; ``TimeoutError`` after ``timeout`` seconds.
        """
        future: asyncio.Future[Event] = self._loop.create_future()
        backlog = self._backlog.get(type)
        if type == "close" and self._fired_close is not None:
            future.set_result(self._fired_close)
        elif type == "open" and self._ready_state == self.OPEN and self._last_open is not None:
            future.set_result(self._last_open)
        elif backlog:
            future.set_result(backlog.popleft())
        elif self._fired_close is not None:
            future.set_exception(self._stopped_before(type))
        else:
            self._waiters.setdefault(type, deque()).append(future)
        if timeout is None:
            return future
        return asyncio.ensure_future(asyncio.wait_for(future, timeout))

    # The Python helpers work through wait_for() and close() only: the same code serves.
    # closed() returns the close event, which here fires once, when it has stopped for good.
    closed = WebSocket.closed
    __aenter__ = WebSocket.__aenter__
    __aexit__ = WebSocket.__aexit__

    def __repr__(self) -> str:
        state = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")[self._ready_state]
        return f"<ReconnectingWebSocket {self._ws.url!r} {state} attempt={self.attempt}>"

    # -- internals: one attempt --------------------------------------------------------

    def _connect(self) -> WebSocket:
        url = self._url() if callable(self._url) else self._url
        close_timeout = min(CLOSE_TIMEOUT, self._heartbeat_timeout or CLOSE_TIMEOUT)
        ws = WebSocket(url, self._protocols, close_timeout=close_timeout)
        self._log("connecting", url=ws.url, attempt=self.attempt)
        for type_ in ("open", "message", "error", "close"):
            ws.addEventListener(type_, self._from_inner)
        self._heard()  # the watchdog also bounds the opening handshake: no answer, no wait
        return ws

    def _from_inner(self, event: Event) -> None:
        if event.target is not self._current:
            return  # a connection we already gave up on (heartbeat timeout)
        if event.type == "open":
            self._opened()
        elif event.type == "message":
            assert isinstance(event, MessageEvent)
            self._heard()
            if event.data == HEARTBEAT:  # the answer to our heartbeat is not for the page
                self._log("heartbeat-reply")
            else:
                self._fire(MessageEvent("message", data=event.data, origin=event.origin))
        elif event.type == "error":
            self._fire(Event("error"))
        else:
            assert isinstance(event, CloseEvent)
            self._ended(
                CloseEvent("close", code=event.code, reason=event.reason, wasClean=event.wasClean)
            )

    def _opened(self) -> None:
        self._ready_state = self.OPEN
        self.connections += 1
        self._later("stable", self.stable_after, self._stable)
        # what send() queued goes first, in order, before the page hears "open"
        while self._queue:
            self._ws.send(self._queue.popleft())
        self._queued_bytes = 0
        self._heard()
        if self._heartbeat is not None:
            self._later("beat", self._heartbeat, self._beat)
        event = Event("open")
        self._last_open = event
        self._fire(event, protocol=self._ws.protocol, url=self._ws.url, n=self.connections)

    def _stable(self) -> None:
        """Open for ``stable_after`` seconds: the next drop starts the backoff from scratch."""
        self.attempt = 0
        reset = getattr(self._schedule, "reset", None)
        if callable(reset):
            reset()
        elif iter(self._schedule_source) is not self._schedule_source:
            self._schedule = iter(self._schedule_source)  # a list: start it again

    def _ended(self, event: CloseEvent) -> None:
        """The current connection is over: reconnect, or stop for good."""
        self._cancel_timers()
        self._current = None
        if self._stopping or not self._wants_reconnect(event):
            self._ready_state = self.CLOSED
            self._end(event)
            return
        delay = next(self._schedule, None)
        if delay is None:  # a finite schedule ran out: give up
            self._ready_state = self.CLOSED
            self._end(event)
            return
        self._ready_state = self.CONNECTING
        self.attempt += 1
        details = {"attempt": self.attempt, "delay": delay, "code": event.code}
        details["reason"] = event.reason
        self._fire(ReconnectEvent("reconnect", **details), **details)
        self._later("retry", delay, self._retry)

    def _wants_reconnect(self, event: CloseEvent) -> bool:
        try:
            return bool(self._should_reconnect(event))
        except Exception as exc:  # a broken policy stops, loudly, rather than hang
            print("should_reconnect raised; not reconnecting:", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)
            return False

    def _retry(self) -> None:
        try:
            self._ws = self._current = self._connect()
        except DOMException as exc:  # SyntaxError: this URL will never work
            self._fire(Event("error"), message=str(exc))
            self._ready_state = self.CLOSED
            self._end(CloseEvent("close", code=1006, reason=f"{exc.name}: {exc}"))
        except Exception as exc:  # url() failed: maybe only for now, so try again later
            self._fire(Event("error"), message=f"url() raised {type(exc).__name__}: {exc}")
            self._ended(CloseEvent("close", code=1006, reason=f"url() failed: {exc}"))

    # -- internals: the heartbeat ------------------------------------------------------

    def _heard(self) -> None:
        self._last_heard = self._loop.time()
        if self._heartbeat_timeout is not None and "watch" not in self._timers:
            self._later("watch", self._heartbeat_timeout, self._watch)

    def _beat(self) -> None:
        if self._current is not None and self._current.readyState == WebSocket.OPEN:
            self._current.send(HEARTBEAT)
            self._log("heartbeat")
        assert self._heartbeat is not None
        self._later("beat", self._heartbeat, self._beat)

    def _watch(self) -> None:
        assert self._heartbeat_timeout is not None
        del self._timers["watch"]
        silent = self._loop.time() - self._last_heard
        if silent < self._heartbeat_timeout:  # something arrived since: look again later
            self._later("watch", self._heartbeat_timeout - silent, self._watch)
            return
        # Dead: give up on this connection now (its close handshake may take up to
        # heartbeat_timeout more; its events are ignored from here on) and move on.
        assert self._current is not None
        opening = self._current.readyState == WebSocket.CONNECTING
        reason = (
            f"no {'answer to the opening handshake' if opening else 'message'} for {silent:.2f} s"
        )
        self._log("dead", silent=silent)
        self._current.close()
        self._ended(CloseEvent("close", code=1006, reason=reason, wasClean=False))

    # -- internals: timers, log, events ------------------------------------------------

    def _later(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._timers[name] = self._loop.call_later(delay, callback)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _log(self, type_: str, **details: Any) -> None:
        when = self._loop.time() - self.created_at
        self.events.append(LogEntry(when, type_, self._ready_state, details))

    def _end(self, event: CloseEvent) -> None:
        self._cancel_timers()
        self._fired_close = event
        self._fire(event, code=event.code, reason=event.reason, wasClean=event.wasClean)

    def _stopped_before(self, type_: str) -> ConnectionError:
        error = ConnectionError(f"the ReconnectingWebSocket stopped before a {type_!r} event")
        error.event = self._fired_close  # type: ignore[attr-defined]
        return error

    def _fire(self, event: Event, **details: Any) -> None:
        self._log(event.type, **details)
        self.dispatchEvent(event)
        waiters = self._waiters.get(event.type, deque())
        while waiters and waiters[0].done():  # timed out
            waiters.popleft()
        if event.type in ("open", "close"):
            for future in waiters:
                future.set_result(event)
            waiters.clear()
        elif waiters:
            waiters.popleft().set_result(event)
        else:
            self._backlog.setdefault(event.type, deque(maxlen=self.backlog)).append(event)
        if event.type == "close":
            for type_, futures in self._waiters.items():
                for future in futures:
                    if not future.done():
                        future.set_exception(self._stopped_before(type_))
            self._waiters.clear()


# --------------------------------------------------------------------------- a reconnection storm


@dataclass
class Storm:
    """What ``storm()`` (or one round of ``storms()``) measured; times in seconds from the kill."""

    jitter: str
    clients: int
    attempts: list[float]
    """Every connection attempt of every client (failed ones included)."""
    accepts: list[float]
    """Every connection the restarted server accepted."""
    reconnected: list[float]
    """When each client was open again, sorted."""
    restarted_at: float
    """When the server was listening again."""
    delays: list[list[float]]
    """Each client's delays before its attempts, in order (from its ``reconnect`` events)."""

    @staticmethod
    def per_bin(times: Iterable[float], width: float = 0.05) -> dict[float, int]:
        """How many of ``times`` fall in each ``width``-second bin (keyed by the bin's start)."""
        counts: dict[float, int] = {}
        for t in times:
            start = round(math.floor(t / width) * width, 6)
            counts[start] = counts.get(start, 0) + 1
        return dict(sorted(counts.items()))

    @staticmethod
    def peak(times: Iterable[float], width: float = 0.05) -> int:
        """The most of ``times`` inside any ``width``-second window (a sliding window)."""
        ordered, best, start = sorted(times), 0, 0
        for end, t in enumerate(ordered):
            while ordered[start] <= t - width:
                start += 1
            best = max(best, end - start + 1)
        return best

    def peak_attempts(self, width: float = 0.05) -> int:
        """The most connection attempts in any ``width`` seconds."""
        return self.peak(self.attempts, width)

    def peak_accepts(self, width: float = 0.05) -> int:
        """The most connections the server accepted in any ``width`` seconds."""
        return self.peak(self.accepts, width)

    @property
    def all_back(self) -> float:
        """Seconds until the last client was open again."""
        return self.reconnected[-1] if self.reconnected else math.inf


async def storm(
    clients: int = 200,
    *,
    jitter: str = "full",
    base: float = 0.05,
    cap: float = 1.0,
    down: float = 0.2,
    rng: random.Random | None = None,
    timeout: float = 10.0,
) -> Storm:
    """Restart a server under ``clients`` ReconnectingWebSockets and record the storm.

    ``storms()`` with one jitter: see there.
    """
    (result,) = await storms(
        clients, jitters=(jitter,), base=base, cap=cap, down=down, rng=rng, timeout=timeout
    )
    return result


async def storms(
    clients: int = 200,
    *,
    jitters: Iterable[str] = JITTERS,
    base: float = 0.05,
    cap: float = 1.0,
    down: float = 0.2,
    rng: random.Random | None = None,
    timeout: float = 10.0,
) -> list[Storm]:
    """One storm per jitter, one after the other, with the same clients and server.

    Starts a private echo server and opens ``clients`` ReconnectingWebSockets
    (``backoff(base, cap, jitter=..., rng=rng)``). Then, for each jitter in
    turn: every client's backoff is set to that jitter and starts from its
    first step, the server is killed (``LocalServer.kill()``: every client
    sees 1006 at the same moment, as after a crash), started again on the same
    port after ``down`` seconds, and the round ends once every client is open
    again. Each round has its own clock (0 = its kill) and records only its own
    attempts, accepts and delays, so the rounds are measured independently; the
    herd is opened once, not once per jitter. Everything it started is stopped
    before it returns. Raises ``TimeoutError`` if some client did not come back
    within ``timeout`` seconds of a round's start.
    """
    from wslearn import servers  # the server side, only for this demo

    jitters = tuple(jitters)
    if not jitters:
        raise ValueError("storms() needs at least one jitter")
    for jitter in jitters:
        backoff(base, cap, jitter=jitter)  # a bad jitter, base or cap: ValueError before we start
    loop = asyncio.get_running_loop()
    rng = rng or random.Random()
    accepted: list[float] = []

    async def handler(ws: Any) -> None:
        accepted.append(loop.time())
        await servers.echo_handler(ws)

    server = servers.LocalServer("storm", handler, options={"backlog": 4 * clients})
    await server.start()
    port = server.bound_port
    schedules = [backoff(base, cap, jitter=jitters[0], rng=rng) for _ in range(clients)]
    sockets = [ReconnectingWebSocket(server.url, backoff=b) for b in schedules]
    rounds: list[tuple[str, float, float]] = []  # jitter, kill, listening again
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(ws.wait_for("open") for ws in sockets))
        for n, jitter in enumerate(jitters, start=1):
            async with asyncio.timeout(timeout):
                for schedule in schedules:
                    schedule.jitter = jitter
                    schedule.reset()  # each round starts from the first step
                t0 = loop.time()
                await server.kill()
                await asyncio.sleep(max(0.0, t0 + down - loop.time()))
                server.port = port
                await server.start()
                restarted = loop.time()
                while any(ws.connections <= n for ws in sockets):
                    await asyncio.sleep(0.01)
                rounds.append((jitter, t0, restarted))
    finally:
        finished = loop.time()  # what the teardown below makes the clients do is not measured
        await server.kill()  # faster than 200 closing handshakes, and nothing is measured now
        for ws in sockets:
            ws.close()
        await asyncio.gather(*(ws.closed(timeout=5) for ws in sockets), return_exceptions=True)
    ends = [t0 for _, t0, _ in rounds[1:]] + [finished]  # a round lasts until the next kill
    return [
        _round(sockets, accepted, n, jitter, t0, restarted, end)
        for n, ((jitter, t0, restarted), end) in enumerate(zip(rounds, ends, strict=True), 1)
    ]


def _round(
    sockets: list[ReconnectingWebSocket],
    accepted: list[float],
    n: int,
    jitter: str,
    t0: float,
    restarted: float,
    end: float,
) -> Storm:
    """What happened in the ``n``-th round of ``storms()``, from its kill (``t0``) to ``end``."""

    def during(ws: ReconnectingWebSocket, entry: LogEntry) -> bool:
        return t0 < ws.created_at + entry.time <= end

    attempts = [
        ws.created_at + e.time - t0
        for ws in sockets
        for e in ws.events
        if e.type == "connecting" and during(ws, e)
    ]
    reopened = [  # the (n + 1)-th open: the first was before round 1
        ws.created_at
        + next(e.time for e in ws.events if e.type == "open" and e.details["n"] == n + 1)
        - t0
        for ws in sockets
    ]
    delays = [
        [e.details["delay"] for e in ws.events if e.type == "reconnect" and during(ws, e)]
        for ws in sockets
    ]
    return Storm(
        jitter,
        len(sockets),
        sorted(attempts),
        sorted(t - t0 for t in accepted if t0 < t <= end),
        sorted(reopened),
        restarted - t0,
        delays,
    )
