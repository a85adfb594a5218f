"""wslearn.websocket against headless Chromium: same scenario, same observable result.

Each scenario in ``SCENARIOS`` is data: a URL, subprotocols, and actions to take
when the socket is created / opens / receives a message.  Two small
interpreters run it -- ``RUN_JS`` in Chromium, ``run_python`` with
``wslearn.websocket`` -- and each returns a log of the same shape:

    ["open", readyState, {"url", "protocol", "extensions"}]
    ["message", readyState, data]            (text, or {"hex": ...} for binary)
    ["error", readyState]
    ["close", readyState, code, reason, wasClean, bufferedAmount]
    [action, "ok" or the exception's name, readyState, bufferedAmount]
    ["throw", name]                          (the constructor threw)

The test asserts the two logs are equal, and that the server saw the same
messages and the same close frame from both clients.  The scenario's
``expect`` is checked too, so a scenario documents the behaviour it covers.
Both clients talk to one ``websockets`` server (in a background thread), which
also serves the page the JS runs in.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from browser import ServerThread, chromium, open_page, port_of, run_async, run_js, serve_page
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response

from wslearn.websocket import DOMException, WebSocket

TIMEOUT = 5.0  # seconds a scenario may take in either client


@dataclass
class Scenario:
    name: str
    url: str  # "{port}": the test server, "{refused}": a port nobody listens on
    on: dict[str, list[list[Any]]] = field(default_factory=dict)  # hook -> actions
    protocols: str | list[str] | None = None
    expect: list[list[Any]] | None = None  # the log both clients must produce
    server: bool = False  # also compare what the server received


E = "ws://127.0.0.1:{port}"
LONG_ASCII = "x" * 124
LONG_UTF8 = "é" * 62  # 124 bytes of UTF-8 in 62 characters
MAX_UTF8 = "é" * 61 + "a"  # exactly 123 bytes

SCENARIOS = [
    Scenario(
        "echo_text_then_close_1000",
        f"{E}/echo",
        on={"open": [["send", "hello"]], "message": [["close", 1000, "bye"]]},
        expect=[
            ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
            ["send", "ok", 1, 5],
            ["message", 1, "hello"],
            ["close", "ok", 2, 0],
            ["close", 3, 1000, "bye", True, 0],
        ],
        server=True,
    ),
    Scenario(
        "echo_binary",
        f"{E}/echo",
        on={
            "create": [["binaryType", "arraybuffer"]],
            "open": [["send", {"hex": "00ff10"}]],
            "message": [["close"]],
        },
        server=True,
    ),
    Scenario(
        "buffered_amount_counts_utf8_bytes",
        f"{E}/echo",
        on={"open": [["send", "héllo 😀"]], "message": [["close", 1000]]},
        expect=[
            ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
            ["send", "ok", 1, 11],
            ["message", 1, "héllo 😀"],
            ["close", "ok", 2, 0],
            ["close", 3, 1000, "", True, 0],
        ],
        server=True,
    ),
    Scenario(
        "server_closes_4001_go_away",
        f"{E}/close/4001/go away",
        expect=[
            ["open", 1, {"url": f"{E}/close/4001/go%20away", "protocol": "", "extensions": ""}],
            ["close", 3, 4001, "go away", True, 0],
        ],
        server=True,
    ),
    Scenario(
        "server_sends_empty_close_frame_1005",
        f"{E}/close-empty",
        expect=[
            ["open", 1, {"url": f"{E}/close-empty", "protocol": "", "extensions": ""}],
            ["close", 3, 1005, "", True, 0],
        ],
        server=True,
    ),
    Scenario(
        "server_drops_tcp_1006_no_error",
        f"{E}/drop",
        expect=[
            ["open", 1, {"url": f"{E}/drop", "protocol": "", "extensions": ""}],
            ["close", 3, 1006, "", False, 0],
        ],
    ),
    Scenario(
        "refused_port_error_then_close",
        "ws://127.0.0.1:{refused}/",
        expect=[["error", 3], ["close", 3, 1006, "", False, 0]],
    ),
    Scenario(
        "rejected_handshake_403",
        f"{E}/reject/403",
        expect=[["error", 3], ["close", 3, 1006, "", False, 0]],
    ),
    Scenario(
        "server_requires_subprotocol_400",
        f"{E}/chat",
        expect=[["error", 3], ["close", 3, 1006, "", False, 0]],
    ),
    Scenario(
        "subprotocol_server_preference_wins",
        f"{E}/chat",
        protocols=["chat.v2", "chat.v1"],
        on={"open": [["close"]]},
        expect=[
            ["open", 1, {"url": f"{E}/chat", "protocol": "chat.v1", "extensions": ""}],
            ["close", "ok", 2, 0],
            ["close", 3, 1005, "", True, 0],
        ],
        server=True,
    ),
    Scenario(
        "single_subprotocol_string",
        f"{E}/chat",
        protocols="chat.v2",
        on={"open": [["close", 1000]]},
        server=True,
    ),
    Scenario(
        "close_while_connecting_fails_connection",
        f"{E}/echo",
        on={"create": [["close"]]},
        expect=[["close", "ok", 2, 0], ["error", 3], ["close", 3, 1006, "", False, 0]],
    ),
    Scenario(
        "send_while_connecting_throws",
        f"{E}/echo",
        on={"create": [["send", "too early"]], "open": [["close", 1000]]},
        expect=[
            ["send", "InvalidStateError", 0, 0],
            ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
            ["close", "ok", 2, 0],
            ["close", 3, 1000, "", True, 0],
        ],
        server=True,
    ),
    Scenario(
        "close_argument_rules",
        f"{E}/echo",
        on={
            "open": [
                ["close", 999],
                ["close", 1001],
                ["close", 2999],
                ["close", 5000],
                ["close", 1000, LONG_ASCII],
                ["close", 1000, LONG_UTF8],
                ["close", 1001, LONG_ASCII],
                ["close", 4999, MAX_UTF8],
                ["close", 3000, "ignored: already CLOSING"],
            ]
        },
        expect=[
            ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
            ["close", "InvalidAccessError", 1, 0],
            ["close", "InvalidAccessError", 1, 0],
            ["close", "InvalidAccessError", 1, 0],
            ["close", "InvalidAccessError", 1, 0],
            ["close", "SyntaxError", 1, 0],
            ["close", "SyntaxError", 1, 0],
            ["close", "InvalidAccessError", 1, 0],
            ["close", "ok", 2, 0],
            ["close", "ok", 2, 0],
            ["close", 3, 4999, MAX_UTF8, True, 0],
        ],
        server=True,
    ),
    Scenario(
        "close_rules_checked_even_when_closed",
        f"{E}/close/1000/done",
        on={"close": [["close", 999], ["close", 1000, LONG_ASCII], ["close"]]},
        expect=[
            ["open", 1, {"url": f"{E}/close/1000/done", "protocol": "", "extensions": ""}],
            ["close", 3, 1000, "done", True, 0],
            ["close", "InvalidAccessError", 3, 0],
            ["close", "SyntaxError", 3, 0],
            ["close", "ok", 3, 0],
        ],
    ),
    Scenario(
        "send_after_close_only_grows_buffered_amount",
        f"{E}/echo",
        on={"open": [["send", "a"], ["close"], ["send", "xyz"], ["send", {"hex": "0102"}]]},
        expect=[
            ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
            ["send", "ok", 1, 1],
            ["close", "ok", 2, 1],
            ["send", "ok", 2, 4],
            ["send", "ok", 2, 6],
            # the echo of "a" arrives while CLOSING: dropped, no message event
            ["close", 3, 1005, "", True, 5],
        ],
        server=True,
    ),
    Scenario(
        "messages_then_server_close",
        f"{E}/burst",
        expect=[
            ["open", 1, {"url": f"{E}/burst", "protocol": "", "extensions": ""}],
            ["message", 1, "one"],
            ["message", 1, "two"],
            ["close", 3, 1000, "done", True, 0],
        ],
    ),
    Scenario(
        "fragmented_message_is_reassembled",
        f"{E}/fragmented",
        expect=[
            ["open", 1, {"url": f"{E}/fragmented", "protocol": "", "extensions": ""}],
            ["message", 1, "fragmented ✓"],
            ["close", 3, 1000, "", True, 0],
        ],
    ),
    Scenario(
        "server_ping_gets_pong",
        f"{E}/ping",
        expect=[
            ["open", 1, {"url": f"{E}/ping", "protocol": "", "extensions": ""}],
            ["message", 1, "pong received"],
            ["close", 3, 1000, "", True, 0],
        ],
    ),
    Scenario(
        "invalid_utf8_fails_connection",
        f"{E}/badutf8",
        expect=[
            ["open", 1, {"url": f"{E}/badutf8", "protocol": "", "extensions": ""}],
            ["error", 3],
            ["close", 3, 1006, "", False, 0],
        ],
        server=True,
    ),
    Scenario(
        "http_url_becomes_ws",
        "http://127.0.0.1:{port}/echo",
        on={"open": [["close", 1000]]},
        expect=[
            ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
            ["close", "ok", 2, 0],
            ["close", 3, 1000, "", True, 0],
        ],
    ),
    Scenario(
        "url_is_normalized",
        "  WS://127.0.0.1:{port}/a/../echo?x=1 2\n",
        on={"open": [["close", 1000]]},
        expect=[
            ["open", 1, {"url": f"{E}/echo?x=1%202", "protocol": "", "extensions": ""}],
            ["close", "ok", 2, 0],
            ["close", 3, 1000, "", True, 0],
        ],
    ),
    Scenario("fragment_throws", f"{E}/echo#frag", expect=[["throw", "SyntaxError"]]),
    Scenario("empty_fragment_throws", f"{E}/echo#", expect=[["throw", "SyntaxError"]]),
    Scenario("ftp_scheme_throws", "ftp://127.0.0.1/", expect=[["throw", "SyntaxError"]]),
    Scenario("file_scheme_throws", "file:///tmp/x", expect=[["throw", "SyntaxError"]]),
    Scenario("url_without_host_throws", "ws://", expect=[["throw", "SyntaxError"]]),
    Scenario(
        "port_out_of_range_throws", "ws://127.0.0.1:99999/", expect=[["throw", "SyntaxError"]]
    ),
    Scenario(
        "duplicate_subprotocol_throws",
        f"{E}/chat",
        protocols=["chat.v1", "chat.v1"],
        expect=[["throw", "SyntaxError"]],
    ),
    Scenario(
        "subprotocol_with_space_throws",
        f"{E}/chat",
        protocols=["chat v1"],
        expect=[["throw", "SyntaxError"]],
    ),
    Scenario(
        "empty_subprotocol_throws", f"{E}/chat", protocols=[""], expect=[["throw", "SyntaxError"]]
    ),
    Scenario(
        "non_ascii_subprotocol_throws",
        f"{E}/chat",
        protocols=["é"],
        expect=[["throw", "SyntaxError"]],
    ),
    Scenario(
        "subprotocols_differing_in_case_are_allowed",
        f"{E}/first",
        protocols=["Chat", "chat"],
        on={"open": [["close", 1000]]},
        expect=[
            ["open", 1, {"url": f"{E}/first", "protocol": "Chat", "extensions": ""}],
            ["close", "ok", 2, 0],
            ["close", 3, 1000, "", True, 0],
        ],
    ),
    Scenario(
        "subprotocol_offered_but_none_selected_fails",
        f"{E}/echo",
        protocols=["chat.v1"],
        expect=[["error", 3], ["close", 3, 1006, "", False, 0]],
    ),
]

# A reason without a code: the one place where the port follows the standard
# and Chromium does not.  JS `close(undefined, "bye")` makes Chromium convert
# `undefined` to 0 and throw InvalidAccessError ("0 is neither"); the standard
# says code is then 1000.  Python's `close(None, "bye")` (or `close(reason=...)`)
# follows the standard.  Both logs are pinned here.
REASON_WITHOUT_CODE = Scenario(
    "reason_without_code",
    f"{E}/echo",
    on={"open": [["close", None, "bye"], ["close"]]},
    server=True,
)
REASON_WITHOUT_CODE_CHROMIUM = [
    ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
    ["close", "InvalidAccessError", 1, 0],
    ["close", "ok", 2, 0],
    ["close", 3, 1005, "", True, 0],
]
REASON_WITHOUT_CODE_PYTHON = [
    ["open", 1, {"url": f"{E}/echo", "protocol": "", "extensions": ""}],
    ["close", "ok", 2, 0],
    ["close", "ok", 2, 0],
    ["close", 3, 1000, "bye", True, 0],
]


# --------------------------------------------------------------------------- interpreters

RUN_JS = """
async ({url, protocols, on, timeout}) => {
  const log = [];
  const toData = (v) => (v !== null && typeof v === "object")
    ? Uint8Array.from(v.hex.match(/../g) || [], (h) => parseInt(h, 16)) : v;
  const show = (d) => typeof d === "string" ? d
    : {hex: Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("")};
  let ws;
  try {
    ws = protocols === null ? new WebSocket(url) : new WebSocket(url, protocols);
  } catch (e) {
    log.push(["throw", e.name]);
    return log;
  }
  const run = (hook) => {
    for (const [name, ...args] of (on[hook] || [])) {
      let outcome = "ok";
      try {
        if (name === "send") ws.send(toData(args[0]));
        else if (name === "close") ws.close(...args.map((a) => a === null ? undefined : a));
        else if (name === "binaryType") ws.binaryType = args[0];
      } catch (e) {
        outcome = e.name;
      }
      log.push([name, outcome, ws.readyState, ws.bufferedAmount]);
    }
  };
  return await new Promise((resolve) => {
    ws.onopen = () => {
      log.push(["open", ws.readyState,
                {url: ws.url, protocol: ws.protocol, extensions: ws.extensions}]);
      run("open");
    };
    ws.onmessage = (e) => { log.push(["message", ws.readyState, show(e.data)]); run("message"); };
    ws.onerror = () => { log.push(["error", ws.readyState]); run("error"); };
    ws.onclose = (e) => {
      log.push(["close", ws.readyState, e.code, e.reason, e.wasClean, ws.bufferedAmount]);
      run("close");
      resolve(log);
    };
    run("create");
    setTimeout(() => { log.push(["timeout"]); resolve(log); }, timeout * 1000);
  });
}
"""


async def _run_python(url: str, protocols: Any, on: dict[str, list[list[Any]]]) -> list[Any]:
    log: list[Any] = []

    def to_data(value: Any) -> str | bytes:
        return bytes.fromhex(value["hex"]) if isinstance(value, dict) else value

    def show(data: str | bytes) -> Any:
        return data if isinstance(data, str) else {"hex": data.hex()}

    try:
        ws = WebSocket(url, protocols)
    except DOMException as exc:
        return [["throw", exc.name]]

    def run(hook: str) -> None:
        for name, *args in on.get(hook, []):
            outcome = "ok"
            try:
                if name == "send":
                    ws.send(to_data(args[0]))
                elif name == "close":
                    ws.close(*args)
                elif name == "binaryType":
                    ws.binaryType = args[0]
            except DOMException as exc:
                outcome = exc.name
            log.append([name, outcome, ws.readyState, ws.bufferedAmount])

    done = asyncio.get_running_loop().create_future()

    def on_open(event: Any) -> None:
        details = {"url": ws.url, "protocol": ws.protocol, "extensions": ws.extensions}
        log.append(["open", ws.readyState, details])
        run("open")

    def on_message(event: Any) -> None:
        log.append(["message", ws.readyState, show(event.data)])
        run("message")

    def on_error(event: Any) -> None:
        log.append(["error", ws.readyState])
        run("error")

    def on_close(event: Any) -> None:
        log.append(
            ["close", ws.readyState, event.code, event.reason, event.wasClean, ws.bufferedAmount]
        )
        run("close")
        done.set_result(None)

    ws.onopen, ws.onmessage, ws.onerror, ws.onclose = on_open, on_message, on_error, on_close
    run("create")
    try:
        async with asyncio.timeout(TIMEOUT):
            await done
    except TimeoutError:
        log.append(["timeout"])
    return log


def run_python(url: str, protocols: Any, on: dict[str, list[list[Any]]]) -> list[Any]:
    return run_async(_run_python(url, protocols, on))


# --------------------------------------------------------------------------- the server


class Router:
    """One server for every scenario; the path picks the behaviour.

    ``records`` has one entry per connection: the messages the server received
    and the close frame it received as [code, reason] (None if none arrived).
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @staticmethod
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/reject/"):
            return connection.respond(int(request.path.split("/")[2]), "rejected\n")
        return serve_page(connection, request)

    @staticmethod
    def select_subprotocol(connection: ServerConnection, offered: list[str]) -> str | None:
        if connection.request.path.startswith("/first"):
            return offered[0] if offered else None  # whatever the client likes best
        if not connection.request.path.startswith("/chat"):
            return None
        for name in ("chat.v1", "chat.v2"):  # the server's order of preference wins
            if name in offered:
                return name
        raise NegotiationError("no supported subprotocol")  # websockets answers HTTP 400

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path.split("?")[0]
        record: dict[str, Any] = {"received": []}
        self.records.append(record)
        try:
            await self._behave(ws, path, record)
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            record["close"] = None if rcvd is None else [int(rcvd.code), rcvd.reason]

    async def _behave(self, ws: ServerConnection, path: str, record: dict[str, Any]) -> None:
        if path.startswith("/close/"):
            _, _, code, reason = path.split("/", 3)
            await ws.close(int(code), unquote(reason))
        elif path == "/close-empty":
            await ws.close(None)  # type: ignore[arg-type]  # no status code: empty body
        elif path == "/drop":
            await asyncio.sleep(0.05)
            ws.transport.abort()  # TCP goes away without any close frame
        elif path == "/burst":
            await ws.send("one")
            await ws.send("two")
            await ws.close(1000, "done")
        elif path == "/fragmented":
            await ws.send(["frag", "mented ", "✓"])  # three frames, one message
            await ws.close()
        elif path == "/ping":
            pong = await ws.ping(b"are you there?")
            await asyncio.wait_for(pong, 2)
            await ws.send("pong received")
            await ws.close()
        elif path == "/badutf8":
            await ws.send(b"\xff\xfe not UTF-8", text=True)
        if path in ("/echo", "/chat", "/first", "/badutf8"):
            async for message in ws:
                record["received"].append(
                    message if isinstance(message, str) else {"hex": message.hex()}
                )
                await ws.send(message)

    def take(self, wait: bool = True) -> list[dict[str, Any]]:
        """The records of the connections since the last call, once their handlers ended.

        With ``wait``, give a connection up to 2 s to show up and finish.
        """
        deadline = time.monotonic() + (2 if wait else 0)
        while time.monotonic() < deadline and (
            not self.records or any("close" not in r for r in self.records)
        ):
            time.sleep(0.01)
        records, self.records = self.records, []
        return records

    def settle(self, quiet: float = 0.3, limit: float = 3.0) -> None:
        """Forget earlier connections, once none has shown up or changed for ``quiet`` s.

        A connection that a scenario abandoned while CONNECTING can reach the
        server's handler late; without this it would count for the next one.
        """
        deadline = time.monotonic() + limit
        seen = -1
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            state = len(self.records) + sum("close" in r for r in self.records)
            if state != seen:
                seen, quiet_since = state, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                break
            time.sleep(0.01)
        self.records = []


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def env() -> Any:
    router = Router()
    with ServerThread() as thread, chromium() as context:
        server = thread.serve(
            router.handler,
            compression=None,
            process_request=router.process_request,
            select_subprotocol=router.select_subprotocol,
        )
        port = port_of(server)
        page = open_page(context, f"http://127.0.0.1:{port}/")
        yield router, page, {"port": port, "refused": _refused_port()}


def _run_both(env: Any, scenario: Scenario) -> tuple[Any, Any, Any, Any]:
    router, page, ports = env
    url = scenario.url.format(**ports)
    arg = {"url": url, "protocols": scenario.protocols, "on": scenario.on, "timeout": TIMEOUT}
    if scenario.server:
        router.settle()  # forget connections of earlier scenarios, stragglers included
    else:
        router.take(wait=bool(router.records))
    js_log = run_js(page, RUN_JS, arg)
    js_server = router.take() if scenario.server else None
    py_log = run_python(url, scenario.protocols, scenario.on)
    py_server = router.take() if scenario.server else None
    return js_log, py_log, js_server, py_server


def _fill(expected: list[list[Any]], ports: dict[str, int]) -> list[list[Any]]:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{port}", str(ports["port"]))
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return fill(expected)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_port_matches_chromium(env: Any, scenario: Scenario) -> None:
    js_log, py_log, js_server, py_server = _run_both(env, scenario)
    assert py_log == js_log, f"Chromium: {js_log}\nwslearn:  {py_log}"
    if scenario.expect is not None:
        assert js_log == _fill(scenario.expect, env[2])
    if scenario.server:
        assert py_server == js_server, f"server saw, Chromium: {js_server}; wslearn: {py_server}"


def test_reason_without_code_follows_the_standard_not_chromium(env: Any) -> None:
    js_log, py_log, js_server, py_server = _run_both(env, REASON_WITHOUT_CODE)
    assert js_log == _fill(REASON_WITHOUT_CODE_CHROMIUM, env[2])
    assert py_log == _fill(REASON_WITHOUT_CODE_PYTHON, env[2])
    assert js_server == [{"received": [], "close": [1005, ""]}]
    assert py_server == [{"received": [], "close": [1000, "bye"]}]


def test_invalid_utf8_is_answered_with_close_1002_like_chromium(env: Any) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "invalid_utf8_fails_connection")
    _, _, js_server, py_server = _run_both(env, scenario)
    expected = [{"received": [], "close": [1002, "Invalid UTF-8 in text frame"]}]
    assert js_server == py_server == expected


def test_server_initiated_close_is_echoed_like_chromium(env: Any) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "server_closes_4001_go_away")
    _, _, js_server, py_server = _run_both(env, scenario)
    assert js_server == py_server
    assert js_server is not None and js_server[0]["close"] == [4001, "go away"]
