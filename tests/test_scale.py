"""wslearn.scale against the real thing: Debian's redis-server and nginx, real processes.

Nothing here is skipped when a program is missing: ``scale`` raises
``MissingTool`` naming the command to run, and the test fails with it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import ROOT, failures, reference, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from wslearn import scale
from wslearn.exercises import run_checker
from wslearn.websocket import WebSocket


def gone(pids: list[int]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_two_processes_deliver_every_message_once_in_order_per_sender():
    async def main():
        async with await scale.redis() as redis:
            async with await scale.cluster(2, redis.url) as group:
                return await scale.probe(group.urls, clients_per_url=2, messages=40)

    probe = run(main())
    assert probe.senders == ["p0c0", "p1c0"]
    assert probe.sent == {"p0c0": 40, "p1c0": 40}
    for client, got in probe.received.items():
        assert sorted((s, q) for s, q, _ in got) == sorted(
            (s, q) for s in probe.senders for q in range(40)
        ), client
    assert (probe.lost, probe.duplicates, probe.in_order) == (0, 0, True)


def test_a_redis_restart_loses_messages_and_delivery_resumes():
    """Pub/sub is at-most-once: what is published while Redis is down is gone, none twice."""

    async def main():
        async with await scale.redis() as redis:
            async with await scale.cluster(2, redis.url) as group:
                task = asyncio.create_task(
                    scale.probe(group.urls, clients_per_url=1, messages=150, interval=0.01)
                )
                await asyncio.sleep(0.4)
                await redis.restart(downtime=0.2)
                return await task

    probe = run(main(), timeout=30)
    assert probe.lost > 0
    assert probe.duplicates == 0 and probe.in_order
    for client in probe.received:  # the last messages of both senders made it after the restart
        assert ("p0c0", 149) not in probe.missing(client)
        assert ("p1c0", 149) not in probe.missing(client)


def test_misconfigured_nginx_fails_the_handshake_and_the_fixed_one_passes():
    async def main():
        async with await scale.redis() as redis, await scale.cluster(1, redis.url) as group:
            async with await scale.nginx(group.urls, upgrade=False, name="broken") as broken:
                with pytest.raises(InvalidStatus) as caught:
                    async with connect(broken.url):
                        pass
                status = caught.value.response.status_code
                ws = WebSocket(broken.url)
                closed = await ws.closed(timeout=5)
                seen = [(e.type, e.details.get("message")) for e in ws.events if e.type == "error"]
            async with await scale.nginx(group.urls, name="fixed") as fixed:
                async with connect(fixed.url + "/room") as client:
                    await client.send("through nginx")
                    echoed = await asyncio.wait_for(client.recv(), 5)
                    server = client.response.headers["Server"]
        return status, closed.code, seen, echoed, server

    status, code, seen, echoed, server = run(main())
    assert status == 426
    assert code == 1006
    assert seen == [("error", "Error during WebSocket handshake: Unexpected response code: 426")]
    assert echoed == "through nginx"
    assert server.startswith("nginx/")


def test_nginx_read_timeout_closes_a_silent_connection_unless_pings_are_shorter():
    async def main():
        async with await scale.redis() as redis, await scale.cluster(1, redis.url) as group:
            async with await scale.nginx(group.urls, read_timeout=1) as proxy:
                silent = await connect(proxy.url, ping_interval=None)
                talking = await connect(proxy.url, ping_interval=0.3, ping_timeout=1)
                start = time.monotonic()
                with pytest.raises(ConnectionClosedError) as caught:
                    await asyncio.wait_for(silent.recv(), 5)
                cut_after = time.monotonic() - start
                await asyncio.sleep(1.0)  # the talking one is past the timeout by now
                await talking.send("still here")
                alive = await asyncio.wait_for(talking.recv(), 2)
                await talking.close()
        return cut_after, caught.value.rcvd, alive

    cut_after, close_frame, alive = run(main())
    assert 0.9 < cut_after < 2.0
    assert close_frame is None  # nginx just closes TCP: 1006 for the client
    assert alive == "still here"


def test_round_robin_alternates_and_hash_balancing_sticks():
    async def main():
        async with await scale.redis() as redis, await scale.cluster(2, redis.url) as group:
            nodes = {}
            for balance in ("", "hash $arg_user consistent"):
                async with await scale.nginx(group.urls, balance=balance) as proxy:
                    seen = []
                    for _ in range(4):
                        async with connect(proxy.url + "/?user=ada") as ws:
                            seen.append(ws.response.headers[scale.NODE_HEADER])
                    nodes[balance or "round-robin"] = seen
        return nodes

    nodes = run(main())
    assert sorted(nodes["round-robin"]) == ["0", "0", "1", "1"]
    assert nodes["round-robin"][0] != nodes["round-robin"][1]
    assert len(set(nodes["hash $arg_user consistent"])) == 1


def test_every_process_is_gone_after_stop():
    async def main():
        redis = await scale.redis()
        group = await scale.cluster(2, redis.url)
        proxy = await scale.nginx(group.urls)
        pids = {"redis": redis.pids, "cluster": group.pids, "nginx": proxy.pids}
        await proxy.stop()
        await group.stop()
        await redis.stop()
        return pids, scale.running()

    pids, left = run(main())
    assert [len(pids["redis"]), len(pids["cluster"]), len(pids["nginx"])] == [1, 2, 2]
    assert gone(pids["redis"] + pids["cluster"] + pids["nginx"])
    assert left == {}


def test_a_second_start_under_the_same_name_stops_the_first():
    async def main():
        first = await scale.redis()
        before = first.pids
        second = await scale.redis()
        after = second.pids
        await scale.stop()
        return before, after

    before, after = run(main())
    assert before and after and before != after
    assert gone(before + after)


def test_nothing_outlives_a_python_that_forgot_to_stop():
    """The atexit safety net: a script (or a failed test) that never calls stop()."""
    script = (
        "import asyncio\n"
        "from wslearn import scale\n"
        "async def main():\n"
        "    r = await scale.redis()\n"
        "    c = await scale.cluster(1, r.url)\n"
        "    n = await scale.nginx(c.urls)\n"
        "    print(*(r.pids + c.pids + n.pids), flush=True)\n"
        "    print(r.socket_path.parent, c.procs[0].directory, n.procs[0].directory)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    pid_line, folder_line = done.stdout.splitlines()
    pids = [int(p) for p in pid_line.split()]
    assert len(pids) == 4
    assert [Path(f).exists() for f in folder_line.split()] == [False, False, False]
    deadline = time.monotonic() + 5
    while not gone(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pids)


def test_a_relay_process_exits_when_its_parent_pipe_closes():
    async def main():
        async with await scale.redis() as redis, await scale.cluster(1, redis.url) as group:
            process = group.procs[0].process
            process.stdin.close()
            return await asyncio.wait_for(process.wait(), 5)

    assert run(main()) == 0


def test_a_missing_redis_server_names_the_command_to_run_and_leaves_nothing(monkeypatch):
    before = set(Path(tempfile.gettempdir()).glob("wslearn-redis-*"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(scale.MissingTool, match=r"make system-deps"):
        run(scale.redis(name="missing"))
    assert set(Path(tempfile.gettempdir()).glob("wslearn-redis-*")) <= before


def test_nginx_refuses_a_non_websocket_upstream_and_reports_a_bad_config():
    with pytest.raises(ValueError, match="ws:// URL with a port"):
        scale.nginx_config(8080, ["http://example"], "/tmp")

    with pytest.raises(RuntimeError, match=r"nginx did not start.*unknown directive"):
        run(scale.nginx(["ws://127.0.0.1:9"], location="proxy_frobnicate on;", name="bad"))
    assert os.environ.get("NGINX") is None  # only the child got the inherited socket


# -- notebook 09's nginx exercise, checked against a real nginx -----------------------------------


def test_nginx_lines_reference_passes_on_a_real_nginx():
    solution = reference("09_broadcast_scale")["nginx_lines"]
    report = run_checker("nginx_lines", solution)
    assert report.passed, str(report)
    assert [r.case for r in report.results] == [
        "nginx accepts the lines",
        "a WebSocket handshake passes through",
        "nginx_lines(1) closes a connection silent for 1 s",
    ]


UPGRADE = 'proxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection "upgrade";\n'


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (lambda t: UPGRADE + f"proxy_read_timeout {t}s;", "a WebSocket handshake passes through",
         "proxy_http_version 1.1"),
        (lambda t: f"proxy_http_version 1.1;\nproxy_read_timeout {t}s;",
         "a WebSocket handshake passes through", "hop-by-hop"),
        (lambda t: "proxy_http_version 1.1\n" + UPGRADE, "nginx accepts the lines",
         "ends with ';'"),
        (lambda t: "proxy_http_version 1.1;\n" + UPGRADE,
         "nginx_lines(1) closes a connection silent for 1 s", "proxy_read_timeout"),
    ],
    ids=["http-1.0", "no-upgrade-headers", "missing-semicolon", "no-timeout"],
)
def test_nginx_lines_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    messages = failures("nginx_lines", wrong)
    assert hint in messages[failing_case], messages
