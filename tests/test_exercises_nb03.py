"""Notebook 03's exercise checks: the notebook's solutions pass, plausible mistakes fail.

The checks are ``async def`` and run real sockets; ``run_checker`` drives them
with its own event loop, so these tests are plain synchronous functions.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import failures, reference

from wslearn.exercises import run_checker
from wslearn.exercises.nb03_lifecycle import SCENARIOS, prediction_diagnosis
from wslearn.websocket import DOMException, WebSocket

REF = reference("03_lifecycle_events")  # the notebook's own reference solutions


# --- predict_events ---------------------------------------------------------------------------


def test_predict_events_reference_passes_every_live_scenario():
    report = run_checker("predict_events", REF["predict_events"])
    assert report.passed, str(report)
    assert [r.case for r in report.results] == list(SCENARIOS)


@pytest.mark.parametrize(
    ("scenario", "wrong"),
    [
        ("refused port", ["close 1006", "error"]),  # wrong order: error comes first
        ("refused port", ["close 1006"]),  # forgot the error event
        ("server drops TCP", ["open", "error", "close 1006"]),  # no error after an open
        ("server closes with 4000", ["open", "close 1000"]),  # the server's code, not 1000
        ("close() while CONNECTING", ["close 1000"]),  # it fails the connection
    ],
)
def test_predict_events_wrong_prediction_fails_that_scenario_only(scenario, wrong):
    def predict(name: str) -> list[str]:
        return wrong if name == scenario else REF["predict_events"](name)

    messages = failures("predict_events", predict)
    assert list(messages) == [scenario]
    said = prediction_diagnosis(REF["predict_events"](scenario))(wrong)
    assert said and said in messages[scenario]  # what kind of mistake, never the events


# --- ask --------------------------------------------------------------------------------------


async def ask_sends_before_open(url: str, question: str) -> str:
    ws = WebSocket(url)
    ws.send(question)  # InvalidStateError: still CONNECTING
    return (await ws.wait_for("message", timeout=2)).data


async def ask_returns_question(url: str, question: str) -> str:
    ws = WebSocket(url)
    await ws.wait_for("open", timeout=2)
    ws.send(question)
    ws.close()
    return question  # right on an echo server, wrong on any other


async def ask_never_closes(url: str, question: str) -> str:
    ws = WebSocket(url)
    answer = asyncio.get_running_loop().create_future()
    ws.onopen = lambda event: ws.send(question)
    ws.onmessage = lambda event: answer.done() or answer.set_result(event.data)
    ws.onclose = lambda event: answer.done() or answer.set_exception(ConnectionError("closed"))
    return await answer


async def ask_without_onclose(url: str, question: str) -> str:
    ws = WebSocket(url)
    answer = asyncio.get_running_loop().create_future()

    def on_message(event):
        answer.set_result(event.data)
        ws.close()

    ws.onopen = lambda event: ws.send(question)
    ws.onmessage = on_message
    return await answer  # waits forever when the handshake is refused


async def ask_fixed_sleep(url: str, question: str) -> str:
    ws = WebSocket(url)
    got = []
    ws.onopen = lambda event: ws.send(question)
    ws.onmessage = lambda event: got.append(event.data)
    await asyncio.sleep(0.05)  # long enough on loopback for an echo, not for a slow server
    ws.close()
    if not got:
        raise ConnectionError("no answer")
    return got[0]


_shared: dict[str, asyncio.Future] = {}


async def ask_with_a_global(url: str, question: str) -> str:
    ws = WebSocket(url)
    _shared["answer"] = asyncio.get_running_loop().create_future()

    def on_message(event):
        if not _shared["answer"].done():
            _shared["answer"].set_result(event.data)
        ws.close()

    def on_close(event):
        if not _shared["answer"].done():
            _shared["answer"].set_exception(ConnectionError("closed"))

    ws.onopen = lambda event: ws.send(question)
    ws.onmessage, ws.onclose = on_message, on_close
    await asyncio.sleep(0)
    return await _shared["answer"]


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (ask_sends_before_open, "the echo server sends 'Hello' back", "InvalidStateError"),
        (
            ask_returns_question,
            "a server that answers after 0.2 s with a different text",
            "event.data",
        ),
        (ask_never_closes, "the socket is closed once the answer is in", "ws.close()"),
        (
            ask_without_onclose,
            "a server that refuses the handshake (403): ask raises ConnectionError",
            "still waiting",
        ),
        (ask_fixed_sleep, "a server that answers after 0.2 s with a different text", "future"),
        (ask_with_a_global, "two questions at once get their own answers", "local variables"),
    ],
)
def test_ask_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    messages = failures("ask", wrong)
    assert failing_case in messages, messages
    assert hint in messages[failing_case]


# --- safe_send --------------------------------------------------------------------------------


def send_without_guard(ws: WebSocket, data: str | bytes) -> bool:
    ws.send(data)
    return True


def guard_only_connecting(ws: WebSocket, data: str | bytes) -> bool:
    if ws.readyState != WebSocket.CONNECTING:
        ws.send(data)
        return True
    return False


def catch_the_exception(ws: WebSocket, data: str | bytes) -> bool:
    try:
        ws.send(data)
    except DOMException:
        return False
    return True


def checks_but_forgets_to_send(ws: WebSocket, data: str | bytes) -> bool:
    return ws.readyState == WebSocket.OPEN


@pytest.mark.parametrize(
    ("wrong", "failing_cases"),
    [
        (send_without_guard, {"CONNECTING: returns False, no exception", "CLOSING: returns False"}),
        (guard_only_connecting, {"CLOSING: returns False", "CLOSED: returns False"}),
        (catch_the_exception, {"CLOSING: nothing queued (bufferedAmount stays 0)"}),
        (checks_but_forgets_to_send, {"OPEN: both messages come back from the echo server"}),
    ],
)
def test_safe_send_mistakes_fail(wrong, failing_cases):
    messages = failures("safe_send", wrong)
    assert failing_cases <= set(messages), messages


def test_safe_send_without_guard_names_the_exception():
    message = failures("safe_send", send_without_guard)["CONNECTING: returns False, no exception"]
    assert "InvalidStateError" in message or "CONNECTING state" in message
