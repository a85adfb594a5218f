"""Grade a synthetic class of 20 on the whole course: seconds per student, serial and 2 workers.

The class mixes four kinds of student, five of each: right (the reference
notebooks), wrong (every exercise answers None), broken (syntax errors, a
crash, an endless loop, a missing cell, an unreadable file) and hostile (one
attack from ``tests/hostile/`` in notebook 00, the reference elsewhere). Each
hands in every notebook of the course. The class is graded twice with
``grade_class``, once serially and once with two workers, and the two
gradebooks must be identical.

Run:  .venv/bin/python benchmarks/bench_grading.py [N]   (N students of each kind, default 5)
Target: <= 10 s per student serially on the 2-core course machine, about half with 2 workers.
The machine's load average (1 minute) is printed beside each figure: on a shared machine the
figures mean little without it. Most of a broken class's time is its endless loops, one call
limit (``Limits.call_seconds``) each.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from wslearn import nbsource
from wslearn.exercises.grading import COURSE, Course, grade_class, summary_rows
from wslearn.exercises.release import release

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ["endless", "kill_parent", "print_flood", "fork_bomb", "detached_writer"]
BROKEN = [
    "def {name}(*args):\n    return = 1\n",  # a syntax error
    "def {name}(*args):\n    return {{}}['missing']\n",  # raises KeyError
    "def {name}(*args):\n    while True:\n        pass\n",  # never returns
    None,  # the exercise cell deleted
    "import not_a_module_anywhere\n",  # a failing import
]


def write_class(folder: Path, course: Course, per_kind: int = 5) -> None:
    released = folder.parent / "released"
    release(COURSE, released)
    for number in range(per_kind):
        right = folder / f"right_{number}"
        right.mkdir(parents=True)
        for path in sorted(COURSE.glob("*.ipynb")):
            shutil.copy(path, right / path.name)
        for kind in ("wrong", "broken", "hostile"):
            (folder / f"{kind}_{number}").mkdir()
        for stem, notebook in course.notebooks.items():
            steps = [s for s in notebook.plan if s.kind == "exercise"]
            for kind in ("wrong", "broken"):
                node = nbformat.read(released / f"{stem}.ipynb", as_version=4)
                for cell in node.cells:
                    name = cell.metadata.get("wslearn", {}).get("exercise")
                    step = next((s for s in steps if s.exercise == name), None)
                    if step is None:
                        continue
                    if kind == "wrong":
                        cell.source = f"def {step.target}(*args, **kwargs):\n    return None\n"
                    else:
                        broken = BROKEN[(number + steps.index(step)) % len(BROKEN)]
                        cell.source = broken.format(name=step.target) if broken else ""
                        if broken is None:
                            cell.metadata = {}
                target = folder / f"{kind}_{number}" / f"{stem}.ipynb"
                nbformat.write(node, target)
            shutil.copy(COURSE / f"{stem}.ipynb", folder / f"hostile_{number}" / f"{stem}.ipynb")
        (folder / f"broken_{number}" / "00_why_websocket.ipynb").write_text("{ not json")
        text = (ROOT / "tests" / "hostile" / f"{HOSTILE[number]}.py").read_text()
        for placeholder in ("@REPORT@", "@VICTIM@", "@MARK@"):
            text = text.replace(placeholder, str(folder.parent / "nowhere"))
        target = folder / f"hostile_{number}" / "00_why_websocket.ipynb"
        nbformat.write(nbsource.parse(text), target)


def main() -> int:
    per_kind = int(sys.argv[1]) if len(sys.argv) > 1 else 5  # students of each kind
    course = Course()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as temp:
        folder = Path(temp) / "class"
        write_class(folder, course, per_kind)
        students = len(list(folder.iterdir()))
        results, loads = {}, {}
        for workers in (1, 2):
            before = os.getloadavg()[0]
            start = time.perf_counter()
            book = grade_class(folder, workers=workers, report=Path(temp) / "grades")
            results[workers] = (time.perf_counter() - start, book)
            loads[workers] = f"load {before:.1f} -> {os.getloadavg()[0]:.1f}"
        serial, parallel = results[1], results[2]
        one, two = serial[1].grades, parallel[1].grades
        differ = [(a, b) for a, b in zip(one, two, strict=True) if a != b]
        same = not differ and len(one) == len(two)
        print(f"bench_grading: {students} students x {len(course.notebooks)} notebooks "
              f"({sum(len(n.points) for n in course.notebooks.values())} exercises), "
              f"isolation: {serial[1].isolation}")
        print(f"  serial      {serial[0]:7.1f} s   {serial[0] / students:5.2f} s per student"
              f"   ({loads[1]})")
        print(f"  2 workers   {parallel[0]:7.1f} s   {parallel[0] / students:5.2f} s per student"
              f"   ({serial[0] / parallel[0]:.2f}x; {loads[2]})")
        print(f"  gradebooks identical: {same}")
        for a, b in differ[:5]:
            print(f"    {a.student} {a.exercise}: serial {a.points} {a.reason[:150]!r}")
            print(f"    {a.student} {a.exercise}: 2 workers {b.points} {b.reason[:150]!r}")
        rows = summary_rows(serial[1])
        print("  summary.csv (first of each kind):")
        columns = list(rows[0])
        print("    " + ",".join(columns))
        for row in rows:
            if row["student"].endswith("_0"):
                print("    " + ",".join(str(row[c]) for c in columns))
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
