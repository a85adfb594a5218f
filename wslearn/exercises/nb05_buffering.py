"""Checks for notebook 05 (bufferedAmount and throttling)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from wslearn.exercises import Result, case, exercise
from wslearn.exercises.mistakes import known, same_as, slips

NOTEBOOK = "05_buffered_amount"

Step = tuple[Any, ...]


# --- should_send ----------------------------------------------------------------------------

#: (bufferedAmount, max_data, expected, hint)
SHOULD_SEND_CASES = [
    (0, 10240, True, "an empty buffer always has room"),
    (10239, 10240, True, "one byte below the limit is still below it"),
    (10240, 10240, False, "send only while bufferedAmount < maxData: strictly less"),
    (50_000, 10240, False, "a buffer above the limit must not grow"),
    (0, 0, False, "with max_data 0 there is never room"),
]

#: the live case: one short run of the throttled sender against a slow consumer
LIVE = {"rate": 400_000, "size": 8192, "interval": 0.005, "max_data": 16 * 1024, "duration": 0.5}


#: whole tables of answers that a known slip gives
SHOULD_SEND_MODELS: dict[str, Callable[[int, int], bool]] = {
    "at bufferedAmount == max_data the buffer is full: strictly less (<), not <=": (
        lambda amount, limit: amount <= limit
    ),
    "the comparison is the wrong way round: send while the amount is below the limit": (
        lambda amount, limit: amount >= limit
    ),
    "use the amount: an empty buffer (0) may always send, unless max_data is 0": (
        lambda amount, limit: limit > 0
    ),
}


@exercise("should_send", notebook=NOTEBOOK)
async def check_should_send(should_send: Callable[[int, int], bool]) -> list[Result]:
    """The throttle's decision: is there room for one more message?"""
    slip = same_as(should_send, [(a, m) for a, m, _, _ in SHOULD_SEND_CASES], SHOULD_SEND_MODELS)
    results = [
        case(
            f"bufferedAmount {amount:,}, max_data {limit:,}",
            lambda amount=amount, limit=limit: should_send(amount, limit),
            want,
            hint=hint,
            # a bool, or the 0/1 of `max_data and ...`: any other number is an amount, not a
            # decision (returning max_data unchanged must not pass "there is room")
            compare=lambda got, want: isinstance(got, bool | int) and got in (0, 1)
            and bool(got) is want,
            diagnose=lambda got: slip,
        )
        for amount, limit, want, hint in SHOULD_SEND_CASES
    ]
    if all(r.passed for r in results):
        results.append(await _live_throttle(should_send))
    return results


async def _live_throttle(should_send: Callable[[int, int], bool]) -> Result:
    """Drive the throttled setInterval loop with the learner's decision on a real socket."""
    from wslearn import buffering
    from wslearn.websocket import WebSocket

    name = "a real socket throttled by your function stays within max_data + one message"
    limit = LIVE["max_data"] - 1 + LIVE["size"]
    try:
        async with buffering.SlowConsumer(LIVE["rate"]) as consumer:
            ws = WebSocket(consumer.url, send_buffer=buffering.SNDBUF)
            await ws.wait_for("open", timeout=5)
            async with buffering.Sampler(ws) as sampler:
                log = await buffering.send_throttled(
                    ws,
                    max_data=LIVE["max_data"],
                    size=LIVE["size"],
                    interval=LIVE["interval"],
                    duration=LIVE["duration"],
                    should_send=should_send,
                )
            consumer.rate = None  # let the rest through for a quick, clean close
            ws.close()
            await ws.closed(timeout=5)
    except Exception as exc:  # a learner's function may raise anything
        return Result(name, False, f"raised {type(exc).__name__}: {exc}")
    if sampler.peak > limit:
        return Result(name, False, f"bufferedAmount reached {sampler.peak:,} B > {limit:,} B")
    if not log.sent or not log.skipped:
        return Result(name, False, "it should send while there is room and skip when there is not")
    return Result(name, True)


# --- predict_buffered -----------------------------------------------------------------------

#: (description, steps, expected, hint)
PREDICT_CASES: list[tuple[str, list[Step], int, str]] = [
    ("one text message", [("open",), ("send", "hello")], 5, "text counts its UTF-8 bytes"),
    (
        "text with accents and an emoji",
        [("open",), ("send", "héllo 😀")],
        11,
        "count UTF-8 bytes, not characters: len(data.encode('utf-8'))",
    ),
    (
        "binary messages",
        [("open",), ("send", b"\x00" * 10), ("send", bytes(range(7)))],
        17,
        "binary data counts len(data) bytes",
    ),
    ("an empty message", [("open",), ("send", "")], 0, "an empty message adds 0 bytes"),
    (
        "send() while CONNECTING",
        [("send", "too early"), ("open",), ("send", "ok")],
        2,
        "send() while CONNECTING raises InvalidStateError and queues nothing",
    ),
    (
        "part of it drained",
        [("open",), ("send", b"x" * 100), ("drain", 60)],
        40,
        "each drain takes that many bytes off the amount",
    ),
    (
        "drained more than was queued",
        [("open",), ("send", "abc"), ("drain", 10), ("send", "de")],
        2,
        "the network cannot take more than is queued: never go below 0",
    ),
    (
        "send() after close()",
        [("open",), ("send", b"x" * 10), ("close",), ("send", b"y" * 5)],
        15,
        "after close() send() discards the data but still adds its size",
    ),
    (
        "discarded data never drains",
        [("open",), ("send", b"x" * 10), ("close",), ("send", "héé"), ("drain", 100)],
        5,
        "only data queued while OPEN can drain; what was sent after close() stays counted",
    ),
    (
        "the whole story",
        [
            ("send", b"?" * 3),
            ("open",),
            ("send", "€"),
            ("send", b"\xff" * 1000),
            ("drain", 500),
            ("send", "ok"),
            ("drain", 501),
            ("close",),
            ("send", "bye"),
            ("drain", 10),
        ],
        3,
        "walk the steps in order and keep two numbers: what can still drain, and what never will",
    ),
]


#: replayed on a real wslearn WebSocket (no drain: bufferedAmount read before any loop turn)
LIVE_STEPS: list[Step] = [
    ("send", "early"),
    ("open",),
    ("send", "héllo 😀"),
    ("send", b"\x00" * 300),
    ("close",),
    ("send", "after close"),
]


PREDICT_SLIPS = {
    "chars": "count UTF-8 bytes, not characters: len(data.encode('utf-8'))",
    "connecting_counts": "send() while CONNECTING throws InvalidStateError and queues nothing",
    "below_zero": "a drain cannot take more than is queued: never go below 0",
    "closed_dropped": "after close() send() discards the data but still adds its size",
    "closed_drains": "only data queued while OPEN can drain: what was sent after close() stays",
}


def model_buffered(steps: Sequence[Step], **slip: bool) -> int:
    """``predict_buffered`` with some of ``PREDICT_SLIPS`` made."""
    state, queued, stuck = "CONNECTING", 0, 0
    for step in steps:
        if step[0] in ("open", "close"):
            state = "OPEN" if step[0] == "open" else "CLOSING"
        elif step[0] == "send" and (state != "CONNECTING" or slip.get("connecting_counts")):
            data = step[1]
            size = len(data) if slip.get("chars") or not isinstance(data, str) else len(
                data.encode()
            )
            if state == "CLOSING" and slip.get("closed_dropped"):
                continue
            if state == "CLOSING" and not slip.get("closed_drains"):
                stuck += size
            else:
                queued += size
        elif step[0] == "drain":
            queued -= step[1] if slip.get("below_zero") else min(step[1], queued)
    return queued + stuck


@exercise("predict_buffered", notebook=NOTEBOOK)
async def check_predict_buffered(predict: Callable[[Sequence[Step]], int]) -> list[Result]:
    """bufferedAmount after a sequence of open / send / drain / close steps.

    A wrong prediction is told which rule it broke (a model of each slip gives
    the same number), never the right number.
    """
    results = [
        case(
            description,
            lambda steps=steps: predict(list(steps)),
            want,
            hint=hint,
            diagnose=known(slips(model_buffered, PREDICT_SLIPS, steps)),
        )
        for description, steps, want, hint in PREDICT_CASES
    ]
    results.append(await _live_predict(predict))
    return results


async def _live_predict(predict: Callable[[Sequence[Step]], int]) -> Result:
    from wslearn import buffering
    from wslearn.dom import DOMException
    from wslearn.websocket import WebSocket

    name = "a real wslearn WebSocket agrees with your prediction"
    try:
        want = predict(list(LIVE_STEPS))
    except Exception as exc:
        return Result(name, False, f"raised {type(exc).__name__}: {exc}")
    async with buffering.SlowConsumer(rate=None) as consumer:
        ws = WebSocket(consumer.url)
        for step in LIVE_STEPS:  # no await between the sends: nothing drains meanwhile
            if step[0] == "open":
                await ws.wait_for("open", timeout=5)
            elif step[0] == "close":
                ws.close()
            else:
                with contextlib.suppress(DOMException):  # while CONNECTING
                    ws.send(step[1])
        got = ws.bufferedAmount
        await ws.closed(timeout=5)
    if got == want:
        return Result(name, True)
    diagnosis = known(slips(model_buffered, PREDICT_SLIPS, LIVE_STEPS))(want)
    more = "more" if isinstance(want, int) and want > got else "less"
    return Result(name, False, f"you predicted {want!r}, {more} than the socket holds; "
                  + (diagnosis or "walk the steps in order"))


# --- max_data_for ---------------------------------------------------------------------------

#: (latency in s, rate in bytes/s, message size in bytes)
MAX_DATA_CASES = [
    (0.1, 400_000, 8192),
    (2.0, 1_000, 100),
    (0.5, 125_000, 1_000),
    (0.3, 1_002, 50),
    (1.0, 4_096, 4_096),
    (0.25, 10_240, 4_096),
]

MAX_DATA_SLIPS = {
    "no_message": "the throttle sends one more message when bufferedAmount is just below "
    "max_data: the queue can reach max_data - 1 + message_size",
    "no_minus_one": "bufferedAmount < max_data lets the queue start a send at max_data - 1, "
    "not at max_data: add the 1 back",
    "no_floor": "bytes are whole: round the budget latency_s * rate down (math.floor)",
    "rounded": "round down, not to the nearest: a byte more would wait too long",
    "no_clamp": "a max_data below 1 means 'never send': return 0, not a negative number",
}


def model_max_data(latency: float, rate: float, size: int, **slip: bool) -> float:
    """``max_data_for`` with some of ``MAX_DATA_SLIPS`` made."""
    if slip.get("no_floor") and slip.get("rounded"):
        raise ValueError("two ways of the same slip")
    budget = latency * rate
    budget = budget if slip.get("no_floor") else round(budget) if slip.get("rounded") else (
        math.floor(budget)
    )
    if slip.get("no_message"):
        value = budget
    else:
        value = budget - size + (0 if slip.get("no_minus_one") else 1)
    return value if slip.get("no_clamp") else max(value, 0)


@exercise("max_data_for", notebook=NOTEBOOK)
def check_max_data_for(max_data_for: Callable[[float, float, int], int]) -> Iterator[Result]:
    """The largest max_data for which no byte waits longer than ``latency_s`` under the throttle."""
    for latency, rate, size in MAX_DATA_CASES:
        yield case(
            f"{1000 * latency:g} ms at {rate:,} B/s, messages of {size:,} B",
            lambda latency=latency, rate=rate, size=size: max_data_for(latency, rate, size),
            model_max_data(latency, rate, size),
            hint="the fullest queue, max_data - 1 + message_size, must drain within latency_s",
            diagnose=known(slips(model_max_data, MAX_DATA_SLIPS, latency, rate, size)),
            # 1 s at 4,096 B/s gives 1: returning latency_s passes that one too
            vacuous=model_max_data(latency, rate, size) in (0, latency, rate, size),
        )
    yield case(
        "the answer is a whole number of bytes (an int)",
        lambda: isinstance(max_data_for(0.2, 50_000, 1000), int),
        hint="bufferedAmount counts whole bytes: return an int, e.g. int(...) or math.floor(...)",
        vacuous=True,  # any int passes, message_size returned unchanged too
    )
