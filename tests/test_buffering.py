"""wslearn.buffering against a real slow consumer on 127.0.0.1.

The senders run side by side (one consumer each) in one module fixture, so
the whole file takes a few seconds.  Numbers: the consumer reads 400 kB/s;
each tick (5 ms) offers one 8 KiB message, four times what it can read.
"""

from __future__ import annotations

import asyncio
import gc
import math
from typing import Any

import pytest
from helpers import RawWebSocket, run
from websockets.asyncio.client import connect

from wslearn import buffering, websocket
from wslearn.buffering import SlowConsumer, experiment
from wslearn.close import decode_close
from wslearn.framing import Frame, Opcode
from wslearn.websocket import WebSocket

RATE = 400_000  # bytes/s the consumer reads
SIZE = 8192  # bytes per message
INTERVAL = 0.005  # seconds between ticks: 1.6 MB/s offered
MAX_DATA = 32 * 1024
DURATION = 1.5
FRAME_HEADER = 14  # a masked client frame of 126..65535 bytes: 2 + 2 length + 4 mask (+ slack)


def latest_delay_bound() -> float:
    """The longest a value sent by ``send_latest`` can take to arrive, derived.

    When a value is sent, ``bufferedAmount < MAX_DATA``: at most ``MAX_DATA - 1``
    bytes queue ahead of it, plus its own ``SIZE``.  Below ``bufferedAmount``
    sit the transport's buffer (asyncio pauses the port above ``WRITE_HIGH``,
    and the port writes in ``WRITE_CHUNK`` pieces), the sender's kernel send
    buffer and the consumer's receive buffer (Linux doubles both sizes asked
    for).  All of it drains at ``RATE``; add one consumer tick and 0.1 s of
    scheduling slack.
    """
    queued = MAX_DATA - 1 + SIZE
    hidden = websocket.WRITE_HIGH + websocket.WRITE_CHUNK
    hidden += 2 * buffering.SNDBUF + 2 * buffering.RCVBUF
    on_wire = (queued + hidden) * (1 + FRAME_HEADER / SIZE)
    return on_wire / RATE + 0.005 + 0.1


async def loop_keeps_time(limit: float = 10.0) -> None:
    """Return once 20 sleeps of INTERVAL take at most twice their time, or after ``limit`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        start = loop.time()
        for _ in range(20):
            await asyncio.sleep(INTERVAL)
        if loop.time() - start <= 2 * 20 * INTERVAL:
            return


@pytest.fixture(scope="module")
def runs() -> dict[str, buffering.Run]:
    """Every sender for DURATION seconds, side by side, each against its own consumer."""
    common = {"rate": RATE, "size": SIZE, "interval": INTERVAL, "max_data": MAX_DATA}

    async def all_senders() -> dict[str, buffering.Run]:
        results = await asyncio.gather(
            # after sending, the consumer speeds up to 10x: the buffer must empty
            experiment(
                "unthrottled", duration=DURATION, catch_up=5, catch_up_rate=10 * RATE, **common
            ),
            experiment("throttled", duration=DURATION, catch_up=3, **common),
            experiment("latest", duration=DURATION, catch_up=3, **common),
            experiment("drained", duration=DURATION, catch_up=3, **common),
            experiment("websockets", duration=DURATION, **common),
        )
        return {run.name: run for run in results}

    # The timer-driven senders tick every INTERVAL. When something stalls this process (two
    # clean-clone CI runs of five saw 23 and 40-48 ticks of an expected 300, right after the
    # browser tests), nothing was measured. So each attempt first collects garbage and waits
    # (at most 10 s) until the loop keeps time, and a starved attempt is run again, at most
    # three in all; the tests judge the last one.
    expected_ticks = DURATION / INTERVAL
    for _ in range(3):
        gc.collect()
        run(loop_keeps_time(), timeout=15)
        runs = run(all_senders(), timeout=20)
        if runs["unthrottled"].log.ticks >= 0.8 * expected_ticks:
            break
    return runs


# --- the consumer is slow, and it is the bottleneck -----------------------------------------


def test_consumer_reads_at_its_rate(runs: dict[str, buffering.Run]) -> None:
    for name in ("throttled", "drained", "websockets"):
        run = runs[name]
        assert 0.8 * RATE < run.read_at_stop / run.stopped < 1.15 * RATE, name
        assert 0.75 * RATE < run.throughput < 1.15 * RATE, name


# --- unthrottled: bufferedAmount grows without limit ----------------------------------------


def test_unthrottled_buffered_amount_grows_beyond_ten_times_max_data(runs):
    run = runs["unthrottled"]
    assert run.peak > 10 * MAX_DATA
    # it grows all along: each half second holds more than the one before
    halves = [max(v for t, v in run.samples if k / 2 <= t < (k + 1) / 2) for k in range(3)]
    assert halves[0] < halves[1] < halves[2]
    # what is not read waits in bufferedAmount, not in hidden buffers
    assert run.buffered_at_stop > 0.8 * (run.log.bytes_sent - run.read_at_stop)


def test_buffered_amount_returns_to_zero_once_the_consumer_catches_up(runs):
    run = runs["unthrottled"]
    assert run.buffered_at_stop > 10 * MAX_DATA
    assert run.caught_up is not None, "bufferedAmount never came back to 0"
    assert run.samples[-1][1] == 0
    assert [a.seq for a in run.arrivals] == [seq for seq, _ in run.log.sent]


# --- the seed's throttle ----------------------------------------------------------------------


def test_throttled_peak_stays_within_max_data_plus_one_message(runs):
    run = runs["throttled"]
    assert run.log.skipped > 0, "the throttle never engaged: the test proves nothing"
    assert MAX_DATA <= run.peak <= MAX_DATA - 1 + SIZE
    assert max(v for _, v in run.samples) == run.peak


def test_every_throttled_message_arrives_in_order(runs):
    run = runs["throttled"]
    assert run.caught_up is not None
    assert [a.seq for a in run.arrivals] == list(range(len(run.log.sent)))
    sent_at = dict(run.log.sent)
    assert all(a.sent_at == sent_at[a.seq] and a.size == SIZE for a in run.arrivals)
    assert run.samples[-1][1] == 0


# --- latest value wins ------------------------------------------------------------------------


def test_latest_value_sender_never_delivers_anything_older_than_the_bound(runs):
    run, bound = runs["latest"], latest_delay_bound()
    assert run.log.dropped > 0, "nothing was dropped: the buffer never filled"
    assert run.arrivals and run.in_order
    assert run.max_delay <= bound, f"a value took {run.max_delay:.3f} s > {bound:.3f} s"
    assert run.newest_age <= bound
    # the bound means something: sending everything breaks it
    assert runs["unthrottled"].max_delay > 2 * bound


# --- event-driven, and the library way --------------------------------------------------------


def test_event_driven_sender_keeps_the_limit_and_the_link_busy(runs):
    run = runs["drained"]
    assert run.peak <= MAX_DATA - 1 + SIZE
    assert run.throughput > 0.75 * RATE
    assert run.in_order and run.caught_up is not None
    assert run.log.ticks > 5  # it waited for the low-water mark many times


def test_websockets_send_waits_for_its_write_limit(runs):
    run = runs["websockets"]
    # transport buffer: below write_limit when send() returns, plus one frame
    assert run.peak <= MAX_DATA + SIZE + FRAME_HEADER
    assert run.throughput > 0.75 * RATE
    # send() kept pace with the reader: only a little was still on its way
    assert len(run.log.sent) - len(run.delivered) < 20
    assert run.in_order


# --- the pieces -------------------------------------------------------------------------------


def test_message_stamp_round_trip() -> None:
    data = buffering.message(42, 100, 1234.5)
    assert len(data) == 100
    assert buffering.read_stamp(data) == (42, 1234.5)
    assert buffering.read_stamp(b"short") is None
    with pytest.raises(ValueError):
        buffering.message(0, 8, 0.0)


def test_slow_consumer_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SlowConsumer(host="0.0.0.0")


def test_slow_consumer_declines_permessage_deflate_and_reads_stamps() -> None:
    async def main() -> tuple[Any, list[buffering.Arrival]]:
        async with SlowConsumer(rate=None) as consumer:
            async with connect(consumer.url, compression="deflate") as ws:
                await ws.send(buffering.message(7, 64, 1.0))
                headers = ws.response.headers
            for _ in range(100):
                if consumer.arrivals:
                    break
                await asyncio.sleep(0.01)
            return headers, consumer.arrivals

    headers, arrivals = run(main(), timeout=20)
    assert "Sec-WebSocket-Extensions" not in headers
    assert [(a.seq, a.sent_at, a.size) for a in arrivals] == [(7, 1.0, 64)]


def test_pause_stops_reading_and_resume_drains_buffered_amount_to_zero() -> None:
    async def main() -> dict[str, Any]:
        async with SlowConsumer(rate=RATE) as consumer:
            ws = WebSocket(consumer.url, send_buffer=buffering.SNDBUF)
            await ws.wait_for("open", timeout=5)
            consumer.pause()
            loop = asyncio.get_running_loop()
            for seq in range(40):
                ws.send(buffering.message(seq, SIZE, loop.time()))
            await asyncio.sleep(0.3)
            read_when_paused = consumer.bytes_read
            await asyncio.sleep(0.3)
            seen = {
                "buffered": ws.bufferedAmount,
                "read_while_paused": consumer.bytes_read - read_when_paused,
            }
            consumer.rate = None  # catch up at full speed
            consumer.resume()
            seen["low"] = await ws.buffered_below(0, timeout=5)
            for _ in range(200):
                if len(consumer.arrivals) == 40:
                    break
                await asyncio.sleep(0.01)
            seen["seqs"] = [a.seq for a in consumer.arrivals]
            ws.close()
            seen["close"] = (await ws.closed(timeout=5)).wasClean
            return seen

    seen = run(main(), timeout=20)
    assert seen["read_while_paused"] == 0
    assert seen["buffered"] > 40 * SIZE / 2  # most of it waits in bufferedAmount
    assert seen["low"] == 0
    assert seen["seqs"] == list(range(40))
    assert seen["close"] is True


def test_drained_sender_sleeps_until_the_socket_wakes_it(monkeypatch) -> None:
    """No polling: the sender's task never sleeps on a timer, waits on ``buffered_below``
    without waking while nothing drains, and refills at each wake-up once data moves."""
    real_sleep = asyncio.sleep
    sleepers: list[asyncio.Task[Any] | None] = []

    def spy_sleep(delay: float, *args: Any) -> Any:
        sleepers.append(asyncio.current_task())
        return real_sleep(delay, *args)

    async def main() -> dict[str, Any]:
        async with SlowConsumer(rate=RATE) as consumer:
            ws = WebSocket(consumer.url, send_buffer=buffering.SNDBUF)
            await ws.wait_for("open", timeout=5)
            calls: list[int] = []  # the mark of each wait ...
            woken: list[int] = []  # ... and bufferedAmount when a wait ended
            buffered_below = ws.buffered_below

            async def spy_buffered_below(mark: int, timeout: float | None = None) -> int:
                calls.append(mark)
                woken.append(amount := await buffered_below(mark, timeout))
                return amount

            ws.buffered_below = spy_buffered_below  # type: ignore[method-assign]
            consumer.pause()
            monkeypatch.setattr(asyncio, "sleep", spy_sleep)
            async with buffering.Sampler(ws, interval=0.001) as sampler:
                sender = asyncio.create_task(
                    buffering.send_when_drained(ws, max_data=MAX_DATA, size=SIZE, duration=1.0)
                )
                await real_sleep(0.3)  # the hidden buffers fill, then nothing drains
                stalled = (len(calls), len(woken), ws.bufferedAmount)
                await real_sleep(0.2)
                still = (len(calls), len(woken), ws.bufferedAmount)
                consumer.resume()
                log = await sender
            monkeypatch.undo()
            consumer.rate = None  # catch up at full speed
            await buffered_below(0, timeout=5)
            for _ in range(200):
                if len(consumer.arrivals) == len(log.sent):
                    break
                await real_sleep(0.01)
            seqs = [a.seq for a in consumer.arrivals]
            ws.close()
            await ws.closed(timeout=5)
        return {
            "slept": sender in sleepers,
            "stalled": stalled,
            "still": still,
            "calls": calls,
            "woken": woken,
            "log": log,
            "peak": sampler.peak,
            "seqs": seqs,
        }

    seen = run(main(), timeout=20)
    log, calls, woken = seen["log"], seen["calls"], seen["woken"]
    assert seen["slept"] is False, "the drained sender slept on a timer"
    # paused: one wait pending, nobody woke it, the buffer stayed full
    assert seen["stalled"] == seen["still"]
    assert seen["stalled"][0] == seen["stalled"][1] + 1
    assert seen["stalled"][2] >= MAX_DATA
    # reading again: each refill followed a wait that ended at the low-water mark
    # (only the last wait may have ended with the duration instead)
    assert log.ticks > 5 and len(calls) == log.ticks
    assert all(mark == MAX_DATA // 2 for mark in calls)
    assert len(woken) >= len(calls) - 1
    assert all(amount <= MAX_DATA // 2 for amount in woken)
    assert seen["peak"] <= MAX_DATA - 1 + SIZE
    assert seen["seqs"] == list(range(len(log.sent)))


def test_drained_sender_stops_on_time_and_gives_up_when_the_socket_closes() -> None:
    async def main() -> tuple[float, int, float, type[BaseException] | None]:
        loop = asyncio.get_running_loop()
        async with SlowConsumer(rate=RATE) as consumer:
            consumer.pause()
            ws = WebSocket(consumer.url, send_buffer=buffering.SNDBUF)
            await ws.wait_for("open", timeout=5)
            start = loop.time()
            log = await buffering.send_when_drained(ws, max_data=MAX_DATA, size=SIZE, duration=0.3)
            took = loop.time() - start  # nothing drained: it still returned on time
            sender = asyncio.create_task(
                buffering.send_when_drained(ws, max_data=MAX_DATA, size=SIZE, duration=5)
            )
            await asyncio.sleep(0.2)
            start = loop.time()
            await consumer.stop()  # unread data: the connection is reset
            try:
                await sender
            except ConnectionError as exc:
                error: type[BaseException] | None = type(exc)
            else:
                error = None
            return took, log.ticks, loop.time() - start, error

    took, ticks, gave_up_after, error = run(main(), timeout=20)
    assert 0.3 <= took < 0.5
    assert ticks >= 1
    assert error is not None and issubclass(error, ConnectionError)
    assert gave_up_after < 1.0  # at once, not after its 5 s duration


def test_sampler_records_time_and_value_at_its_interval() -> None:
    async def main() -> list[tuple[float, int]]:
        values = iter(range(10_000))
        async with buffering.Sampler(lambda: next(values), interval=0.01) as sampler:
            await asyncio.sleep(0.2)
        return sampler.samples

    samples = run(main(), timeout=20)
    assert 15 <= len(samples) <= 25
    times = [t for t, _ in samples]
    assert times == sorted(times) and times[0] < 0.01 and 0.19 < times[-1] < 0.3
    assert [v for _, v in samples] == list(range(len(samples)))


def test_senders_refuse_unbounded_runs() -> None:
    async def main() -> None:
        for duration in (0, -1, math.inf, buffering.MAX_DURATION + 1):
            with pytest.raises(ValueError):
                await experiment("throttled", duration=duration)
        with pytest.raises(ValueError):
            await experiment("flood")

    run(main(), timeout=20)


def test_the_slow_consumer_speaks_the_protocol_of_wslearn_connection() -> None:
    """Pings answered, broken frames refused with their close code, TCP closed after."""

    async def main() -> None:
        async with (
            SlowConsumer(None) as consumer,
            RawWebSocket.connect("127.0.0.1", consumer.bound_port) as raw,
        ):
            await raw.send(Frame(True, Opcode.PING, b"awake?"))
            assert await raw.recv_frame() == Frame(True, Opcode.PONG, b"awake?")
            await raw.send(Frame(True, Opcode.TEXT, b"caf\xe9"))  # not UTF-8
            assert decode_close((await raw.recv_close()).payload)[0] == 1007
            assert await raw.hung_up()

    run(main())
