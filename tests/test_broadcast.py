"""wslearn.broadcast: policies, the hub against a client that stopped reading, fan-out."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from conftest import run

from wslearn import broadcast
from wslearn.broadcast import Hub, TooSlow, disconnect, drop_newest, drop_oldest

# -- policies (sans-I/O) ---------------------------------------------------------------------


def test_drop_oldest_keeps_the_newest_messages_within_the_limit():
    queue: deque[int] = deque()
    dropped = [drop_oldest(queue, m, 3) for m in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert list(queue) == [2, 3, 4]


def test_drop_newest_keeps_the_first_messages_and_refuses_the_rest():
    queue: deque[int] = deque()
    dropped = [drop_newest(queue, m, 3) for m in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert list(queue) == [0, 1, 2]


def test_disconnect_raises_too_slow_with_1013_when_the_queue_is_full():
    queue: deque[int] = deque([0, 1])
    assert disconnect(queue, 2, 3) == 0
    with pytest.raises(TooSlow) as caught:
        disconnect(queue, 3, 3)
    assert caught.value.code == 1013
    assert list(queue) == [0, 1, 2]


def test_too_slow_accepts_only_1013_or_1008():
    assert TooSlow("rule", 1008).code == 1008
    with pytest.raises(ValueError, match="1013 or 1008"):
        TooSlow("x", 1000)


def test_hub_refuses_an_unknown_policy_and_a_policy_that_lets_the_queue_grow():
    with pytest.raises(ValueError, match="unknown policy"):
        Hub(policy="drop-some")

    class Sink:
        async def send(self, message):
            await asyncio.sleep(10)

        async def close(self, code, reason):
            pass

    async def main():
        hub = Hub(queue_size=2, policy=lambda queue, m, limit: queue.append(m) or 0)
        hub.add(Sink())
        with pytest.raises(RuntimeError, match="grow to 3 > 2"):
            for m in range(4):
                hub.publish(m)
        await hub.close()

    run(main())


# -- against real connections -------------------------------------------------------------------


def test_every_client_gets_every_message_with_each_method():
    results = run(broadcast.fanout(50, messages=10, rounds=2))
    assert list(results) == list(broadcast.METHODS)
    for result in results.values():
        assert (result.messages, result.deliveries, result.missing) == (20, 1000, 0)
        assert 0 < result.p50 <= result.p99 < 1.0


def test_a_stalled_client_does_not_delay_the_others_behind_a_hub():
    """The hub's bound: fast clients get everything, soon; the slow one's queue stays bounded."""
    result = run(broadcast.slow_client("hub", policy="drop-oldest", clients=10, messages=60,
                                       queue_size=8))
    assert result.delivered == 1.0
    assert result.max_latency < 0.25
    assert result.slow_queue_peak == 8
    assert result.closed_code is None


def test_the_naive_loop_stalls_every_client_behind_a_stalled_one():
    """The same run with the naive loop breaks the hub's bound: the test above can fail."""
    result = run(broadcast.slow_client("naive", clients=10, messages=60))
    assert result.delivered < 0.9


def test_websockets_broadcast_waits_for_nobody_but_buffers_without_limit():
    hub = run(broadcast.slow_client("hub", clients=5, messages=60, queue_size=8))
    plain = run(broadcast.slow_client("broadcast", clients=5, messages=60))
    assert plain.delivered == 1.0
    assert plain.slow_buffered > 3 * hub.slow_buffered


def test_the_disconnect_policy_closes_the_stalled_client_with_1013():
    result = run(broadcast.slow_client("hub", policy="disconnect", clients=5, messages=60,
                                       queue_size=8))
    assert result.closed_code == 1013
    assert result.delivered == 1.0
