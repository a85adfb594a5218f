"""Checks for notebook 07 (keepalive and reconnection).

The expected values come from the definitions the notebook teaches (the
exponential backoff of the AWS article, the close codes' meanings in RFC 6455
§7.4.1 and the IANA registry, a watchdog on what *arrives*, resuming by
sequence number). Each likely slip is modelled (``mistakes.slips``), so a
failure names the learner's mistake.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from wslearn.exercises import Result, case, exercise
from wslearn.exercises.mistakes import known, slips

NOTEBOOK = "07_keepalive_reconnect"

__all__ = [
    "DEAD_CASES",
    "RECONNECT_CASES",
    "RESUME_CASES",
    "SCHEDULE_CASES",
    "model_dead_at",
    "model_resume",
    "model_schedule",
]


def _close_enough(got: Any, want: Any) -> bool:
    if not isinstance(got, list | tuple) or len(got) != len(want):
        return False
    return all(
        isinstance(g, int | float) and not isinstance(g, bool) and math.isclose(g, w, rel_tol=1e-9)
        for g, w in zip(got, want, strict=True)
    )


# --- backoff_schedule -----------------------------------------------------------------------


def model_schedule(
    base: float,
    cap: float,
    attempts: int,
    factor: float = 2.0,
    *,
    no_cap: bool = False,
    from_one: bool = False,
    linear: bool = False,
) -> list[float]:
    """The delays before jitter; each flag is one slip a learner makes."""
    delays = []
    for n in range(attempts):
        n = n + 1 if from_one else n
        delay = base * (n + 1) if linear else base * factor**n
        delays.append(delay if no_cap else min(cap, delay))
    return delays


SCHEDULE_SLIPS = {
    "no_cap": "the delays never stop growing: take min(cap, ...) for every one",
    "from_one": "the first delay is base itself: the n-th delay, counting n from 0, is "
    "base * factor**n",
    "linear": "the delay grows by adding base each time; it should be multiplied by factor",
}

#: (description, args) for backoff_schedule(base, cap, attempts, factor)
SCHEDULE_CASES = [
    ("the default: base 0.5, cap 30, 8 attempts", (0.5, 30.0, 8)),
    ("the notebook's storm: base 0.05, cap 1.0, 7 attempts", (0.05, 1.0, 7)),
    ("factor 3: base 1, cap 100, 5 attempts", (1.0, 100.0, 5, 3.0)),
    ("base equal to cap: 0.1, 0.1, 3 attempts", (0.1, 0.1, 3)),
    ("no attempts at all", (0.5, 30.0, 0)),
]


@exercise("backoff_schedule", notebook=NOTEBOOK, shortcuts=["wslearn.reconnect.backoff"])
def check_backoff_schedule(backoff_schedule: Callable[..., list[float]]) -> Iterator[Result]:
    """The first delays of an exponential backoff with a cap, before jitter."""
    for description, args in SCHEDULE_CASES:
        yield case(
            description,
            lambda args=args: backoff_schedule(*args),
            model_schedule(*args),
            hint="delay n (from 0) is min(cap, base * factor**n)",
            compare=_close_enough,
            diagnose=known(slips(model_schedule, SCHEDULE_SLIPS, *args), same=_close_enough),
        )

    yield case(
        "the 2000th delay (a client retrying all night)",
        lambda: backoff_schedule(0.5, 30.0, 2000),
        30.0,
        hint="it stays at the cap; if your code raised OverflowError, stop multiplying once "
        "you reach the cap (2.0**2000 does not fit in a float)",
        compare=lambda got, want: isinstance(got, int | float) and math.isclose(got, want),
        view=lambda schedule: schedule[-1],  # the whole schedule is the answer seen
    )


# --- should_reconnect -----------------------------------------------------------------------

AGAIN = "the same request would break the same rule again: stop"
#: code -> (expected, hint)
RECONNECT_CASES: dict[int, tuple[bool, str]] = {
    1000: (False, "1000 is a normal end: someone meant to close; do not come back"),
    1001: (
        True,
        "1001 from a server means it is going away (shutting down, restarting): come back later",
    ),
    1002: (False, f"1002 is a protocol error: {AGAIN}"),
    1003: (False, f"1003 (unacceptable data): {AGAIN}"),
    1005: (False, "1005 means the close frame had no code: the peer closed on purpose"),
    1006: (True, "1006 means no close frame came: a drop, the very case to reconnect after"),
    1007: (False, f"1007 (invalid data): {AGAIN}"),
    1008: (False, "1008 is a policy violation (say, a bad ticket): retrying changes nothing"),
    1009: (False, f"1009 (message too big): {AGAIN}"),
    1011: (True, "1011 is the server's own failure, often passing: try again, with backoff"),
    1012: (True, "1012 is 'service restart': the server asks you to come back"),
    1013: (True, "1013 is 'try again later': come back, after a delay"),
    1014: (True, "1014 is 'bad gateway': a proxy lost the server, which may return"),
    1015: (False, "1015 is a failed TLS handshake: a certificate problem does not fix itself"),
    3000: (False, "3000-3999 belong to libraries: unknown meaning, so do not retry blindly"),
    4000: (False, "4000-4999 are the application's own codes: it closed you on purpose"),
    4999: (False, "4000-4999 are the application's own codes: it closed you on purpose"),
}


@exercise(
    "should_reconnect",
    notebook=NOTEBOOK,
    shortcuts=["wslearn.reconnect.reconnectable"],
)
def check_should_reconnect(should_reconnect: Callable[[int], bool]) -> Iterator[Result]:
    """Reconnect (True) or stop (False) after a connection ended with this code."""
    for code, (expected, hint) in RECONNECT_CASES.items():
        yield case(
            f"{code}",
            lambda code=code: should_reconnect(code),
            expected,
            hint=hint,
            compare=lambda got, want: isinstance(got, bool) and got == want,
        )


# --- dead_at --------------------------------------------------------------------------------


def model_dead_at(
    activity: list[tuple[float, str]],
    timeout: float,
    now: float,
    *,
    counts_sent: bool = False,
    no_open: bool = False,
    last_gap_only: bool = False,
    at_next_event: bool = False,
) -> float | None:
    """When a watchdog declares the connection dead (``None``: alive at ``now``).

    The connection opened at time 0, which counts as hearing from the peer;
    only ``"received"`` activity proves the peer alive. Each flag is a slip.
    """
    kinds = ("received", "sent") if counts_sent else ("received",)
    heard = ([] if no_open else [0.0]) + sorted(t for t, kind in activity if kind in kinds)
    if not heard:
        return None
    if last_gap_only:
        heard = heard[-1:]
    for last, following in zip(heard, [*heard[1:], math.inf], strict=True):
        deadline = last + timeout
        if deadline <= min(following, now):
            if at_next_event:
                later = [t for t, _ in activity if t > last]
                return min(later) if later else now
            return deadline
    return None


DEAD_SLIPS = {
    "counts_sent": "your own heartbeats prove nothing: only what *arrives* shows the peer is alive",
    "no_open": "count the moment the connection opened (time 0) as the last thing heard",
    "last_gap_only": "look at every silence, not only the last one: the watchdog would have "
    "fired during an earlier one",
    "at_next_event": "the connection is dead at last heard + timeout, not at the next event",
}

#: (description, activity, timeout, now)
DEAD_CASES = [
    (
        "answers every 0.5 s, timeout 1.5 s: alive",
        [
            (0.5, "sent"),
            (0.52, "received"),
            (1.0, "sent"),
            (1.02, "received"),
            (1.5, "sent"),
            (1.52, "received"),
        ],
        1.5,
        2.5,
    ),
    (
        "answers stop after 1.02 s, timeout 1.5 s",
        [
            (0.5, "sent"),
            (0.52, "received"),
            (1.0, "sent"),
            (1.02, "received"),
            (1.5, "sent"),
            (2.0, "sent"),
            (2.5, "sent"),
            (3.0, "sent"),
        ],
        1.5,
        3.2,
    ),
    ("nothing ever arrives, timeout 2 s", [(1.0, "sent"), (2.0, "sent"), (3.0, "sent")], 2.0, 3.5),
    (
        "a long silence that ended: the watchdog fired during it",
        [(0.4, "received"), (2.9, "received"), (3.3, "received")],
        1.0,
        3.5,
    ),
    ("quiet but not for long enough yet", [(0.8, "received")], 1.0, 1.7),
]


@exercise("dead_at", notebook=NOTEBOOK)
def check_dead_at(dead_at: Callable[..., float | None]) -> Iterator[Result]:
    """When nothing has arrived for ``timeout`` seconds (or ``None``)."""
    for description, activity, timeout, now in DEAD_CASES:
        args = (activity, timeout, now)
        yield case(
            description,
            lambda args=args: dead_at([tuple(a) for a in args[0]], *args[1:]),
            model_dead_at(*args),
            hint="dead at the first moment when nothing has been received for timeout seconds",
            compare=_same_time,
            diagnose=known(slips(model_dead_at, DEAD_SLIPS, *args), same=_same_time),
            # "never anything, timeout 2 s" is dead at 2: returning timeout passes it too
            vacuous=model_dead_at(*args) in (None, timeout),
        )


def _same_time(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return isinstance(got, int | float) and not isinstance(got, bool) and math.isclose(got, want)


# --- resume ---------------------------------------------------------------------------------


def model_resume(
    batch: list[dict[str, Any]],
    last: int,
    *,
    duplicates: bool = False,
    unsorted: bool = False,
    inclusive: bool = False,
    keeps_last: bool = False,
) -> tuple[list[int], int]:
    """The sequence numbers to deliver, in order, each once, and the new ``last``."""
    fresh = [m["seq"] for m in batch if m["seq"] >= last + (0 if inclusive else 1)]
    if not duplicates:
        fresh = list(dict.fromkeys(fresh))
    if not unsorted:
        fresh.sort()
    return fresh, last if keeps_last else max([last, *fresh])


RESUME_SLIPS = {
    "duplicates": "a replay can repeat a message: deliver each seq once",
    "unsorted": "deliver in seq order, whatever order they arrived in",
    "inclusive": "last was delivered already: keep only seq > last",
    "keeps_last": "return the highest seq delivered as the new last, for the next ?after=",
}

#: (description, seqs in arrival order, last)
RESUME_CASES = [
    ("new messages in order", [5, 6, 7], 4),
    ("a replay that starts at last", [4, 5, 6], 4),
    ("a replay sent twice", [5, 6, 5, 6, 7], 4),
    ("out of order", [7, 5, 6], 4),
    ("nothing new", [2, 3, 4], 4),
    ("the very first batch", [1, 2, 3], 0),
]


@exercise("resume", notebook=NOTEBOOK)
def check_resume(resume: Callable[..., tuple[list[dict[str, Any]], int]]) -> Iterator[Result]:
    """Deduplicate and order a batch by ``seq``; return the messages and the new ``last``."""
    for description, seqs, last in RESUME_CASES:
        batch = [{"seq": s, "t": round(0.02 * s, 2)} for s in seqs]
        yield case(
            f"{description}: seqs {seqs}, last {last}",
            lambda batch=batch, last=last: _seqs(resume([dict(m) for m in batch], last)),
            model_resume(batch, last),
            hint="deliver the messages with seq > last, each once, in seq order; "
            "then last = the highest seq delivered",
            diagnose=known(slips(model_resume, RESUME_SLIPS, batch, last)),
        )


def _seqs(result: Any) -> Any:
    """``(messages, last)`` as ``(seqs, last)``, to compare; anything else as it is."""
    try:
        messages, last = result
        return [m["seq"] for m in messages], last
    except (TypeError, ValueError, KeyError):
        return result
