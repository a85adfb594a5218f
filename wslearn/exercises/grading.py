"""Grading a folder of student notebooks, as a pytest plugin.

``pytest --grade student/`` collects every ``*.ipynb`` in ``student/`` and
makes one test per exercise per notebook (``00_why_websocket.ipynb::
polling_cost``). Each notebook runs once, top to bottom, in a fresh kernel
with nbclient; every cell has a time limit, after which the kernel is
interrupted and the run goes on, and errors are recorded instead of stopping
the run. Each exercise then passes or fails on its own:

- its exercise cell raised (a stub, a syntax error, a missing import):
  failed, with the error;
- its check cell reported failed cases: failed, with the hints;
- the cell is not in the notebook at all: failed, "exercise cell missing".

The expected exercises of a course notebook come from the registry (not from
the student's file), so a deleted exercise still shows up as a failure.
A summary for a gradebook is written next to the notebooks (``grades.csv``
and ``grades.json``: notebook, exercise, passed, reason), or to
``--grade-report PATH``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from wslearn.exercises import MIME, NOT_WRITTEN, for_notebook

CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\w+)["']""")


@dataclass(frozen=True)
class Grade:
    notebook: str
    exercise: str
    passed: bool
    reason: str = ""


def execute(path: Path, *, timeout: float = 30.0) -> tuple[NotebookNode | None, str]:
    """Run the notebook at ``path`` in a fresh kernel; never raises.

    Returns the notebook with its outputs (as far as it got) and a reason when
    the run as a whole broke (unreadable file, kernel died), else "".
    """
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:
        return None, f"notebook could not be read: {type(exc).__name__}: {exc}"
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=timeout,
        startup_timeout=60,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "Timeout",
            "evalue": f"the cell ran longer than {timeout:g} s (an endless loop?)",
            "traceback": [],
        },
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except Exception as exc:  # the kernel died or would not start
        return notebook, f"the notebook stopped running: {type(exc).__name__}: {exc}"
    return notebook, ""


TOO_LONG = "it ran longer than the time limit and was stopped (an endless loop?)"


def _error(cell: NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            if output.ename == "NotImplementedError":
                return NOT_WRITTEN
            if output.ename in ("Timeout", "KeyboardInterrupt"):  # our interrupt after the limit
                return TOO_LONG
            return f"{output.ename}: {output.evalue}"
    return None


def _report(cell: NotebookNode) -> dict[str, Any] | None:
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if MIME in data:
            return data[MIME]
    return None


def exercise_cells(notebook: NotebookNode) -> dict[str, tuple[int | None, int | None]]:
    """Map each exercise name to (index of its exercise cell, index of its check cell)."""
    found: dict[str, tuple[int | None, int | None]] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("wslearn", {})
        if "exercise" in meta:
            name = meta["exercise"]
            found[name] = (index, found.get(name, (None, None))[1])
        called = meta.get("check") or (m[1] if (m := CHECK_CALL.search(cell.source)) else None)
        if called:
            found[called] = (found.get(called, (None, None))[0], index)
    return found


def grade_executed(
    notebook: NotebookNode | None, name: str, expected: list[str], broke: str
) -> list[Grade]:
    """Grade each expected exercise from an executed notebook's outputs."""
    if notebook is None:
        return [Grade(name, exercise, False, broke) for exercise in expected]
    cells = exercise_cells(notebook)
    grades = []
    for exercise in expected:
        solution, checker = cells.get(exercise, (None, None))
        grades.append(Grade(name, exercise, *_verdict(notebook, solution, checker, broke)))
    return grades


def _verdict(
    notebook: NotebookNode, solution: int | None, checker: int | None, broke: str
) -> tuple[bool, str]:
    if solution is None:
        return False, "exercise cell missing"
    if error := _error(notebook.cells[solution]):
        return False, error if error in (NOT_WRITTEN, TOO_LONG) else f"your code raised {error}"
    if checker is None:
        return False, "check cell missing"
    if error := _error(notebook.cells[checker]):
        return False, error if error == TOO_LONG else f"the check cell raised {error}"
    report = _report(notebook.cells[checker])
    if report is None:
        return False, broke or "the check did not run"
    if report["passed"]:
        return True, ""
    return False, summarize(report["results"])


def summarize(results: list[dict[str, Any]], shown: int = 2) -> str:
    """One line for a gradebook: how many cases failed, and the first ones with their hints."""
    failed = [r for r in results if not r["passed"]]
    if len(failed) == len(results) and any(r["message"].startswith(NOT_WRITTEN) for r in failed):
        return NOT_WRITTEN  # a stub somewhere and nothing passes: not attempted yet
    first = "; ".join(f"{r['case']}: {r['message']}" for r in failed[:shown])
    more = f" (+{len(failed) - shown} more)" if len(failed) > shown else ""
    return f"{len(failed)}/{len(results)} cases failed: {first}{more}"


def grade_notebook(path: Path, *, timeout: float = 30.0) -> list[Grade]:
    """Run and grade one notebook: one ``Grade`` per exercise."""
    notebook, broke = execute(path, timeout=timeout)
    expected = for_notebook(path.stem)
    if not expected and notebook is not None:
        expected = list(exercise_cells(notebook))
    return grade_executed(notebook, path.stem, expected, broke)


def write_summary(grades: list[Grade], csv_path: Path) -> None:
    """Write the gradebook: ``csv_path`` and the same rows as JSON beside it."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(g) for g in grades]
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["notebook", "exercise", "passed", "reason"])
        writer.writeheader()
        writer.writerows(rows)
    csv_path.with_suffix(".json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


# -- the pytest plugin ----------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wslearn", "grading student notebooks")
    group.addoption("--grade", metavar="DIR", help="grade the student notebooks in DIR")
    group.addoption(
        "--grade-timeout", type=float, default=30.0, help="seconds each cell may run (default 30)"
    )
    group.addoption("--grade-report", metavar="CSV", help="gradebook path (default DIR/grades.csv)")


def _grade_dir(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--grade" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--grade="):
            return arg.split("=", 1)[1]
    return None


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    # `pytest --grade DIR` grades DIR instead of running the configured testpaths.
    folder = _grade_dir(args)
    if folder and folder not in args[args.index(folder) + 1 :]:
        args.append(folder)


def pytest_configure(config: pytest.Config) -> None:
    folder = config.getoption("--grade")
    config.stash[_GRADES] = []
    config.stash[_FOLDER] = Path(folder).resolve() if folder else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    folder = config.stash.get(_FOLDER, None)
    if folder is None:
        return None
    if ".ipynb_checkpoints" in collection_path.parts:
        return True
    inside = collection_path == folder or folder in collection_path.parents
    return None if inside or collection_path in folder.parents else True


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if parent.config.stash.get(_FOLDER, None) and file_path.suffix == ".ipynb":
        return StudentNotebook.from_parent(parent, path=file_path)
    return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = session.config.stash.get(_FOLDER, None)
    if folder is None:
        return
    report = session.config.getoption("--grade-report")
    write_summary(session.config.stash[_GRADES], Path(report) if report else folder / "grades.csv")


_GRADES = pytest.StashKey[list[Grade]]()
_FOLDER = pytest.StashKey[Path | None]()


class StudentNotebook(pytest.File):
    """One student notebook: one test item per exercise."""

    _grades: dict[str, Grade] | None = None

    def collect(self) -> Iterator[pytest.Item]:
        expected = for_notebook(self.path.stem)
        if not expected:
            try:
                expected = list(exercise_cells(nbformat.read(self.path, as_version=4)))
            except Exception:
                expected = ["(notebook)"]
        for name in expected:
            yield ExerciseItem.from_parent(self, name=name)

    def grades(self) -> dict[str, Grade]:
        if self._grades is None:
            timeout = self.config.getoption("--grade-timeout")
            notebook, broke = execute(self.path, timeout=timeout)
            names = [item.name for item in self.collect()]
            graded = grade_executed(notebook, self.path.stem, names, broke)
            self._grades = {g.exercise: g for g in graded}
        return self._grades


class ExerciseFailed(Exception):
    pass


class ExerciseItem(pytest.Item):
    """One exercise of one student notebook."""

    parent: StudentNotebook

    def runtest(self) -> None:
        grade = self.parent.grades()[self.name]
        self.config.stash[_GRADES].append(grade)
        if not grade.passed:
            raise ExerciseFailed(grade.reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExerciseFailed):
            return f"{self.path.name} · {self.name}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}::{self.name}"
