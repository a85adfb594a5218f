"""Student copies: solutions replaced by a stub, outputs cleared.

``python -m wslearn release --out student/`` writes one copy of every
course notebook. Inside each exercise cell the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` become a stub that raises
``NotImplementedError`` (at the marker's indentation, as nbgrader does);
every other cell is kept as it is, outputs and execution counts are
cleared, and the file is written deterministically, so releasing twice
gives identical bytes.

``grading_plan`` says what grading runs for a notebook: the course's own
setup code and exercise cells, in order (see ``wslearn.exercises.grading``).
"""

from __future__ import annotations

import ast
import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nbformat takes ~3 s to import (jsonschema): grading never needs it
    from nbformat import NotebookNode

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("your solution here")'
_BLOCK = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*$",
    re.MULTILINE | re.DOTALL,
)


def strip_solutions(source: str) -> str:
    """Replace each solution block in ``source`` with the stub."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError("unbalanced solution markers")
    return _BLOCK.sub(lambda m: f"{m['indent']}# YOUR CODE HERE\n{m['indent']}{STUB}", source)


def student_copy(notebook: NotebookNode) -> NotebookNode:
    """A copy of ``notebook`` as handed to students."""
    import nbformat

    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source)
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    return copy


def release(source_dir: Path, out_dir: Path) -> list[Path]:
    """Write student copies of every ``*.ipynb`` in ``source_dir`` to ``out_dir``."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("*.ipynb")):
        target = out_dir / path.name
        nbformat.write(student_copy(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


# -- what grading runs: the course's plan for one notebook -------------------------------------

#: imports a grader never needs (figures and display), dropped from the setup code
DISPLAY_ONLY = ("matplotlib", "IPython", "wslearn.plots")


@dataclass(frozen=True)
class Step:
    """One step of a grading plan: course code to run, or an exercise to grade."""

    kind: str  # "setup" (course code) or "exercise"
    code: str = ""  # for "setup": the code; for "exercise": the course's (stub) cell
    exercise: str = ""  # for "exercise": its name
    target: str = ""  # for "exercise": what its check cell passes to check(), e.g. "poll_delay"


def grading_plan(notebook: NotebookNode | dict[str, Any]) -> list[Step]:
    """What grading runs for a notebook of the course, in notebook order.

    Taken from the released copy (solutions stripped), never from a student's
    file: for each exercise, the code the exercises need before it, then the
    exercise itself (graded by its check, which stays with the grader). The
    code the exercises need is every ``# %% setup`` cell whole, and of the
    other cells only their definitions: imports (except figures and display),
    ``def`` and ``class`` statements and ``NAME = <literal>`` constants. Demos,
    servers, figures and checks do not run, which is what makes grading fast.
    ``notebook`` may be plain JSON data: the grader reads the course without nbformat.
    """
    plan: list[Step] = []
    pending: list[str] = []
    cells = [  # (released source, wslearn metadata) of each code cell
        (strip_solutions(_text(cell.get("source", ""))),
         cell.get("metadata", {}).get("wslearn", {}))
        for cell in notebook["cells"]
        if cell.get("cell_type") == "code"
    ]
    checks = {meta["check"]: check_target(source) for source, meta in cells if "check" in meta}
    for source, meta in cells:
        if "exercise" in meta:
            if pending:
                plan.append(Step("setup", "\n".join(pending)))
                pending = []
            name = meta["exercise"]
            plan.append(Step("exercise", source, name, checks.get(name, name)))
        elif meta.get("setup"):
            pending.append(source)
        elif "check" not in meta:
            pending.extend(definitions(source))
    return plan


def _text(source: str | list[str]) -> str:
    """A cell's source as one string (a notebook file may store it as a list of lines)."""
    return source if isinstance(source, str) else "".join(source)


def modules(plan: list[Step]) -> list[str]:
    """The modules a plan's setup code imports (``from wslearn import framing``: both)."""
    found: set[str] = set()
    for step in plan:
        if step.kind != "setup":
            continue
        with contextlib.suppress(SyntaxError):
            for node in ast.walk(ast.parse(step.code)):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(found)


def check_target(source: str) -> str:
    """The expression a check cell passes: ``check("ask", ask)`` → ``"ask"``."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "check"
            and len(node.args) == 2
        ):
            return ast.unparse(node.args[1])
    raise ValueError(f"no check(name, obj) call in {source!r}")


def definitions(source: str) -> list[str]:
    """The statements of a cell that only define things (see ``grading_plan``)."""
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        tree = compile(source, "<cell>", "exec", flags=flags)
    except SyntaxError:
        return []
    kept = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            node = _without_display(node)
        elif isinstance(node, ast.Assign):
            if not _literal(node):
                continue
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node is not None:
            kept.append(ast.unparse(node))
    return kept


def _without_display(node: ast.Import | ast.ImportFrom) -> ast.Import | ast.ImportFrom | None:
    def display(module: str) -> bool:
        return any(module == d or module.startswith(d + ".") for d in DISPLAY_ONLY)

    if isinstance(node, ast.ImportFrom):
        if display(node.module or ""):
            return None
        names = [a for a in node.names if not display(f"{node.module}.{a.name}")]
        return ast.ImportFrom(node.module, names, node.level) if names else None
    names = [a for a in node.names if not display(a.name)]
    return ast.Import(names) if names else None


def _literal(node: ast.Assign) -> bool:
    if not all(isinstance(target, ast.Name) for target in node.targets):
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True
