"""Every exercise of the course: the notebook's reference passes, the released stub fails,
an answer that does nothing (``return None``, its input unchanged, ``[]``) scores 0 points.

Parametrized tests over the exercise registry, so a new exercise is covered the
moment it is registered. The per-notebook files (``test_exercises_nbNN.py``) hold
what is particular to each exercise: plausible mistakes and the hints they get.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from helpers import not_written, reference

from wslearn.exercises import (
    NOT_WRITTEN,
    Exercise,
    answered,
    case,
    depends_on_input,
    registry,
    run_checker,
)

EXERCISES = sorted(registry().values(), key=lambda e: (e.notebook, e.name))
IDS = [f"{e.notebook[:2]}-{e.name}" for e in EXERCISES]


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_notebooks_reference_solution_passes_every_case(exercise):
    solution = reference(exercise.notebook)[exercise.name]
    report = run_checker(exercise.name, solution)
    assert report.passed, str(report)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_released_stub_fails_saying_it_is_not_written(exercise):
    report = run_checker(exercise.name, not_written)
    assert report.results, "a checker must report at least one case"
    assert not report.passed, str(report)
    first_failure = next(r for r in report.results if not r.passed)
    assert NOT_WRITTEN in first_failure.message, str(report)


# --- an answer that does nothing earns nothing -------------------------------------------------


def shaped_like(solution: Callable[..., Any], body: Callable[..., Any]) -> Callable[..., Any]:
    """A function with ``solution``'s parameters (``async def`` when it is) giving ``body``'s value.

    ``body`` gets the call's bound arguments, defaults applied; an awaitable it
    returns is awaited.
    """
    signature = inspect.signature(solution)

    def arguments(args: tuple, kwargs: dict) -> inspect.BoundArguments:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound

    if inspect.iscoroutinefunction(solution):

        async def shaped(*args: Any, **kwargs: Any) -> Any:
            result = body(arguments(args, kwargs))
            return await result if inspect.isawaitable(result) else result

    else:

        def shaped(*args: Any, **kwargs: Any) -> Any:
            return body(arguments(args, kwargs))

    return functools.wraps(solution)(shaped)


def calls_of(exercise: Exercise) -> tuple[Any, list[tuple[inspect.BoundArguments, Any]]]:
    """The reference solution, and its arguments and result in each call of its own checker."""
    solution = reference(exercise.notebook)[exercise.name]
    calls: list[tuple[inspect.BoundArguments, Any]] = []

    async def awaited(bound: inspect.BoundArguments, result: Awaitable[Any]) -> Any:
        calls.append((bound, await result))
        return calls[-1][1]

    def record(bound: inspect.BoundArguments) -> Any:
        result = solution(*bound.args, **bound.kwargs)
        if inspect.isawaitable(result):
            return awaited(bound, result)
        calls.append((bound, result))
        return result

    assert run_checker(exercise.name, shaped_like(solution, record)).passed
    return solution, calls


def empty_like(value: Any) -> Any:
    """The empty value of ``value``'s type (``""``, ``0``, ``False``, ``[]``, ...), else None."""
    try:
        return type(value)()
    except TypeError:
        return None


def do_nothing_answers(exercise: Exercise) -> dict[str, Any]:
    """Answers that do nothing, shaped like the reference: same parameters, nothing done.

    Returning None, returning one of its arguments unchanged (unless that is what the
    reference does: a PONG carries its PING's payload), returning the empty value of
    each type the reference returned; ``async def`` when the reference is. None of
    them sends, mutates or computes anything.
    """
    solution, calls = calls_of(exercise)
    signature = inspect.signature(solution)
    outcomes: dict[str, Callable[[inspect.BoundArguments], Any]] = {"returns None": lambda b: None}
    for name in signature.parameters:
        if not all(result is bound.arguments[name] for bound, result in calls):
            outcomes[f"returns its argument {name!r}"] = lambda b, name=name: b.arguments[name]
    for _, value in calls:
        empty = empty_like(value)
        if empty is not None:
            outcomes[f"returns {empty!r}"] = lambda b, empty=empty: empty
    return {says: shaped_like(solution, outcome) for says, outcome in outcomes.items()}


def points_scored(exercise: Exercise, answers: dict[str, Any]) -> str:
    """Each of ``answers`` that earned points in ``exercise``, with its report ("" if none)."""
    scored = []
    for says, answer in answers.items():
        report = run_checker(exercise.name, answer)
        if report.points:
            scored.append(f"an answer that {says}: {report.points} points\n{report}")
    return "\n".join(scored)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_an_answer_that_does_nothing_scores_no_points(exercise):
    scored = points_scored(exercise, do_nothing_answers(exercise))
    assert not scored, scored


def constant_answers(exercise: Exercise) -> dict[str, Any]:
    """Answers that ignore their input: each value the reference returned, returned always.

    Only where the reference's own results differ from call to call: a function
    whose right answer depends on its input cannot be right without looking at it.
    """
    solution, calls = calls_of(exercise)
    values = []
    for _, value in calls:
        if all(repr(value) != repr(seen) for seen in values):
            values.append(value)
    if len(values) < 2:
        return {}
    return {
        f"always returns {value!r:.40}": shaped_like(solution, lambda b, value=value: value)
        for value in values
    }


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_an_answer_that_ignores_its_input_scores_no_points(exercise):
    scored = points_scored(exercise, constant_answers(exercise))
    assert not scored, scored


# --- what a case sees of an answer -------------------------------------------------------------


def passes(results):
    return [r.case for r in depends_on_input(results) if r.passed]


def test_several_calls_in_one_case_count_as_one_answer_each():
    # a ticket redeemed once, then twice: "alice" every time is right only for the first
    def redeemed(answers, right, calls):
        return case("replay", lambda: answers, right, calls=calls)

    once = (["alice"], ["alice"])
    twice = (["alice", "alice"], ["alice", None])
    assert passes([redeemed(*once, calls=True), redeemed(*twice, calls=True)]) == []
    # seen as two lists, ["alice"] and ["alice", "alice"] look like two different answers
    assert passes([redeemed(*once, calls=False), redeemed(*twice, calls=False)]) == ["replay"]


def test_a_viewed_part_is_compared_and_shown_while_the_whole_answer_is_seen():
    schedule = [0.1, 0.1, 0.1]  # the same schedule whatever the arguments
    last = case("2000th delay", lambda: schedule, 30.0, view=lambda delays: delays[-1])
    assert last.message == "got 0.1"  # the last delay, not the list
    first = case("base equal to cap", lambda: schedule, [0.1, 0.1, 0.1])
    assert first.passed
    assert passes([first, last]) == []


def test_an_effect_is_not_an_answer():
    # safe_send always True: what the echo server sent back is not something it returned
    sent = case("echoes", lambda: ["hello"], ["hello"], effect=True)
    assert sent.passed and sent.seen == ()
    results = [
        case("CONNECTING", lambda: True, False),
        case("OPEN", lambda: True, True),
        sent,
    ]
    assert passes(results) == []


def test_equal_sets_and_dicts_are_one_answer_whatever_their_order():
    def digests(value):
        ((answer, expected, _short),) = answered(value, value)
        return answer, expected

    assert repr({9, 1}) != repr({1, 9})  # 9 and 1 share a slot: the order of insertion shows
    assert digests({9, 1}) == digests({1, 9})
    assert digests({"a": 1, "b": 2}) == digests({"b": 2, "a": 1})
    assert digests({"a": 1}) != digests({"a": 2})
