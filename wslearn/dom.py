"""The browser side's shared rules (WHATWG, WebIDL, DOM): ``DOMException``, USVString,
``close()`` args, ``EventTarget``.

Everything here is what a browser enforces on a *script*, not what RFC 6455
asks of an endpoint: ``wslearn.websocket``, ``wslearn.url`` and
``wslearn.reconnect`` use it; the RFC modules (``handshake``, ``framing``,
``close``) never import it.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wslearn.close import MAX_REASON_BYTES, CloseCode

__all__ = [
    "DOMException",
    "EventTarget",
    "Listener",
    "check_close_args",
    "event_handler",
    "report_exception",
    "usv_string",
]


class DOMException(Exception):
    """An error the browser API throws; ``name`` is what JS sees as ``e.name``.

    The names used here are the WHATWG WebSocket ones: ``SyntaxError``,
    ``InvalidStateError`` and ``InvalidAccessError``.
    """

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name

    def __repr__(self) -> str:
        return f"DOMException({self.name}: {self.args[0]})"


def usv_string(text: str) -> str:
    """Convert ``text`` as WebIDL turns a JS string into a ``USVString``.

    JS strings are UTF-16: surrogate pairs join into one code point and lone
    surrogates become U+FFFD, so the result always encodes to UTF-8.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def check_close_args(
    code: int | None = None, reason: str | None = None
) -> tuple[int | None, bytes]:
    """Apply the browser's ``WebSocket.close(code, reason)`` argument rules.

    The WHATWG steps ("validate close code and reason"), in this order:

    1. a ``code`` that is present but neither 1000 nor in 3000-4999 throws a
       ``DOMException`` named ``InvalidAccessError``;
    2. a ``reason`` whose UTF-8 encoding is longer than 123 bytes throws a
       ``DOMException`` named ``SyntaxError``.

    So ``close(1001, <200 bytes>)`` is an InvalidAccessError, not a SyntaxError.

    Returns ``(code, reason_bytes)`` as the close frame should carry them:
    ``(None, b"")`` means "send a Close frame with no body"; a reason given
    without a code gets code 1000 (WHATWG "close the WebSocket").

    Python mapping of the WebIDL types.  In the browser ``code`` is an
    ``optional [Clamp] unsigned short``: JS numbers are rounded and clamped to
    0-65535 before step 1, so ``close(70000)`` is checked as 65535 and
    ``close(-1)`` as 0; both fail step 1 anyway.  Here ``None`` means "not
    present", an ``int`` is clamped the same way, and anything else (a float,
    a string, a bool) raises ``TypeError``: Python code should pass an int.
    ``reason`` is a ``USVString``: JS strings are UTF-16 and lone surrogates
    become U+FFFD.  A Python ``str`` holding surrogates gets the same treatment.
    """
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"close code must be an int or None, not {type(code).__name__}")
        code = min(max(code, 0), 0xFFFF)  # WebIDL [Clamp] unsigned short
        # Step 1: "If code is not null, but is neither an integer equal to 1000
        # nor an integer in the range 3000 to 4999, inclusive, throw an
        # 'InvalidAccessError' DOMException."
        if code != 1000 and not 3000 <= code <= 4999:
            raise DOMException(
                f"The close code must be either 1000, or between 3000 and 4999. {code} is neither.",
                "InvalidAccessError",
            )
    reason_bytes = b""
    if reason is not None:
        if not isinstance(reason, str):
            raise TypeError(f"close reason must be a str or None, not {type(reason).__name__}")
        # Step 2: "Let reasonBytes be the result of UTF-8 encoding reason.
        # If reasonBytes is longer than 123 bytes, then throw a 'SyntaxError'."
        reason_bytes = usv_string(reason).encode("utf-8")
        if len(reason_bytes) > MAX_REASON_BYTES:
            raise DOMException(
                f"The close reason must not be longer than {MAX_REASON_BYTES} bytes "
                f"of UTF-8; it is {len(reason_bytes)}.",
                "SyntaxError",
            )
    # "Close the WebSocket": if reason is non-empty but code is null, use 1000.
    if code is None and reason_bytes:
        code = int(CloseCode.NORMAL_CLOSURE)
    return code, reason_bytes


# -- EventTarget: on... handlers and listeners, shared by every browser-style object ------------

Listener = Callable[[Any], Any]


@dataclass(eq=False)
class _Listener:
    callback: Listener | None  # None: the slot of an on... event handler
    once: bool = False
    removed: bool = False


def event_handler(type_: str, doc: str) -> property:
    """An ``on<type>`` attribute (HTML "event handler IDL attribute") for an ``EventTarget``."""
    return property(
        lambda self: self._handlers.get(type_),
        lambda self, value: self._set_handler(type_, value),
        doc=doc,
    )


class EventTarget:
    """The DOM's ``EventTarget``, as far as the course's sockets need it.

    ``addEventListener(type, listener, once=)``, ``removeEventListener`` and
    ``dispatchEvent`` follow the DOM: listeners run in the order they were
    added, adding the same function twice has no effect, and a listener that
    raises is reported (one line on stderr, as a browser console has it) while
    the others still run. An ``on...`` handler owns one slot in that order,
    taken where it was first set. An ``async def`` listener runs as a task.
    """

    def __init__(self) -> None:
        self._listeners: dict[str, list[_Listener]] = {}
        self._handlers: dict[str, Listener | None] = {}
        self._handler_slots: dict[str, _Listener] = {}
        self._listener_tasks: set[asyncio.Future[Any]] = set()

    def _set_handler(self, type_: str, value: Listener | None) -> None:
        # HTML "event handler": setting it to None removes its slot; a non-function
        # counts as None, as assigning one does in JS.
        value = value if callable(value) else None
        self._handlers[type_] = value
        slot = self._handler_slots.get(type_)
        if value is None and slot is not None:
            self._remove_listener(type_, slot)
            del self._handler_slots[type_]
        elif value is not None and slot is None:
            slot = _Listener(None)
            self._handler_slots[type_] = slot
            self._listeners.setdefault(type_, []).append(slot)

    def addEventListener(self, type: str, listener: Listener | None, *, once: bool = False) -> None:
        """Call ``listener(event)`` for each ``type`` event (once, if ``once``)."""
        if listener is None:
            return
        entries = self._listeners.setdefault(type, [])
        if all(entry.callback is not listener for entry in entries):
            entries.append(_Listener(listener, once=once))

    def removeEventListener(self, type: str, listener: Listener | None) -> None:
        """Stop calling ``listener`` for ``type`` events."""
        for entry in self._listeners.get(type, []):
            if entry.callback is listener:
                self._remove_listener(type, entry)
                return

    def _remove_listener(self, type_: str, entry: _Listener) -> None:
        entry.removed = True
        self._listeners[type_].remove(entry)

    def dispatchEvent(self, event: Any) -> bool:
        """Run ``event``'s listeners now, in the order they were added; returns True."""
        event.target = self
        for entry in list(self._listeners.get(event.type, [])):
            if entry.removed:  # removed by an earlier listener of this dispatch
                continue
            if entry.once:
                self._remove_listener(event.type, entry)
            callback = entry.callback or self._handlers.get(event.type)
            if callback is None:
                continue
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._listener_tasks.add(task)
                    task.add_done_callback(lambda t, type_=event.type: self._task_done(t, type_))
            except Exception as exc:  # "report the exception", like a browser console
                report_exception(exc, event.type)
        return True

    def _task_done(self, task: asyncio.Future[Any], type_: str) -> None:
        self._listener_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            report_exception(task.exception(), type_)  # type: ignore[arg-type]


def report_exception(exc: BaseException, type_: str) -> None:
    """One line, as a browser console has it ("Uncaught TypeError: ... at f (line)"),
    without the paths of the machine that ran the cell."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {where[0].name} (line {where[0].lineno})" if where else ""
    print(f"Uncaught {type(exc).__name__} in a {type_!r} listener: {exc}{at}", file=sys.stderr)
