"""Notebook 05's stage: senders shown as code, and Chromium against the slow consumer.

``wslearn.buffering`` measures Python senders against a ``SlowConsumer``;
this module puts the real browser in the same place and keeps the notebook's
plumbing out of the notebook:

- :func:`source`: a function's code without its docstring, to print it;
- :func:`in_chromium`: run a JS snippet in headless Chromium against a fresh
  ``SlowConsumer`` and measure what the consumer read (:class:`BrowserRun`);
- :func:`table`: Python runs and browser runs in one table (peak bytes
  queued in the sender, bytes per second read by the consumer).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wslearn import browser
from wslearn.buffering import SlowConsumer

__all__ = ["BrowserRun", "in_chromium", "source", "table"]


def source(function: Callable[..., Any]) -> str:
    """The source of ``function`` without its docstring (what it does, not what it says)."""
    code = textwrap.dedent(inspect.getsource(function))
    return re.sub(r'\n(\s+)(""".*?""")\n', "\n", code, count=1, flags=re.DOTALL).rstrip()


@dataclass
class BrowserRun:
    """One snippet of browser JS against one slow consumer.

    ``peak``: what the snippet reports as the most bytes it had waiting in the
    page at once (``bufferedAmount``, or unresolved ``write()`` s); ``sent``:
    bytes it handed to ``send()`` or ``write()``; ``read``: WebSocket bytes
    the consumer read in ``duration`` seconds.
    """

    name: str
    version: str
    duration: float
    peak: int
    sent: int
    read: int
    result: Any

    @property
    def unread(self) -> int:
        """Bytes handed to the browser that the consumer had not read at the end."""
        return max(0, self.sent - self.read)

    @property
    def throughput(self) -> float:
        """Bytes per second the consumer read while the page was sending."""
        return self.read / self.duration


async def in_chromium(
    name: str, js: str, *, rate: float, duration: float, **args: Any
) -> BrowserRun:
    """Run ``js`` in Chromium against a fresh ``SlowConsumer(rate)`` for ``duration`` s.

    The snippet gets ``url`` (the consumer's) and ``args.seconds`` plus
    ``args``; it must return ``{peak, sent}`` (bytes). Raises ``RuntimeError`` with
    the browser's own error if the snippet failed or did not finish in time.
    """
    async with SlowConsumer(rate) as consumer:
        log = await browser.run(
            js, url=consumer.url, timeout=duration + 3, seconds=duration, **args
        )
        read = consumer.bytes_read
    result = log.result if isinstance(log.result, dict) else {}
    if log.timed_out or not {"peak", "sent"} <= result.keys():
        why = log.errors[-1] if log.errors else "it did not return {peak, sent} in time"
        raise RuntimeError(f"{name} in Chromium: {why}")
    peak, sent = int(result["peak"]), int(result["sent"])
    return BrowserRun(name, log.version, duration, peak, sent, read, result)


def _unread(run: Any) -> int:
    if isinstance(run, BrowserRun):
        return run.unread
    return max(0, run.log.bytes_sent - run.read_at_stop)  # a buffering.Run


def table(runs: Iterable[Any], title: str = "sender") -> str:
    """One line per run: peak bytes waiting in the sender, bytes/s read, bytes unread.

    Works for ``buffering.Run`` (Python) and :class:`BrowserRun` alike. The
    last column is what had been handed to ``send()``/``write()`` but not yet
    read when sending stopped: in ``bufferedAmount`` or in buffers below it.
    """
    rows = [
        f"{title:32} {'peak in bufferedAmount':>22} {'read by consumer':>17} {'sent, unread':>13}"
    ]
    for run in runs:
        rows.append(
            f"{run.name:32} {run.peak:>20,} B {run.throughput / 1000:>12.1f} kB/s"
            f" {_unread(run):>11,} B"
        )
    return "\n".join(rows)
