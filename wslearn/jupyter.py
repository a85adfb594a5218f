"""Run a coroutine from synchronous code, in a notebook and in a plain script alike.

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
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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
