"""Shared test setup: keep Jupyter and matplotlib out of the home folder; session fixtures.

Helpers (the async runner, the notebooks' reference solutions, the raw peer)
live in ``helpers.py``; they are re-exported here for the tests that still
import them from ``conftest``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
from helpers import (  # noqa: E402, F401  (re-exported for older imports)
    NOTEBOOKS,
    ROOT,
    async_test,
    failures,
    not_written,
    reference,
    run,
)

from wslearn.exercises.grading import execute  # noqa: E402

NOTEBOOK_TIMES: dict[str, float] = {}


@pytest.fixture(scope="session")
def executed():
    """Run each course notebook once per session in a fresh kernel (cached)."""
    cache = {}

    def execute_once(name: str):
        if name not in cache:
            start = time.perf_counter()
            cache[name] = execute(NOTEBOOKS / name, timeout=120)
            NOTEBOOK_TIMES[name] = time.perf_counter() - start
        return cache[name]

    return execute_once


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_TIMES:
        terminalreporter.section("notebook run times (fresh kernel)")
        for name, seconds in sorted(NOTEBOOK_TIMES.items()):
            terminalreporter.write_line(f"{name:32} {seconds:6.1f} s")
