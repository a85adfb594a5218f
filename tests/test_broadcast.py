"""wslearn.broadcast: policies, the hub against a client that stopped reading, fan-out."""

from __future__ import annotations

import asyncio
import math
from collections import deque

import pytest
from helpers import failures, not_written, reference, run

from wslearn import broadcast
from wslearn.broadcast import Hub, TooSlow, disconnect, drop_newest, drop_oldest
from wslearn.exercises import run_checker

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
    """Held for the stalled client: broadcast keeps everything, the hub a bounded amount."""
    held = {
        (method, n): run(broadcast.slow_client(method, clients=5, messages=n, queue_size=8))
        for method in ("hub", "broadcast")
        for n in (40, 80)
    }
    assert held["broadcast", 40].delivered == held["broadcast", 80].delivered == 1.0
    # 40 more messages of 4 KiB: all of them held by broadcast(), none by the hub
    assert held["broadcast", 80].slow_buffered - held["broadcast", 40].slow_buffered > 40 * 4096
    assert held["hub", 80].slow_buffered == held["hub", 40].slow_buffered
    # the hub: about the socket's high-water mark (32 KiB) and a frame, plus a full queue of 8
    assert held["hub", 80].slow_buffered <= 32 * 1024 + 2 * (4096 + 4) + 8 * 4096


def test_the_disconnect_policy_closes_the_stalled_client_with_1013():
    result = run(broadcast.slow_client("hub", policy="disconnect", clients=5, messages=60,
                                       queue_size=8))
    assert result.closed_code == 1013
    assert result.delivered == 1.0


# -- notebook 09's exercises: the reference passes, plausible mistakes fail with a hint ----------

SOLUTIONS = reference("09_broadcast_scale")


def test_keep_latest_reference_passes_including_the_live_hub():
    report = run_checker("keep_latest", SOLUTIONS["keep_latest"])
    assert report.passed, str(report)
    assert any("real hub" in r.case for r in report.results)


def _append_only(queue, message, limit):
    queue.append(message)
    return 0


def _fresh_deque(queue, message, limit):
    queue = deque([*queue, message][-limit:])
    return 0


def _returns_nothing(queue, message, limit):
    queue.append(message)
    while len(queue) > limit:
        queue.popleft()


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (_append_only, "full queue: the oldest goes, the new one is last", "more than limit=4"),
        (drop_newest, "full queue: the oldest goes, the new one is last", "message was dropped"),
        (_fresh_deque, "changes the hub's deque in place", "do not build a new one"),
        (_returns_nothing, "full queue: the oldest goes, the new one is last", "how many"),
        (drop_oldest, "your own code, not the library's", "write it yourself"),
        (not_written, "room in the queue: the message is queued, nothing dropped", "not written"),
    ],
    ids=["append-only", "drops-newest", "new-deque", "no-count", "library", "stub"],
)
def test_keep_latest_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    messages = failures("keep_latest", wrong)
    assert hint in messages[failing_case]


def test_recipients_reference_passes():
    assert run_checker("recipients", SOLUTIONS["recipients"]).passed


def _everyone(message, rooms):
    return set().union(*rooms.values())


def _not_the_sender(message, rooms):
    return set(rooms.get(message["room"], set())) - {message["from"]}


def _room_itself(message, rooms):
    members = rooms.get(message["room"], set())
    return members if message["from"] in members else set()


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (_everyone, "a message to dev", "every client"),
        (_not_the_sender, "a message to the lobby", "sender is left out"),
        (lambda m, rooms: set(rooms[m["room"]]), "a room nobody created", "KeyError"),
        (lambda m, rooms: set(rooms.get(m["room"], ())), "a sender who is not in the room",
         "only members may post"),
        (_room_itself, "leaves the rooms as they were", "return a copy"),
    ],
    ids=["everyone", "no-sender", "keyerror", "non-member", "same-set"],
)
def test_recipients_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    messages = failures("recipients", wrong)
    assert hint in messages[failing_case]


def test_clients_per_core_reference_passes():
    assert run_checker("clients_per_core", SOLUTIONS["clients_per_core"]).passed


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda c, r, h=0.5: math.ceil(h / (c * r)), "rounded up"),
        (lambda c, r, h=0.5: int(1 / (c * r)), "whole core"),
        (lambda c, r, h=0.5: int(h / (c * 1e6 * r)), "units"),
        (lambda c, r, h=0.5: h / (c * r), "whole number"),
    ],
    ids=["ceil", "no-headroom", "microseconds", "float"],
)
def test_clients_per_core_mistakes_fail_with_a_hint(wrong, hint):
    messages = failures("clients_per_core", wrong)
    assert all(hint in message for message in messages.values()), messages
