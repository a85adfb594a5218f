"""Fan-out on one process: the naive loop, ``websockets.broadcast()`` and ``wslearn``'s hub.

One ``websockets`` server and N ``websockets`` clients (``compression=None``)
in one process on 127.0.0.1; each message (64 B of text) is published once
the previous one reached every client. For each client count the three
methods run on the same connections, interleaved round by round in a shuffled
order, and their results are pooled: delivery rate (deliveries per second,
both ends' work included, since clients and server share the process) and
latency from publish to arrival, p50 and p99. Then one client stops reading
among 20 fast ones: what each method does to the others. Last, the latency a
hop through Redis adds: the same chat relay in one process, then 2 and 4
processes (``wslearn.scale``) sharing their clients through a private Redis.

Notebook 09 shows a small live run of the same measurement (it has a time
budget); this is the full sweep, 1 to 2,000 clients (5,000 with --big).

Run:  .venv/bin/python benchmarks/bench_broadcast.py [--big]   (about a minute on a quiet machine)
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

from wslearn import broadcast, scale

COUNTS = [1, 10, 100, 500, 1000, 2000]
BIG = [5000]
ROUNDS = 3
PROBE = {"clients_per_url": 2, "messages": 100, "interval": 0.01, "senders": 1}
SLOW = {"clients": 20, "size": 4096, "interval": 0.01, "messages": 100, "queue_size": 16}


def messages_for(clients: int) -> int:
    return max(5, min(40, 7_000 // clients))


async def main(counts: list[int]) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * max(counts) + 100  # a client socket and a server socket per client
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    print("bench_broadcast: fan-out of 64 B messages on one process (clients in the same process)")
    print(f"  {'clients':>7}  {'method':9}  {'deliveries/s':>12}  {'p50 ms':>8}  {'p99 ms':>8}"
          f"  {'CPU µs/delivery':>15}")
    for clients in counts:
        began = time.perf_counter()
        results = await broadcast.fanout(clients, messages=messages_for(clients), rounds=ROUNDS)
        for result in results.values():
            print(f"  {clients:7,}  {result.method:9}  {result.rate:12,.0f}  "
                  f"{1000 * result.p50:8.2f}  {1000 * result.p99:8.2f}  "
                  f"{1e6 * result.cost_per_delivery:15.1f}"
                  + (f"  missing {result.missing}" if result.missing else ""))
        print(f"  {'':7}  ({time.perf_counter() - began:.1f} s)")
    print(f"\n  one client stops reading among {SLOW['clients']} fast ones, a {SLOW['size']:,} B "
          f"message every {1000 * SLOW['interval']:g} ms, {SLOW['messages']} messages")
    for method, policy in [("naive", "drop-oldest"), ("broadcast", "drop-oldest"),
                           ("hub", "drop-oldest"), ("hub", "drop-newest"), ("hub", "disconnect")]:
        result = await broadcast.slow_client(method, policy=policy, **SLOW)
        print("  " + result.row())
    await relay_latency()


async def relay_latency(rounds: int = 3) -> None:
    """What the hop through Redis costs: one process without Redis, then 2 and 4 with it."""
    print(f"\n  relay latency: 2 clients per process; one client of process 0 sends "
          f"{PROBE['messages']} messages {1000 * PROBE['interval']:g} ms apart; "
          f"{rounds} rounds pooled")
    print(f"  {'setup':24} {'p50 ms':>8} {'p99 ms':>8}  lost")
    async with await scale.redis() as redis:
        local = broadcast.relay()
        async with local:
            setups = {"1 process, no Redis": [local.url, local.url]}
            for n in (2, 4):
                group = await scale.cluster(n, redis.url, name=f"bench{n}")
                setups[f"{n} processes via Redis"] = group.urls
            for label, urls in setups.items():
                latencies, lost = [], 0
                for _ in range(rounds):
                    probe = await scale.probe(urls, **PROBE)
                    latencies += probe.latencies
                    lost += probe.lost
                p50, p99 = (broadcast.percentile(latencies, q) for q in (50, 99))
                print(f"  {label:24} {1000 * p50:8.2f} {1000 * p99:8.2f}  {lost}")
            await scale.stop()


if __name__ == "__main__":
    asyncio.run(main(COUNTS + (BIG if "--big" in sys.argv else [])))
