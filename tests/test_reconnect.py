"""wslearn.reconnect: backoff schedules, and ReconnectingWebSocket against real servers."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import statistics
from itertools import islice, pairwise

import pytest
from helpers import failures, reference, run
from websockets.asyncio.client import connect

from wslearn import servers, wire
from wslearn.dom import DOMException
from wslearn.reconnect import (
    HEARTBEAT,
    RECONNECT_CODES,
    ReconnectingWebSocket,
    SendQueueFull,
    backoff,
    reconnectable,
    storm,
    storms,
)

# --- backoff --------------------------------------------------------------------------------


def test_backoff_without_jitter_doubles_up_to_the_cap_and_stays_there():
    delays = list(islice(backoff(0.5, 4.0, jitter="none"), 7))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert list(islice(backoff(0.1, 10.0, factor=3.0, jitter="none"), 4)) == pytest.approx(
        [0.1, 0.3, 0.9, 2.7]
    )


def test_backoff_stays_at_the_cap_after_thousands_of_attempts():
    schedule = backoff(0.5, 30.0, jitter="none")
    assert list(islice(schedule, 5000))[-1] == 30.0  # no OverflowError from 2.0 ** 5000


def draws(jitter: str, steps: int = 6, runs: int = 3000) -> list[list[float]]:
    """``runs`` schedules of ``steps`` delays from one fixed-state generator, grouped by step."""
    rng = random.Random(20161129)
    schedules = [
        list(islice(backoff(0.1, 1.6, jitter=jitter, rng=rng), steps)) for _ in range(runs)
    ]
    return [list(column) for column in zip(*schedules, strict=True)]


CEILINGS = [0.1, 0.2, 0.4, 0.8, 1.6, 1.6]


def test_full_jitter_is_uniform_between_zero_and_the_ceiling():
    for ceiling, column in zip(CEILINGS, draws("full"), strict=True):
        assert all(0 <= d <= ceiling for d in column)
        assert statistics.fmean(column) == pytest.approx(ceiling / 2, rel=0.05)
        # a uniform distribution on [0, c] has standard deviation c / sqrt(12)
        assert statistics.pstdev(column) == pytest.approx(ceiling / 12**0.5, rel=0.05)
        assert min(column) < 0.02 * ceiling and max(column) > 0.98 * ceiling


def test_equal_jitter_keeps_half_and_spreads_the_other_half():
    for ceiling, column in zip(CEILINGS, draws("equal"), strict=True):
        assert all(ceiling / 2 <= d <= ceiling for d in column)
        assert statistics.fmean(column) == pytest.approx(0.75 * ceiling, rel=0.03)
        assert statistics.pstdev(column) == pytest.approx(ceiling / 2 / 12**0.5, rel=0.05)
        assert min(column) < 0.51 * ceiling and max(column) > 0.99 * ceiling


def test_no_jitter_has_no_spread():
    for ceiling, column in zip(CEILINGS, draws("none"), strict=True):
        assert set(column) == {ceiling}


def test_a_fixed_rng_repeats_the_schedule_and_reset_starts_it_again():
    first = list(islice(backoff(rng=random.Random(7)), 8))
    again = backoff(rng=random.Random(7))
    assert list(islice(again, 8)) == first
    again.reset()
    assert next(again) <= 0.5  # the first step's ceiling (base) again
    assert len(set(first)) == 8


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"jitter": "decorrelated"}, ValueError, "jitter must be one of"),
        ({"base": 2.0, "cap": 1.0}, ValueError, "base <= cap"),
        ({"base": -1.0}, ValueError, "base <= cap"),
        ({"factor": 0.5}, ValueError, "at least 1"),
        ({"base": float("nan")}, TypeError, "finite number"),
        ({"cap": "30"}, TypeError, "finite number"),
    ],
)
def test_backoff_refuses_bad_arguments_with_a_clear_error(kwargs, error, words):
    with pytest.raises(error, match=words):
        backoff(**kwargs)


# --- the default policy ---------------------------------------------------------------------


def test_default_policy_reconnects_after_drops_and_temporary_trouble_only():
    assert sorted(RECONNECT_CODES) == [1001, 1006, 1011, 1012, 1013, 1014]
    for code in (1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1015, 3000, 4000, 4999):
        assert reconnectable(code) is False, code


# --- ReconnectingWebSocket: reconnecting ----------------------------------------------------


async def back_on(server, port):
    """Start a stopped server again where its clients expect it (same port number)."""
    server.port = port
    await server.start()


def fast(**kwargs):
    return backoff(0.02, 0.2, rng=random.Random(1), **kwargs)


def test_reconnects_after_a_server_stop_and_restart_on_the_same_port():
    async def scenario():
        async with servers.echo() as server:
            port = server.bound_port
            ws = ReconnectingWebSocket(server.url, backoff=fast())
            await ws.wait_for("open", timeout=2)
            await server.stop()
            first = await ws.wait_for("reconnect", timeout=2)
            state_while_down = ws.readyState
            await asyncio.sleep(0.2)  # a few attempts fail while nothing listens
            await back_on(server, port)
            await ws.wait_for("open", timeout=3)
            ws.send("back")
            echoed = await ws.wait_for("message", timeout=2)
            ws.close()
            await ws.closed(timeout=2)
        failed = [e for e in ws.events if e.type == "reconnect"][1:]
        return first, state_while_down, failed, echoed.data, ws.connections

    first, state, failed, data, connections = run(scenario())
    assert (first.attempt, first.code) == (1, 1001)  # the server said "going away"
    assert state == ReconnectingWebSocket.CONNECTING
    assert failed and all(e.details["code"] == 1006 for e in failed)  # connection refused
    assert [e.details["attempt"] for e in failed] == list(range(2, len(failed) + 2))
    assert (data, connections) == ("back", 2)


def test_close_stops_for_good_and_send_after_it_is_refused():
    async def scenario():
        async with servers.echo() as server:
            ws = ReconnectingWebSocket(server.url, backoff=fast())
            await ws.wait_for("open", timeout=2)
            ws.close(1000, "bye")
            event = await ws.closed(timeout=2)
            await asyncio.sleep(0.2)
            with pytest.raises(DOMException) as refused:
                ws.send("late")
        return ws, event, refused.value

    ws, event, refused = run(scenario())
    assert (event.code, event.reason, event.wasClean) == (1000, "bye", True)
    assert ws.readyState == ws.CLOSED
    assert [e.type for e in ws.events if e.type in ("connecting", "reconnect")] == ["connecting"]
    assert refused.name == "InvalidStateError"


@pytest.mark.parametrize("code", [1000, 1008, 4000, 4999])
def test_no_reconnect_after_a_code_that_would_happen_again(code):
    async def scenario():
        async with servers.closer() as server:
            ws = ReconnectingWebSocket(f"{server.url}/?code={code}&reason=no", backoff=fast())
            return ws, await ws.closed(timeout=2)

    ws, event = run(scenario())
    assert (event.code, event.reason) == (code, "no")
    assert not any(e.type == "reconnect" for e in ws.events)
    assert ws.connections == 1


@pytest.mark.parametrize("code", [1011, 1012, 1013, 1014, 1006])
def test_reconnects_after_server_trouble_until_a_finite_schedule_runs_out(code):
    async def scenario():
        async with servers.closer() as server:
            ws = ReconnectingWebSocket(f"{server.url}/?code={code}", backoff=[0.01, 0.02])
            return ws, await ws.closed(timeout=3)

    ws, event = run(scenario())
    reconnects = [e.details for e in ws.events if e.type == "reconnect"]
    assert [(r["attempt"], r["delay"], r["code"]) for r in reconnects] == [
        (1, 0.01, code),
        (2, 0.02, code),
    ]
    assert (ws.connections, event.code) == (3, code)


def test_a_server_that_drops_every_connection_at_once_gets_growing_delays():
    async def scenario():
        async with servers.closer() as server:
            ws = ReconnectingWebSocket(
                f"{server.url}/?code=1011", backoff=backoff(0.01, 0.16, jitter="none")
            )
            await asyncio.sleep(0.6)
            ws.close()
            await ws.closed(timeout=2)
            return [e.details for e in ws.events if e.type == "reconnect"]

    reconnects = run(scenario())
    # opened each time, but never stable_after seconds: the schedule is not started again
    assert [r["delay"] for r in reconnects[:6]] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.16]
    assert [r["attempt"] for r in reconnects] == list(range(1, len(reconnects) + 1))
    assert len(reconnects) <= 7


def test_should_reconnect_overrides_the_default_policy():
    async def scenario():
        async with servers.closer() as server:
            asked = []

            def policy(event):
                asked.append((event.code, event.reason))
                return event.reason == "again"

            ws = ReconnectingWebSocket(
                f"{server.url}/?code=4001&reason=again", backoff=[0.01], should_reconnect=policy
            )
            await ws.closed(timeout=2)
            stops = ReconnectingWebSocket(f"{server.url}/?code=1006", should_reconnect=policy)
            await stops.closed(timeout=2)
            return ws.connections, stops.connections, asked

    assert run(scenario()) == (2, 1, [(4001, "again"), (4001, "again"), (1006, "")])


def test_a_failed_connect_is_retried():
    async def scenario():
        with socket.socket() as probe:  # a port on which nothing listens
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        ws = ReconnectingWebSocket(f"ws://127.0.0.1:{port}", backoff=[0.01, 0.01])
        event = await ws.closed(timeout=2)
        return [e.type for e in ws.events], event

    types, event = run(scenario())
    assert types.count("error") == 3 and types.count("reconnect") == 2
    assert types[-1] == "close" and (event.code, event.wasClean) == (1006, False)


def test_url_function_is_called_for_every_attempt():
    async def scenario():
        async with servers.closer() as server:
            urls = iter([f"{server.url}/?code=1012", f"{server.url}/?code=1000&reason=n2"])
            ws = ReconnectingWebSocket(lambda: next(urls), backoff=[0.01, 0.01])
            event = await ws.closed(timeout=2)
            return [e.details["url"] for e in ws.events if e.type == "connecting"], event

    urls, event = run(scenario())
    assert [u.rsplit("?", 1)[1] for u in urls] == ["code=1012", "code=1000&reason=n2"]
    assert (event.code, event.reason) == (1000, "n2")


def test_a_bad_first_url_raises_like_the_browser():
    async def scenario():
        with pytest.raises(DOMException) as error:
            ReconnectingWebSocket("ftp://127.0.0.1/")
        return error.value.name

    assert run(scenario()) == "SyntaxError"


def test_sends_while_reconnecting_are_queued_in_order_then_refused_past_the_bound():
    async def scenario():
        async with servers.echo() as server:
            port = server.bound_port
            ws = ReconnectingWebSocket(server.url, backoff=fast())
            ws.queue_limit = 2
            received = []
            ws.onmessage = lambda event: received.append(event.data)
            ws.send("while connecting")  # a browser WebSocket would raise here
            await ws.wait_for("open", timeout=2)
            await server.stop()
            await ws.wait_for("reconnect", timeout=2)
            ws.send("one")
            ws.send(b"two")
            with pytest.raises(SendQueueFull, match="2 messages are already queued"):
                ws.send("three")
            queued = ws.bufferedAmount
            await back_on(server, port)
            await ws.wait_for("open", timeout=3)
            await asyncio.sleep(0.1)
            ws.close()
            await ws.closed(timeout=2)
            return received, queued

    received, queued = run(scenario())
    assert received == ["while connecting", "one", b"two"]
    assert queued == len("one") + len(b"two")


# --- heartbeat ------------------------------------------------------------------------------


def test_heartbeat_keeps_a_quiet_connection_and_its_answers_are_not_messages():
    async def scenario():
        async with servers.echo() as server:
            ws = ReconnectingWebSocket(server.url, heartbeat=0.1, heartbeat_timeout=0.3)
            received = []
            ws.onmessage = lambda event: received.append(event.data)
            await ws.wait_for("open", timeout=2)
            await asyncio.sleep(1.0)  # three timeouts' worth of an idle application
            ws.close()
            await ws.closed(timeout=2)
            return ws, received

    ws, received = run(scenario())
    types = [e.type for e in ws.events]
    assert 8 <= types.count("heartbeat") <= 11
    assert "dead" not in types and "reconnect" not in types
    assert received == []


def test_heartbeat_timeout_detects_a_blackholed_connection_in_time():
    timeout = 0.6

    async def scenario():
        loop = asyncio.get_running_loop()
        async with servers.echo() as server, wire.Tap(server) as tap:
            ws = ReconnectingWebSocket(
                tap.url, backoff=fast(), heartbeat=0.2, heartbeat_timeout=timeout
            )
            await ws.wait_for("open", timeout=2)
            await asyncio.sleep(0.3)
            tap.blackhole()  # a pulled cable: nothing is forwarded, nothing is closed
            cut = loop.time()
            dropped = await ws.wait_for("reconnect", timeout=3)
            detected = loop.time() - cut
            tap.restore()
            await ws.wait_for("open", timeout=3)
            ws.close()
            await ws.closed(timeout=2)
            return dropped, detected, ws.connections

    dropped, detected, connections = run(scenario())
    assert (dropped.code, dropped.reason.startswith("no message for")) == (1006, True)
    assert timeout - 0.2 - 0.05 <= detected <= timeout + 0.5  # since the last answer heard
    assert connections == 2


def test_heartbeat_timeout_also_bounds_an_opening_handshake_that_gets_no_answer():
    async def scenario():
        async def mute(reader, writer):  # accepts TCP, never answers the handshake
            await reader.read()
            writer.close()

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            ws = ReconnectingWebSocket(
                f"ws://127.0.0.1:{port}", backoff=[0.01], heartbeat_timeout=0.3
            )
            event = await ws.closed(timeout=3)
        return ws, event

    ws, event = run(scenario())
    dead = [e for e in ws.events if e.type == "dead"]
    assert len(dead) == 2 and all(0.3 <= e.details["silent"] < 0.45 for e in dead)
    assert event.code == 1006
    assert event.reason.startswith("no answer to the opening handshake for 0.3")


def test_without_heartbeat_a_blackholed_connection_stays_open():
    async def scenario():
        async with servers.echo() as server, wire.Tap(server) as tap:
            ws = ReconnectingWebSocket(tap.url, backoff=fast())
            await ws.wait_for("open", timeout=2)
            tap.blackhole()
            ws.send("into the void")
            await asyncio.sleep(1.0)
            state = ws.readyState
            tap.reset()
            await ws.wait_for("reconnect", timeout=2)
            ws.close()
            await ws.closed(timeout=2)
            return state

    assert run(scenario()) == ReconnectingWebSocket.OPEN


def test_every_course_server_answers_the_heartbeat():
    async def scenario():
        answers = {}
        for factory in (servers.echo, servers.closer, servers.subprotocol, servers.feed):
            async with factory() as server, connect(server.url) as client:
                await client.send(HEARTBEAT)
                async with asyncio.timeout(2):
                    while (answer := await client.recv()) != HEARTBEAT:
                        pass  # the feed's numbered messages may come first
                answers[server.name] = answer
        return answers

    assert run(scenario()) == dict.fromkeys(["echo", "closer", "subprotocol", "feed"], HEARTBEAT)


def test_course_servers_take_ping_interval_and_ping_timeout_like_websockets():
    async def scenario():
        async with servers.echo(ping_interval=0.1, ping_timeout=0.1) as server:
            async with wire.Tap(server) as tap, connect(tap.url, ping_interval=None) as client:
                await asyncio.sleep(0.35)
                pings = [f for _, d, f in tap.timeline() if d == wire.SERVER and f.opcode == 0x9]
                pongs = [f for _, d, f in tap.timeline() if d == wire.CLIENT and f.opcode == 0xA]
                await client.send("still here")
                assert await client.recv() == "still here"
        return len(pings), len(pongs)

    pings, pongs = run(scenario())
    assert 3 <= pings <= 4 and pongs == pings


# --- the feed and resuming ------------------------------------------------------------------


def test_feed_replays_what_came_after_n_from_a_bounded_history():
    async def scenario():
        async with servers.feed(interval=0.01, history=10) as feed:
            await asyncio.sleep(0.3)
            port = feed.bound_port
            await feed.stop()
            produced = feed.seq
            feed.port, feed.interval = port, 60.0  # back, but quiet: nothing new for a minute
            await feed.start()

            async def first_messages(query, count):
                async with connect(f"{feed.url}/{query}") as client:
                    got = [json.loads(await client.recv())["seq"] for _ in range(count)]
                    await client.send(HEARTBEAT)  # nothing else was queued before its answer
                    assert await client.recv() == HEARTBEAT
                    return got

            after = await first_messages(f"?after={produced - 5}", 5)
            oldest = await first_messages("?after=0", 10)
            live_only = await first_messages("", 0)
            async with connect(f"{feed.url}/?after=x") as client:
                await client.wait_closed()
            return produced, after, oldest, live_only, client.close_code

    produced, after, oldest, live_only, code = run(scenario())
    assert produced >= 20
    assert after == list(range(produced - 4, produced + 1))
    assert oldest == list(range(produced - 9, produced + 1))  # only the last 10 are kept
    assert live_only == []
    assert code == 1008


def test_after_a_restart_the_feed_catches_up_with_what_its_source_produced_meanwhile():
    async def scenario():
        async with servers.feed(interval=0.01, history=10) as feed:
            await asyncio.sleep(0.1)
            port = feed.bound_port
            await feed.kill()
            down = feed.seq
            await asyncio.sleep(0.3)
            assert feed.seq == down  # nothing is sent while the server is down
            await back_on(feed, port)
            await asyncio.sleep(0.005)
            async with connect(f"{feed.url}/?after=0") as client:
                replay = [json.loads(await client.recv()) for _ in range(10)]
            return down, replay

    down, replay = run(scenario())
    seqs = [m["seq"] for m in replay]
    assert seqs == list(range(seqs[0], seqs[0] + 10))
    assert seqs[-1] >= down + 29  # 0.3 s at 0.01 s per message, at once
    times = [m["t"] for m in replay]
    assert all(b - a == pytest.approx(0.01) for a, b in pairwise(times))


def test_resume_gives_every_sequence_number_exactly_once_across_restarts():
    async def scenario():
        async with servers.feed(interval=0.005) as feed:
            port, last, seen = feed.bound_port, 0, []

            def on_message(event):
                nonlocal last
                seq = json.loads(event.data)["seq"]
                seen.append(seq)
                last = seq

            ws = ReconnectingWebSocket(lambda: f"{feed.url}/?after={last}", backoff=fast())
            ws.onmessage = on_message
            for _ in range(3):
                await ws.wait_for("open", timeout=3)
                await asyncio.sleep(0.15)
                await feed.kill()  # no close frame: whatever was in flight is lost
                await asyncio.sleep(0.05)
                await back_on(feed, port)
            await ws.wait_for("open", timeout=3)
            await asyncio.sleep(0.15)
            ws.close()
            await ws.closed(timeout=2)
            return seen, ws.connections, feed.seq

    seen, connections, produced = run(scenario())
    assert connections == 4
    assert seen == list(range(1, len(seen) + 1))  # in order, no gap, no duplicate
    assert len(seen) >= produced - 3  # all but the last few produced after close()


def test_a_storm_of_200_clients_all_reconnect():
    result = run(storm(200, jitter="full", base=0.05, cap=1.0, down=0.2), timeout=20)
    assert len(result.reconnected) == 200
    assert len(result.accepts) == 200  # each client came back exactly once
    assert result.restarted_at >= 0.2 and result.all_back > result.restarted_at
    assert result.peak_attempts() <= len(result.attempts)


def test_without_jitter_every_client_waits_the_same_with_full_jitter_each_its_own():
    """storms(): one herd, one round per jitter, each round recorded on its own."""
    rounds = storms(200, jitters=("none", "full"), base=0.05, cap=1.0, down=0.2)
    none, full = run(rounds, timeout=20)
    assert (none.jitter, full.jitter) == ("none", "full")
    assert {d[0] for d in none.delays} == {0.05}  # the whole herd, in step
    assert len({tuple(d[:2]) for d in none.delays}) == 1
    firsts = [d[0] for d in full.delays]  # the backoff started again from its first step
    assert len(set(firsts)) == 200 and all(0 <= d <= 0.05 for d in firsts)
    for result in (none, full):  # each round: every client back once, on the round's own clock
        assert len(result.reconnected) == len(result.accepts) == 200
        assert result.attempts[0] > 0 and result.restarted_at >= 0.2
        assert result.attempts[-1] <= result.all_back


def test_storms_refuses_an_unknown_jitter_or_none_at_all():
    with pytest.raises(ValueError, match="jitter must be one of 'none', 'equal', 'full'"):
        run(storms(2, jitters=("none", "random")))
    with pytest.raises(ValueError, match="at least one jitter"):
        run(storms(2, jitters=()))


# --- notebook 07's exercises: plausible mistakes fail with the hint that names them -----------

REF = reference("07_keepalive_reconnect")


def schedule_without_cap(base, cap, attempts, factor=2.0):
    return [base * factor**n for n in range(attempts)]


def schedule_from_one(base, cap, attempts, factor=2.0):
    return [min(cap, base * factor ** (n + 1)) for n in range(attempts)]


def schedule_overflowing(base, cap, attempts, factor=2.0):
    return [min(cap, base * float(factor) ** n) for n in range(attempts)]


def reconnect_unless_1000(code):
    return code != 1000


def reconnect_only_after_1006(code):
    return code == 1006


def dead_counting_sent(activity, timeout, now):
    return REF["dead_at"]([(t, "received") for t, _ in activity], timeout, now)


def dead_only_now(activity, timeout, now):
    heard = [t for t, kind in activity if kind == "received" and t <= now]
    last = heard[-1] if heard else 0.0
    return last + timeout if now - last >= timeout else None


def resume_with_duplicates(batch, last):
    messages = sorted((m for m in batch if m["seq"] > last), key=lambda m: m["seq"])
    return messages, max([last, *(m["seq"] for m in messages)])


def resume_inclusive(batch, last):
    return REF["resume"](batch, last - 1)


def resume_keeping_last(batch, last):
    return REF["resume"](batch, last)[0], last


EXERCISE_MISTAKES = [
    (
        "backoff_schedule",
        schedule_without_cap,
        "the default: base 0.5, cap 30, 8 attempts",
        "min(cap",
    ),
    ("backoff_schedule", schedule_from_one, "no attempts at all", None),
    (
        "backoff_schedule",
        schedule_from_one,
        "the default: base 0.5, cap 30, 8 attempts",
        "base itself",
    ),
    (
        "backoff_schedule",
        schedule_overflowing,
        "the 2000th delay (a client retrying all night)",
        "OverflowError",
    ),
    ("should_reconnect", reconnect_unless_1000, "1008", "policy violation"),
    ("should_reconnect", reconnect_only_after_1006, "1012", "service restart"),
    (
        "dead_at",
        dead_counting_sent,
        "nothing ever arrives, timeout 2 s",
        "heartbeats prove nothing",
    ),
    (
        "dead_at",
        dead_only_now,
        "a long silence that ended: the watchdog fired during it",
        "every silence",
    ),
    (
        "resume",
        resume_with_duplicates,
        "a replay sent twice: seqs [5, 6, 5, 6, 7], last 4",
        "each seq once",
    ),
    (
        "resume",
        resume_inclusive,
        "a replay that starts at last: seqs [4, 5, 6], last 4",
        "seq > last",
    ),
    ("resume", resume_keeping_last, "new messages in order: seqs [5, 6, 7], last 4", "new last"),
]


@pytest.mark.parametrize(
    ("exercise", "wrong", "failing_case", "hint"),
    EXERCISE_MISTAKES,
    ids=[f"{e}-{w.__name__}-{i}" for i, (e, w, _, _) in enumerate(EXERCISE_MISTAKES)],
)
def test_an_exercise_mistake_fails_with_a_hint_that_names_it(exercise, wrong, failing_case, hint):
    messages = failures(exercise, wrong)
    if hint is None:  # this case must pass: the mistake does not show there
        assert failing_case not in messages
    else:
        assert failing_case in messages, messages
        assert hint in messages[failing_case], messages[failing_case]


def test_calling_the_library_is_not_a_solution():
    messages = failures(
        "backoff_schedule",
        lambda base, cap, n, factor=2.0: list(
            islice(backoff(base, cap, factor=factor, jitter="none"), n)
        ),
    )
    assert all("reconnect.backoff" in message for message in messages.values())
    assert "reconnect.reconnectable" in next(
        iter(failures("should_reconnect", lambda code: reconnectable(code)).values())
    )
