"""Notebook 05's exercise checks: reference solutions pass, plausible mistakes fail."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from conftest import reference

from wslearn.exercises import run_checker

predict_buffered = reference("05_buffered_amount")["predict_buffered"]


def failures(report) -> dict[str, str]:
    return {r.case: r.message for r in report.results if not r.passed}


def not_written(*args: object) -> Any:
    raise NotImplementedError("your solution here")


# --- should_send --------------------------------------------------------------------------


def test_should_send_reference_passes_including_the_live_run():
    report = run_checker("should_send", lambda amount, max_data: amount < max_data)
    assert report.passed, str(report)
    assert any("real socket" in r.case for r in report.results)


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (lambda a, m: a <= m, "bufferedAmount 10,240, max_data 10,240", "strictly less"),
        (lambda a, m: a > m, "bufferedAmount 0, max_data 10,240", "room"),
        (lambda a, m: True, "bufferedAmount 50,000, max_data 10,240", "must not grow"),
    ],
    ids=["less-or-equal", "inverted", "always"],
)
def test_should_send_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    report = run_checker("should_send", wrong)
    assert not report.passed
    messages = failures(report)
    assert failing_case in messages
    assert hint in messages[failing_case]


def test_should_send_live_run_catches_a_throttle_that_never_says_no():
    from wslearn.exercises.nb05_buffering import _live_throttle
    from wslearn.jupyter import run

    result = run(_live_throttle(lambda a, m: True))
    assert not result.passed
    assert "reached" in result.message


# --- predict_buffered ---------------------------------------------------------------------


def _size(data: str | bytes, *, chars: bool = False) -> int:
    if isinstance(data, str):
        return len(data) if chars else len(data.encode("utf-8"))
    return len(data)


def counts_characters(steps: Sequence[tuple]) -> int:
    """Counts text by len(str): characters instead of UTF-8 bytes."""
    total, open_ = 0, False
    for step in steps:
        if step[0] == "open":
            open_ = True
        elif step[0] == "send" and open_:
            total += _size(step[1], chars=True)
        elif step[0] == "drain":
            total = max(0, total - step[1])
    return total


def counts_connecting_sends(steps: Sequence[tuple]) -> int:
    """Forgets that send() while CONNECTING throws."""
    return predict_buffered([("open",), *[s for s in steps if s[0] != "open"]])


def forgets_sends_after_close(steps: Sequence[tuple]) -> int:
    cut = next((i for i, s in enumerate(steps) if s[0] == "close"), len(steps))
    return predict_buffered(steps[:cut])


def drains_discarded_data(steps: Sequence[tuple]) -> int:
    """Treats data sent after close() as if it could still drain."""
    return predict_buffered([s for s in steps if s[0] != "close"])


def goes_negative(steps: Sequence[tuple]) -> int:
    total, open_ = 0, False
    for step in steps:
        if step[0] == "open":
            open_ = True
        elif step[0] == "send" and open_:
            total += _size(step[1])
        elif step[0] == "drain":
            total -= step[1]
    return total


def test_predict_buffered_reference_passes_including_the_real_socket():
    report = run_checker("predict_buffered", predict_buffered)
    assert report.passed, str(report)
    assert any("real wslearn WebSocket" in r.case for r in report.results)


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (counts_characters, "text with accents and an emoji", "UTF-8 bytes"),
        (counts_connecting_sends, "send() while CONNECTING", "InvalidStateError"),
        (forgets_sends_after_close, "send() after close()", "still adds its size"),
        (drains_discarded_data, "discarded data never drains", "only data queued while OPEN"),
        (goes_negative, "drained more than was queued", "never go below 0"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_predict_buffered_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    report = run_checker("predict_buffered", wrong)
    assert not report.passed
    messages = failures(report)
    assert failing_case in messages
    assert hint in messages[failing_case]


def test_predict_buffered_real_socket_disagrees_with_a_wrong_prediction():
    report = run_checker("predict_buffered", counts_characters)
    assert "a real wslearn WebSocket agrees with your prediction" in failures(report)


# --- max_data_for -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrong", "failing_case"),
    [
        (lambda latency, rate, size: round(latency * rate) - size + 1, "300 ms at 1,002 B/s, "
         "messages of 50 B"),
        (lambda latency, rate, size: math.ceil(latency * rate) - size + 1, "300 ms at 1,002 B/s, "
         "messages of 50 B"),
        (lambda latency, rate, size: latency * rate - size + 1,
         "the answer is a whole number of bytes (an int)"),
        (lambda latency, rate, size: int(rate / latency), "100 ms at 400,000 B/s, messages of "
         "8,192 B"),
    ],
    ids=["round", "ceil", "float", "divides"],
)
def test_max_data_for_mistakes_fail(wrong, failing_case):
    report = run_checker("max_data_for", wrong)
    assert not report.passed
    assert failing_case in failures(report)
