"""Checks for notebook 03 (the lifecycle of a browser-style WebSocket).

Nothing here is a hard-coded answer: each check runs real ``wslearn.websocket``
sockets against real local servers (started here, on ports of their own, and
stopped again) and compares the learner's code with what really happens.
wslearn's ``WebSocket`` matches headless Chromium event for event (tests/test_browser_parity.py),
so "what really happens" is also what a browser does. Every wait has a time
limit, so a solution that never finishes fails instead of hanging the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wslearn import servers
from wslearn.exercises import Result, answered, case, describe_error, exercise
from wslearn.websocket import DOMException, WebSocket

NOTEBOOK = "03_lifecycle_events"

#: seconds any one socket, server or learner's coroutine may take in a check
TIMEOUT = 3.0


# --- predict_events ---------------------------------------------------------------------------

#: the scenarios, each with a nudge toward what to think about (never the events themselves)
SCENARIOS = {
    "refused port": "nothing listens on that port: did the connection ever open?",
    "server closes with 4000": "the handshake succeeds; then a close frame arrives from the server",
    "close() while CONNECTING": "close() comes before the handshake is done: is that a clean end?",
    "server drops TCP": "the socket opened; then TCP is gone without any close frame",
}


def prediction_diagnosis(actual: list[str]) -> Callable[[Any], str | None]:
    """Say what is wrong with a prediction, in words that do not give the events away."""

    def diagnose(got: Any) -> str | None:
        if not isinstance(got, list | tuple) or not all(isinstance(e, str) for e in got):
            return "return a list of strings such as 'open' or 'close 1000'"
        got = list(got)
        if sorted(got) == sorted(actual):
            return "the right events in the wrong order"
        if ("open" in got) != ("open" in actual):
            return ("this socket opens before it ends" if "open" in actual
                    else "this socket never reaches OPEN, so no open event")
        if ("error" in got) != ("error" in actual):
            return ("something fails here, and a failure is reported with its own event"
                    if "error" in actual else "nothing fails here: no error event")
        closes = [e for e in got if e.startswith("close")]
        if len(closes) != 1 or got[-1] != closes[0]:
            return "every ending fires exactly one close event, and it comes last"
        if closes[0] != actual[-1]:
            return (
                "the events are right, but not the close code: it is the code of the close "
                "frame that arrived, and one special code when none did"
            )
        return None

    return diagnose


def fired(ws: WebSocket) -> list[str]:
    """The events ``ws`` fired, in order, as the exercise writes them ("close 1006")."""
    names = []
    for entry in ws.events:
        if entry.type == "close":
            names.append(f"close {entry.details['code']}")
        elif entry.type in ("open", "message", "error"):
            names.append(entry.type)
    return names


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (the OS just handed it out and took it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def live(scenario: str) -> WebSocket:
    """Run one scenario of ``SCENARIOS`` with a real socket; return it once closed."""
    async with contextlib.AsyncExitStack() as stack:
        if scenario == "refused port":
            ws = WebSocket(f"ws://127.0.0.1:{unused_port()}/")
        elif scenario == "server closes with 4000":
            server = await stack.enter_async_context(servers.closer())
            ws = WebSocket(f"{server.url}/?code=4000&reason=bye")
        elif scenario == "close() while CONNECTING":
            server = await stack.enter_async_context(servers.echo())
            ws = WebSocket(server.url)
            ws.close()
        elif scenario == "server drops TCP":
            server = await stack.enter_async_context(servers.closer())
            ws = WebSocket(f"{server.url}/?code=1006")
        else:
            raise ValueError(f"unknown scenario {scenario!r}")
        await ws.closed(timeout=TIMEOUT)
    return ws


@exercise(
    "predict_events",
    notebook=NOTEBOOK,
    shortcuts=["wslearn.exercises.nb03_lifecycle.live", "wslearn.exercises.nb03_lifecycle.fired"],
)
async def check_predict_events(predict_events: Callable[[str], list[str]]) -> list[Result]:
    """The events a scenario fires, in order; each scenario is run live to compare.

    A wrong prediction is told what kind of mistake it is (order, a missing or
    extra event, the close code), never which events really fired.
    """
    results = []
    for scenario, hint in SCENARIOS.items():
        actual = fired(await live(scenario))
        results.append(
            case(
                scenario,
                lambda scenario=scenario: predict_events(scenario),
                actual,
                hint=hint,
                compare=lambda got, want: isinstance(got, list | tuple) and list(got) == want,
                diagnose=prediction_diagnosis(actual),
            )
        )
    return results


# --- ask --------------------------------------------------------------------------------------


class Quiz:
    """A server that answers each question after ``delay`` seconds, and notes each close frame.

    ``closes`` gets one entry per connection: the code of the client's close
    frame, or None when the client never sent one within ``TIMEOUT`` seconds.
    """

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.connections = 0
        self.closes: list[int | None] = []
        self.server = servers.LocalServer("quiz", self.handler)

    @staticmethod
    def answer(question: str) -> str:
        return f"you asked: {question}"

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        try:
            async with asyncio.timeout(TIMEOUT):
                async for question in ws:
                    await asyncio.sleep(self.delay)
                    await ws.send(self.answer(str(question)))
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            self.closes.append(None if rcvd is None else int(rcvd.code))


def _describe(exc: BaseException) -> str:
    """What the learner's code raised, pointing at the learner's line, not the library's.

    A ``DOMException`` is called by its name (``InvalidStateError``), as in JS.
    """
    if isinstance(exc, NotImplementedError):
        return describe_error(exc)
    name = exc.name if isinstance(exc, DOMException) else type(exc).__name__
    library = os.path.dirname(os.path.dirname(__file__))  # the wslearn package
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith(library) and "asyncio" not in f.filename
    ]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"raised {name}: {exc}{where}"


def _case(
    description: str, compute: Callable[[], Any], expected: Any, hint: str, **options: Any
) -> Result:
    """``case()`` (``options`` are its keywords), with exceptions described by ``_describe``."""
    try:
        got = compute()
    except Exception as exc:
        return Result(description, False, f"{_describe(exc)}; {hint}")
    return case(description, lambda: got, expected, hint=hint, **options)


async def _call(ask: Callable[[str, str], Awaitable[str]], url: str, question: str) -> Any:
    """``await ask(url, question)`` within ``TIMEOUT`` (a plain function's result is returned)."""
    result = ask(url, question)
    if inspect.isawaitable(result):
        return await asyncio.wait_for(result, TIMEOUT)
    return result


async def _asked(
    description: str,
    ask: Callable[[str, str], Awaitable[str]],
    url: str,
    question: str,
    expected: str,
    hint: str,
) -> Result:
    vacuous = expected == question  # an echo: returning the question passes too
    try:
        got = await _call(ask, url, question)
    except TimeoutError:
        return Result(description, False, f"no answer after {TIMEOUT:.0f} s; {hint}")
    except Exception as exc:
        if isinstance(exc, DOMException) and exc.name == "InvalidStateError":
            hint = "send() throws while CONNECTING: send the question in onopen"
        return Result(description, False, f"{_describe(exc)}; {hint}")
    seen = answered(got, expected)
    if got == expected:
        return Result(description, True, vacuous=vacuous, seen=seen)
    diagnosis = _ask_diagnosis(got, question) or hint
    return Result(description, False, f"got {got!r}; {diagnosis}", seen=seen)


def _ask_diagnosis(got: Any, question: str) -> str | None:
    """The usual slips of ``ask``, recognised from what it returned."""
    if got is None:
        return "ask returned before the answer came: return await the future onmessage resolves"
    if hasattr(got, "data") and hasattr(got, "type"):
        return "you returned the whole MessageEvent: resolve the future with event.data"
    if got == question:
        return "that is your own question: return the message the server sent back (event.data)"
    return None


async def _closed_after_answer(quiz: Quiz) -> Result:
    """Did the client of the quiz's first connection send a close frame?"""
    description = "the socket is closed once the answer is in"
    if not quiz.connections:
        return Result(description, False, "no connection of ask() reached the server")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(TIMEOUT + 1):  # the handler notes it within TIMEOUT
            while not quiz.closes:
                await asyncio.sleep(0.01)
    if quiz.closes and quiz.closes[0] is not None:
        return Result(description, True)
    return Result(
        description, False, "call ws.close() in onmessage: the server never got a close frame"
    )


@exercise("ask", notebook=NOTEBOOK)
async def check_ask(ask: Callable[[str, str], Awaitable[str]]) -> list[Result]:
    """``await ask(url, question)``: send once open, return the first message, close."""
    results = []
    async with servers.echo() as echo:
        results.append(
            await _asked(
                "the echo server sends 'Hello' back",
                ask,
                echo.url,
                "Hello",
                "Hello",
                "send the question in onopen (never before), and resolve with event.data "
                "in onmessage",
            )
        )
    quiz = Quiz()
    async with quiz.server:
        question = "what is readyState 1?"
        results.append(
            await _asked(
                "a server that answers after 0.2 s with a different text",
                ask,
                quiz.server.url,
                question,
                Quiz.answer(question),
                "return the message the server sent (event.data), and wait for it with a "
                "future rather than a fixed sleep",
            )
        )
        results.append(await _closed_after_answer(quiz))
        questions = ["first?", "second?"]
        description = "two questions at once get their own answers"
        try:
            answers = await asyncio.gather(*(_call(ask, quiz.server.url, q) for q in questions))
        except Exception as exc:
            results.append(Result(description, False, _describe(exc)))
        else:
            want = [Quiz.answer(q) for q in questions]
            results.append(
                case(
                    description,
                    lambda: answers,
                    want,
                    hint="keep each call's future and socket in local variables, not globals",
                    calls=True,  # each question's answer is one answer
                )
            )
    async with servers.reject(403) as refuser:
        description = "a server that refuses the handshake (403): ask raises ConnectionError"
        hint = "in onclose, if no answer came, set_exception(ConnectionError(...)) on the future"
        try:
            got = await _call(ask, refuser.url, "anyone there?")
        except ConnectionError:
            results.append(Result(description, True))
        except TimeoutError:
            results.append(
                Result(description, False, f"still waiting after {TIMEOUT:.0f} s; {hint}")
            )
        except Exception as exc:
            results.append(Result(description, False, f"{_describe(exc)}; {hint}"))
        else:
            results.append(Result(description, False, f"returned {got!r}; {hint}"))
    return results


# --- safe_send --------------------------------------------------------------------------------


@exercise("safe_send", notebook=NOTEBOOK)
async def check_safe_send(safe_send: Callable[[WebSocket, str | bytes], bool]) -> list[Result]:
    """``safe_send(ws, data)`` sends only while OPEN and says whether it did."""
    results = []
    async with servers.echo() as echo:
        ws = WebSocket(echo.url)
        try:
            results.append(
                _case(
                    "CONNECTING: returns False, no exception",
                    lambda: safe_send(ws, "too early"),
                    False,
                    "send() throws InvalidStateError while CONNECTING: test "
                    "ws.readyState == WebSocket.OPEN first",
                )
            )
            await ws.wait_for("open", timeout=TIMEOUT)
            results.append(
                _case(
                    "OPEN: returns True",
                    lambda: safe_send(ws, "hello"),
                    True,
                    "when readyState is OPEN, call ws.send(data) and return True",
                )
            )
            results.append(
                _case(
                    "OPEN: bytes are sent too",
                    lambda: safe_send(ws, b"\x00\x01"),
                    True,
                    "pass data to ws.send() as it is, text or bytes",
                )
            )
            echoes = []
            with contextlib.suppress(TimeoutError, ConnectionError):
                for _ in range(2):
                    echoes.append((await ws.wait_for("message", timeout=0.5)).data)
            results.append(
                _case(
                    "OPEN: both messages come back from the echo server",
                    lambda: echoes,
                    ["hello", b"\x00\x01"],
                    "call ws.send(data) exactly once per safe_send() call",
                    effect=True,  # what arrived, not what safe_send returned
                )
            )
            ws.close()
            results.append(
                _case(
                    "CLOSING: returns False",
                    lambda: safe_send(ws, "late"),
                    False,
                    "after close() send() throws nothing but drops the data: only OPEN may send",
                )
            )
            results.append(
                _case(
                    "CLOSING: nothing queued (bufferedAmount stays 0)",
                    lambda: ws.bufferedAmount,
                    0,
                    "send() while CLOSING discards the data yet still grows "
                    "bufferedAmount: do not call it",
                    effect=True,
                )
            )
            await ws.closed(timeout=TIMEOUT)
            results.append(
                _case(
                    "CLOSED: returns False",
                    lambda: safe_send(ws, "too late"),
                    False,
                    "a CLOSED socket never sends again: return False",
                )
            )
        finally:
            ws.close()
    return results
