"""Run asyncio code the same way in a notebook and in a plain script.

A Jupyter kernel already runs an event loop, and cells may use top-level
``await``: that is the first choice in the notebooks. ``run()`` is for the
places where a *synchronous* call must drive a coroutine to completion (an
exercise check called from a cell, a library helper used from a script).
In a script it is ``asyncio.run``; inside the kernel's running loop it
re-enters that loop, which plain asyncio forbids, so it applies
``nest_asyncio2`` to that loop first. ``nest_asyncio2`` is the maintained
fork of ``nest_asyncio`` (the original is archived and breaks on Python
3.12+; see the README), already a dependency of ipykernel 7.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_background: set[asyncio.Task[Any]] = set()


def run(coro: Coroutine[Any, Any, T], *, timeout: float | None = 30.0) -> T:
    """Run ``coro`` to completion from synchronous code, notebook or not."""
    if timeout is not None:
        coro = asyncio.wait_for(coro, timeout)  # type: ignore[assignment]
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import nest_asyncio2

    nest_asyncio2.apply(loop)
    return loop.run_until_complete(coro)


def background(coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
    """Start ``coro`` as a task that outlives the cell; errors are printed, not lost."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _background.add(task)
    task.add_done_callback(_report)
    return task


def _report(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        print(f"background task {task.get_name()} failed:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)


def in_notebook() -> bool:
    """True inside an IPython kernel (Jupyter), False in a plain interpreter."""
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"
