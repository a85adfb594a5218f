"""Run browser JavaScript in a real browser and get back what its WebSockets did.

The course's ``WebSocket`` (``wslearn.websocket``) promises to behave as the
browser does; this module lets a notebook or a test *see* the browser do it.
It runs a snippet of JS in headless Chromium (Debian's ``chromium`` driven by
Playwright) against the course's local servers and returns an :class:`EventLog`:
every event of every watched socket (type, readyState, code, reason, wasClean,
data), the name of any ``DOMException`` thrown, what the snippet returned, the
console lines, and the browser's version. In a notebook cell::

    from wslearn import browser, servers

    echo = await servers.start("echo")
    chromium = await browser.run('''
        const ws = watch(new WebSocket(url));    // record every event of ws
        ws.onopen = () => ws.send("Hello");
        ws.onmessage = () => ws.close(1000, "bye");
    ''', url=echo.url)
    chromium.version   # 'Chromium 156.0.8078.108'
    chromium.types()   # ['open', 'message', 'close 1000']

The snippet is the body of an ``async`` function. It sees ``url``, ``args``
(the other keyword arguments of ``run``) and these helpers:

- ``watch(ws, ...fields)``: record every event of ``ws``; ``fields`` names
  attributes to note at each event (``"protocol"``, ``"extensions"``,
  ``"bufferedAmount"``); returns ``ws``.
- ``attempt(what, fn)``: call ``fn()``; if it throws, record
  ``{type: "throw", what, name}`` (the ``DOMException``'s name) and return
  ``undefined``, else return its result.
- ``log(type, details)``: record an entry of your own.
- ``closed(ws)``: a promise of ``ws``'s close event; ``sleep(ms)``.

A run ends when the snippet has returned *and* every watched socket has fired
``close``, or after ``timeout`` seconds (then ``log.timed_out`` is true and
the log holds what happened so far). An exception the snippet does not catch
is recorded as ``{type: "throw", what: "script", name}``.

The Python side records wslearn's ``WebSocket`` the same way
(:class:`Recorder`), so the two logs compare with ``==`` on ``events`` and
print next to each other with :func:`side_by_side`.

Why the machinery looks as it does:

- One browser is shared by the whole process, started at the first ``run``
  (about 0.3 s) and closed at exit or by ``await browser.close()``. It lives
  on its own thread with its own event loop, so it works from any loop (a
  notebook kernel's, or one ``asyncio.run`` per test) and the caller's loop
  stays free to run the course's servers while the browser talks to them.
- The snippets run in one tab on a page served over http from 127.0.0.1: a
  ``data:`` or ``about:blank`` page may not open a WebSocket to 127.0.0.1
  (Chromium blocks it: ``ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS``).
  Each run gets a fresh document (an iframe of that page, removed at the
  end, which closes any socket the snippet left open): a new tab would cost
  about half a second per run.
- The profile is a fresh temporary folder (Playwright's), deleted on close.
- No browser, no fake: :class:`BrowserNotFound` says in one line how to
  install one (and a notebook shows just that line, not a traceback).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wslearn.net import LOOPBACK
from wslearn.raw import page_response

__all__ = [
    "CHROMIUM_ARGS",
    "PAGE_HTML",
    "TIMEOUT",
    "BrowserNotFound",
    "Chromium",
    "EventLog",
    "Recorder",
    "close",
    "find_chromium",
    "run",
    "shared",
    "side_by_side",
    "warm_up",
]

T = TypeVar("T")

TIMEOUT = 5.0  # seconds a run may take unless told otherwise

# FACTS.md: the flags that make Debian's Chromium start quickly and quietly in
# a container. Playwright adds --headless itself (headless=True) and the
# profile folder (launch_persistent_context), so neither is repeated here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

INSTALL_HINT = (
    "install Debian's chromium ('sudo apt-get install chromium', or 'make chromium') "
    "or set WSLEARN_CHROMIUM to a Chromium or Chrome binary"
)

PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>wslearn</title></head>
<body><p>wslearn: a page for running WebSocket snippets</p></body></html>
"""


class BrowserNotFound(RuntimeError):
    """No browser to run JS in; the message says how to install one."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: one line, actionable.
        return [f"BrowserNotFound: {self}"]


def find_chromium(executable: str | None = None) -> str:
    """The Chromium binary to drive, or :class:`BrowserNotFound`.

    ``executable``, else ``$WSLEARN_CHROMIUM`` (either one is used alone:
    pointing it at a missing path is an error, not a fallback), else the first
    of chromium, chromium-browser, google-chrome on ``PATH``.
    """
    wanted = executable or os.environ.get("WSLEARN_CHROMIUM")
    if wanted:
        found = shutil.which(wanted) or (wanted if os.access(wanted, os.X_OK) else None)
        if found is None or os.path.isdir(found):
            raise BrowserNotFound(f"no browser at {wanted!r}: {INSTALL_HINT}")
        return found
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(f"no Chromium found on PATH: {INSTALL_HINT}")


# --- the log -------------------------------------------------------------------------------------


@dataclass
class EventLog:
    """What one run recorded, in the browser or in Python.

    ``events`` are plain dicts, in order: ``{"type": "open", "readyState": 1}``,
    ``{"type": "message", "readyState": 1, "data": "Hello"}`` (``bytes`` for
    binary), ``{"type": "close", "readyState": 3, "code": 1000, "reason": "bye",
    "wasClean": True}``, ``{"type": "error", "readyState": 3}``,
    ``{"type": "throw", "what": "script", "name": "SyntaxError"}``, plus any
    watched fields. ``times[i]`` is when ``events[i]`` happened, in seconds
    since the run began. Two logs describe the same behaviour when their
    ``events`` are equal.
    """

    version: str
    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # messages of the throws, in order
    console: list[str] = field(default_factory=list)  # console lines (of overlapping runs too)
    result: Any = None  # what the snippet returned
    timed_out: bool = False

    def types(self) -> list[str]:
        """One word per event, the close code and thrown name included: ``"close 1000"``."""
        return [_short(event) for event in self.events]

    def __str__(self) -> str:
        lines = [self.version]
        lines += [
            f"{t * 1000:8.1f} ms  {_describe(e)}"
            for t, e in zip(self.times, self.events, strict=True)
        ]
        if self.timed_out:
            lines.append("(stopped watching: timeout)")
        return "\n".join(lines)


def _short(event: dict[str, Any]) -> str:
    if event["type"] == "close":
        return f"close {event['code']}"
    if event["type"] == "throw":
        return f"throw {event['name']}"
    return event["type"]


def _describe(event: dict[str, Any]) -> str:
    """One line for an event: its type, then its fields as ``name=value``."""
    rest = [f"{key}={value!r}" for key, value in event.items() if key != "type"]
    return f"{event['type']:8} {' '.join(rest)}".rstrip()


def side_by_side(
    left: EventLog,
    right: EventLog,
    *,
    titles: tuple[str, str] | None = None,
    width: int | None = None,
) -> str:
    """Two logs in two columns, row by row; ``≠`` marks the rows that differ.

    Rows show each event without its time (times differ from run to run);
    ``readyState`` is shortened to ``rs``. ``titles`` default to the versions;
    ``width`` (of the left column) defaults to its longest row, at most 60.
    """
    titles = titles or (left.version, right.version)
    if width is None:
        cells = [_cell(e, 60) for e in left.events] + [titles[0]]
        width = min(60, max(len(c) for c in cells))
    rows = [f"   {titles[0][:width]:<{width}} {titles[1][:width]}"]
    rows.append(f"   {'-' * min(width, len(titles[0])):<{width}} {'-' * len(titles[1][:width])}")
    for i in range(max(len(left.events), len(right.events))):
        a = left.events[i] if i < len(left.events) else None
        b = right.events[i] if i < len(right.events) else None
        mark = " " if a == b else "≠"
        cells = [_cell(e, width) for e in (a, b)]
        rows.append(f" {mark} {cells[0]:<{width}} {cells[1]}")
    for log, column in ((left, 0), (right, 1)):
        if log.timed_out:
            note = "(still waiting at the timeout)"
            rows.append(f"   {note if column == 0 else '':<{width}} {note if column else ''}")
    return "\n".join(rows)


def _cell(event: dict[str, Any] | None, width: int) -> str:
    """An event in few characters: ``close rs=3 1000 'bye' wasClean=True``."""
    if event is None:
        return ""
    rest = dict(event)
    kind = rest.pop("type")
    words = [f"{kind:7}"]
    if "readyState" in rest:
        words.append(f"rs={rest.pop('readyState')}")
    if kind == "message" and "data" in rest:
        words.append(repr(rest.pop("data")))
    elif kind == "close" and "code" in rest:
        words += [str(rest.pop("code")), repr(rest.pop("reason", ""))]
    elif kind == "throw" and "name" in rest:
        words.append(f"{rest.pop('what', '?')}: {rest.pop('name')}")
    words += [f"{key}={value!r}" for key, value in rest.items()]
    text = " ".join(words)
    return text if len(text) <= width else text[: width - 1] + "…"


# --- the browser side ---------------------------------------------------------------------------

# The page-side harness: evaluated as a function of (body, url, args, timeout in ms).
_HARNESS = r"""
async ([body, url, args, timeoutMs]) => {
  // A fresh document per run: an iframe of this page. Removing it at the end
  // closes whatever sockets the snippet left open, as leaving a page does.
  const frame = document.createElement("iframe");
  document.body.append(frame);
  const AsyncFunction = frame.contentWindow.eval("(async () => {}).constructor");
  const t0 = performance.now();
  const events = [], times = [], errors = [], pending = [], sockets = [];
  const record = (entry) => { events.push(entry); times.push((performance.now() - t0) / 1000); };
  const hex = (buffer) => Array.from(new Uint8Array(buffer),
                                     (b) => b.toString(16).padStart(2, "0")).join("");
  const closes = new Map();  // watched socket -> promise of its close event, once recorded
  const closed = (ws) => closes.get(ws) ||
    new Promise((resolve) => ws.addEventListener("close", resolve, {once: true}));
  const watch = (ws, ...fields) => {
    let recorded;
    sockets.push(ws);
    closes.set(ws, new Promise((resolve) => { recorded = resolve; }));
    for (const type of ["open", "message", "error", "close"]) {
      ws.addEventListener(type, (event) => {
        const entry = {type, readyState: ws.readyState};
        if (type === "message") {
          // (the snippet's realm is the iframe's: instanceof ArrayBuffer would fail)
          if (typeof event.data === "string") entry.data = event.data;
          else if (typeof event.data.arrayBuffer !== "function") {
            entry.data = {hex: hex(event.data)};  // an ArrayBuffer
          } else {  // a Blob: read it, fill the entry in later
            pending.push(event.data.arrayBuffer().then((b) => { entry.data = {hex: hex(b)}; }));
          }
        }
        if (type === "close") Object.assign(entry, {code: event.code, reason: event.reason,
                                                    wasClean: event.wasClean});
        for (const name of fields) entry[name] = ws[name];
        record(entry);
        if (type === "close") recorded(event);
      });
    }
    return ws;
  };
  const attempt = (what, fn) => {
    try { return fn(); } catch (e) {
      record({type: "throw", what, name: e.name}); errors.push(String(e.message)); return undefined;
    }
  };
  const log = (type, details = {}) => record({type, ...details});
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let result = null, timedOut = false;
  const work = (async () => {
    try {
      const fn = new AsyncFunction("url", "args", "watch", "attempt", "log", "closed", "sleep",
                                   body);
      result = await fn(url, args, watch, attempt, log, closed, sleep);
    } catch (e) {
      record({type: "throw", what: "script", name: e.name}); errors.push(String(e.message));
    }
    await Promise.all(sockets.map(closed));
    await Promise.all(pending);
  })();
  await Promise.race([work, sleep(timeoutMs).then(() => { timedOut = true; })]);
  frame.remove();
  if (result !== null && result !== undefined) {
    try { result = JSON.parse(JSON.stringify(result)); } catch (e) { result = String(result); }
  }
  return {events, times, errors, result: result ?? null, timedOut};
}
"""


def _from_js(value: Any) -> Any:
    """Binary message data comes back as ``{"hex": ...}``: make it ``bytes``."""
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    return value


class Chromium:
    """One headless Chromium, driven by Playwright on a thread of its own.

    ``await start()`` (or the first ``run``) launches it; ``await close()``
    stops it (its temporary profile goes with it). Usable as ``async with Chromium() as b``.
    ``executable`` overrides :func:`find_chromium`'s search; ``args`` adds flags.
    ``preferences`` (a profile's ``Preferences`` JSON, e.g. whether third-party
    cookies are blocked) start it on a profile folder holding them.
    """

    def __init__(
        self,
        executable: str | None = None,
        args: Iterable[str] = (),
        preferences: Mapping[str, Any] | None = None,
    ) -> None:
        self.executable = executable
        self.args = [*CHROMIUM_ARGS, *args]
        self.preferences = dict(preferences or {})
        self.version = ""
        """``"Chromium 156.0.8078.108"``, known once started."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._launching: concurrent.futures.Future[None] | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None  # every tab's: one profile, one cookie jar
        self._profile: str | None = None  # our own profile folder, with preferences
        self._page: Any = None
        self._visitor: Any = None  # the tab of run(page=...)
        self._console_lines: list[list[str]] = []
        self._tab_lock = asyncio.Lock()  # made again by each launch, on the browser's loop
        self._visit_lock = asyncio.Lock()  # (the same)
        self._page_server: asyncio.Server | None = None
        self._page_url = ""

    @property
    def running(self) -> bool:
        return self._browser is not None

    # -- the browser's own thread --------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coro`` on the browser's thread; a future the caller's loop can await."""
        assert self._loop is not None
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="wslearn-browser", daemon=True
            )
            self._thread.start()

    async def start(self) -> Chromium:
        """Launch the browser (once); raise :class:`BrowserNotFound` if there is none."""
        await asyncio.wrap_future(self._launch_soon(find_chromium(self.executable)))
        return self

    def warm_up(self) -> None:
        """Start launching now, in the background, and return at once.

        The first ``run`` then waits only for what is left of the launch. Does
        nothing if there is no browser (the first ``run`` will say so).
        """
        with contextlib.suppress(BrowserNotFound):
            self._launch_soon(find_chromium(self.executable))

    def _launch_soon(self, executable: str) -> concurrent.futures.Future[None]:
        with self._lock:
            launching = self._launching
            failed = launching is not None and launching.done() and launching.exception()
            if launching is None or failed:
                self._ensure_thread()
                assert self._loop is not None
                launching = asyncio.run_coroutine_threadsafe(self._launch(executable), self._loop)
                self._launching = launching
            return launching

    async def _launch(self, executable: str) -> None:
        if self._browser is not None:
            return
        from playwright.async_api import async_playwright

        self._tab_lock = asyncio.Lock()
        self._visit_lock = asyncio.Lock()

        self._page_server = await asyncio.start_server(self._serve_page, LOOPBACK, 0)
        port = self._page_server.sockets[0].getsockname()[1]
        self._page_url = f"http://{LOOPBACK}:{port}/"
        self._playwright = await async_playwright().start()
        try:
            # Playwright gives the browser a fresh profile in a temporary folder
            # and deletes it on close; preferences need a profile folder of our own.
            if self.preferences:
                self._profile = tempfile.mkdtemp(prefix="wslearn-chromium-")
                os.mkdir(os.path.join(self._profile, "Default"))
                with open(os.path.join(self._profile, "Default", "Preferences"), "w") as file:
                    json.dump(self.preferences, file)
                self._context = await self._playwright.chromium.launch_persistent_context(
                    self._profile, executable_path=executable, headless=True, args=self.args
                )
                self._browser = self._context.browser
            else:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable, headless=True, args=self.args
                )
                self._context = await self._browser.new_context()
            self.version = f"Chromium {self._browser.version}"
            await self._tab()  # so that warm_up() also pays for the first tab
        except BaseException:
            await self._shutdown()
            raise

    async def _serve_page(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer any request with the page: all the harness needs is an http origin."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(page_response(PAGE_HTML))
                await writer.drain()
        writer.close()

    async def run(
        self,
        js: str,
        url: str | None = None,
        *,
        timeout: float = TIMEOUT,
        page: str | None = None,
        **args: Any,
    ) -> EventLog:
        """Run ``js`` (an async function's body) in a fresh document; return its log.

        ``url`` and ``args`` (JSON-able keyword arguments) are visible to the
        snippet. The run is bounded by ``timeout`` seconds (see the module
        docstring for what ends it). With ``page``, a second tab of the same
        profile first opens that address (a top-level visit: a login page sets
        its cookies, an ``https://`` page gives the snippet a secure origin)
        and the snippet runs there; ``js`` may then be empty.
        """
        if not self.running:
            await self.start()
        async with asyncio.timeout(timeout + 10):  # the page enforces timeout itself
            return await self._call(self._run(js, url, timeout, args, page))

    async def _run(
        self, js: str, url: str | None, timeout: float, args: dict[str, Any], at: str | None
    ) -> EventLog:
        # Runs in the second tab take turns: another visit would navigate it away mid-run.
        async with self._visit_lock if at is not None else contextlib.nullcontext():
            page = await self._tab() if at is None else await self._visit(at)
            console: list[str] = []
            self._console_lines.append(console)
            try:
                raw = await page.evaluate(_HARNESS, [js, url, args, int(timeout * 1000)])
            finally:
                self._console_lines = [
                    lines for lines in self._console_lines if lines is not console
                ]
        events = [{k: _from_js(v) for k, v in event.items()} for event in raw["events"]]
        return EventLog(
            version=self.version,
            events=events,
            times=raw["times"],
            errors=raw["errors"],
            console=console,
            result=raw["result"],
            timed_out=raw["timedOut"],
        )

    async def _tab(self) -> Any:
        """The one tab the snippets run in (a new tab costs ~0.5 s: keep one)."""
        async with self._tab_lock:  # runs may start together: open it once
            if self._page is None or self._page.is_closed():
                page = await self._context.new_page()
                page.on("console", self._console)
                await page.goto(self._page_url)
                self._page = page
        return self._page

    async def _visit(self, address: str) -> Any:
        """The second tab, navigated to ``address`` (runs with ``page=`` take turns)."""
        async with self._tab_lock:
            if self._visitor is None or self._visitor.is_closed():
                self._visitor = await self._context.new_page()
                self._visitor.on("console", self._console)
            await self._visitor.goto(address)
        return self._visitor

    def _console(self, message: Any) -> None:
        # Runs going on at once share the tab, so each of them gets every line
        # (run them one after the other where the console lines matter).
        for lines in self._console_lines:
            lines.append(message.text)

    async def close(self) -> None:
        """Close the browser, its profile and its thread (safe to call twice)."""
        if self._thread is None or not self._thread.is_alive():
            return
        try:
            await self._call(self._shutdown())
        finally:
            self._stop_thread()

    def close_sync(self) -> None:
        """``close()`` from code without a running loop (at interpreter exit)."""
        if self._thread is None or not self._thread.is_alive() or self._loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._stop_thread()

    def _stop_thread(self) -> None:
        self._launching = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()
        self._thread = None
        self._loop = None

    async def _shutdown(self) -> None:
        browser, self._browser = self._browser, None
        context, self._context = self._context, None
        self._page = self._visitor = None
        playwright, self._playwright = self._playwright, None
        server, self._page_server = self._page_server, None
        with contextlib.suppress(Exception):
            if context is not None:
                await context.close()
        with contextlib.suppress(Exception):
            if browser is not None:
                await browser.close()
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
        with contextlib.suppress(Exception):
            if playwright is not None:
                await playwright.stop()
        if server is not None:
            server.close()

    async def __aenter__(self) -> Chromium:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --- the shared browser -------------------------------------------------------------------------

_shared = Chromium()


def shared() -> Chromium:
    """The process's shared browser (started by the first :func:`run`)."""
    return _shared


async def run(
    js: str, url: str | None = None, *, timeout: float = TIMEOUT, **args: Any
) -> EventLog:
    """Run ``js`` in the shared headless Chromium; see :meth:`Chromium.run`."""
    return await _shared.run(js, url, timeout=timeout, **args)


async def close() -> None:
    """Close the shared browser now (the next :func:`run` starts it again)."""
    await _shared.close()


def warm_up() -> None:
    """Start the shared browser in the background now; see :meth:`Chromium.warm_up`."""
    _shared.warm_up()


atexit.register(_shared.close_sync)


# --- the Python side ------------------------------------------------------------------------------


class Recorder:
    """The JS helpers, for wslearn's ``WebSocket``: the same log from Python.

    ::

        py = Recorder()
        ws = py.watch(WebSocket(echo.url))
        ws.onopen = lambda event: ws.send("Hello")
        ws.onmessage = lambda event: ws.close(1000, "bye")
        log = await py.finish()      # waits for every watched socket's close
    """

    version = "wslearn's WebSocket (Python)"

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._log = EventLog(self.version)
        self._closes: list[asyncio.Future[Any]] = []

    def _record(self, entry: dict[str, Any]) -> None:
        self._log.events.append(entry)
        self._log.times.append(self._loop.time() - self._t0)

    def watch(self, ws: Any, *fields: str) -> Any:
        """Record every event of ``ws`` (and ``fields`` at each); return ``ws``."""
        closed: asyncio.Future[Any] = self._loop.create_future()
        self._closes.append(closed)

        def listener(event: Any) -> None:
            entry: dict[str, Any] = {"type": event.type, "readyState": ws.readyState}
            if event.type == "message":
                entry["data"] = event.data
            if event.type == "close":
                entry.update(code=event.code, reason=event.reason, wasClean=event.wasClean)
                if not closed.done():
                    closed.set_result(event)
            entry.update((name, getattr(ws, name)) for name in fields)
            self._record(entry)

        for type_ in ("open", "message", "error", "close"):
            ws.addEventListener(type_, listener)
        return ws

    def attempt(self, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Call ``fn(*args)``; record a ``DOMException``'s name as a ``throw`` entry."""
        from wslearn.dom import DOMException

        try:
            return fn(*args)
        except DOMException as error:
            self._record({"type": "throw", "what": what, "name": error.name})
            self._log.errors.append(str(error))
            return None

    def log(self, type: str, **details: Any) -> None:
        """Record an entry of your own, as ``log(type, {...})`` does in JS."""
        self._record({"type": type, **details})

    async def finish(self, timeout: float = TIMEOUT, result: Any = None) -> EventLog:
        """Wait (at most ``timeout`` s) for every watched socket's close; return the log."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*self._closes)
        except TimeoutError:
            self._log.timed_out = True
        self._log.result = result
        return self._log
