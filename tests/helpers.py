"""What the tests share, once: one async runner, the notebooks' own solutions, the raw peer.

- :func:`run` / :func:`async_test`: run a coroutine (or an ``async def`` test)
  with a time limit, so a hang fails instead of stalling the suite.
- :func:`reference`: a notebook's reference solutions, taken from its source.
- :func:`failures`, :func:`message_of` and :func:`not_written`: for exercise
  checks that must fail.
- The raw peer (:class:`~wslearn.raw.RawWebSocket`, :func:`~wslearn.raw.listen`,
  ...) is :mod:`wslearn.raw`, re-exported here so a test imports from one place.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from wslearn.raw import RawWebSocket, listen, read_head, read_to_eof, tcp

__all__ = [
    "NOTEBOOKS",
    "ROOT",
    "RawWebSocket",
    "async_test",
    "failures",
    "listen",
    "message_of",
    "not_written",
    "read_head",
    "read_to_eof",
    "reference",
    "run",
    "tcp",
]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    """``asyncio.run(coro)`` with a time limit: every test ends by itself."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def async_test(fn: Callable[..., Awaitable[Any]]) -> Callable[..., None]:
    """Decorator: run an ``async def`` test with :func:`run`, bounded by 10 s."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run(fn(*args, **kwargs), timeout=10.0)

    return wrapper


def reference(notebook: str) -> dict[str, Any]:
    """The reference solutions of ``notebook`` (e.g. ``"02_framing"``), taken from its source.

    Runs the notebook's definitions (imports, literal constants, functions and
    classes, statement by statement, skipping everything live), then its
    exercise cells, so tests check the very code the notebook teaches instead
    of a copy of it.
    """
    from wslearn import nbsource
    from wslearn.exercises.release import definitions

    notebook_node = nbsource.parse((NOTEBOOKS / "src" / f"{notebook}.py").read_text())
    namespace: dict[str, Any] = {"__name__": f"reference_{notebook}"}
    for cell in notebook_node.cells:
        if cell.cell_type != "code":
            continue
        exercise = "exercise" in cell.metadata.get("wslearn", {})
        source = cell.source if exercise else "\n".join(definitions(cell.source))
        exec(compile(source, f"<{notebook}>", "exec"), namespace)
    return namespace


def failures(exercise: str, solution: object) -> dict[str, str]:
    """Check ``solution``, which must fail: the failed cases and their messages."""
    from wslearn.exercises import run_checker

    report = run_checker(exercise, solution)
    assert not report.passed, str(report)
    return {r.case: r.message for r in report.results if not r.passed}


def message_of(exercise: str, solution: object, failing_case: str) -> str:
    """The message of ``failing_case`` when ``solution`` is checked; that case must fail."""
    messages = failures(exercise, solution)
    assert failing_case in messages, messages
    return messages[failing_case]


def not_written(*args: object) -> object:
    """What a released stub does."""
    raise NotImplementedError("your solution here")
