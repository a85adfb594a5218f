"""Senders against the same slow consumer: memory, CPU, throughput and freshness.

Each sender of ``wslearn.buffering`` runs alone, in a fresh Python process,
for ``DURATION`` seconds against a fresh ``SlowConsumer`` reading ``RATE``
bytes/s; senders with a timer are offered one ``SIZE``-byte message every
``INTERVAL`` seconds (four times the rate).  For each run the table gives:

- peak bufferedAmount (for ``websockets``: its transport's write buffer);
- peak memory: how much the process's peak RSS grew during the run
  (``ru_maxrss`` after minus before; a fresh process per sender, so one
  sender's heap does not hide another's; ``tracemalloc`` slowed the
  consumer down so much that it no longer read at its rate);
- CPU: process time used during the run (the consumer shares the process);
- throughput: payload bytes the consumer received per second while sending;
- newest age: when sending stopped, how long ago the newest message the
  consumer had received was sent;
- max delay: the slowest message's time from send() to arrival.

``drained`` is the event-driven sender: it sleeps in ``ws.buffered_below()``
until the socket has handed enough bytes to the network, with no timer.

Run:  .venv/bin/python benchmarks/bench_buffering.py   (about 20 s)
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from typing import Any

from wslearn import buffering

RATE = 400_000
SIZE = 8192
INTERVAL = 0.005
MAX_DATA = 32 * 1024
DURATION = 3.0


def max_rss() -> int:
    """Peak resident memory of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def measure(sender: str) -> dict[str, Any]:
    rss, cpu = max_rss(), time.process_time()
    run = await buffering.experiment(
        sender,
        rate=RATE,
        size=SIZE,
        interval=INTERVAL,
        max_data=MAX_DATA,
        duration=DURATION,
    )
    return {
        "peak_buffered": run.peak,
        "memory": max_rss() - rss,
        "cpu": time.process_time() - cpu,
        "throughput": run.throughput,
        "newest_age": run.newest_age,
        "max_delay": run.max_delay,
        "sent": len(run.log.sent),
        "dropped": run.log.dropped,
    }


def main() -> None:
    print(
        f"slow consumer {RATE / 1000:.0f} kB/s, {SIZE} B messages, tick {1000 * INTERVAL:g} ms, "
        f"max_data {MAX_DATA:,} B, {DURATION:g} s per sender, one process each\n"
    )
    header = (
        f"{'sender':16} {'peak bufferedAmount':>20} {'peak memory':>12} {'CPU':>7} "
        f"{'throughput':>12} {'newest age':>11} {'max delay':>10} {'sent':>5} {'dropped':>8}"
    )
    print(header)
    print("-" * len(header))
    for sender in buffering.SENDERS:
        child = subprocess.run(
            [sys.executable, __file__, "--one", sender],
            capture_output=True,
            text=True,
            timeout=DURATION + 30,
            check=True,
        )
        row = json.loads(child.stdout)
        print(
            f"{sender:16} {row['peak_buffered']:>18,} B {row['memory'] / 1e6:>9.1f} MB "
            f"{row['cpu']:>5.2f} s {row['throughput'] / 1000:>7.1f} kB/s "
            f"{1000 * row['newest_age']:>8.0f} ms {1000 * row['max_delay']:>7.0f} ms "
            f"{row['sent']:>5} {row['dropped']:>8}",
            flush=True,
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(asyncio.run(measure(sys.argv[2]))))
    else:
        main()
