"""Encode + decode a masked frame, as a server receives it: wslearn vs wsproto vs websockets.

A client encodes a BINARY frame with a fresh masking key, the server decodes
and unmasks it. Throughput is payload bytes per second for that round trip.

Timings of memory-bound code swing by up to 4x between processes on shared
machines, so the three implementations are timed interleaved, in one process,
round after round in a shuffled order; the table reports medians, and the
ratios are medians of the per-round ratios. Each batch is timed in CPU time
of this thread (``time.thread_time``), not wall time: on a machine shared by
busy neighbours the scheduler otherwise charges their time slices to
whichever contender happened to be running.

Run:  .venv/bin/python benchmarks/bench_framing.py   (about 20 s of CPU)
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable

from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader
from wsproto.frame_protocol import FrameProtocol

from wslearn.framing import Frame, Opcode, decode_frame, encode_frame

SIZES = {"125 B": 125, "64 KiB": 64 * 1024, "1 MiB": 1024 * 1024}
ROUNDS = 61  # interleaved rounds per size (odd: the median is one of them)
BUDGET = 0.02  # seconds per timed batch


def wslearn_roundtrip(payload: bytes) -> bytes:
    wire = encode_frame(Frame(True, Opcode.BINARY, payload), mask=True)
    frame, _ = decode_frame(wire, expect_masked=True)
    return frame.payload


def websockets_roundtrip(payload: bytes) -> bytes:
    wire = WsFrame(WsOpcode.BINARY, payload).serialize(mask=True)
    reader = StreamReader()
    reader.feed_data(wire)
    parser = WsFrame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        return done.value.data
    raise AssertionError("incomplete frame")


_ws_client = FrameProtocol(client=True, extensions=[])
_ws_server = FrameProtocol(client=False, extensions=[])


def wsproto_roundtrip(payload: bytes) -> bytes:
    _ws_server.receive_bytes(_ws_client.send_data(payload, fin=True))
    (frame,) = _ws_server.received_frames()
    return frame.payload


IMPLEMENTATIONS: dict[str, Callable[[bytes], bytes]] = {
    "wslearn": wslearn_roundtrip,
    "wsproto": wsproto_roundtrip,
    "websockets": websockets_roundtrip,
}


def calibrate(fn: Callable[[bytes], bytes], payload: bytes) -> int:
    """Number of calls that take about BUDGET seconds."""
    n = 1
    while True:
        start = time.thread_time()
        for _ in range(n):
            fn(payload)
        if (elapsed := time.thread_time() - start) > BUDGET / 4:
            return max(1, int(n * BUDGET / elapsed))
        n *= 4


def measure(payload: bytes) -> dict[str, list[float]]:
    """MB/s per implementation, one value per round, rounds interleaved."""
    for name, fn in IMPLEMENTATIONS.items():
        assert fn(payload) == payload, name
    calls = {name: calibrate(fn, payload) for name, fn in IMPLEMENTATIONS.items()}
    speeds: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    order = list(IMPLEMENTATIONS)
    rng = random.Random(6455)
    for _ in range(ROUNDS):
        rng.shuffle(order)
        for name in order:
            fn, n = IMPLEMENTATIONS[name], calls[name]
            start = time.thread_time()
            for _ in range(n):
                fn(payload)
            speeds[name].append(len(payload) * n / (time.thread_time() - start) / 1e6)
    return speeds


def main() -> None:
    header = (
        f"{'size':>7} | {'wslearn':>9} {'wsproto':>9} {'websockets':>10}"
        f" | {'/wsproto':>8} {'/websockets':>11}"
    )
    print("encode (client, masked) + decode (server), MB/s, medians of", ROUNDS, "rounds")
    print(header)
    print("-" * len(header))
    for label, size in SIZES.items():
        speeds = measure(os.urandom(size))
        med = {name: statistics.median(values) for name, values in speeds.items()}
        ratio = {
            other: statistics.median(
                a / b for a, b in zip(speeds["wslearn"], speeds[other], strict=True)
            )
            for other in ("wsproto", "websockets")
        }
        print(
            f"{label:>7} | {med['wslearn']:9.0f} {med['wsproto']:9.0f} {med['websockets']:10.0f}"
            f" | {ratio['wsproto']:7.2f}x {ratio['websockets']:10.2f}x"
        )


if __name__ == "__main__":
    main()
