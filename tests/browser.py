"""Sync-API helpers for tests that drive headless Chromium page by page.

Most browser tests need only ``wslearn.browser.run`` (async, one shared
browser). These are for tests that keep a page of their own and call it from
synchronous code; the executable, its flags and the page come from
``wslearn.browser``.

- ``chromium()``: a context manager giving a Playwright ``BrowserContext`` of
  Debian's Chromium (``wslearn.browser.find_chromium()``) with a fresh
  profile in a temporary folder.  If the browser is missing the test FAILS with a
  message saying how to install it: browser tests are never skipped.
- ``ServerThread``: an asyncio loop in a daemon thread, for servers that must keep
  serving while the main thread is blocked in Playwright's sync API.
- ``serve_page``: a ``process_request`` hook for a ``websockets`` server that
  answers plain HTTP GETs with a small HTML page, so the page and its WebSockets
  share one origin on 127.0.0.1 (a ``data:`` or ``about:blank`` page may not open
  a WebSocket to 127.0.0.1: ``ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS``).
- ``open_page(context, url)`` and ``run_js(page, script, arg)``: load that page,
  then evaluate a JS function in it and return its (JSON-able) result.
- ``run_async(coro)``: ``asyncio.run`` in a fresh thread.  While Playwright's sync
  API is active, the main thread counts as running an event loop, so
  ``asyncio.run`` there fails; Python-side clients run through this instead.

Typical use in a test module::

    @pytest.fixture(scope="module")
    def page():
        with ServerThread() as servers, chromium() as context:
            server = servers.serve(handler)  # also serves the page on plain GETs
            yield open_page(context, f"http://127.0.0.1:{port_of(server)}/")

    def test_echo(page):
        assert run_js(page, "async (url) => ...", url) == ...
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from wslearn.browser import CHROMIUM_ARGS, PAGE_HTML, BrowserNotFound, find_chromium
from wslearn.raw import page_headers

T = TypeVar("T")


def require_chromium() -> str:
    """Return the Chromium executable, or fail the test with how to install it."""
    try:
        return find_chromium()
    except BrowserNotFound as error:
        pytest.fail(f"the browser tests need Chromium: {error}", pytrace=False)


@contextlib.contextmanager
def chromium(**options: Any) -> Iterator[Any]:
    """Launch headless Chromium; yield a Playwright ``BrowserContext``.

    The profile lives in a fresh temporary folder, deleted afterwards.
    ``options`` go to ``launch_persistent_context`` (e.g. ``args=[...]`` to add flags).
    """
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    extra_args = list(options.pop("args", []))
    with tempfile.TemporaryDirectory(prefix="wslearn-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=[*CHROMIUM_ARGS, *extra_args],
                **options,
            )
            try:
                yield context
            finally:
                context.close()


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """``process_request`` hook: answer a plain HTTP GET with ``PAGE_HTML``.

    WebSocket upgrade requests (``Upgrade: websocket``) pass through untouched.
    """
    if "websocket" in request.headers.get("Upgrade", "").lower():
        return None
    if request.path.split("?")[0] == "/favicon.ico":
        return connection.respond(404, "no icon\n")
    body = PAGE_HTML.encode()
    return Response(200, "OK", Headers(page_headers(body)), body)


def port_of(server: Server) -> int:
    """The TCP port an asyncio ``websockets`` server listens on."""
    return server.sockets[0].getsockname()[1]


def open_page(context: Any, url: str) -> Any:
    """Open a new tab on ``url`` (an http:// page on 127.0.0.1) and return it."""
    page = context.new_page()
    page.goto(url)
    return page


def run_js(page: Any, script: str, arg: Any = None) -> Any:
    """Evaluate ``script`` (a JS function, possibly async) with ``arg`` in ``page``.

    Returns the function's result, converted from JSON-able JS values.
    """
    return page.evaluate(script, arg)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` in a new thread; return its result or raise its exception."""
    outcome: dict[str, Any] = {}

    def main() -> None:
        try:
            outcome["result"] = asyncio.run(coro)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=main, name="run_async")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


async def _cancel_other_tasks() -> None:
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ServerThread:
    """An asyncio event loop running in a daemon thread.

    Use it as a context manager; ``run(coro)`` runs a coroutine on that loop
    and returns its result (or raises its exception) in the calling thread.
    Async context managers entered with ``enter(cm)`` are exited on close.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="ServerThread", daemon=True)
        self._stack: list[Any] = []

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coro`` on the thread's loop; wait at most ``timeout`` seconds."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def enter(self, factory: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Call ``factory()`` on the loop and enter the async context manager it returns.

        The factory runs on the thread's loop because some constructors bind to
        the running loop (``websockets.asyncio.server.serve`` does); under
        Playwright's sync API the main thread's "running loop" is Playwright's.
        The context manager is exited by ``close()``.
        """

        async def aenter() -> tuple[Any, Any]:
            cm = factory()
            return cm, await cm.__aenter__()

        cm, value = self.run(aenter(), timeout)
        self._stack.append(cm)
        return value

    def serve(self, handler: Callable[[ServerConnection], Any], **options: Any) -> Server:
        """Start a ``websockets`` server on 127.0.0.1 and an OS-chosen port.

        Plain HTTP GETs get ``PAGE_HTML`` (``process_request=serve_page``) unless
        ``options`` say otherwise; ``port_of(server)`` gives the port.
        """
        options.setdefault("process_request", serve_page)
        return self.enter(lambda: websockets_serve(handler, "127.0.0.1", 0, **options))

    def close(self) -> None:
        """Exit entered context managers, then stop the loop and the thread."""
        if not self._thread.is_alive():
            return
        while self._stack:
            cm = self._stack.pop()
            with contextlib.suppress(Exception):
                self.run(cm.__aexit__(None, None, None))
        with contextlib.suppress(Exception):
            self.run(_cancel_other_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()
