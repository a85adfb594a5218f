"""Hints that diagnose, and shortcuts that fail: every exercise of notebooks 00-05, in one place.

Beside tests/test_exercises.py (the reference passes, the stub fails), this file checks:

- every recognised mistake gets its own diagnosis: a solution that makes exactly
  that mistake (the check module's own model of it, or a hand-written slip) fails
  with that mistake's sentence, not the fixed hint;
- every shortcut listed in the registry fails with its one-line reason, also when
  the learner bound the library function to a name of their own;
- a prediction exercise never states the answer in a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import reference

from wslearn.exercises import nb00_why as nb00
from wslearn.exercises import nb01_handshake as nb01
from wslearn.exercises import nb02_framing as nb02
from wslearn.exercises import nb04_close as nb04
from wslearn.exercises import nb05_buffering as nb05
from wslearn.exercises import registry, run_checker
from wslearn.exercises.shortcuts import reason, resolve

COURSE = ("00", "01", "02", "03", "04", "05")


def failure_messages(exercise: str, solution: Callable[..., Any]) -> list[str]:
    report = run_checker(exercise, solution)
    assert not report.passed, str(report)
    return [r.message for r in report.results if not r.passed]


# --- each modelled slip, alone, is named ---------------------------------------------------------

#: exercise -> (the check module's model of a solution with slips, {slip flag: its sentence})
MODELLED = {
    "frame_overhead": (nb00.model_overhead, nb00.OVERHEAD_SLIPS),
    "text_frame": (nb00.model_frame, nb00.FRAME_SLIPS),
    "accept_key": (nb01.model_accept, nb01.ACCEPT_SLIPS),
    "parse_request_head": (nb01.model_parse, nb01.PARSE_SLIPS),
    "parse_header": (nb02.model_header, nb02.HEADER_SLIPS),
    "apply_mask": (nb02.model_mask, nb02.MASK_SLIPS),
    "encode_length": (nb02.model_length, nb02.LENGTH_SLIPS),
    "decode_close_payload": (nb04.model_decode, nb04.DECODE_SLIPS),
    "predict_buffered": (nb05.model_buffered, nb05.PREDICT_SLIPS),
    "max_data_for": (nb05.model_max_data, nb05.MAX_DATA_SLIPS),
}

SLIPS = [(exercise, flag) for exercise, (_, named) in MODELLED.items() for flag in named]


def _with_slip(model: Callable[..., Any], flag: str) -> Callable[..., Any]:
    def solution(*args: Any) -> Any:  # the learner's code: defined here, not in the library
        return model(*args, **{flag: True})

    return solution


@pytest.mark.parametrize(("exercise", "flag"), SLIPS, ids=[f"{e}-{f}" for e, f in SLIPS])
def test_a_solution_with_one_known_slip_is_told_that_slip(exercise, flag):
    model, named = MODELLED[exercise]
    messages = failure_messages(exercise, _with_slip(model, flag))
    assert any(named[flag] in message for message in messages), messages


def test_two_slips_at_once_are_both_named():
    model = nb01.model_accept
    messages = failure_messages(
        "accept_key", lambda key: model(key, no_guid=True, hex_text=True)
    )
    both = f"2 mistakes: {nb01.ACCEPT_SLIPS['no_guid']}; and {nb01.ACCEPT_SLIPS['hex_text']}"
    assert any(both in message for message in messages), messages


# --- answers too small to tell apart one by one: the whole table is compared ----------------

TABLES = [
    ("sendable", says, model) for says, model in nb04.SENDABLE_MODELS.items()
] + [
    ("was_clean", says, model) for says, model in nb04.WAS_CLEAN_MODELS.items()
] + [
    ("should_send", says, model) for says, model in nb05.SHOULD_SEND_MODELS.items()
]


@pytest.mark.parametrize(
    ("exercise", "says", "model"), TABLES, ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(TABLES)]
)
def test_a_known_misreading_of_the_rule_is_named(exercise, says, model):
    messages = failure_messages(exercise, lambda *args: model(*args))
    assert any(says in message for message in messages), messages


# --- hand-written slips of the exercises without a model ------------------------------------

REF = {"01": reference("01_handshake")}


def _status_but(change: dict[bytes, int]) -> Callable[[bytes], int]:
    """The notebook's status_for, except for requests containing one of ``change``'s keys."""
    right = REF["01"]["status_for"]

    def status_for(request: bytes) -> int:
        for marker, status in change.items():
            if marker in request:
                return status
        return right(request)

    return status_for


def _predict(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    return lambda scenario: table[scenario]


HANDWRITTEN = [
    ("poll_delay", lambda interval, rtt: interval / 2, "you left out the network"),
    ("poll_delay", lambda interval, rtt: interval, "that is the worst case"),
    (
        "poll_delay",
        lambda interval, rtt: (interval + rtt) / 2,
        "the answer still travels rtt / 2 back",
    ),
    (
        "status_for",
        _status_but({b"Version: 8": 400}),
        "only its version is one you do not speak: 426",
    ),
    (
        "status_for",
        _status_but({b"keep-alive, Upgrade": 400}),
        "split it at commas and look for upgrade",
    ),
    (
        "status_for",
        _status_but({b"evil.example": 400}),
        "an origin you refuse gets 403, not 400",
    ),
    ("status_for", lambda request: True, "return the status as an int"),
    (
        "code_for",
        lambda situation: 1006 if "crashed" in situation else REF_CODES[situation],
        "1006 is only reported to the application, never sent in a close frame",
    ),
    (
        "code_for",
        lambda situation: 3003 if "bans" in situation else REF_CODES[situation],
        "3000-3999 belong to libraries and frameworks",
    ),
    (
        "predict_events",
        _predict(
            {
                "refused port": ["close 1006", "error"],
                "server closes with 4000": ["open", "close 4000"],
                "close() while CONNECTING": ["error", "close 1006"],
                "server drops TCP": ["open", "close 1006"],
            }
        ),
        "the right events in the wrong order",
    ),
    (
        "predict_events",
        _predict(
            {
                "refused port": ["error", "close 1006"],
                "server closes with 4000": ["open", "close 4000"],
                "close() while CONNECTING": ["error", "close 1006"],
                "server drops TCP": ["open", "error", "close 1006"],
            }
        ),
        "nothing fails here: no error event",
    ),
]

REF_CODES = {situation: accepted.low for situation, (accepted, _) in nb04.SITUATIONS.items()}


@pytest.mark.parametrize(
    ("exercise", "solution", "says"),
    HANDWRITTEN,
    ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(HANDWRITTEN)],
)
def test_a_hand_written_slip_is_named(exercise, solution, says):
    messages = failure_messages(exercise, solution)
    assert any(says in message for message in messages), messages


def test_a_wrong_prediction_is_never_told_the_events():
    actual = {
        "refused port": ["error", "close 1006"],
        "server closes with 4000": ["open", "close 4000"],
        "close() while CONNECTING": ["error", "close 1006"],
        "server drops TCP": ["open", "close 1006"],
    }
    wrong = {scenario: ["open", "close 1000"] for scenario in actual}
    report = run_checker("predict_events", _predict(wrong))
    failed = [r for r in report.results if not r.passed]
    assert len(failed) == 4
    for result in failed:
        told = result.message.split("; ", 1)[1]
        assert str(actual[result.case]) not in told and "close 1006" not in told, told


# --- shortcuts ----------------------------------------------------------------------------------

SHORTCUTS = [
    (exercise.name, dotted)
    for exercise in sorted(registry().values(), key=lambda e: e.name)
    if exercise.notebook[:2] in COURSE
    for dotted in exercise.shortcuts
]


def test_every_exercise_that_has_a_library_answer_lists_it():
    listed = {name for name, _ in SHORTCUTS}
    assert {
        "frame_overhead", "text_frame", "accept_key", "parse_request_head", "status_for",
        "parse_header", "apply_mask", "encode_length", "predict_events",
        "decode_close_payload", "sendable", "was_clean",
    } <= listed


@pytest.mark.parametrize(("exercise", "dotted"), SHORTCUTS, ids=[f"{e}-{d}" for e, d in SHORTCUTS])
def test_calling_the_library_answer_fails_with_its_reason(exercise, dotted):
    module, attribute, _ = resolve(dotted)

    def solution(*args: Any) -> Any:  # looks the function up at call time, as `handshake.f()` does
        return getattr(module, attribute)(*args)

    report = run_checker(exercise, solution)
    assert [(r.passed, r.message) for r in report.results] == [(False, reason(dotted))]
    assert report.points == 0
    assert getattr(module, attribute) is resolve(dotted)[2]  # put back afterwards


def test_a_shortcut_under_a_name_of_the_learners_own_is_caught_too():
    namespace: dict[str, Any] = {}
    exec(
        "from wslearn.handshake import accept_key as sha\n"
        "def accept_key(key):\n"
        "    try:\n"
        "        return sha(key)\n"
        "    except Exception:\n"  # swallowing the tripwire does not help
        "        return 'x'\n",
        namespace,
    )
    report = run_checker("accept_key", namespace["accept_key"])
    assert report.results[0].message == reason("wslearn.handshake.accept_key")
    assert not report.passed
    from wslearn import handshake

    assert namespace["sha"] is handshake.accept_key  # the learner's name is put back


def test_the_shortcut_reason_reads_as_the_issue_asks():
    assert reason("wslearn.handshake.accept_key") == (
        "write it yourself: calling `handshake.accept_key` here is the answer, not a solution"
    )


# --- points ------------------------------------------------------------------------------------


def test_the_table_shows_points_as_the_gradebook_counts_them():
    report = run_checker("poll_delay", lambda interval, rtt: interval / 2)
    assert str(report).splitlines()[0] == "poll_delay: 1/4 cases passed, 0.25/1 point"
    assert report.to_json()["points"] == 0.25
    assert "1/4 cases passed, 0.25/1 point" in report._repr_html_()
