"""Grading a class: student code isolated, checks it cannot reach, one gradebook with points.

``pytest --grade submissions/`` grades a folder of student folders (the folder
name is the student id), or one student's folder. The submissions are data:
pytest never collects or imports anything from them (the folder is an
option's value, not a test path; no ``conftest.py``, plugin or ``.pth`` in it
is ever loaded), and the grader reads only regular ``*.ipynb`` files as JSON;
symlinks and other files are listed in the gradebook as ignored, never
followed.

For each notebook the course decides what is graded: the exercises, the code
they need and what each check receives come from the course's own release of
that notebook (``release.grading_plan``), and the student's notebook only
supplies the exercise cells (found by their ``wslearn``/nbgrader cell id, or by
the function they define). The student's code runs in a
``wslearn.exercises.sandbox.Sandbox`` (its own limited process tree); the
checks run here, in the grader, and call the student's functions across the
boundary with plain data. Nothing the notebook printed or displayed counts.

Each exercise is worth its weight (``Exercise.points``, 1 by default), earned
in proportion to the cases passed. The gradebook, written atomically once
every student is graded, to ``--grade-report DIR`` or to ``<submissions>-grades/``
beside the submissions: ``grades.csv`` and ``grades.json`` (student, notebook,
exercise, points, max_points, passed, reason, cases_passed, cases),
``summary.csv`` (student, points per notebook, total, max) and what each
notebook printed under ``output/``. ``--grade-workers N`` grades N students at
a time; the gradebook is the same as a serial run's.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from wslearn.exercises import NOT_WRITTEN, Result, describe_error, registry, run_checker
from wslearn.exercises.sandbox import Limits, Sandbox, SandboxBroken, isolation

if TYPE_CHECKING:  # nbformat is imported when grading starts: pytest loads this plugin always
    from nbformat import NotebookNode

    from wslearn.exercises.release import Step

__all__ = [
    "COURSE",
    "Course",
    "Grade",
    "Gradebook",
    "execute",
    "exercise_cells",
    "grade_class",
    "grade_notebook",
    "grade_student",
    "summarize",
    "write_gradebook",
]

COURSE = Path(__file__).resolve().parents[2] / "notebooks"  # the reference notebooks
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\w+)["']""")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
LIMITS = Limits()  # the default limits of student code
SHORTCUT_CASE = "your own code, not the library's"  # the case run_checker reports a shortcut as


@dataclass(frozen=True)
class Grade:
    """One row of the gradebook: one exercise of one notebook of one student."""

    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    passed: bool
    reason: str = ""
    cases_passed: int = 0
    cases: int = 0


@dataclass
class Gradebook:
    grades: list[Grade]
    isolation: str
    outputs: dict[tuple[str, str], str] = field(default_factory=dict)
    seconds: float = 0.0

    def student_grades(self, student: str) -> list[Grade]:
        return [g for g in self.grades if g.student == student]


@dataclass(frozen=True)
class CourseNotebook:
    stem: str
    plan: list[Step]
    points: dict[str, float]
    modules: list[str]  # what its setup code imports: the sandbox's template imports it once


class Course:
    """The course's notebooks (the teacher's, with solutions: never shown to student code)."""

    def __init__(self, folder: Path = COURSE) -> None:
        from wslearn.exercises.release import grading_plan, modules

        self.folder = Path(folder).resolve()
        exercises = registry()
        self.notebooks: dict[str, CourseNotebook] = {}
        for path in sorted(self.folder.glob("*.ipynb")):
            plan = grading_plan(json.loads(path.read_text(encoding="utf-8")))
            points = {
                s.exercise: float(getattr(exercises.get(s.exercise), "points", 1) or 1)
                for s in plan
                if s.kind == "exercise"
            }
            self.notebooks[path.stem] = CourseNotebook(path.stem, plan, points, modules(plan))

    def match(self, stem: str) -> CourseNotebook | None:
        """The course notebook a submitted file is, by name or by its number (``01_… (Ada)``)."""
        if stem in self.notebooks:
            return self.notebooks[stem]
        number = stem.split("_", 1)[0]
        found = [nb for name, nb in self.notebooks.items() if name.split("_", 1)[0] == number]
        return found[0] if number.isdigit() and len(found) == 1 else None


# -- one notebook ------------------------------------------------------------------------------


def _read_submission(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The submitted notebook as JSON data, or why it is refused (never follows a symlink)."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return None, "refused: the submission is a symlink (never followed)"
        if not stat.S_ISREG(info.st_mode):
            return None, "refused: not a regular file"
        if info.st_size > MAX_NOTEBOOK_BYTES:
            return None, f"refused: larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            notebook = json.loads(f.read(MAX_NOTEBOOK_BYTES + 1))
        if not isinstance(notebook, dict) or notebook.get("nbformat") != 4:
            return None, "refused: not a Jupyter notebook (nbformat 4)"
        return notebook, ""
    except Exception as exc:
        return None, f"notebook could not be read: {type(exc).__name__}: {exc}"[:300]


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(map(str, source)) if isinstance(source, list) else str(source)


def student_cell(notebook: dict[str, Any], step: Step) -> str | None:
    """The student's cell for exercise ``step``: by cell id, else by what it defines."""
    cells = notebook.get("cells", [])
    code = [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    for cell in code:
        meta = cell.get("metadata", {})
        meta = meta if isinstance(meta, dict) else {}
        wslearn, nbgrader = meta.get("wslearn", {}), meta.get("nbgrader", {})
        if (isinstance(wslearn, dict) and wslearn.get("exercise") == step.exercise) or (
            isinstance(nbgrader, dict) and nbgrader.get("grade_id") == step.exercise
        ):
            return _source(cell)
    name = re.escape(step.target)
    defines = re.compile(rf"^(?:async\s+def|def|class)\s+{name}\b|^{name}\s*=", re.MULTILINE)
    for cell in code:
        if defines.search(_source(cell)):
            return _source(cell)
    return None


def _cell_error(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return NOT_WRITTEN
    if isinstance(exc, SandboxBroken):
        return str(exc)
    return f"your code {describe_error(exc)}"


def grade_notebook(
    path: Path,
    course: CourseNotebook,
    student: str,
    *,
    limits: Limits = LIMITS,
    hide: tuple[Path, ...] = (),
) -> tuple[list[Grade], str]:
    """Grade one submitted notebook; returns its rows and what its code printed."""
    exercises = [s for s in course.plan if s.kind == "exercise"]

    def row(step: Step, passed: int = 0, cases: int = 0, reason: str = "") -> Grade:
        weight = course.points[step.exercise]
        points = round(weight * passed / cases, 2) if cases else 0.0
        return Grade(student, course.stem, step.exercise, points, weight,
                     bool(cases) and passed == cases, reason, passed, cases)

    notebook, refused = _read_submission(path)
    if notebook is None:
        return [row(step, reason=refused) for step in exercises], ""
    sources = {s.exercise: student_cell(notebook, s) for s in exercises}
    if all(sources[s.exercise] in (None, s.code) for s in exercises):  # nothing to run
        return [row(s, reason=NOT_WRITTEN if sources[s.exercise] else "exercise cell missing")
                for s in exercises], ""
    shortcuts = {
        name: list(getattr(ex, "shortcuts", ()) or ()) for name, ex in registry().items()
    }
    grades: list[Grade] = []
    with Sandbox(limits, hide=hide, shortcuts=shortcuts, preload=course.modules) as box:
        done: list[tuple[str, str]] = []  # (code, label) run so far: replayed after a restart

        def run(code: str, label: str) -> None:
            if not box.alive:
                box.start()
                for earlier, earlier_label in done:
                    try:
                        box.run_cell(earlier, earlier_label, limit(earlier_label))
                    except SandboxBroken:
                        raise
                    except Exception:
                        pass  # its exercise has its grade already
            done.append((code, label))
            box.run_cell(code, label, limit(label))

        def limit(label: str) -> float:  # the course's setup (imports) is not the student's time
            return limits.setup_seconds if label == "setup" else limits.cell_seconds

        for step in course.plan:
            if step.kind == "setup":
                try:
                    run(step.code, "setup")
                except SandboxBroken:
                    pass  # the next exercise starts a fresh worker and says why if it fails
                except Exception:
                    pass  # a course definition that needs a demo: the exercises may not
                continue
            source = sources[step.exercise]
            if source is None:
                grades.append(row(step, reason="exercise cell missing"))
                continue
            if source.strip() == step.code.strip():  # the released stub, untouched
                grades.append(row(step, reason=NOT_WRITTEN))
                continue
            try:
                run(source, f"cell {step.exercise}")
                target = box.get(step.target, step.exercise)
            except NameError:
                grades.append(row(step, reason=f"the exercise cell defines no {step.target}"))
                continue
            except Exception as exc:
                grades.append(row(step, reason=_cell_error(exc)))
                if isinstance(exc, SandboxBroken):
                    done.pop()  # do not replay the cell that broke the worker
                continue
            box.shortcuts_used.clear()
            report = run_checker(step.exercise, target)
            if box.shortcuts_used:  # as check() does: the library's answer earns nothing
                report.results = [Result(SHORTCUT_CASE, False, box.shortcuts_used[0])]
            results = [asdict(r) for r in report.results]
            passed = sum(r["passed"] for r in results)
            reason = "" if report.passed else summarize(results)
            grades.append(row(step, passed, len(results), _stable(reason)))
    return grades, box.output()


def _stable(reason: str) -> str:
    """A reason without the parts that change from run to run (ports, addresses)."""
    reason = re.sub(r"(127\.0\.0\.1'?[:,]\s?)\d+", r"\1PORT", reason)
    return re.sub(r"0x[0-9a-f]{6,}", "0x…", reason)


# -- one student, a class ----------------------------------------------------------------------


def _entries(folder: Path) -> Iterator[Path]:
    with os.scandir(folder) as it:
        yield from sorted(Path(e.path) for e in it)


def grade_student(
    folder: Path,
    course: Course,
    notebooks: list[str],
    *,
    limits: Limits = LIMITS,
    hide: tuple[Path, ...] = (),
) -> tuple[list[Grade], dict[tuple[str, str], str]]:
    """Grade one student's folder on ``notebooks`` (course stems); refuse anything else."""
    student = folder.name
    grades: list[Grade] = []
    outputs: dict[tuple[str, str], str] = {}
    submitted: dict[str, Path] = {}
    for path in _entries(folder):
        if path.name == ".ipynb_checkpoints":
            continue
        matched = course.match(path.stem) if path.suffix == ".ipynb" else None
        if matched is None or matched.stem in submitted:
            why = "not a notebook of the course" if path.suffix == ".ipynb" and not matched else (
                "a second copy of the same notebook" if matched else "not a notebook")
            kind = "symlink" if path.is_symlink() else "folder" if path.is_dir() else "file"
            grades.append(Grade(student, path.name, "", 0.0, 0.0, False,
                                f"ignored {kind}: {why}"))
            continue
        submitted[matched.stem] = path
    for stem in notebooks:
        nb = course.notebooks[stem]
        if stem not in submitted:
            grades.extend(
                Grade(student, stem, s.exercise, 0.0, nb.points[s.exercise], False,
                      "notebook not submitted")
                for s in nb.plan if s.kind == "exercise"
            )
            continue
        rows, printed = grade_notebook(submitted[stem], nb, student, limits=limits, hide=hide)
        grades.extend(rows)
        outputs[(student, stem)] = printed
    return grades, outputs


def students(root: Path) -> list[Path]:
    """The student folders of ``root``: itself if it holds notebooks, else its sub-folders."""
    entries = list(_entries(root))
    if any(p.suffix == ".ipynb" for p in entries if not p.is_dir()):
        return [root]
    return [p for p in entries if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]


def _assignment(folders: list[Path], course: Course) -> list[str]:
    """The course notebooks handed in by at least one student (the assignment)."""
    found = set()
    for folder in folders:
        for path in _entries(folder):
            nb = course.match(path.stem) if path.suffix == ".ipynb" else None
            if nb is not None:
                found.add(nb.stem)
    return sorted(found)


def _grade_one(args: tuple[Path, Course, list[str], Limits, tuple[Path, ...]]) -> Any:
    folder, course, notebooks, limits, hide = args
    return grade_student(folder, course, notebooks, limits=limits, hide=hide)


def grade_class(
    root: Path,
    *,
    course_folder: Path = COURSE,
    limits: Limits = LIMITS,
    workers: int = 1,
    report: Path | None = None,
) -> Gradebook:
    """Grade every student under ``root`` (see ``students``), ``workers`` at a time."""
    start = time.monotonic()
    root = Path(root).resolve()
    course = Course(course_folder)
    folders = students(root)
    notebooks = _assignment(folders, course)
    # what student code must not see: the course (its checkout), the class, the gradebook
    hide = tuple(p for p in {course.folder.parent, root, *((report and [report]) or [])})
    jobs = [(folder, course, notebooks, limits, hide) for folder in folders]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            done = list(pool.map(_grade_one, jobs))
    else:
        done = [grade_student(f, course, notebooks, limits=limits, hide=hide) for f in folders]
    grades = [g for rows, _ in done for g in rows]
    outputs = {key: text for _, out in done for key, text in out.items()}
    return Gradebook(grades, isolation(), outputs, time.monotonic() - start)


# -- the gradebook -----------------------------------------------------------------------------

COLUMNS = [f.name for f in fields(Grade)]


def summary_rows(book: Gradebook) -> list[dict[str, Any]]:
    """One row per student: points per notebook, total and the maximum."""
    notebooks = sorted({g.notebook for g in book.grades if g.exercise})
    rows = []
    for student in sorted({g.student for g in book.grades}):
        mine = [g for g in book.student_grades(student) if g.exercise]
        row: dict[str, Any] = {"student": student}
        for nb in notebooks:
            row[nb] = _number(sum(g.points for g in mine if g.notebook == nb))
        row["total"] = _number(sum(g.points for g in mine))
        row["max"] = _number(sum(g.max_points for g in mine))
        rows.append(row)
    return rows


def _number(value: float) -> float | int:
    value = round(value, 2)
    return int(value) if value == int(value) else value


def write_gradebook(book: Gradebook, folder: Path) -> list[Path]:
    """Write grades.csv, grades.json, summary.csv and output/, each file atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(g), "points": _number(g.points), "max_points": _number(g.max_points)}
            for g in book.grades]
    table = io.StringIO()
    table.write(f"# wslearn gradebook; student code isolation: {book.isolation}\n")
    writer = csv.DictWriter(table, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    summary = summary_rows(book)
    summary_text = io.StringIO()
    if summary:
        writer = csv.DictWriter(summary_text, fieldnames=list(summary[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(summary)
    meta = {"isolation": book.isolation, "grades": rows, "summary": summary}
    files = {
        "grades.csv": table.getvalue(),
        "grades.json": json.dumps(meta, indent=1, ensure_ascii=False) + "\n",
        "summary.csv": summary_text.getvalue(),
    }
    for (student, notebook), text in sorted(book.outputs.items()):
        if text:
            files[f"output/{student}/{notebook}.txt"] = text
    written = []
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".grading-")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
        written.append(target)
    return written


def read_gradebook(folder: Path) -> list[dict[str, Any]]:
    """The rows of ``folder/grades.json``."""
    return json.loads((folder / "grades.json").read_text())["grades"]


# -- helpers kept for the course's own notebook runs -------------------------------------------


def execute(path: Path, *, timeout: float = 30.0) -> tuple[NotebookNode | None, str]:
    """Run a course notebook top to bottom in a fresh kernel (the teacher's; not grading).

    Returns the notebook with its outputs and a reason when the run as a whole
    broke, else "". Used by the course's own tests (every notebook runs).
    """
    import nbformat

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
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except Exception as exc:
        return notebook, f"the notebook stopped running: {type(exc).__name__}: {exc}"
    return notebook, ""


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


def summarize(results: list[dict[str, Any]], shown: int = 2) -> str:
    """One line for a gradebook: how many cases failed, and the first ones with their hints."""
    failed = [r for r in results if not r["passed"]]
    if len(failed) == len(results) and any(r["message"].startswith(NOT_WRITTEN) for r in failed):
        return NOT_WRITTEN  # a stub somewhere and nothing passes: not attempted yet
    first = "; ".join(f"{r['case']}: {r['message']}" for r in failed[:shown])
    more = f" (+{len(failed) - shown} more)" if len(failed) > shown else ""
    return f"{len(failed)}/{len(results)} cases failed: {first}{more}"


# -- the pytest plugin -------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wslearn", "grading a class of student notebooks")
    group.addoption("--grade", metavar="DIR",
                    help="grade DIR: a folder of student folders, or one student's folder")
    group.addoption("--grade-report", metavar="DIR",
                    help="where the gradebook goes (default: <DIR>-grades beside DIR)")
    group.addoption("--grade-workers", type=int, default=1, metavar="N",
                    help="grade N students at a time (default 1)")
    group.addoption("--grade-timeout", type=float, default=Limits.cell_seconds, metavar="S",
                    help="seconds one exercise cell of a student's may run "
                    f"(default {Limits.cell_seconds:g})")
    group.addoption("--grade-call-timeout", type=float, default=Limits.call_seconds, metavar="S",
                    help="seconds one call of a student's function may run "
                    f"(default {Limits.call_seconds:g})")
    group.addoption("--grade-memory", type=int, default=Limits.memory // 2**20, metavar="MB",
                    help=f"address space of student code (default {Limits.memory // 2**20})")
    group.addoption("--grade-course", metavar="DIR", default=str(COURSE),
                    help="the course's reference notebooks (default: the checkout's)")


_BOOK = pytest.StashKey[Gradebook]()


def _report_folder(config: pytest.Config) -> Path:
    folder = Path(config.getoption("--grade")).resolve()
    report = config.getoption("--grade-report")
    return Path(report).resolve() if report else folder.parent / f"{folder.name}-grades"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Grading loads no conftest.py at all (as --noconftest): none from the submissions, and
    # none from wherever the grader happens to run; the folder is never a test path either.
    if getattr(early_config.known_args_namespace, "grade", None) is not None:
        early_config.known_args_namespace.noconftest = True


def pytest_configure(config: pytest.Config) -> None:
    folder = config.getoption("--grade")
    if folder is None:
        return
    folder = Path(folder).resolve()
    if not folder.is_dir() or folder.is_symlink():
        raise pytest.UsageError(f"--grade: {folder} is not a folder")
    here = Path.cwd().resolve()
    if here == folder or folder in here.parents:
        raise pytest.UsageError("run the grader from outside the submissions folder")


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("--grade") is None:
        return None
    return f"wslearn grading; student code isolation: {isolation()}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> bool | None:
    """With ``--grade``: grade the class instead of collecting tests; one item per row."""
    config = session.config
    if config.getoption("--grade") is None:
        return None
    limits = Limits(
        memory=config.getoption("--grade-memory") * 2**20,
        cell_seconds=config.getoption("--grade-timeout"),
        call_seconds=config.getoption("--grade-call-timeout"),
    )
    book = grade_class(
        Path(config.getoption("--grade")),
        course_folder=Path(config.getoption("--grade-course")),
        limits=limits,
        workers=config.getoption("--grade-workers"),
        report=_report_folder(config),
    )
    config.stash[_BOOK] = book
    parent = Gradebook_.from_parent(session, name="grade")
    session.items = [GradeItem.from_parent(parent, name=_item_name(g)) for g in book.grades]
    for item, grade in zip(session.items, book.grades, strict=True):
        item.grade = grade  # type: ignore[attr-defined]
    session.testscollected = len(session.items)
    config.hook.pytest_collection_finish(session=session)
    return True


def _item_name(grade: Grade) -> str:
    return f"{grade.student}/{grade.notebook}::{grade.exercise or '(file)'}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    book = session.config.stash.get(_BOOK, None)
    if book is not None:
        folder = _report_folder(session.config)
        write_gradebook(book, folder)
        session.config._wslearn_gradebook = folder  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    book = config.stash.get(_BOOK, None)
    if book is None:
        return
    students = {g.student for g in book.grades}
    terminalreporter.section("gradebook")
    terminalreporter.write_line(
        f"{len(students)} student(s) graded in {book.seconds:.1f} s; isolation: {book.isolation}"
    )
    terminalreporter.write_line(f"written to {_report_folder(config)}")


class Gradebook_(pytest.Collector):
    """The items of a grading run (made by ``pytest_collection``, not collected from files)."""

    def collect(self) -> list[pytest.Item]:
        return []


class ExerciseFailed(Exception):
    pass


class GradeItem(pytest.Item):
    """One gradebook row: passes when the exercise earned all its points."""

    grade: Grade

    def runtest(self) -> None:
        if not self.grade.passed:
            raise ExerciseFailed(self.grade.reason or "no points")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExerciseFailed):
            g = self.grade
            return f"{self.name}: {g.points:g}/{g.max_points:g}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.name, None, self.name
