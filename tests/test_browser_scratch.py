"""Headless Chromium against the scratch server: the 2016 article's JS, running for real.

The page is served over http by the scratch server itself (``pages=``), so the
page and its WebSockets share one origin on 127.0.0.1.  Each test runs a JS
function in that page, reads back the browser's event log, and compares it
with what the server's handler saw on its side of the same connection.

The handler picks its behaviour from the request path:

- ``/chat``: echo every message, text as text and bytes as bytes;
- ``/bye``: close at once with 4000 "bye from the server".
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import pytest
from browser import ServerThread, chromium, open_page, run_async, run_js

from wslearn import scratch

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wslearn scratch server</title></head>
<body><p>served by wslearn.scratch</p></body></html>
"""

SUPPORTED = ("chat.v1", "chat.v2")  # the server's subprotocols
OFFERED = ["chat.v2", "chat.v1"]  # the page's, in its order of preference


class Recorder:
    """The scratch server's handler; keeps one record per connection it served."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def __call__(self, ws: scratch.Connection) -> None:
        assert ws.request is not None
        record: dict[str, Any] = {
            "path": ws.request.target,
            "offered": ws.request.subprotocols,
            "subprotocol": ws.subprotocol,
            "extensions offered": ws.request.headers.get("Sec-WebSocket-Extensions"),
            "origin": ws.request.headers.get("Origin"),
            "messages": [],
        }
        try:
            if ws.request.target == "/bye":
                await ws.close(4000, "bye from the server")
            else:
                async for message in ws:
                    record["messages"].append(message)
                    await ws.send(message)
        finally:
            await ws.wait_closed()
            record["close"] = (ws.close_code, ws.close_reason)
            self.records.append(record)

    async def wait_for(self, path: str, timeout: float = 5.0) -> dict[str, Any]:
        """The record of the next finished connection to ``path``.

        A handler may finish a little after the page saw its close event.
        """
        async with asyncio.timeout(timeout):
            while True:
                for index, record in enumerate(self.records):
                    if record["path"] == path:
                        return self.records.pop(index)
                await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def env() -> Any:
    """One scratch server (in a thread), one Chromium, one page served by the server."""
    recorder = Recorder()
    with ServerThread() as thread, chromium() as context:
        server = thread.enter(
            lambda: scratch.serve(recorder, subprotocols=SUPPORTED, pages={"/": PAGE})
        )
        page = open_page(context, server.http_url + "/")
        yield server, page, recorder, thread


ARTICLE_JS = """
(url) => new Promise((resolve) => {
  const log = [];
  const ws = new WebSocket(url, ["chat.v2", "chat.v1"]);
  log.push(["created", ws.readyState]);
  const guardedSend = (data) => {          // the article's guard
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(data);
      log.push(["sent", data]);
    } else {
      log.push(["guard: not sent", ws.readyState]);
    }
  };
  guardedSend("too early");                // still CONNECTING
  ws.onopen = function (e) {               // the article: onopen, then send
    log.push(["open", ws.readyState, ws.protocol, ws.extensions]);
    guardedSend("Hello from Chromium");
  };
  ws.onmessage = function (e) {
    if (e.data) {
      log.push(["message", ws.readyState, e.data]);
    }
    ws.close(1000, "Closing normally!");
    log.push(["close() called", ws.readyState]);
    guardedSend("too late");               // CLOSING now
  };
  ws.onerror = () => log.push(["error", ws.readyState]);
  ws.onclose = function (e) {
    log.push(["close", ws.readyState, e.code, e.reason, e.wasClean, ws.protocol]);
    resolve(log);
  };
  setTimeout(() => resolve(log.concat([["timed out"]])), 5000);
})
"""


def test_article_snippets_run_against_the_scratch_server(env: Any) -> None:
    server, page, recorder, thread = env
    log = run_js(page, ARTICLE_JS, server.url + "/chat")
    assert log == [
        ["created", 0],
        ["guard: not sent", 0],
        ["open", 1, "chat.v2", ""],
        ["sent", "Hello from Chromium"],
        ["message", 1, "Hello from Chromium"],
        ["close() called", 2],
        ["guard: not sent", 2],
        ["close", 3, 1000, "Closing normally!", True, "chat.v2"],
    ]
    seen = thread.run(recorder.wait_for("/chat"))
    assert seen["messages"] == ["Hello from Chromium"]  # "too early"/"too late" never left
    assert seen["close"] == (1000, "Closing normally!")  # the close frame the server received
    assert seen["offered"] == OFFERED
    assert seen["subprotocol"] == "chat.v2"  # the client's preference wins in scratch
    assert seen["origin"] == server.http_url


BINARY_JS = """
async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const messages = [];
  const received = new Promise((resolve) => {
    ws.onmessage = (e) => { messages.push(e.data); if (messages.length === 2) resolve(); };
  });
  const small = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
  const big = new Uint8Array(70000);                // over 65535: a 64-bit length
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
  ws.send(small.buffer);
  ws.send(big.buffer);
  await received;
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve([e.code, e.wasClean]); });
  ws.close(1000);
  return {
    types: messages.map((data) => Object.prototype.toString.call(data)),
    small: Array.from(new Uint8Array(messages[0])),
    big: Array.from(new Uint8Array(messages[1])).reduce((a, b) => (a * 31 + b) % 1000003, 0),
    bigLength: messages[1].byteLength,
    close: await closed,
  };
}
"""


def _checksum(data: bytes) -> int:
    total = 0
    for byte in data:
        total = (total * 31 + byte) % 1000003
    return total


def test_arraybuffer_round_trip_stays_binary(env: Any) -> None:
    server, page, recorder, thread = env
    result = run_js(page, BINARY_JS, server.url + "/chat")
    big = bytes((i * 7) & 255 for i in range(70000))
    assert result["types"] == ["[object ArrayBuffer]", "[object ArrayBuffer]"]
    assert result["small"] == [0, 1, 2, 127, 128, 254, 255]
    assert result["bigLength"] == 70000 and result["big"] == _checksum(big)
    assert result["close"] == [1000, True]
    seen = thread.run(recorder.wait_for("/chat"))
    assert seen["messages"] == [bytes([0, 1, 2, 127, 128, 254, 255]), big]  # bytes, not str
    assert seen["close"] == (1000, "")


SERVER_CLOSES_JS = """
(url) => new Promise((resolve) => {
  const log = [];
  const ws = new WebSocket(url);
  ws.onopen = () => log.push(["open", ws.readyState]);
  ws.onmessage = (e) => log.push(["message", e.data]);
  ws.onerror = () => log.push(["error", ws.readyState]);
  ws.onclose = (e) => {
    log.push(["close", ws.readyState, e.code, e.reason, e.wasClean]);
    resolve(log);
  };
  setTimeout(() => resolve(log.concat([["timed out"]])), 5000);
})
"""


def test_server_initiated_close_4000_reaches_the_browser(env: Any) -> None:
    server, page, recorder, thread = env
    log = run_js(page, SERVER_CLOSES_JS, server.url + "/bye")
    assert log == [["open", 1], ["close", 3, 4000, "bye from the server", True]]
    seen = thread.run(recorder.wait_for("/bye"))
    assert seen["close"] == (4000, "bye from the server")  # Chromium echoes code and reason


EXTENSIONS_JS = """
async (url) => {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const echoed = new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
  const text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";  // compressible
  ws.send(text);
  const data = await echoed;
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  ws.close();
  return {extensions: ws.extensions, same: data === text, close: await closed};
}
"""


def test_chromium_offers_permessage_deflate_and_the_scratch_server_declines(env: Any) -> None:
    server, page, recorder, thread = env
    result = run_js(page, EXTENSIONS_JS, server.url + "/chat")
    seen = thread.run(recorder.wait_for("/chat"))
    assert "permessage-deflate" in seen["extensions offered"]
    # No extension in the 101: the browser agreed to none, so its frames came
    # uncompressed (a frame with RSV1 set would have failed the connection: 1002).
    assert result == {"extensions": "", "same": True, "close": 1005}
    assert seen["close"] == (1005, "")  # close() without a code: an empty close frame


# --- pages= on the scratch server (no browser needed) --------------------------------


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_pages_answer_plain_gets_and_leave_websocket_upgrades_alone() -> None:
    async def main() -> None:
        async with scratch.serve(scratch.echo, pages={"/": PAGE}) as server:
            loop = asyncio.get_running_loop()
            assert (await loop.run_in_executor(None, _get, server.http_url + "/")) == (
                200,
                "text/html; charset=utf-8",
                PAGE,
            )
            # A path without a page gets the usual refusal of a non-WebSocket request.
            status, _, body = await loop.run_in_executor(None, _get, server.http_url + "/nope")
            assert status == 400 and "websocket" in body.lower()
            # The same path as a WebSocket endpoint: an ordinary echo.
            async with scratch.connect(server.url + "/") as ws:
                await ws.send("still a WebSocket server")
                assert await ws.recv() == "still a WebSocket server"

    run_async(asyncio.wait_for(main(), 10))  # Playwright may hold this thread's loop
