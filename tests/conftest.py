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


def run(coro, timeout: float = 15.0):
    """``asyncio.run(coro)`` with a time limit: every test ends by itself."""
    import asyncio

    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())
