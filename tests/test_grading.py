"""Grading a class: isolated student code, checks it cannot reach, one gradebook with points.

Every class here is graded by the real plugin (``python -m pytest --grade DIR`` in a subprocess),
except where a test needs the registry patched in-process. Hostile submissions are in
``tests/hostile/`` (see its README).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import NOTEBOOKS, ROOT, reference

from wslearn import nbsource
from wslearn.exercises import registry, run_checker
from wslearn.exercises.grading import (
    Course,
    exercise_cells,
    grade_notebook,
    read_gradebook,
    student_cell,
)
from wslearn.exercises.release import STUB, grading_plan, modules, release, strip_solutions
from wslearn.exercises.sandbox import (
    Limits,
    NotPlainData,
    Sandbox,
    SandboxBroken,
    decode,
    decode_error,
    encode,
    encode_error,
    isolation,
    sandbox_processes,
)
from wslearn.framing import Frame, Opcode, ProtocolError

#: grading a class in a fixture can take minutes on a loaded 2-core machine
pytestmark = pytest.mark.timeout(900)

NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
HOSTILE = ROOT / "tests" / "hostile"
NB00 = "00_why_websocket"


def grade(folder: Path, report: Path, *options: str) -> tuple[subprocess.CompletedProcess, list]:
    """Grade ``folder`` with the pytest plugin; the gradebook's rows."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--grade", str(folder), "--grade-report", str(report),
         "-p", "no:cacheprovider", "-q", "-o", "addopts=", *options],
        capture_output=True, text=True, timeout=600, cwd=folder.parent,
    )
    assert (report / "grades.json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result, read_gradebook(report)


def key(rows: list[dict], student: str) -> list[tuple]:
    return [tuple(r.values())[1:] for r in rows if r["student"] == student]


def notebook_with(stem: str, **solutions: str) -> nbformat.NotebookNode:
    """The reference notebook ``stem`` with some exercise cells replaced."""
    notebook = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    for cell in notebook.cells:
        name = cell.metadata.get("wslearn", {}).get("exercise")
        if name in solutions:
            cell.source = solutions[name]
    return notebook


# -- the boundary: plain data only -------------------------------------------------------------


def test_plain_data_crosses_as_json_and_comes_back_equal_and_plain():
    value = [None, True, 3, 2.5, float("inf"), "é", b"\x00\xff", (1, [2]), {1: "a", "b": (b"",)},
             {"x", 1}, frozenset({b"y"})]
    wire = json.dumps(encode(value))
    assert decode(json.loads(wire)) == value
    frame = Frame(True, Opcode.PING, b"hi", mask=b"abcd")
    assert decode(json.loads(json.dumps(encode(frame)))) == frame


def test_values_that_are_not_plain_data_are_refused_with_a_reason():
    class Sneaky(str):
        def __eq__(self, other):
            return True

    for value in (Sneaky("x"), object(), {1: {2: bytearray}}, lambda: 1):
        with pytest.raises(NotPlainData, match="not plain data"):
            encode(value)
    nested: list = []
    for _ in range(300):
        nested = [nested]
    with pytest.raises(NotPlainData, match="nested too deeply"):
        encode(nested)


def test_exceptions_cross_as_the_course_types_with_their_code():
    try:
        raise ProtocolError("bad continuation", 1007)
    except ProtocolError as exc:
        rebuilt = decode_error(json.loads(json.dumps(encode_error(exc))))
    assert type(rebuilt) is ProtocolError and rebuilt.code == 1007
    assert str(rebuilt) == "bad continuation"
    strange = decode_error({"type": "evil.Thing", "message": "boo", "attrs": {"code": [1]}})
    assert type(strange).__name__ == "Thing" and not hasattr(strange, "code")


def test_a_student_function_is_called_across_the_boundary_and_the_sandbox_leaves_nothing():
    with Sandbox() as box:
        box.start()
        box.run_cell(
            "import asyncio, os\n"
            "def add(a, b):\n    return a + b\n"
            "async def later(x):\n    await asyncio.sleep(0.05)\n    return [x, os.getuid()]\n"
            "def sneaky():\n    return object()\n",
            "cell",
        )
        add, later, sneaky = box.get("add"), box.get("later"), box.get("sneaky")
        assert add(b"ab", b"c") == b"abc" and add((1,), (2,)) == (1, 2)
        with pytest.raises(TypeError, match="unsupported operand"):
            add(1, "x")

        async def both():
            import asyncio

            return await asyncio.gather(later(1), later(2))

        import asyncio

        first, second = asyncio.run(both())
        assert (first[0], second[0]) == (1, 2)
        if os.geteuid() == 0:
            assert first[1] != 0  # student code never runs as root
        with pytest.raises(Exception, match="not plain data"):
            sneaky()
        namespace = box._namespace
    assert sandbox_processes(box.token, namespace) == []


#: a cell that starts two detached sleepers: one exec'd, one only forked (twice, new session)
DETACHED = (
    "import os, subprocess, sys, time\n"
    "EXECED = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
    " start_new_session=True).pid\n"
    "r, w = os.pipe()\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        os.write(w, str(os.getpid()).encode())\n"
    "        time.sleep(60)\n"
    "    os._exit(0)\n"
    "FORKED = int(os.read(r, 20))\n"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("kill_keeper", [False, True])
def test_without_namespaces_detached_children_are_still_ended(monkeypatch, kill_keeper):
    """The fallback (not root): the keeper is their subreaper; then the token in their env."""
    from wslearn.exercises import sandbox

    monkeypatch.setattr(sandbox, "_NAMESPACES", False)
    monkeypatch.setattr(sandbox, "_student_ids", lambda: None)  # as a grader that is not root
    assert isolation().startswith("own session and process group, rlimits")
    with Sandbox() as box:
        box.start()
        box.run_cell(DETACHED, "cell")
        execed, forked = box.get("EXECED"), box.get("FORKED")
        assert sandbox_processes(box.token) == [execed]  # exec'd: it carries the token
        assert _alive(forked)
        if kill_keeper:  # as the student may, running as the grader's own uid
            box.run_cell("import signal\nos.kill(os.getppid(), signal.SIGKILL)\n", "cell")
    deadline = time.monotonic() + 5
    while (_alive(execed) or _alive(forked)) and time.monotonic() < deadline:
        time.sleep(0.05)  # an orphan of a killed keeper is ended by the template
    assert (_alive(execed), _alive(forked)) == (False, False)


@pytest.mark.skipif(os.geteuid() != 0, reason="the grader is not root: nothing to drop")
def test_as_root_without_namespaces_student_code_still_runs_as_its_own_uid(monkeypatch):
    from wslearn.exercises import sandbox

    monkeypatch.setattr(sandbox, "_NAMESPACES", False)
    assert "own uid" in isolation()
    with Sandbox() as box:
        box.start()
        box.run_cell("import os, signal\nUID = os.getuid()\n", "cell")  # os: preloaded
        assert box.get("UID") == sandbox._sandbox_ids()[0]
        with pytest.raises(PermissionError):  # its keeper runs as root: out of reach
            box.run_cell("os.kill(os.getppid(), signal.SIGKILL)\n", "cell")


def test_a_call_and_a_cell_each_have_their_own_wall_limit_and_a_fresh_worker_follows():
    with Sandbox(Limits(cell_seconds=3, call_seconds=0.5)) as box:
        box.start()
        box.run_cell("import time\ntime.sleep(1)\ndef slow(s):\n    time.sleep(s)\n"
                     "    return s\n", "cell")  # 1 s: within the cell's 3 s
        slow = box.get("slow")
        assert slow(0.1) == 0.1
        start = time.monotonic()
        with pytest.raises(SandboxBroken, match=r"ran longer than 0.5 s and was stopped"):
            slow(30)
        assert time.monotonic() - start < 2.5 and not box.alive
        box.start()
        box.run_cell("X = 2", "cell")
        assert box.get("X") == 2


def _namespaces() -> bool:
    from wslearn.exercises import sandbox

    return sandbox._namespaces()


needs_namespaces = pytest.mark.skipif(
    not _namespaces(), reason="the template serves root with namespaces only (see isolation())"
)


@needs_namespaces
def test_a_sandbox_forked_from_the_template_shares_no_socket_or_pipe_with_it():
    from wslearn.exercises import sandbox

    with Sandbox() as box:
        box.start()
        box.run_cell("import os\nFDS = [os.readlink(f'/proc/self/fd/{n}')"
                     " for n in os.listdir('/proc/self/fd') if n.isdigit() and"
                     " os.path.exists(f'/proc/self/fd/{n}')]\n", "cell")
        theirs = set(box.get("FDS"))
        template = sandbox._template().process.pid
        held = {os.readlink(f"/proc/{template}/fd/{n}") for n in os.listdir(f"/proc/{template}/fd")}
    assert len([t for t in theirs if t.startswith("pipe:")]) == 3  # calls, answers, output
    assert any(t.startswith("socket:") for t in held)  # the template's line to the grader
    assert {t for t in theirs & held if t.startswith(("socket:", "pipe:"))} == set()


@needs_namespaces
def test_a_template_that_died_is_started_again():
    from wslearn.exercises import sandbox

    first = sandbox._template()
    first.process.kill()
    first.process.wait(timeout=10)
    with Sandbox() as box:
        box.start()
        box.run_cell("X = 1", "cell")
        assert box.get("X") == 1
    assert sandbox._template() is not first


# -- the course's plan ----------------------------------------------------------------------


def test_grading_plan_takes_definitions_and_exercise_cells_from_the_release():
    plan = grading_plan(nbformat.read(NOTEBOOKS / "01_handshake.ipynb", as_version=4))
    exercises = [s for s in plan if s.kind == "exercise"]
    assert [(s.exercise, s.target) for s in exercises] == [
        ("accept_key", "accept_key"),
        ("parse_request_head", "parse_request_head"),
        ("status_for", "status_for"),
    ]
    assert all(STUB in s.code and "### BEGIN SOLUTION" not in s.code for s in exercises)
    setup = "\n".join(s.code for s in plan if s.kind == "setup")
    assert "import hashlib" in setup and "ALLOWED_ORIGINS = " in setup
    assert "plots" not in setup  # no figures
    assert not [line for line in setup.splitlines() if line.startswith(("await ", "print("))]


def test_the_modules_a_plan_imports_are_those_of_its_setup_code():
    plan = grading_plan(nbformat.read(NOTEBOOKS / "01_handshake.ipynb", as_version=4))
    found = modules(plan)
    assert {"hashlib", "wslearn", "wslearn.handshake"} <= set(found)
    assert not [name for name in found if "plots" in name or "matplotlib" in name]


def test_setup_marker_becomes_cell_metadata_that_grading_runs_whole():
    source = "# %% setup\nORIGINS = frozenset({'a'})\n# %%\nx = compute()\ny = 2\n"
    source += "# %% exercise=f\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n"
    source += "    ### END SOLUTION\n"
    source += "# %% check=f\ncheck('f', f)\n"
    notebook = nbsource.parse(source)
    assert notebook.cells[0].metadata.wslearn == {"setup": True}
    plan = grading_plan(notebook)
    assert [s.kind for s in plan] == ["setup", "exercise"]
    assert plan[0].code == "ORIGINS = frozenset({'a'})\ny = 2"


# -- release ------------------------------------------------------------------------------


def test_every_registered_exercise_has_a_cell_and_a_check_in_its_notebook():
    for exercise in registry().values():
        notebook = nbformat.read(NOTEBOOKS / f"{exercise.notebook}.ipynb", as_version=4)
        solution, check = exercise_cells(notebook).get(exercise.name, (None, None))
        assert solution is not None and check is not None, exercise.name
        assert solution < check


def _exercises_with_objects():
    """(notebook stem, exercise, name of the object its check cell passes)."""
    return [
        (name.removesuffix(".ipynb"), s.exercise, s.target)
        for name in NAMES
        for s in grading_plan(nbformat.read(NOTEBOOKS / name, as_version=4))
        if s.kind == "exercise"
    ]


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


# -- the whole course: reference 100 %, released copies 0 % --------------------------------------


@pytest.fixture(scope="module")
def course_graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    release(NOTEBOOKS, root / "class" / "released")
    (root / "class" / "reference").mkdir()
    for name in NAMES:
        (root / "class" / "reference" / name).write_bytes((NOTEBOOKS / name).read_bytes())
    start = time.monotonic()
    result, rows = grade(root / "class", root / "grades")
    return result, rows, time.monotonic() - start


def test_reference_notebooks_grade_100_percent(course_graded):
    _, rows, _ = course_graded
    mine = [r for r in rows if r["student"] == "reference"]
    assert len(mine) == len(_exercises_with_objects())
    assert [(r["exercise"], r["reason"]) for r in mine if r["points"] != r["max_points"]] == []


def test_released_notebooks_grade_0_percent_not_written(course_graded):
    _, rows, _ = course_graded
    mine = [r for r in rows if r["student"] == "released"]
    assert len(mine) == len(_exercises_with_objects())
    assert {(r["points"], r["passed"], r["reason"].split(":")[0]) for r in mine} == {
        (0, False, "not written yet")
    }


def test_the_gradebook_header_names_the_isolation_achieved(course_graded):
    result, _, seconds = course_graded
    assert f"isolation: {isolation()}" in result.stdout
    print(f"whole course, 2 students: {seconds:.1f} s")


# -- a class of three, with partial credit ------------------------------------------------------

#: wrong on about half the calls (deterministically), so an exercise earns partial credit
PARTLY = """

_right_{name} = {name}


def {name}(*args, **kwargs):
    import zlib

    value = _right_{name}(*args, **kwargs)
    return value if zlib.crc32(repr(args).encode()) % 2 else None
"""
#: wrong every time
NONE = "def {name}(*args, **kwargs):\n    return None\n"


def wrong(stem: str, name: str, how: str) -> str:
    if how == NONE:
        return NONE.format(name=name)
    original = notebook_with(stem)
    cell = student_cell(original, next(s for s in Course().notebooks[stem].plan
                                       if s.exercise == name))
    return cell + how.format(name=name)


def three() -> dict[str, dict[str, dict[str, str]]]:
    return {
        "ada": {NB00: {}, "04_close_codes": {}},
        "bob": {
            NB00: {"poll_delay": wrong(NB00, "poll_delay", PARTLY)},
            "04_close_codes": {"sendable": wrong("04_close_codes", "sendable", PARTLY)},
        },
        "cy": {NB00: {"poll_delay": wrong(NB00, "poll_delay", NONE)}},
    }


def in_process(student: str, stem: str, notebook: nbformat.NotebookNode) -> list[tuple]:
    """The rows check() would give in one plain namespace: what grading must reproduce."""
    namespace: dict = {"__name__": "in_process"}
    course = Course().notebooks[stem]
    rows = []
    for step in course.plan:
        if step.kind == "setup":
            exec(step.code, namespace)
            continue
        exec(student_cell(notebook, step), namespace)
        report = run_checker(step.exercise, namespace[step.target])
        passed, cases = sum(r.passed for r in report.results), len(report.results)
        weight = course.points[step.exercise]
        points = round(weight * passed / cases, 2)
        rows.append((student, stem, step.exercise, points, weight, passed == cases, passed, cases))
    return rows


def _three(root: Path) -> tuple[Path, list[tuple]]:
    folder = root / "class"
    expected = []
    for student, notebooks in three().items():
        (folder / student).mkdir(parents=True)
        for stem, solutions in notebooks.items():
            notebook = notebook_with(stem, **solutions)
            nbformat.write(notebook, folder / student / f"{stem}.ipynb")
            expected += in_process(student, stem, notebook)
        if student == "cy":
            expected.append(("cy", "notes.txt", "", 0, 0, False, 0, 0))
            expected += [("cy", "04_close_codes", s.exercise, 0, 1, False, 0, 0)
                         for s in Course().notebooks["04_close_codes"].plan
                         if s.kind == "exercise"]
    (folder / "cy" / "notes.txt").write_text("my notes")
    return folder, expected


@pytest.fixture(scope="module")
def three_graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("three")
    folder, expected = _three(root)
    serial = grade(folder, root / "serial")
    parallel = grade(folder, root / "parallel", "--grade-workers", "2")
    return root, serial, parallel, expected


def row_tuple(r: dict) -> tuple:
    return (r["student"], r["notebook"], r["exercise"], r["points"], r["max_points"],
            r["passed"], r["cases_passed"], r["cases"])


def test_three_students_give_the_exact_gradebook_with_partial_credit(three_graded):
    _, (result, rows), _, expected = three_graded
    assert result.returncode == 1  # some exercises failed
    order = {"": 0, NB00: 1, "04_close_codes": 2}
    assert [row_tuple(r) for r in rows] == sorted(
        expected, key=lambda r: (r[0], order.get(r[1], 0) if r[2] else 0)
    )
    points = {(r["student"], r["exercise"]): r["points"] for r in rows}
    assert 0 < points[("bob", "poll_delay")] < 1 and 0 < points[("bob", "sendable")] < 1
    assert points[("cy", "poll_delay")] == 0
    assert {r["points"] for r in rows if r["student"] == "ada"} == {1}
    reasons = {(r["student"], r["exercise"]): r["reason"] for r in rows}
    assert reasons[("cy", "was_clean")] == "notebook not submitted"
    assert reasons[("cy", "")] == "ignored file: not a notebook"
    assert re.match(r"\d+/\d+ cases failed: ", reasons[("bob", "sendable")])


def test_summary_csv_has_points_per_notebook_total_and_max(three_graded):
    root, (_, rows), _, _ = three_graded
    lines = ["student,00_why_websocket,04_close_codes,total,max"]
    for student in ("ada", "bob", "cy"):
        mine = [r for r in rows if r["student"] == student and r["exercise"]]
        cells = [sum(r["points"] for r in mine if r["notebook"] == nb)
                 for nb in (NB00, "04_close_codes")]
        cells += [sum(cells), sum(r["max_points"] for r in mine)]
        lines.append(",".join([student, *(f"{round(c, 2):g}" for c in cells)]))
    assert (root / "serial" / "summary.csv").read_text() == "\n".join(lines) + "\n"
    with open(root / "serial" / "grades.csv") as f:
        assert f.readline() == f"# wslearn gradebook; student code isolation: {isolation()}\n"
        assert len(list(csv.DictReader(f))) == len(rows)


def test_grading_with_two_workers_gives_the_same_gradebook(three_graded):
    root, *_ = three_graded
    for name in ("grades.csv", "grades.json", "summary.csv"):
        assert (root / "serial" / name).read_text() == (root / "parallel" / name).read_text()


def test_a_shortcut_to_the_library_earns_nothing_in_grading_as_in_check(monkeypatch, tmp_path):
    import dataclasses

    from wslearn import exercises

    entry = registry()["accept_key"]
    monkeypatch.setitem(exercises._REGISTRY, "accept_key", dataclasses.replace(
        entry, shortcuts=("wslearn.handshake.accept_key",)))
    path = tmp_path / "01_handshake.ipynb"
    lazy = "from wslearn.handshake import accept_key as ak\n\ndef accept_key(key):\n"
    nbformat.write(notebook_with("01_handshake", accept_key=lazy + "    return ak(key)\n"), path)
    rows, _ = grade_notebook(path, Course().notebooks["01_handshake"], "eve")
    assert (rows[0].exercise, rows[0].points, rows[0].cases) == ("accept_key", 0, 1)
    assert "calling `handshake.accept_key` here is the answer" in rows[0].reason
    assert rows[1].points == 1  # the other exercises are untouched


# -- hostile submissions -----------------------------------------------------------------------

ATTACKS = sorted(p.stem for p in HOSTILE.glob("*.py"))


def _honest(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / f"{NB00}.ipynb"
    nbformat.write(notebook_with(NB00, poll_delay=wrong(NB00, "poll_delay", PARTLY)), path)
    return path


def _hostile_class(root: Path) -> tuple[Path, Path, Path]:
    folder, report, mark = root / "class", root / "gradebook", root / "mark"
    mark.mkdir()
    victim = _honest(folder / "zz_honest")  # graded after every attacker
    for attack in ATTACKS:
        text = (HOSTILE / f"{attack}.py").read_text()
        for placeholder, value in (("@REPORT@", report), ("@VICTIM@", victim), ("@MARK@", mark)):
            text = text.replace(placeholder, str(value))
        notebook = nbsource.parse(text)
        if attack == "fake_report":  # stored outputs claim every check passed
            for cell in notebook.cells:
                if "check" in cell.metadata.get("wslearn", {}):
                    cell.outputs = [nbformat.v4.new_output("display_data", {
                        "application/vnd.wslearn.check+json": {"passed": True, "results": []},
                        "text/plain": "6/6 cases passed. Well done!"})]
        (folder / attack).mkdir()
        nbformat.write(notebook, folder / attack / f"{NB00}.ipynb")
    planted = folder / "planted_files"
    planted.mkdir()
    zero = {s.exercise: NONE.format(name=s.target)
            for s in Course().notebooks[NB00].plan if s.kind == "exercise"}
    nbformat.write(notebook_with(NB00, **zero), planted / f"{NB00}.ipynb")
    touch = f"open({str(mark)!r} + '/{{}}', 'w').write('imported')\n"
    for where in (folder, planted):
        (where / "conftest.py").write_text(touch.format("conftest") + (
            "def pytest_collection_modifyitems(items):\n    items.clear()\n"))
    (planted / "pytest.ini").write_text("[pytest]\naddopts = -p evil_plugin\n")
    (planted / "evil_plugin.py").write_text(touch.format("plugin"))
    (planted / "sitecustomize.py").write_text(touch.format("sitecustomize"))
    (planted / "evil.pth").write_text("import os; " + touch.format("pth"))
    (folder / "symlink").mkdir()
    (folder / "symlink" / f"{NB00}.ipynb").symlink_to(NOTEBOOKS / f"{NB00}.ipynb")
    return folder, report, mark


@pytest.fixture(scope="module")
def hostile_graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    folder, report, mark = _hostile_class(root)
    targets = [ROOT / "wslearn" / "exercises" / "nb00_why.py",
               ROOT / "wslearn" / "exercises" / "__init__.py", NOTEBOOKS / f"{NB00}.ipynb"]
    package = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in targets}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result, rows = grade(folder, report, "--grade-workers", "2", "--grade-timeout", "2")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    written = {name: (report / name).read_text() for name in ("grades.csv", "summary.csv")}
    time.sleep(2.5)  # a detached writer would strike now
    after = {name: (report / name).read_text() for name in ("grades.csv", "summary.csv")}
    alone = grade(_honest(root / "alone" / "zz_honest").parent, root / "alone-book",
                  "--grade-timeout", "2")[1]
    changed = [p for p, digest in package.items()
               if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != digest]
    changed += [p for p in (t.with_name("sitecustomize.py") for t in targets) if p.exists()]
    return {"result": result, "rows": rows, "mark": mark, "written": written, "after": after,
            "alone": alone, "changed": changed, "peak_kb": max(peak, before), "folder": folder}


def test_the_grader_finishes_and_writes_the_gradebook_despite_every_attack(hostile_graded):
    result, rows = hostile_graded["result"], hostile_graded["rows"]
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert {r["student"] for r in rows} == {*ATTACKS, "planted_files", "symlink", "zz_honest"}


@pytest.mark.parametrize("attacker", [*ATTACKS, "planted_files", "symlink"])
def test_a_hostile_submission_gains_no_point(hostile_graded, attacker):
    rows = [r for r in hostile_graded["rows"] if r["student"] == attacker]
    exercises = [s.exercise for s in Course().notebooks[NB00].plan if s.kind == "exercise"]
    assert [r["exercise"] for r in rows if r["exercise"]] == exercises
    assert [(r["exercise"], r["points"]) for r in rows if r["points"]] == []


def test_the_honest_students_rows_are_exactly_as_when_graded_alone(hostile_graded):
    rows = key(hostile_graded["rows"], "zz_honest")
    assert rows == key(hostile_graded["alone"], "zz_honest")
    points = [r[2] for r in rows]
    assert 0 < points[0] < 1 and set(points[1:]) == {1}  # partial credit, then full marks


def test_nothing_from_a_submission_is_imported_and_nothing_is_left_running(hostile_graded):
    assert sorted(os.listdir(hostile_graded["mark"])) == []
    assert hostile_graded["changed"] == []
    assert sandbox_processes() == []


def test_the_gradebook_stays_as_written_after_grading_ends(hostile_graded):
    assert hostile_graded["after"] == hostile_graded["written"]
    assert "detached_writer,999" not in hostile_graded["after"]["summary.csv"]


def test_refusals_and_limits_are_named_in_the_gradebook(hostile_graded):
    reasons = {(r["student"], r["exercise"]): r["reason"] for r in hostile_graded["rows"]}
    symlink = "refused: the submission is a symlink (never followed)"
    assert reasons[("symlink", "poll_delay")] == symlink
    assert re.match(r"(\d+)/\1 cases failed: [^:]+: it ran longer than 2 s",
                    reasons[("endless", "poll_delay")])
    assert reasons[("endless", "frame_overhead")].startswith("it ran longer than 2 s")
    assert "not plain data" in reasons[("always_equal", "frame_overhead")]
    ignored = sorted(r["notebook"] for r in hostile_graded["rows"]
                     if r["student"] == "planted_files" and not r["exercise"])
    planted = ["conftest.py", "evil.pth", "evil_plugin.py", "pytest.ini", "sitecustomize.py"]
    assert ignored == planted


def test_printed_output_is_kept_up_to_1_mb_and_the_grader_stays_small(hostile_graded):
    report = hostile_graded["mark"].parent / "gradebook"
    flood = (report / "output" / "print_flood" / f"{NB00}.txt").read_text()
    assert len(flood) < 1024 * 1024 + 200
    assert "[output truncated: " in flood
    assert hostile_graded["peak_kb"] < 400 * 1024  # the grader never held the 400 MB


# -- nbgrader, for real ------------------------------------------------------------------------


def test_nbgrader_autograde_gives_full_marks_zero_and_loses_exactly_one_exercise(tmp_path):
    """A temporary nbgrader course: generate_assignment, then autograde three submissions."""
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    source = (NOTEBOOKS / f"{NB00}.ipynb").read_bytes()
    (course / "source" / "ps1" / f"{NB00}.ipynb").write_bytes(source)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'wslearn'\n"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "MPLCONFIGDIR"):
        env[name] = str(tmp_path / name.lower())
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]

    def run(*args: str) -> None:
        done = subprocess.run([*nbgrader, *args], cwd=course, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    run("generate_assignment", "ps1", "--force")
    released = course / "release" / "ps1" / f"{NB00}.ipynb"
    exercises = [s.exercise for s in Course().notebooks[NB00].plan if s.kind == "exercise"]
    wrong_one = exercises[0]
    submissions = {
        "reference": (NOTEBOOKS / f"{NB00}.ipynb").read_text(),
        "released": released.read_text(),
        "one_wrong": nbformat.writes(notebook_with(NB00, **{wrong_one: NONE.format(
            name=wrong_one)})),
    }
    for student, text in submissions.items():
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        (folder / f"{NB00}.ipynb").write_text(text)
    run("autograde", "ps1", "--create", "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {
            student: {g.name.removesuffix("_check"): g.score
                      for g in book.find_submission_notebook(NB00, "ps1", student).grades}
            for student in submissions
        }
    assert scores["reference"] == dict.fromkeys(exercises, 1.0)
    assert scores["released"] == dict.fromkeys(exercises, 0.0)
    assert scores["one_wrong"] == {**dict.fromkeys(exercises, 1.0), wrong_one: 0.0}
