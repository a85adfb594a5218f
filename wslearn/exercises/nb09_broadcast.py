"""Checks for notebook 09 (broadcast and scale-out)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from wslearn.exercises import Result, case, exercise

NOTEBOOK = "09_broadcast_scale"


# --- keep_latest (a slow-client policy) -------------------------------------------------------

DROP_HINT = "after append(), popleft() until len(queue) <= limit: the oldest go, the new one stays"


def _policy_run(policy: Callable[..., int], start: list[int], message: int, limit: int):
    queue = deque(start)
    dropped = policy(queue, message, limit)
    return list(queue), dropped


def _policy_case(policy: Callable[..., int], description: str, start: list[int], message: int,
                 limit: int, hint: str) -> Result:
    want_queue = [*start, message][-limit:]
    want = (want_queue, len(start) + 1 - len(want_queue))

    def compare(got: Any, expected: Any) -> bool:
        return got == expected

    result = case(description, lambda: _policy_run(policy, start, message, limit), want,
                  hint=hint, compare=compare)
    if result.passed:
        return result
    try:
        queue, dropped = _policy_run(policy, start, message, limit)
    except Exception:
        return result
    if len(queue) > limit:
        why = f"the queue holds {len(queue)} messages, more than limit={limit}; {DROP_HINT}"
    elif queue and queue[-1] != message and message not in queue:
        why = "the new message was dropped: this policy keeps the newest and drops the oldest"
    elif queue != want_queue:
        why = f"the queue should be {want_queue}, it is {queue}; {DROP_HINT}"
    else:
        why = f"return how many messages were dropped ({want[1]} here), not {dropped!r}"
    return Result(description, False, why)


@exercise("keep_latest", notebook=NOTEBOOK, shortcuts=["wslearn.broadcast.drop_oldest"])
async def check_keep_latest(keep_latest: Callable[[deque, Any, int], int]) -> list[Result]:
    """A drop-oldest policy: the queue keeps the newest ``limit`` messages."""
    results = [
        _policy_case(keep_latest, "room in the queue: the message is queued, nothing dropped",
                     [1, 2], 3, 4, "while there is room, just append"),
        _policy_case(keep_latest, "one below the limit: still room", [1, 2, 3], 4, 4,
                     "len(queue) == limit after appending is fine: drop only above the limit"),
        _policy_case(keep_latest, "full queue: the oldest goes, the new one is last",
                     [1, 2, 3, 4], 5, 4, DROP_HINT),
        _policy_case(keep_latest, "limit 1: only the newest message is kept", [7], 8, 1, DROP_HINT),
    ]

    def same_deque() -> bool:
        queue: deque[int] = deque([1, 2])
        keep = queue
        keep_latest(queue, 3, 2)
        return keep is queue and list(queue) == [2, 3]

    results.append(case(
        "changes the hub's deque in place", same_deque,
        hint="the hub keeps its own reference to the deque: change it with append()/popleft(), "
             "do not build a new one",
    ))
    if all(r.passed for r in results):
        results.append(await _live_policy(keep_latest))
    return results


async def _live_policy(policy: Callable[..., int]) -> Result:
    from wslearn import broadcast

    name = "in a real hub, beside a client that stopped reading"
    try:
        run = await broadcast.slow_client("hub", policy=policy, clients=5, messages=40,
                                          queue_size=8)
    except Exception as exc:  # the learner's policy may raise anything
        return Result(name, False, f"raised {type(exc).__name__}: {exc}")
    if run.delivered < 1.0:
        return Result(name, False, f"the fast clients got only {100 * run.delivered:.0f}% of the "
                                   "messages: the policy must never wait or raise")
    return Result(name, True)


# --- recipients (rooms) -----------------------------------------------------------------------

ROOMS = {"lobby": {"ann", "bob", "cy"}, "dev": {"bob", "dee"}, "empty": set()}


def _recipients_case(recipients: Callable, description: str, message: dict, want: set[str],
                     hint: str) -> Result:
    rooms = {name: set(members) for name, members in ROOMS.items()}
    result = case(description, lambda: recipients(message, rooms), want, hint=hint,
                  compare=lambda got, want: isinstance(got, set | frozenset) and set(got) == want)
    if result.passed or "raised" in result.message:
        return result
    try:
        got = recipients(message, {name: set(members) for name, members in ROOMS.items()})
    except Exception:
        return result
    everyone = set().union(*ROOMS.values())
    if not isinstance(got, set | frozenset):
        why = f"return a set of client names, not {type(got).__name__}"
    elif set(got) == everyone and want != everyone:
        why = "that is every client: only the members of the message's room get it"
    elif want and set(got) == want - {message["from"]}:
        why = "the sender is left out: the relay sends a message back to its sender too"
    else:
        why = f"got {sorted(got)}, expected {sorted(want)}; {hint}"
    return replace(result, message=why)  # keeps the answer it saw


@exercise("recipients", notebook=NOTEBOOK)
def check_recipients(recipients: Callable[[dict, dict], set[str]]):
    """Route a chat message to the members of its room."""
    yield _recipients_case(
        recipients, "a message to the lobby",
        {"from": "ann", "room": "lobby", "text": "hi"}, {"ann", "bob", "cy"},
        "the members of rooms[message['room']]",
    )
    yield _recipients_case(
        recipients, "a message to dev",
        {"from": "dee", "room": "dev", "text": "build is green"}, {"bob", "dee"},
        "the members of rooms[message['room']]",
    )
    yield _recipients_case(
        recipients, "a room nobody created",
        {"from": "ann", "room": "attic", "text": "anyone?"}, set(),
        "an unknown room has no members: rooms.get(room, set())",
    )
    yield _recipients_case(
        recipients, "a sender who is not in the room",
        {"from": "dee", "room": "lobby", "text": "let me in"}, set(),
        "only members may post to a room: check message['from'] in the room first",
    )

    def leaves_rooms_alone() -> bool:
        rooms = {name: set(members) for name, members in ROOMS.items()}
        got = recipients({"from": "ann", "room": "lobby", "text": "hi"}, rooms)
        if isinstance(got, set):
            got.add("mallory")  # a caller changing the result must not change the room
        return rooms == ROOMS

    yield case(
        "leaves the rooms as they were", leaves_rooms_alone,
        hint="return a copy (set(members)), not the room's own set: a caller may change it",
        vacuous=True,  # an answer that touches nothing passes it
    )


# --- nginx_lines ----------------------------------------------------------------------------

TIMEOUT = 1  # the read timeout the check asks for, seconds: long enough to measure, short to wait


@exercise("nginx_lines", notebook=NOTEBOOK)
async def check_nginx_lines(nginx_lines: Callable[[int], str]) -> list[Result]:
    """The nginx ``location`` lines that let a WebSocket through, tried on a real nginx."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    from wslearn import broadcast, scale

    try:
        lines = nginx_lines(TIMEOUT)
    except NotImplementedError:
        return [case("nginx accepts the lines", nginx_lines)]
    except Exception as exc:
        return [Result("nginx accepts the lines", False, f"raised {type(exc).__name__}: {exc}")]
    if not isinstance(lines, str) or not lines.strip():
        return [Result("nginx accepts the lines", False, "return the directives as one string")]
    results: list[Result] = []
    async with broadcast.relay() as upstream:
        try:
            proxy = await scale.nginx([upstream.url], location=lines, name="exercise")
        except scale.MissingTool:
            raise
        except RuntimeError as exc:
            return [Result("nginx accepts the lines", False,
                           f"{exc}; each directive ends with ';'")]
        results.append(Result("nginx accepts the lines", True))
        try:
            try:
                async with connect(proxy.url + "/check", open_timeout=5) as ws:
                    await ws.send("through nginx")
                    echoed = await asyncio.wait_for(ws.recv(), 5)
                results.append(Result("a WebSocket handshake passes through", echoed ==
                                      "through nginx", "the message did not come back"))
            except InvalidStatus as exc:
                status = exc.response.status_code
                hint = {
                    505: "nginx talks HTTP/1.0 to the upstream by default, and a handshake needs "
                         "HTTP/1.1: add proxy_http_version 1.1;",
                    426: "the upstream got no 'Upgrade: websocket' / 'Connection: upgrade': they "
                         "are hop-by-hop headers, so set them again with proxy_set_header",
                    400: "the upstream got a request it could not read as a handshake: pass "
                         "Upgrade and Connection on with proxy_set_header",
                }.get(status, "")
                results.append(Result("a WebSocket handshake passes through", False,
                                      f"the client got HTTP {status} instead of 101; {hint}"))
                return results
            silent = await connect(proxy.url, ping_interval=None, open_timeout=5)
            start = time.monotonic()
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                await asyncio.wait_for(silent.recv(), TIMEOUT + 2.5)
            waited = time.monotonic() - start
            with contextlib.suppress(Exception):
                await silent.close()
            ok = TIMEOUT * 0.8 < waited < TIMEOUT + 1.0
            results.append(Result(
                f"nginx_lines({TIMEOUT}) closes a connection silent for {TIMEOUT} s",
                ok,
                "" if ok else f"it was cut after {waited:.1f} s: set proxy_read_timeout from the "
                              "argument, with its unit (proxy_read_timeout 1s;)",
            ))
        finally:
            await proxy.stop()
    return results


# --- clients_per_core --------------------------------------------------------------------------

#: (cost per delivery s, messages per second per client, headroom, expected)
CAPACITY_CASES = [  # none lands on a whole number, so rounding mistakes show
    (23e-6, 10, 0.5, 2173),
    (20e-6, 3, 0.5, 8333),
    (55e-6, 4, 0.8, 3636),
    (150e-6, 30, 0.5, 111)]


def _capacity_hint(got: Any, cost: float, rate: float, headroom: float) -> str:
    exact = headroom / (cost * rate)
    if not isinstance(got, int):
        return f"return a whole number of clients (int), not {type(got).__name__}"
    if got == int(exact) + 1:
        return "rounded up: a core cannot serve part of a client beyond its budget, round down"
    if abs(got - 1 / (cost * rate)) < 1:
        return "you used the whole core: multiply by headroom (the share you allow yourself)"
    if got == 0 or got > 1000 * exact:
        return "units: the cost is in seconds already (20 µs is 20e-6), no conversion needed"
    return "a core has 1 s of CPU per second; each client costs cost * rate of it per second"


@exercise("clients_per_core", notebook=NOTEBOOK)
def check_clients_per_core(clients_per_core: Callable[[float, float, float], int]):
    """Capacity from a measured cost: how many clients one core serves at a given rate."""
    for cost, rate, headroom, want in CAPACITY_CASES:
        description = f"{cost * 1e6:g} µs a delivery, {rate:g} msg/s each, {headroom:.0%} of a core"
        result = case(description, lambda c=cost, r=rate, h=headroom: clients_per_core(c, r, h),
                      want, compare=lambda got, want: type(got) is int and got == want)
        if not result.passed and "raised" not in result.message and "not written" not in (
            result.message
        ):
            got = clients_per_core(cost, rate, headroom)
            result = replace(result, message=_capacity_hint(got, cost, rate, headroom))
        yield result
