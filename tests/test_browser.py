"""wslearn.browser: real Chromium runs JS against the course's servers.

Each scenario runs twice, in headless Chromium (``browser.run``) and with
wslearn's ``WebSocket`` (``browser.Recorder``), and both logs must equal the
expected events exactly. The browser is the process's shared one, closed at the
end of this module.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import pytest
from conftest import run

from wslearn import browser, servers
from wslearn.websocket import WebSocket

ECHO_JS = """
const ws = watch(new WebSocket(url), "protocol", "extensions");
ws.onopen = () => ws.send("Hello");
ws.onmessage = () => ws.close(1000, "bye");
"""


@pytest.fixture(scope="module", autouse=True)
def shared_browser():
    yield
    browser.shared().close_sync()
    assert not browser.shared().running


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_echo_open_message_close_same_in_chromium_and_python():
    async def main():
        async with servers.subprotocol(("chat.v1",)) as server:
            chromium = await browser.run(
                ECHO_JS.replace("new WebSocket(url)", 'new WebSocket(url, ["chat.v1"])'),
                url=server.url,
            )
            py = browser.Recorder()
            ws = py.watch(WebSocket(server.url, ["chat.v1"]), "protocol", "extensions")
            ws.onopen = lambda event: ws.send("Hello")
            ws.onmessage = lambda event: ws.close(1000, "bye")
            return chromium, await py.finish()

    chromium, python = run(main())
    negotiated = {"protocol": "chat.v1", "extensions": ""}
    assert chromium.events == [
        {"type": "open", "readyState": 1, **negotiated},
        {"type": "message", "readyState": 1, "data": "Hello", **negotiated},
        {
            "type": "close",
            "readyState": 3,
            "code": 1000,
            "reason": "bye",
            "wasClean": True,
            **negotiated,
        },
    ]
    assert python.events == chromium.events
    assert chromium.types() == ["open", "message", "close 1000"]
    assert not chromium.timed_out and not python.timed_out
    assert len(chromium.times) == 3 and chromium.times == sorted(chromium.times)


def test_refused_port_fires_error_then_close_1006_in_both():
    url = f"ws://127.0.0.1:{unused_port()}/"

    async def main():
        chromium = await browser.run("watch(new WebSocket(url));", url=url)
        py = browser.Recorder()
        py.watch(WebSocket(url))
        return chromium, await py.finish()

    chromium, python = run(main())
    assert chromium.events == [
        {"type": "error", "readyState": 3},
        {"type": "close", "readyState": 3, "code": 1006, "reason": "", "wasClean": False},
    ]
    assert python.events == chromium.events
    # the page learns nothing more; the console says why
    assert any("ERR_CONNECTION_REFUSED" in line for line in chromium.console)


@pytest.mark.parametrize("bad_url", ["ftp://127.0.0.1/", "ws://127.0.0.1/#fragment"])
def test_constructor_syntax_error_same_in_chromium_and_python(bad_url):
    async def main():
        chromium = await browser.run(
            'attempt("new WebSocket", () => new WebSocket(url));', url=bad_url
        )
        py = browser.Recorder()
        py.attempt("new WebSocket", lambda: WebSocket(bad_url))
        return chromium, await py.finish()

    chromium, python = run(main())
    assert chromium.events == [{"type": "throw", "what": "new WebSocket", "name": "SyntaxError"}]
    assert python.events == chromium.events
    assert len(chromium.errors) == 1 and "WebSocket" in chromium.errors[0]


def test_uncaught_exception_is_recorded_and_ends_the_run():
    log = run(browser.run('new WebSocket("gopher://127.0.0.1/"); log("not reached");'))
    assert log.events == [{"type": "throw", "what": "script", "name": "SyntaxError"}]


def test_send_while_connecting_throws_invalid_state_error_in_both():
    async def main():
        async with servers.echo() as echo:
            chromium = await browser.run(
                """const ws = watch(new WebSocket(url));
                   attempt("send", () => ws.send("too early"));
                   ws.onopen = () => ws.close();""",
                url=echo.url,
            )
            py = browser.Recorder()
            ws = py.watch(WebSocket(echo.url))
            py.attempt("send", lambda: ws.send("too early"))
            ws.onopen = lambda event: ws.close()
            return chromium, await py.finish()

    chromium, python = run(main())
    assert chromium.types() == ["throw InvalidStateError", "open", "close 1005"]
    assert python.events == chromium.events


def test_binary_messages_come_back_as_bytes_from_blob_and_arraybuffer():
    js = """
    const ws = watch(new WebSocket(url));
    ws.binaryType = args.binaryType;
    ws.onopen = () => ws.send(new Uint8Array([0, 1, 255]));
    ws.onmessage = () => ws.close(1000);
    """

    async def main():
        async with servers.echo() as echo:
            return [
                await browser.run(js, url=echo.url, binaryType=kind)
                for kind in ("blob", "arraybuffer")
            ]

    for log in run(main()):
        assert log.events[1] == {"type": "message", "readyState": 1, "data": b"\x00\x01\xff"}


def test_returned_value_and_own_entries():
    log = run(browser.run('log("note", {n: 1}); return {answer: 42};'))
    assert log.events == [{"type": "note", "n": 1}]
    assert log.result == {"answer": 42}


def test_timeout_returns_the_events_so_far_and_closes_the_socket():
    async def main():
        async with servers.echo() as echo:
            start = time.perf_counter()
            log = await browser.run("watch(new WebSocket(url));", url=echo.url, timeout=0.5)
            took = time.perf_counter() - start
            # the run's document is gone, so its socket is closed (going away)
            async with asyncio.timeout(5):
                while echo._server.connections:
                    await asyncio.sleep(0.02)
            return log, took

    log, took = run(main())
    assert log.timed_out
    assert log.types() == ["open"]
    assert took < 3.0


def test_version_is_the_installed_chromium():
    log = run(browser.run("return 1;"))
    binary = browser.find_chromium()
    installed = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    number = log.version.removeprefix("Chromium ")
    assert log.version.startswith("Chromium ") and number.count(".") == 3
    assert number in installed.stdout


def test_missing_browser_gives_one_line_install_message(monkeypatch):
    missing = "/nonexistent/chromium"
    with pytest.raises(browser.BrowserNotFound) as caught:
        run(browser.Chromium(executable=missing).start())
    message = str(caught.value)
    assert "\n" not in message
    assert missing in message and "apt-get install chromium" in message
    # what a notebook shows instead of a traceback
    assert caught.value._render_traceback_() == [f"BrowserNotFound: {message}"]
    monkeypatch.setenv("WSLEARN_CHROMIUM", missing)
    with pytest.raises(browser.BrowserNotFound, match="nonexistent"):
        browser.find_chromium()


def test_side_by_side_marks_rows_that_differ():
    left = browser.EventLog(
        "A", [{"type": "open", "readyState": 1}, {"type": "close", "readyState": 3, "code": 999}]
    )
    right = browser.EventLog(
        "B", [{"type": "open", "readyState": 1}, {"type": "error", "readyState": 3}]
    )
    rows = browser.side_by_side(left, right, width=30).splitlines()
    assert rows[0].split() == ["A", "B"]
    assert rows[2] == f"   {'open    rs=1':30} open    rs=1"
    closed = "close   rs=3 999 ''"
    assert rows[3] == f" ≠ {closed:30} error   rs=3"


def test_warm_up_starts_in_the_background_and_run_waits_for_it():
    async def main():
        chromium = browser.Chromium()
        chromium.warm_up()  # returns at once
        started = chromium.running
        try:
            log = await chromium.run('log("ran");')
        finally:
            await chromium.close()
        return started, log, chromium.running

    started, log, still_running = run(main())
    assert started is False
    assert log.events == [{"type": "ran"}] and log.version.startswith("Chromium ")
    assert still_running is False
