"""The browser's ``WebSocket`` interface, ported to Python and asyncio (notebook 03).

Theory of operation
-------------------
This is a line-by-line port of the WHATWG WebSockets Standard
(websockets.spec.whatwg.org), checked event for event against Chromium.  A
learner can read browser JS and this Python side by side, so the browser's
names are kept on purpose: ``readyState``, ``bufferedAmount``, ``binaryType``,
``onopen``/``onmessage``/``onerror``/``onclose``, ``addEventListener``,
``wasClean``.

Two halves, as in a browser:

- The **API half** (``WebSocket``) is what a script touches.  ``WebSocket(url)``
  returns at once in CONNECTING; ``send()`` and ``close()`` are ordinary
  (synchronous) methods that only queue work; ``readyState`` only changes
  inside ``close()`` or inside a queued *task*.
- The **network half** (``_Connection``, an ``asyncio.Protocol``) drives
  ``websockets``' sans-I/O ``ClientProtocol``: bytes in, frames out.  It never
  calls user code.  Whatever it learns ("handshake done", "a message arrived",
  "a close frame arrived", "TCP closed") it turns into a task queued with one
  ``loop.call_soon`` per event; the task changes ``readyState`` and fires the
  event.  So events arrive in order, from the event loop, never from inside
  ``send()`` or ``close()`` -- in a notebook they fire after the cell that
  created the socket has finished, exactly as in a browser tab.

The readyState machine (WHATWG "feedback from the protocol")::

    CONNECTING --handshake ok--> OPEN --close() / close frame rcvd--> CLOSING
        |                          |                                   |
        +--failure / close()-------+-----------TCP closed--------------+--> CLOSED

    on CLOSED: fire "error" first if the connection was *failed*, then "close".

Choices (each also checked in tests/test_browser_parity.py):

- Extensions: like Chromium, wslearn's ``WebSocket`` offers ``permessage-deflate;
  client_max_window_bits`` (``wslearn.deflate.offer()``), accepts exactly the
  answers Chromium accepts (``wslearn.deflate.parse_response``) and shows the
  server's answer, as sent, in ``extensions``. The course's servers turn
  compression off, so their bytes stay readable; notebook 10 turns it on.
- ``binaryType``: Python has neither ``Blob`` nor ``ArrayBuffer``, so binary
  messages arrive as ``bytes`` whichever of ``"blob"`` (the default, as in the
  browser) or ``"arraybuffer"`` is set; ``bytes`` is immutable like a Blob and
  indexable like an ArrayBuffer.  Other values are ignored, as in JS.
- No base URL: a relative URL (``"/echo"``) is a ``SyntaxError`` here, where a
  page would resolve it against its own address.
- ``close(reason="bye")`` (a reason without a code) closes with 1000, as the
  standard says.  Chromium cannot express "code absent, reason present": JS
  ``close(undefined, "bye")`` converts ``undefined`` to 0 and throws
  ``InvalidAccessError``.
- Invalid UTF-8 in a text message fails the connection with close code 1002
  and reason "Invalid UTF-8 in text frame", as Chromium does (RFC 6455 §7.4.1
  suggests 1007); the page sees ``error`` then ``close`` 1006 either way.
- ``bufferedAmount`` counts application bytes (UTF-8 for text) queued by
  ``send()`` and not yet handed to the operating system.  Data goes to the
  transport in small chunks, only while the transport is not paused
  (``pause_writing``), so the number really grows against a slow reader and
  really falls as it drains.  Like the browser it is updated between tasks,
  never inside ``send()``: ``ws.send("hi"); ws.bufferedAmount`` gives 2.
- A close frame whose code RFC 6455 §7.4 forbids (999, 1005, ...) fails the
  connection here (error, then close 1006). Chromium 156 is laxer with some of
  them: it reports code 999 from a server as a clean close 999.
- No limit on incoming message size (browsers have none); pings are answered
  with pongs automatically; if the server never completes the closing
  handshake the TCP connection is dropped after ``close_timeout`` seconds
  (close code 1006).

Python helpers a browser does not have: ``await ws.wait_for("open")``,
``await ws.closed()``, ``async with WebSocket(url) as ws:`` and ``ws.events``, a
timestamped log of every event and readyState change (for timeline figures).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl as ssl_module
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, NegotiationError
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import WebSocketURI

from wslearn import deflate
from wslearn.dom import (
    DOMException,
    EventTarget,
    check_close_args,
    event_handler,
    usv_string,
)
from wslearn.framing import Assembler, Message, ProtocolError
from wslearn.framing import Frame as CourseFrame
from wslearn.framing import Opcode as CourseOpcode
from wslearn.url import DEFAULT_PORT, parse_websocket_url, syntax_error

__all__ = [
    "CloseEvent",
    "DOMException",
    "Event",
    "LogEntry",
    "MessageEvent",
    "WebSocket",
]

#: bytes handed to the transport per write; small, so bufferedAmount moves smoothly
WRITE_CHUNK = 16 * 1024
#: transport buffer limits: above HIGH asyncio calls pause_writing() and we stop
#: feeding it; below LOW it calls resume_writing() and we carry on
WRITE_HIGH, WRITE_LOW = 64 * 1024, 16 * 1024
#: seconds to wait for the server to finish the closing handshake (TCP close)
CLOSE_TIMEOUT = 5.0

#: events (other than open/error/close) kept for wait_for() until awaited
BACKLOG = 10_000
_ONE_OFF = ("open", "error", "close")

USER_AGENT = "wslearn (the browser WebSocket API in Python)"


# --------------------------------------------------------------------------- events


@dataclass(eq=False)
class Event:
    """A DOM ``Event``: ``type`` is "open", "error", "message" or "close"."""

    type: str
    target: WebSocket | None = field(default=None, repr=False)


@dataclass(eq=False)
class MessageEvent(Event):
    """A received message: ``data`` is ``str`` (text) or ``bytes`` (binary).

    ``origin`` is the origin of the socket's URL, e.g. ``"ws://127.0.0.1:8765"``.
    """

    data: str | bytes = ""
    origin: str = ""


@dataclass(eq=False)
class CloseEvent(Event):
    """The end of a connection.

    ``code`` is the status code the server's close frame carried (1005 when it
    carried none, 1006 when no close frame arrived at all); ``wasClean`` is true
    only if the closing handshake completed before TCP closed.
    """

    code: int = 0
    reason: str = ""
    wasClean: bool = False


class LogEntry(NamedTuple):
    """One line of ``WebSocket.events``.

    ``time`` is seconds since the socket was created; ``type`` is a fired event
    ("open", "message", "error", "close") or a readyState change that fires no
    event ("connecting", "closing"); ``readyState`` is its value at that moment.
    """

    time: float
    type: str
    readyState: int
    details: dict[str, Any]


# RFC 6455 §4.1 / RFC 7230: a subprotocol name is a "token": printable ASCII
# other than separators.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _check_protocols(protocols: str | Iterable[str] | None) -> list[str]:
    """Constructor: a string becomes a list; each name must be a token, and appear once."""
    if protocols is None:
        return []
    names = [protocols] if isinstance(protocols, str) else list(protocols)
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"subprotocol names must be str, not {type(name).__name__}")
        # "If any of the values in protocols occur more than once or otherwise
        # fail to match the requirements for elements that comprise the value of
        # `Sec-WebSocket-Protocol` fields ... throw a SyntaxError."
        if not _TOKEN.fullmatch(name):
            raise syntax_error(f"The subprotocol {name!r} is invalid.")
        if name in seen:
            raise syntax_error(f"The subprotocol {name!r} is duplicated.")
        seen.add(name)
    return names


# --------------------------------------------------------------------------- the API half


class WebSocket(EventTarget):
    """``new WebSocket(url, protocols)``, in Python.

    Create it while an asyncio loop runs (inside ``async def`` code, or at the
    top level of a Jupyter cell).  It starts connecting and returns at once, in
    ``CONNECTING``.  Three keywords a browser does not have: ``close_timeout``
    bounds the wait for the server's side of the closing handshake,
    ``send_buffer`` fixes the size of the TCP socket's kernel send buffer
    (``SO_SNDBUF``, in bytes; Linux doubles it), and ``ssl`` is the
    ``ssl.SSLContext`` for ``wss://`` URLs.  On loopback Linux grows that
    buffer to megabytes while the peer is not reading, so ``bufferedAmount``
    would take many seconds to show backpressure; a small fixed buffer makes
    it show within a second (notebook 05).  ``ssl`` defaults to
    ``ssl.create_default_context()`` (the system's CAs, as a browser trusts
    its own store); pass a context that trusts the course's CA instead, as a
    browser would after the CA is installed (``ssl.create_default_context(cafile=...)``).

    Raises ``DOMException`` named ``SyntaxError`` for a URL that does not parse,
    a scheme other than ws/wss/http/https, a fragment (``#...``), or subprotocol
    names that are not tokens or are repeated.
    """

    CONNECTING: ClassVar[int] = 0
    OPEN: ClassVar[int] = 1
    CLOSING: ClassVar[int] = 2
    CLOSED: ClassVar[int] = 3

    _STATE_NAMES: ClassVar[tuple[str, ...]] = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")

    def __init__(
        self,
        url: str,
        protocols: str | Iterable[str] | None = None,
        *,
        close_timeout: float = CLOSE_TIMEOUT,
        send_buffer: int | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "WebSocket() needs a running asyncio event loop: create it inside "
                "'async def' code (e.g. asyncio.run(main())) or in a Jupyter cell"
            ) from None
        record = parse_websocket_url(url)
        offered = _check_protocols(protocols)

        super().__init__()
        self._loop = loop
        self._record = record
        self._offered = offered
        self._close_timeout = close_timeout
        self._send_buffer = send_buffer
        self._ssl = ssl
        self._drain_waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._ready_state = self.CONNECTING
        self._buffered_amount = 0
        self._protocol = ""
        self._extensions = ""
        self._binary_type = "blob"
        self._fired: dict[str, Event] = {}  # the one-off events, once fired
        self._backlog: dict[str, deque[Event]] = {}  # other events not yet awaited
        self._waiters: dict[str, deque[asyncio.Future[Event]]] = {}
        self._close_queued = False
        self._connection: _Connection | None = None
        self.created_at = loop.time()
        """``loop.time()`` when the socket was created; ``events`` times count from it."""
        self.events: list[LogEntry] = []
        """Every event fired and every readyState change, timestamped (see ``LogEntry``)."""
        self._log("connecting", url=self.url, protocols=list(offered))
        # "Run this step in parallel: establish a WebSocket connection".
        self._connect_task: asyncio.Task[None] | None = loop.create_task(self._connect())

    # -- attributes (read-only, as in the IDL) --------------------------------------

    @property
    def url(self) -> str:
        """The URL after parsing: ``http:`` becomes ``ws:``, the path defaults to ``/``."""
        return self._record.href

    @property
    def readyState(self) -> int:
        """0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED."""
        return self._ready_state

    @property
    def bufferedAmount(self) -> int:
        """Bytes of application data queued by ``send()`` not yet handed to the network."""
        return self._buffered_amount

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected ("" if none), set when ``open`` fires."""
        return self._protocol

    @property
    def extensions(self) -> str:
        """The server's ``Sec-WebSocket-Extensions`` answer ("" if none), set on ``open``."""
        return self._extensions

    @property
    def binaryType(self) -> str:
        """ "blob" or "arraybuffer"; binary messages are ``bytes`` either way."""
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:
        # WebIDL enumeration attribute: an unknown value is silently ignored.
        if value in ("blob", "arraybuffer"):
            self._binary_type = value

    # -- event handler attributes ----------------------------------------------------

    onopen = event_handler("open", "Called with an ``Event`` when the connection opens.")
    onmessage = event_handler(
        "message", "Called with a ``MessageEvent`` for each message received while OPEN."
    )
    onerror = event_handler(
        "error", "Called with an ``Event`` when the connection failed (just before ``close``)."
    )
    onclose = event_handler("close", "Called with a ``CloseEvent`` when the connection has closed.")

    # -- methods ---------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue a text (``str``) or binary (bytes-like) message.

        Raises ``DOMException`` ``InvalidStateError`` while CONNECTING.  Once the
        closing handshake has started the data is discarded, but its size is
        still added to ``bufferedAmount`` (WHATWG ``send()``).
        """
        # "If this's ready state is CONNECTING, throw an InvalidStateError."
        if self._ready_state == self.CONNECTING:
            raise DOMException(
                "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.",
                "InvalidStateError",
            )
        if isinstance(data, str):
            payload, text = usv_string(data).encode("utf-8"), True
        elif isinstance(data, bytes | bytearray | memoryview):
            payload, text = bytes(data), False  # copied now, as JS copies the buffer
        else:
            raise TypeError(
                f"send() takes str, bytes, bytearray or memoryview, not {type(data).__name__}"
            )
        # "If the WebSocket connection is established, and the string has not yet
        # been sent, and the closing handshake has not yet started, send ..."
        connection = self._connection
        if self._ready_state == self.OPEN and connection is not None:
            connection.send_message(payload, text)
        # "Any invocation of this method ... that does not throw an exception must
        # increase the bufferedAmount attribute by the number of bytes needed to
        # express the argument" -- even when the data was discarded.
        self._buffered_amount += len(payload)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake (or abandon the attempt, if CONNECTING).

        ``code`` must be 1000 or 3000-4999 (else ``InvalidAccessError``) and
        ``reason`` at most 123 bytes of UTF-8 (else ``SyntaxError``).  With
        neither, the close frame has an empty body, as Chromium sends it.
        """
        # "Validate close code and reason" first (also while CLOSED).
        code, reason_bytes = check_close_args(code, reason)
        # Then "close the WebSocket": the first matching case.
        if self._ready_state in (self.CLOSING, self.CLOSED):
            return  # "Do nothing."
        if self._ready_state == self.CONNECTING:
            # "If the WebSocket connection is not yet established: fail the
            # WebSocket connection and set ready state to CLOSING."
            self._set_state(self.CLOSING, by="client")
            self._fail("WebSocket is closed before the connection is established.")
            return
        # "If the closing handshake has not yet started: start the closing
        # handshake and set ready state to CLOSING.  If code is null and reason
        # is empty, the close frame must not have a body."
        details: dict[str, Any] = {"code": code, "reason": reason_bytes.decode("utf-8")}
        self._set_state(self.CLOSING, by="client", **details)
        if self._connection is not None:
            self._connection.send_close(code, details["reason"])

    # -- Python helpers --------------------------------------------------------------

    def wait_for(self, type: str, timeout: float | None = None) -> asyncio.Future[Event]:
        """Awaitable: an event of ``type`` (``"open"``, ``"message"``, ``"close"``, ...).

        The one-off events "open", "error" and "close" are returned as soon as
        they have fired (again on every call).  Other events are handed out in
        order, each once: every ``await ws.wait_for("message")`` returns the
        oldest message no earlier call returned, even one that arrived before
        the call (the last ``BACKLOG`` are kept).  If the socket closes first,
        raises ``ConnectionError`` (its ``.event`` is the ``CloseEvent``).
        ``timeout`` is in seconds (``TimeoutError``).
        """
        future: asyncio.Future[Event] = self._loop.create_future()
        backlog = self._backlog.get(type)
        if type in _ONE_OFF and type in self._fired:
            future.set_result(self._fired[type])
        elif backlog:
            future.set_result(backlog.popleft())
        elif "close" in self._fired:
            future.set_exception(self._closed_before(type))
        else:
            self._waiters.setdefault(type, deque()).append(future)
        if timeout is None:
            return future
        return asyncio.ensure_future(asyncio.wait_for(future, timeout))

    async def buffered_below(self, mark: int, timeout: float | None = None) -> int:
        """Wait until ``bufferedAmount <= mark``; return it.

        The browser has no such event (``RTCDataChannel`` has
        ``bufferedamountlow``; ``WebSocket`` does not), so a page polls.  Here
        the socket wakes the waiter whenever it hands bytes to the network,
        so an event-driven sender needs no timer.  Raises ``ConnectionError``
        if the socket closes with more than ``mark`` bytes queued (they will
        never drain) and ``TimeoutError`` after ``timeout`` seconds.
        """
        if self._buffered_amount <= mark:
            return self._buffered_amount
        if self._ready_state == self.CLOSED:
            raise ConnectionError(f"closed with {self._buffered_amount} bytes still buffered")
        future: asyncio.Future[int] = self._loop.create_future()
        self._drain_waiters.append((mark, future))
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if not future.done():
                future.cancel()
            self._drain_waiters = [(m, f) for m, f in self._drain_waiters if not f.done()]

    def _sent(self, handed: int) -> None:
        """The network half handed ``handed`` bytes of application data to the OS.

        ``bufferedAmount`` falls by that much; ``buffered_below`` waiters it
        now satisfies wake up.
        """
        self._buffered_amount -= handed
        amount = self._buffered_amount
        for mark, future in self._drain_waiters:
            if amount <= mark and not future.done():
                future.set_result(amount)

    async def closed(self, timeout: float | None = None) -> CloseEvent:
        """Wait until the ``close`` event has fired; return it."""
        event = await self.wait_for("close", timeout)
        assert isinstance(event, CloseEvent)
        return event

    async def __aenter__(self) -> WebSocket:
        await self.wait_for("open")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.closed()

    def __repr__(self) -> str:
        state = self._STATE_NAMES[self._ready_state]
        return f"<WebSocket {self.url!r} {state} bufferedAmount={self._buffered_amount}>"

    # -- internals: state, log, tasks ------------------------------------------------

    def _log(self, type_: str, **details: Any) -> None:
        when = self._loop.time() - self.created_at
        self.events.append(LogEntry(when, type_, self._ready_state, details))

    def _set_state(self, state: int, **details: Any) -> None:
        self._ready_state = state
        if state == self.CLOSING:
            self._log("closing", **details)

    def _fire(self, event: Event, **details: Any) -> None:
        self._log(event.type, **details)
        self.dispatchEvent(event)
        # then the Python helpers: wait_for() and closed()
        waiters = self._waiters.get(event.type, deque())
        while waiters and waiters[0].done():  # e.g. timed out
            waiters.popleft()
        if event.type in _ONE_OFF:
            self._fired[event.type] = event
            for future in waiters:
                if not future.done():
                    future.set_result(event)
            waiters.clear()
        elif waiters:
            waiters.popleft().set_result(event)
        else:
            self._backlog.setdefault(event.type, deque(maxlen=BACKLOG)).append(event)
        if event.type == "close":
            for type_, futures in self._waiters.items():
                for future in futures:
                    if not future.done():
                        future.set_exception(self._closed_before(type_))
            self._waiters.clear()

    def _closed_before(self, type_: str) -> ConnectionError:
        event = self._fired["close"]
        assert isinstance(event, CloseEvent)
        error = ConnectionError(
            f"the WebSocket closed (code {event.code}) before a {type_!r} event"
        )
        error.event = event  # type: ignore[attr-defined]
        return error

    def _queue(self, task: Callable[[], None]) -> None:
        """Queue a task on the event loop: one ``call_soon`` per event, in order."""
        self._loop.call_soon(task)

    async def _connect(self) -> None:
        record = self._record
        host = record.host[1:-1] if record.host.startswith("[") else record.host
        secure = record.scheme == "wss"
        port = record.port or DEFAULT_PORT[record.scheme]
        uri = WebSocketURI(secure, host, port, record.path, record.query or "")
        feedback = _Feedback(
            opened=self._opened,
            message=self._message,
            closing=self._closing_started,
            closed=self._closed,
            sent=self._sent,
        )

        def connection() -> _Connection:
            self._connection = _Connection(
                uri,
                feedback,
                subprotocols=self._offered,
                close_timeout=self._close_timeout,
                send_buffer=self._send_buffer,
            )
            return self._connection

        try:
            await self._loop.create_connection(
                connection,
                host,
                port,
                ssl=(self._ssl or ssl_module.create_default_context()) if secure else None,
            )
        except asyncio.CancelledError:
            return  # close() while CONNECTING: it already failed the connection
        except OSError as exc:
            # TCP or TLS never came up: no transport, so no connection_lost() will report it.
            self._connection = self._connect_task = None
            if isinstance(exc, ssl_module.SSLError):  # e.g. a certificate nobody vouches for
                why = str(exc)
            else:
                why = os.strerror(exc.errno) if exc.errno else str(exc)
            self._fail(f"Error in connection establishment: {why}")
        finally:
            self._connect_task = None

    def _fail(self, message: str) -> None:
        """Fail the WebSocket connection while CONNECTING: drop it, then error + close."""
        if self._connect_task is not None:
            self._connect_task.cancel()
        if self._connection is not None:
            self._connection.abort(message)  # connection_lost() reports the close
        else:
            self._closed(1006, "", clean=False, error=message)

    # -- internals: feedback from the protocol (each queues a task) ------------------

    def _opened(self, subprotocol: str, extensions: str) -> None:
        def task() -> None:
            # "When the WebSocket connection is established": unless close()
            # already failed it while we were CONNECTING.
            if self._ready_state != self.CONNECTING:
                return
            self._ready_state = self.OPEN
            self._extensions = extensions
            self._protocol = subprotocol
            self._fire(Event("open"), protocol=subprotocol, extensions=extensions)

        self._queue(task)

    def _message(self, data: str | bytes) -> None:
        def task() -> None:
            # "When a WebSocket message has been received": "If ready state is
            # not OPEN, then return." (messages after close() are dropped)
            if self._ready_state != self.OPEN:
                return
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            kind = "text" if isinstance(data, str) else "binary"
            preview = data[:40]
            self._fire(
                MessageEvent("message", data=data, origin=self._record.origin),
                kind=kind,
                size=size,
                preview=preview,
            )

        self._queue(task)

    def _closing_started(self, code: int, reason: str) -> None:
        def task() -> None:
            # "When the WebSocket closing handshake is started, set ready state
            # to CLOSING (if it is not already)."
            if self._ready_state == self.OPEN:
                self._set_state(self.CLOSING, by="server", code=code, reason=reason)

        self._queue(task)

    def _closed(self, code: int, reason: str, clean: bool, error: str | None) -> None:
        # "When the WebSocket connection is closed": set ready state to CLOSED;
        # if the connection was *failed*, fire "error"; then fire "close".
        if self._close_queued:
            return
        self._close_queued = True

        def error_task() -> None:
            self._ready_state = self.CLOSED
            self._fire(Event("error"), message=error)

        def close_task() -> None:
            self._ready_state = self.CLOSED
            for _, future in self._drain_waiters:  # what is still queued never drains
                if not future.done():
                    future.set_exception(ConnectionError("the WebSocket closed"))
            event = CloseEvent("close", code=code, reason=reason, wasClean=clean)
            self._fire(event, code=code, reason=reason, wasClean=clean)

        if error is not None:
            self._queue(error_task)
        self._queue(close_task)


# --------------------------------------------------------------------------- the network half


class _Outgoing:
    """Frame bytes waiting for the transport; ``app`` bytes at the end are payload."""

    __slots__ = ("app", "data", "sent")

    def __init__(self, data: bytes, app: int) -> None:
        self.data = memoryview(data)
        self.app = app
        self.sent = 0


class _Feedback(NamedTuple):
    """What the network half reports to the API half: the whole interface between them.

    The API half calls the network half's ``send_message``, ``send_close`` and
    ``abort``; the network half calls these, and nothing else, back. Each one
    queues a task on the API side (see ``WebSocket._queue``) except ``sent``,
    which only updates ``bufferedAmount``.
    """

    opened: Callable[[str, str], None]  # the handshake succeeded: subprotocol, extensions
    message: Callable[[str | bytes], None]  # a whole message arrived
    closing: Callable[[int, str], None]  # the server's close frame arrived (code, reason)
    closed: Callable[[int, str, bool, str | None], None]  # TCP closed (code, reason, clean, error)
    sent: Callable[[int], None]  # this many bytes of application data went to the OS


class _Connection(asyncio.Protocol):
    """Drives a sans-I/O ``ClientProtocol`` over an asyncio transport.

    Owns the send queue and the transport's flow control; reports what happens
    through its ``_Feedback`` callbacks. Messages are put together (and text
    checked as UTF-8) by ``wslearn.framing.Assembler``, the course's own.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        feedback: _Feedback,
        *,
        subprotocols: list[str],
        close_timeout: float,
        send_buffer: int | None,
    ) -> None:
        self.feedback = feedback
        self.loop = asyncio.get_running_loop()
        self.offered = subprotocols
        self.close_timeout = close_timeout
        self.send_buffer = send_buffer
        self.protocol = ClientProtocol(
            uri,
            subprotocols=subprotocols or None,
            extensions=[_ChromiumDeflate()],  # see the module docstring
            max_size=None,  # browsers put no limit on incoming messages
        )
        self.transport: asyncio.Transport | None = None
        self.queue: deque[_Outgoing | None] = deque()  # None = half-close (EOF)
        self.paused = False
        self.flush_scheduled = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.failure: str | None = None
        self.opened = False
        self.assembler = Assembler()  # no max_size: browsers put no limit on messages

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.failure is not None:  # close() won the race with the TCP connect
            transport.abort()
            return
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)
        sock = transport.get_extra_info("socket")
        if self.send_buffer is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        request = self.protocol.connect()
        request.headers["User-Agent"] = USER_AGENT
        self.protocol.send_request(request)
        self._queue_writes()

    def data_received(self, data: bytes) -> None:
        if self.failure is not None:
            return
        self.protocol.receive_data(data)
        self._process()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._process()
        # returning None lets asyncio close the transport; connection_lost() follows

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.protocol.receive_eof()  # idempotent
        protocol = self.protocol
        if not self.opened:
            # the opening handshake never completed: the connection *failed*
            failure = self.failure or _handshake_failure(protocol.handshake_exc, exc)
            self.feedback.closed(1006, "", False, failure)
            return
        rcvd, sent = protocol.close_rcvd, protocol.close_sent
        # RFC 6455 §7.1.5: no close frame received means code 1006.
        code = 1006 if rcvd is None else int(rcvd.code)
        reason = "" if rcvd is None else rcvd.reason
        # §7.1.1 "closed cleanly": both close frames went through before TCP closed.
        clean = rcvd is not None and sent is not None and self.failure is None
        self.feedback.closed(code, reason, clean, self.failure)

    # -- reading -------------------------------------------------------------------

    def _process(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    pass  # reported by connection_lost(), once the transport is closed
                elif self.offered and self.protocol.subprotocol is None:
                    # WHATWG "establish a WebSocket connection": "If protocols is
                    # not the empty list and extracting header list values given
                    # `Sec-WebSocket-Protocol` ... results in null ... fail".
                    self.failure = (
                        "Error during WebSocket handshake: Sent non-empty "
                        "'Sec-WebSocket-Protocol' header but no response was received"
                    )
                    if self.transport is not None:
                        self.transport.close()
                    return
                else:
                    self.opened = True
                    extensions = ", ".join(event.headers.get_all("Sec-WebSocket-Extensions"))
                    self.feedback.opened(self.protocol.subprotocol or "", extensions)
            elif isinstance(event, Frame):
                self._frame(event)
            if self.failure is not None:
                break
        parser_exc = self.protocol.parser_exc
        if parser_exc is not None and not isinstance(parser_exc, EOFError):
            self.failure = self.failure or str(parser_exc)
        if self.protocol.handshake_exc is not None and self.transport is not None:
            # a failed handshake: Chromium drops the connection at once
            self.transport.close()
            return
        self._queue_writes()

    def _frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE:
            rcvd = self.protocol.close_rcvd
            if rcvd is not None:
                self.feedback.closing(int(rcvd.code), rcvd.reason)
            return
        if frame.opcode in (Opcode.PING, Opcode.PONG):
            return  # the pong is already queued by the protocol
        # websockets' parser already enforced §5.4's fragment order; the
        # Assembler joins the fragments and checks text as UTF-8 on the way.
        try:
            done = self.assembler.feed(
                CourseFrame(frame.fin, CourseOpcode(frame.opcode), frame.data)
            )
        except ProtocolError:
            # Chromium: close 1002 "Invalid UTF-8 in text frame" (RFC 6455
            # §8.1 says fail the connection; §7.4.1 would suggest 1007).
            self.failure = "Could not decode a text frame as UTF-8."
            self.protocol.fail(1002, "Invalid UTF-8 in text frame")
            return
        if isinstance(done, Message):
            self.feedback.message(done.data)

    # -- writing -------------------------------------------------------------------

    def send_message(self, payload: bytes, text: bool) -> None:
        if self.protocol.state is not State.OPEN:
            return  # the closing handshake started: the data is discarded
        if text:
            self.protocol.send_text(payload)
        else:
            self.protocol.send_binary(payload)
        self._queue_writes(app=len(payload))

    def send_close(self, code: int | None, reason: str) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._queue_writes()

    def abort(self, failure: str) -> None:
        self.failure = self.failure or failure
        if self.transport is not None:
            self.transport.abort()

    def _queue_writes(self, app: int = 0) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.queue.append(_Outgoing(data, app))
                app = 0
            else:
                self.queue.append(None)
        if not self.flush_scheduled and not self.paused:
            # hand data over from the loop, never from inside send(): the
            # browser's bufferedAmount only falls between tasks
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        handed = 0
        while self.queue and not self.paused:
            item = self.queue[0]
            if item is None:
                self.queue.popleft()
                if transport.can_write_eof():
                    transport.write_eof()
                continue
            start = item.sent
            chunk = item.data[start : start + WRITE_CHUNK]
            item.sent += len(chunk)
            if item.app and item.data[0] & 0x40:  # RSV1: compressed, fewer bytes than sent
                size = len(item.data)  # count the app's bytes in proportion, all at the end
                handed += item.app * item.sent // size - item.app * start // size
            else:  # only the payload at the end of the frame counts in bufferedAmount
                payload_start = len(item.data) - item.app
                handed += max(0, item.sent - max(start, payload_start))
            if item.sent == len(item.data):
                self.queue.popleft()
            transport.write(chunk)  # may call pause_writing() right away
        if handed:
            self.feedback.sent(handed)
        if not self.queue and self.failure is not None:
            # we *failed* the connection (RFC 6455 §7.1.7) and our close frame
            # is out: like Chromium, drop TCP now rather than wait for the server
            transport.close()
        elif not self.queue and self.protocol.close_expected() and self.close_timer is None:
            # our close frame is on its way: give the server close_timeout
            # seconds to finish the handshake and close TCP, then drop it.
            self.close_timer = self.loop.call_later(self.close_timeout, transport.abort)


class _ChromiumDeflate(ClientPerMessageDeflateFactory):
    """permessage-deflate as Chromium does it: its offer, its verdict on the answer.

    The offer is ``websockets``' default, which is Chromium's
    (``permessage-deflate; client_max_window_bits``); the answer is judged by
    ``wslearn.deflate.parse_response``, which accepts exactly what Chromium
    accepts (tests/test_deflate.py), ``client_max_window_bits=8`` included
    (compressed with 9 bits, as Chromium does); ``websockets`` compresses.
    """

    def process_response_params(self, params: Any, accepted_extensions: Any) -> PerMessageDeflate:
        if accepted_extensions:
            raise NegotiationError("permessage-deflate accepted twice")
        try:
            agreed = deflate.parse_response([deflate.serialize_extension(deflate.NAME, params)])
        except deflate.NegotiationError as exc:
            raise NegotiationError(str(exc)) from None
        assert agreed is not None
        return PerMessageDeflate(
            agreed.server_no_context_takeover,
            agreed.client_no_context_takeover,
            agreed.window_bits("server"),
            max(9, agreed.window_bits("client")),
        )


def _handshake_failure(handshake_exc: Exception | None, exc: Exception | None) -> str:
    """Chromium-style console text for a connection that never opened."""
    if isinstance(handshake_exc, InvalidStatus):
        status = handshake_exc.response.status_code
        return f"Error during WebSocket handshake: Unexpected response code: {status}"
    if handshake_exc is not None:
        return f"Error during WebSocket handshake: {handshake_exc}"
    if exc is not None:
        return f"Error in connection establishment: {exc}"
    return "Connection closed before receiving a handshake response"
