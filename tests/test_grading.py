"""Exercises: reference notebooks grade 100%, student copies 0%, broken notebooks fail cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import NOTEBOOKS, reference

from wslearn.exercises import for_notebook, registry, run_checker
from wslearn.exercises.grading import exercise_cells, grade_executed
from wslearn.exercises.release import STUB, release, strip_solutions

NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("name", NAMES)
def test_reference_notebook_grades_100_percent(name, executed):
    notebook, broke = executed(name)
    stem = name.removesuffix(".ipynb")
    grades = grade_executed(notebook, stem, for_notebook(stem), broke)
    assert len(grades) >= 2, "each notebook has at least two exercises"
    assert [(g.exercise, g.reason) for g in grades if not g.passed] == []


def test_every_registered_exercise_has_a_cell_and_a_check_in_its_notebook():
    for exercise in registry().values():
        notebook = nbformat.read(NOTEBOOKS / f"{exercise.notebook}.ipynb", as_version=4)
        solution, check = exercise_cells(notebook).get(exercise.name, (None, None))
        assert solution is not None and check is not None, exercise.name
        assert solution < check


def _exercises_with_objects():
    """(notebook stem, exercise, name of the object its check cell passes)."""
    found = []
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        for exercise, (_, check) in exercise_cells(notebook).items():
            target = notebook.cells[check].source.split(",", 1)[1].rsplit(")", 1)[0].strip()
            found.append((name.removesuffix(".ipynb"), exercise, target))
    return found


@pytest.mark.parametrize(("notebook", "exercise", "target"), _exercises_with_objects())
def test_reference_solution_from_the_source_passes_its_checks(notebook, exercise, target):
    """Without a kernel: the source's solution cell, run alone, passes every case."""
    report = run_checker(exercise, reference(notebook)[target])
    assert report.passed, str(report)


def test_strip_solutions_keeps_the_signature_and_the_indentation():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    assert strip_solutions(source) == f"def f(x):\n    # YOUR CODE HERE\n    {STUB}\n"
    with pytest.raises(ValueError, match="unbalanced"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_release_is_idempotent_and_clears_outputs(tmp_path):
    first = {p.name: p.read_bytes() for p in release(NOTEBOOKS, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in release(NOTEBOOKS, tmp_path / "a")}
    assert first == second and set(first) == set(NAMES)
    for name in NAMES:
        original = nbformat.read(NOTEBOOKS / name, as_version=4)
        copy = nbformat.reads(first[name].decode(), as_version=4)
        assert len(copy.cells) == len(original.cells)
        for before, after in zip(original.cells, copy.cells, strict=True):
            assert after.get("outputs", []) == [] and after.get("execution_count") is None
            if "### BEGIN SOLUTION" not in before.source:
                assert after.source == before.source  # everything else untouched
            else:
                assert "### BEGIN SOLUTION" not in after.source and STUB in after.source


def test_released_exercises_fail_every_check(tmp_path):
    """Without kernels: run each stub exercise cell, then its checker: nothing may pass."""
    for path in release(NOTEBOOKS, tmp_path):
        notebook = nbformat.read(path, as_version=4)
        for name, (solution, check) in exercise_cells(notebook).items():
            namespace: dict = {}
            try:
                exec(notebook.cells[solution].source, namespace)
            except NotImplementedError:
                continue  # a top-level stub fails the exercise by itself
            target = notebook.cells[check].source.split(",", 1)[1].rsplit(")", 1)[0].strip()
            report = run_checker(name, eval(target, namespace))
            assert not report.passed, f"{path.name}: the stub of {name} passes its checks"


# -- grading a class folder with the pytest plugin ---------------------------------------------


def _notebook_00_variant(source: Path, edit) -> nbformat.NotebookNode:
    notebook = nbformat.read(source, as_version=4)
    notebook.cells = [c for c in notebook.cells if c.cell_type == "code"]
    # keep only the import cell and the exercise cells: fast to run
    notebook.cells = [
        c
        for c in notebook.cells
        if "wslearn.exercises import check" in c.source or c.metadata.get("wslearn")
    ]
    for cell in notebook.cells:
        cell.outputs, cell.execution_count = [], None
    edit(notebook)
    return notebook


def _replace(name, old, new):
    def edit(notebook):
        for cell in notebook.cells:
            if cell.metadata.get("wslearn", {}).get("exercise") == name:
                assert old in cell.source
                cell.source = cell.source.replace(old, new)

    return edit


def _drop(name):
    def edit(notebook):
        notebook.cells = [c for c in notebook.cells if name not in str(c.metadata.get("wslearn"))]

    return edit


def _import_cell_fails(notebook):
    notebook.cells[0].source = "import wslearn_missing_module\n" + notebook.cells[0].source


VARIANTS = {
    "00_wrong": _replace("poll_delay", "return interval / 2", "return interval"),
    "00_crash": _replace("frame_overhead", "size = 2", "size = {}['x']"),
    "00_loop": _replace("poll_delay", "return interval / 2", "while True:\n        pass"),
    "00_syntax": _replace("frame_overhead", "size = 2", "size = = 2"),
    "00_missing": _drop("frame_overhead"),
    "00_noimport": _replace("poll_delay", "return interval / 2", "import numpyy\n    return 0"),
}


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    release(NOTEBOOKS, folder)
    for path in folder.glob("*.ipynb"):
        if not path.name.startswith("00_"):
            path.unlink()  # the 0% run of the other copies is checked without kernels above
    source = NOTEBOOKS / "00_why_websocket.ipynb"
    for name, edit in VARIANTS.items():
        nbformat.write(_notebook_00_variant(source, edit), folder / f"{name}.ipynb")
    (folder / "00_unreadable.ipynb").write_text("{ this is not json")
    report = folder / "gradebook.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--grade",
            str(folder),
            "--grade-timeout",
            "5",
            "--grade-report",
            str(report),
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
    )
    grades = json.loads(report.with_suffix(".json").read_text())
    return result, {(g["notebook"], g["exercise"]): g for g in grades}


def test_grading_reports_one_test_per_exercise_per_notebook(class_folder):
    result, grades = class_folder
    assert result.returncode == 1, result.stdout[-3000:]  # some exercises failed
    notebooks = {nb for nb, _ in grades}
    assert notebooks == {"00_why_websocket", "00_unreadable", *VARIANTS}
    assert all(ex in {"poll_delay", "frame_overhead"} for _, ex in grades)
    assert len(grades) == 2 * len(notebooks)
    assert "00_loop.ipynb::poll_delay" in result.stdout


def test_released_copy_grades_zero(class_folder):
    _, grades = class_folder
    for exercise in ("poll_delay", "frame_overhead"):
        grade = grades[("00_why_websocket", exercise)]
        assert not grade["passed"] and "not written yet" in grade["reason"]


@pytest.mark.parametrize(
    ("notebook", "exercise", "passed", "reason"),
    [
        ("00_wrong", "poll_delay", False, "3/3 cases failed: interval 1.0 s: got 1.0, expected"),
        ("00_wrong", "frame_overhead", True, ""),
        ("00_crash", "frame_overhead", False, "KeyError"),
        ("00_crash", "poll_delay", True, ""),
        ("00_loop", "poll_delay", False, "longer than the time limit"),
        ("00_loop", "frame_overhead", True, ""),
        ("00_syntax", "frame_overhead", False, "SyntaxError"),
        ("00_syntax", "poll_delay", True, ""),
        ("00_missing", "frame_overhead", False, "exercise cell missing"),
        ("00_missing", "poll_delay", True, ""),
        ("00_noimport", "poll_delay", False, "ModuleNotFoundError"),
        ("00_noimport", "frame_overhead", True, ""),
        ("00_unreadable", "poll_delay", False, "could not be read"),
    ],
)
def test_each_broken_notebook_fails_only_its_own_exercises(
    class_folder, notebook, exercise, passed, reason
):
    _, grades = class_folder
    grade = grades[(notebook, exercise)]
    assert grade["passed"] is passed
    assert reason in grade["reason"]


def test_gradebook_csv_has_the_same_rows_as_the_json(class_folder):
    import csv

    result, grades = class_folder
    with open(result.args[result.args.index("--grade-report") + 1]) as f:
        rows = list(csv.DictReader(f))
    assert {(r["notebook"], r["exercise"], r["passed"] == "True") for r in rows} == {
        (nb, ex, g["passed"]) for (nb, ex), g in grades.items()
    }
