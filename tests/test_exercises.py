"""Every exercise of the course: the notebook's reference passes, the released stub fails.

One parametrized test over the exercise registry, so a new exercise is covered the
moment it is registered. The per-notebook files (``test_exercises_nbNN.py``) hold
what is particular to each exercise: plausible mistakes and the hints they get.
"""

from __future__ import annotations

import pytest
from helpers import not_written, reference

from wslearn.exercises import NOT_WRITTEN, registry, run_checker

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
