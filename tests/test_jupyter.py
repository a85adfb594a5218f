"""``wslearn.jupyter.run`` drives a coroutine from synchronous code, inside a running loop too."""

from __future__ import annotations

import asyncio

import pytest

from wslearn.jupyter import run


async def answer(delay: float = 0.01) -> int:
    await asyncio.sleep(delay)
    return 42


def test_run_without_a_loop_is_asyncio_run():
    assert run(answer()) == 42


def test_run_inside_a_running_loop_reenters_it_like_a_notebook_cell():
    async def cell():
        # a synchronous call (an exercise check, say) made from code the loop is running
        return run(answer()), asyncio.get_running_loop().is_running()

    assert asyncio.run(cell()) == (42, True)


def test_run_is_bounded_by_its_timeout():
    with pytest.raises(TimeoutError):
        run(answer(delay=5), timeout=0.05)
