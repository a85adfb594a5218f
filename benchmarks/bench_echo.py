"""Echo round trips: the course's from-scratch server vs the ``websockets`` server.

One ``websockets`` client (``compression=None``) sends a message and waits
for the echo, again and again, to (a) a ``websockets`` echo server and (b) a
``wslearn.scratch`` echo server. Client and both servers share one process and
one event loop, so the client's own cost is the same in both columns and the
ratio only moves with the servers' cost.

Timings swing between processes on shared machines, so the two servers are
timed interleaved, round after round, in a shuffled order; the table reports
medians, and the ratio is the median of the per-round ratios (scratch divided
by websockets: above 1 means the scratch server is faster).

Run:  .venv/bin/python benchmarks/bench_echo.py   (about 15 s)
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from wslearn import scratch

SIZES = {  # label: (payload size in bytes, send as text?)
    "16 B": (16, False),
    "1 KiB": (1024, False),
    "1 KiB text": (1024, True),
    "64 KiB": (64 * 1024, False),
    "1 MiB": (1024 * 1024, False),
}
ROUNDS = 21  # interleaved rounds per size (odd: the median is one of them)
BUDGET = 0.06  # seconds per timed batch
MAX_SIZE = 2**20


async def ws_echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def batch(ws: ClientConnection, message: str | bytes, budget: float) -> float:
    """Round trips per second over at least ``budget`` seconds."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < budget:
        for _ in range(8):
            await ws.send(message)
            await ws.recv()
        count += 8
    return count / elapsed


async def main() -> None:
    rng = random.Random(6455)
    async with (
        ws_serve(ws_echo, "127.0.0.1", 0, compression=None, max_size=MAX_SIZE) as theirs,
        scratch.serve(scratch.echo, max_size=MAX_SIZE) as ours,
    ):
        theirs_url = f"ws://127.0.0.1:{theirs.sockets[0].getsockname()[1]}"
        urls = {"websockets": theirs_url, "scratch": ours.url}
        clients = {
            name: await ws_connect(url, compression=None, max_size=None)
            for name, url in urls.items()
        }
        print(f"{'message':>11} | {'websockets':>22} | {'scratch':>22} | scratch/websockets")
        print(f"{'':>11} | {'round trips/s':>13} {'MB/s':>8} | {'round trips/s':>13} {'MB/s':>8} |")
        for label, (size, text) in SIZES.items():
            data = os.urandom(size)
            message: str | bytes = data.hex()[:size] if text else data
            rates: dict[str, list[float]] = {name: [] for name in clients}
            ratios = []
            for name in clients:  # warm up
                await batch(clients[name], message, BUDGET / 2)
            for _ in range(ROUNDS):
                order = list(clients)
                rng.shuffle(order)
                this_round = {name: await batch(clients[name], message, BUDGET) for name in order}
                for name, rate in this_round.items():
                    rates[name].append(rate)
                ratios.append(this_round["scratch"] / this_round["websockets"])
            cells = []
            for name in ("websockets", "scratch"):
                rate = statistics.median(rates[name])
                cells.append(f"{rate:13,.0f} {rate * size / 1e6:8.1f}")
            print(f"{label:>11} | {cells[0]} | {cells[1]} | {statistics.median(ratios):.2f}x")
        for client in clients.values():
            await client.close()


if __name__ == "__main__":
    asyncio.run(main())
