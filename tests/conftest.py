"""Shared test setup: keep Jupyter and matplotlib out of the home folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

_home = Path(tempfile.mkdtemp(prefix="wslearn-test-"))
for variable in (
    "JUPYTER_RUNTIME_DIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTERLAB_WORKSPACES_DIR",
    "MPLCONFIGDIR",
):
    os.environ.setdefault(variable, str(_home / variable.lower()))


import time  # noqa: E402

import pytest  # noqa: E402

from wslearn.exercises.grading import execute  # noqa: E402

NOTEBOOK_TIMES: dict[str, float] = {}


@pytest.fixture(scope="session")
def executed():
    """Run each course notebook once per session in a fresh kernel (cached)."""
    cache = {}

    def run(name: str):
        if name not in cache:
            start = time.perf_counter()
            cache[name] = execute(NOTEBOOKS / name, timeout=120)
            NOTEBOOK_TIMES[name] = time.perf_counter() - start
        return cache[name]

    return run


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_TIMES:
        terminalreporter.section("notebook run times (fresh kernel)")
        for name, seconds in sorted(NOTEBOOK_TIMES.items()):
            terminalreporter.write_line(f"{name:32} {seconds:6.1f} s")


def async_test(fn):
    """Decorator: run an ``async def`` test with ``asyncio.run``, bounded by 10 s."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def main():
            async with asyncio.timeout(10.0):
                await fn(*args, **kwargs)

        asyncio.run(main())

    return wrapper


def run(coro, timeout: float = 15.0):
    """``asyncio.run(coro)`` with a time limit: every test ends by itself."""
    import asyncio

    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def reference(notebook: str) -> dict:
    """The reference solutions of ``notebook`` (e.g. ``"02_framing"``), taken from its source.

    Runs the notebook's definitions (imports, literal constants, functions and
    classes, statement by statement, skipping everything live), then its
    exercise cells, so tests check the very code the notebook teaches instead
    of a copy of it.
    """
    import ast

    from wslearn import nbsource

    notebook_node = nbsource.parse((NOTEBOOKS / "src" / f"{notebook}.py").read_text())
    namespace: dict = {"__name__": f"reference_{notebook}"}
    simple = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for cell in notebook_node.cells:
        if cell.cell_type != "code":
            continue
        tree = compile(cell.source, f"<{notebook}>", "exec", flags=flags)
        if "exercise" not in cell.metadata.get("wslearn", {}):
            tree.body = [
                node
                for node in tree.body
                if isinstance(node, simple)
                or (isinstance(node, ast.Assign) and _constant(node.targets, node.value))
            ]
        exec(compile(tree, f"<{notebook}>", "exec"), namespace)
    return namespace


def _constant(targets, value) -> bool:
    """``NAME = <literal>``: a constant a solution may use (not ``ws.x = 1``)."""
    import ast

    if not all(isinstance(target, ast.Name) for target in targets):
        return False
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def failures(exercise: str, solution: object) -> dict[str, str]:
    """Check ``solution``, which must fail: the failed cases and their messages."""
    from wslearn.exercises import run_checker

    report = run_checker(exercise, solution)
    assert not report.passed, str(report)
    return {r.case: r.message for r in report.results if not r.passed}


def not_written(*args: object) -> object:
    """What a released stub does."""
    raise NotImplementedError("your solution here")
