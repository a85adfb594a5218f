"""More than one server process: a private Redis, server processes that relay through it, nginx.

Theory of operation
-------------------
A WebSocket connection lives in one process. When a chat runs on several
processes (several cores, several machines), a message that a client of
process A sends must reach the clients of process B too. What people deploy
is a message bus between the processes, most often Redis pub/sub: every
process PUBLISHes what its clients send to a channel and SUBSCRIBEs to it,
and fans out what it hears to its own clients (``wslearn.broadcast.Hub``).

Everything here is real and private to the caller:

- ``await redis()`` starts Debian's ``redis-server`` on a unix socket in a
  fresh temp directory (no TCP port at all, no persistence) and returns a
  ``RedisServer`` with ``url``, ``restart()`` and ``stop()``;
- ``await cluster(n, redis_url)`` starts ``n`` processes
  (``python -m wslearn.scale``), each a ``websockets`` server on 127.0.0.1
  and an OS-chosen port that relays every text message through Redis to every
  client of every process, the sender included. A client's path is its room:
  ``ws://.../lobby`` talks on channel ``wslearn:room:/lobby``;
- ``await nginx(upstreams)`` starts Debian's ``nginx`` in the foreground with
  a private config that balances WebSocket connections over the upstreams.
  Its port is chosen by the OS: we bind a listening socket on port 0 and hand
  it to nginx (nginx inherits sockets named in its ``NGINX`` environment
  variable, the mechanism of its binary upgrade), so no other program can
  take the port between choosing and listening.

Each process runs in its own process group and is stopped by signalling the
group, so nginx's workers go with their master. A second start under the same
``name`` stops the first (a notebook cell run twice leaks nothing); whatever
is still running when Python exits is killed by an ``atexit`` hook; and the
relay processes also exit when their parent's pipe closes (a crashed kernel).

The only RFC-level fact involved: the opening handshake is an HTTP/1.1
``GET`` with ``Upgrade: websocket`` and ``Connection: Upgrade`` (RFC 6455
§4.1), and both are *hop-by-hop* headers (RFC 9110 §7.6.1), which a proxy
drops unless told to pass them on. That is the whole nginx story.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wslearn.net import LOOPBACK

__all__ = [
    "CHANNEL",
    "TOOLS",
    "Cluster",
    "MissingTool",
    "Nginx",
    "Probe",
    "RedisServer",
    "cluster",
    "group_pids",
    "install_command",
    "nginx",
    "nginx_config",
    "probe",
    "redis",
    "running",
    "stop",
    "tools",
]

#: prefix of the pub/sub channels; a room (the URL path) is appended
CHANNEL = "wslearn:room:"
#: the Debian package that provides each program
TOOLS = {"redis-server": "redis-server", "nginx": "nginx"}
#: seconds allowed for a process to come up, and to go away
START_TIMEOUT, STOP_TIMEOUT = 10.0, 5.0
READY = "READY"
NODE_HEADER = "X-Wslearn-Node"


class MissingTool(RuntimeError):
    """A program the course needs is not installed; the message says how to install it."""


def install_command() -> str:
    """The one command that installs what notebook 09 needs (as root or with sudo)."""
    prefix = "" if os.geteuid() == 0 else "sudo "
    return f"{prefix}make system-deps"


def tools() -> dict[str, str | None]:
    """Where each program is (``None`` if missing); looks in sbin too, as root's PATH does."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return {name: shutil.which(name, path=path) for name in TOOLS}


def _require(name: str) -> str:
    found = tools()[name]
    if found is None:
        raise MissingTool(
            f"{name} is not installed: run `{install_command()}` in the course folder "
            f"(it installs Debian's {TOOLS[name]} without starting its system service)"
        )
    return found


# -- processes ----------------------------------------------------------------------------------


def group_pids(pgid: int) -> list[int]:
    """Every live process in process group ``pgid`` (from /proc; zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return sorted(pids)


def _kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


_LIVE: dict[int, Path] = {}  # process groups we started and have not stopped, and their folders


@atexit.register
def _kill_leftovers() -> None:
    """Last line of defence: nothing we started outlives this Python process, nor its files."""
    for pgid, directory in list(_LIVE.items()):
        _kill_group(pgid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)
        _LIVE.pop(pgid, None)


@dataclass
class _Proc:
    """One child process leading its own process group."""

    name: str
    process: asyncio.subprocess.Process
    directory: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pids(self) -> list[int]:
        return group_pids(self.pid)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole group, wait (bounded), then make sure with SIGKILL."""
        _kill_group(self.pid, sig)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await self.process.wait()
        _kill_group(self.pid, signal.SIGKILL)  # stragglers (nginx workers) and the hung
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await self.process.wait()
                while self.pids:
                    await asyncio.sleep(0.01)
        _LIVE.pop(self.pid, None)

    def log(self, name: str = "log") -> str:
        try:
            return (self.directory / name).read_text(errors="replace")
        except OSError:
            return ""


async def _spawn(name: str, argv: Sequence[str], directory: Path, **options: Any) -> _Proc:
    process = await asyncio.create_subprocess_exec(
        *argv, start_new_session=True, cwd=directory, **options
    )
    _LIVE[process.pid] = directory
    return _Proc(name, process, directory)


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# -- one registry, as servers.start() keeps: a second start stops the first --------------------

_running: dict[str, Any] = {}


async def _register(name: str, handle: Any) -> None:
    _running[name] = handle


async def _replace(name: str) -> None:
    old = _running.pop(name, None)
    if old is not None:
        await old.stop()


async def stop(name: str | None = None) -> None:
    """Stop the Redis, cluster or nginx started under ``name``, or all of them."""
    for key in list(_running) if name is None else [name]:
        await _replace(key)


def running() -> dict[str, Any]:
    """The Redis servers, clusters and nginx instances started and not stopped, by name."""
    return dict(_running)


@dataclass
class _Service:
    """What the three kinds of handle share: a name, their processes, ``stop()``."""

    name: str
    procs: list[_Proc] = field(default_factory=list, kw_only=True)

    @property
    def pids(self) -> list[int]:
        """Every live process of this service (nginx: master and workers)."""
        return [pid for proc in self.procs for pid in proc.pids]

    @property
    def running(self) -> bool:
        return any(proc.process.returncode is None for proc in self.procs)

    async def stop(self) -> None:
        """Stop every process (SIGTERM to its group, then SIGKILL) and delete its files."""
        procs, self.procs = self.procs, []
        await asyncio.gather(*(proc.stop() for proc in procs))
        for proc in procs:
            shutil.rmtree(proc.directory, ignore_errors=True)
        if _running.get(self.name) is self:
            del _running[self.name]

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


# -- Redis ----------------------------------------------------------------------------------


@dataclass
class RedisServer(_Service):
    """A private ``redis-server`` on a unix socket; ``url`` is what redis-py connects to."""

    directory: Path

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    async def start(self) -> RedisServer:
        binary = _require("redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port", "0",  # no TCP listener at all: only the unix socket
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--save", "",  # no snapshots
            "--appendonly", "no",  # no append-only file
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "log"),
        ]
        proc = await _spawn(self.name, argv, self.directory, stdin=asyncio.subprocess.DEVNULL)
        self.procs = [proc]
        await self._wait_ready(proc)
        return self

    async def _wait_ready(self, proc: _Proc) -> None:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.process.returncode is None:
            if self.socket_path.exists():
                client = Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
                try:
                    if await client.ping():
                        return
                except (OSError, RedisError):
                    pass
                finally:
                    await client.aclose()
            await asyncio.sleep(0.02)
        log = _tail(proc.log())
        await self.stop()
        raise RuntimeError(f"redis-server did not start: {log or 'no log'}")

    async def restart(self, downtime: float = 0.0) -> None:
        """Kill the server (its pub/sub subscribers are cut off) and start it again.

        Same socket path, so clients reconnect to the same ``url``; an empty
        server, since nothing was persisted.
        """
        procs, self.procs = self.procs, []
        await asyncio.gather(*(proc.stop() for proc in procs))
        await asyncio.sleep(downtime)
        await self.start()

    def __repr__(self) -> str:
        return f"<RedisServer {self.url if self.running else 'stopped'}>"


async def redis(*, name: str = "redis") -> RedisServer:
    """Start a private ``redis-server`` (replacing one started under the same ``name``)."""
    _require("redis-server")  # before making any folder: a missing tool leaves nothing behind
    await _replace(name)
    server = RedisServer(name, directory=Path(tempfile.mkdtemp(prefix="wslearn-redis-")))
    await server.start()
    await _register(name, server)
    return server


# -- the relay processes ---------------------------------------------------------------------


@dataclass
class Cluster(_Service):
    """``n`` relay processes; ``urls[i]`` is process ``i``'s WebSocket address.

    ``stop()`` sends SIGTERM: each process closes its clients with 1001 Going
    Away, then exits.
    """

    redis_url: str
    urls: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<Cluster {len(self.procs)} processes {self.urls}>"


async def _start_node(index: int, redis_url: str, name: str) -> tuple[_Proc, str]:
    directory = Path(tempfile.mkdtemp(prefix=f"wslearn-node{index}-"))
    stderr = (directory / "log").open("wb")
    argv = [sys.executable, "-m", "wslearn.scale", "--redis", redis_url, "--index", str(index)]
    try:
        proc = await _spawn(
            f"{name}[{index}]", argv, directory,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )
    finally:
        stderr.close()
    assert proc.process.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            line = (await proc.process.stdout.readline()).decode().split()
    except TimeoutError:
        line = []
    if line[:1] != [READY]:
        await proc.stop()
        log = _tail(proc.log())
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"relay process {index} did not start: {log or line}")
    return proc, line[1]


async def cluster(n: int, redis_url: str, *, name: str = "cluster") -> Cluster:
    """Start ``n`` relay processes on ``redis_url`` (replacing a cluster of the same ``name``)."""
    if not 1 <= n <= 16:
        raise ValueError("a course cluster has 1 to 16 processes")
    await _replace(name)
    group = Cluster(name, redis_url=redis_url)
    started = await asyncio.gather(
        *(_start_node(i, redis_url, name) for i in range(n)), return_exceptions=True
    )
    for outcome in started:
        if not isinstance(outcome, BaseException):
            group.procs.append(outcome[0])
            group.urls.append(outcome[1])
    failed = [o for o in started if isinstance(o, BaseException)]
    if failed:
        await group.stop()
        raise failed[0]
    await _register(name, group)
    return group


# -- nginx ----------------------------------------------------------------------------------

#: what makes nginx pass a WebSocket handshake on: HTTP/1.1 to the upstream (nginx speaks
#: 1.0 by default, and the handshake needs 1.1), and the two hop-by-hop headers re-sent
HTTP11 = "proxy_http_version 1.1;"
UPGRADE_LINES = """\
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection $connection_upgrade;"""

_SAFE = re.compile(r"[^;{}\n]*")


def nginx_config(
    port: int,
    upstreams: Sequence[str],
    directory: Path | str,
    *,
    upgrade: bool = True,
    read_timeout: float = 60,
    balance: str = "",
    location: str | None = None,
) -> str:
    """The whole nginx.conf: one worker, everything under ``directory``, one proxy location.

    ``location`` replaces the lines that make WebSocket proxying work (the
    ``upgrade`` lines and ``proxy_read_timeout``), to try others.
    """
    if not upstreams:
        raise ValueError("nginx needs at least one upstream")
    if not _SAFE.fullmatch(balance):
        raise ValueError(f"balance must be one nginx directive without ';': {balance!r}")
    servers = []
    for url in upstreams:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "http") or not parts.hostname or not parts.port:
            raise ValueError(f"an upstream is a ws:// URL with a port, not {url!r}")
        servers.append(f"        server {parts.hostname}:{parts.port};")
    d = Path(directory)
    if location is None:
        if not read_timeout > 0:
            raise ValueError("read_timeout must be a positive number of seconds")
        ms = round(1000 * read_timeout)  # nginx takes "500ms" but not "0.5s"
        timeout = f"proxy_read_timeout {ms // 1000}s;" if ms % 1000 == 0 else (
            f"proxy_read_timeout {ms}ms;"
        )
        location = "\n".join([HTTP11, *([UPGRADE_LINES] if upgrade else []), timeout])
    inner = "\n".join(f"            {line}" for line in location.strip().splitlines())
    temp = "\n".join(
        f"    {kind}_temp_path {d / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                        "uwsgi", "scgi")
    )
    return f"""\
# written by wslearn.scale.nginx(): a private, foreground, loopback-only nginx
worker_processes 1;
pid {d / "nginx.pid"};
error_log {d / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    access_log {d / "access.log"};
{temp}
    # "Connection: upgrade" when the client asked for an upgrade, else close
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream app {{
        {balance + ";" if balance else "# round-robin (nginx's default)"}
{chr(10).join(servers)}
    }}
    server {{
        listen {LOOPBACK}:{port};
        location / {{
            proxy_pass http://app;
{inner}
        }}
    }}
}}
"""


@dataclass
class Nginx(_Service):
    """A private nginx in front of ``upstreams``; ``url`` is its ``ws://`` address.

    ``stop()`` sends SIGTERM (nginx's fast shutdown: open connections are cut).
    """

    port: int
    config: str

    @property
    def url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    def error_log(self) -> str:
        return self.procs[0].log("error.log") if self.procs else ""

    def __repr__(self) -> str:
        return f"<Nginx {self.url if self.running else 'stopped'}>"


async def nginx(
    upstreams: Sequence[str],
    *,
    upgrade: bool = True,
    read_timeout: float = 60,
    balance: str = "",
    location: str | None = None,
    name: str = "nginx",
) -> Nginx:
    """Start a private nginx that balances WebSocket connections over ``upstreams``.

    ``upgrade=False`` leaves out the ``Upgrade``/``Connection`` forwarding (the
    classic misconfiguration); ``read_timeout`` is ``proxy_read_timeout`` in
    seconds (nginx closes a proxied connection on which the upstream sent
    nothing for that long); ``balance`` is an upstream directive such as
    ``"ip_hash"`` or ``"hash $arg_user consistent"`` (default: round-robin).
    """
    binary = _require("nginx")
    await _replace(name)
    directory = Path(tempfile.mkdtemp(prefix="wslearn-nginx-"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(511)
        port = listener.getsockname()[1]
        config = nginx_config(
            port, upstreams, directory,
            upgrade=upgrade, read_timeout=read_timeout, balance=balance, location=location,
        )
        (directory / "nginx.conf").write_text(config)
        fd = listener.fileno()
        os.set_inheritable(fd, True)
        argv = [binary, "-p", str(directory), "-e", str(directory / "error.log"),
                "-c", str(directory / "nginx.conf"), "-g", "daemon off;"]
        proc = await _spawn(
            name, argv, directory, pass_fds=(fd,), env={**os.environ, "NGINX": f"{fd};"},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    finally:
        listener.close()  # nginx holds its own copy of the socket now
    server = Nginx(name, port, config, procs=[proc])
    deadline = time.monotonic() + START_TIMEOUT
    while "start worker process" not in proc.log("error.log"):
        if proc.process.returncode is not None or time.monotonic() > deadline:
            log = proc.log("error.log")
            await server.stop()
            errors = [line for line in log.splitlines() if "[emerg]" in line or "[alert]" in line]
            raise RuntimeError(f"nginx did not start: {_tail(chr(10).join(errors) or log, 3)}")
        await asyncio.sleep(0.01)
    await _register(name, server)
    return server


# -- measuring the relay ------------------------------------------------------------------


@dataclass
class Probe:
    """What every client of a ``probe()`` received, and the latencies."""

    senders: list[str]  # the client id of each sender
    sent: dict[str, int]  # per sender, messages sent
    received: dict[str, list[tuple[str, int, float]]]  # per client: (sender, seq, latency s)

    @property
    def latencies(self) -> list[float]:
        return [lat for got in self.received.values() for _, _, lat in got]

    @property
    def expected(self) -> int:
        return len(self.received) * sum(self.sent.values())

    @property
    def delivered(self) -> int:
        """Distinct (client, sender, seq) deliveries."""
        return sum(len({(s, q) for s, q, _ in got}) for got in self.received.values())

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def duplicates(self) -> int:
        return sum(len(got) for got in self.received.values()) - self.delivered

    @property
    def in_order(self) -> bool:
        """Every client saw each sender's messages in increasing ``seq``."""
        for got in self.received.values():
            last: dict[str, int] = {}
            for sender, seq, _ in got:
                if seq <= last.get(sender, -1):
                    return False
                last[sender] = seq
        return True

    def missing(self, client: str) -> list[tuple[str, int]]:
        have = {(s, q) for s, q, _ in self.received[client]}
        return [(s, q) for s in self.senders for q in range(self.sent[s]) if (s, q) not in have]

    def p(self, q: float) -> float:
        from wslearn.broadcast import percentile

        return percentile(self.latencies, q)


async def probe(
    urls: Sequence[str],
    *,
    clients_per_url: int = 2,
    messages: int = 50,
    interval: float = 0.002,
    room: str = "/probe",
    settle: float = 0.3,
    senders: int | None = None,
    timeout: float = 10.0,
) -> Probe:
    """Connect ``clients_per_url`` clients to each URL; the first client of each URL sends.

    ``senders`` limits the sending to the first client of the first that many
    URLs (one sender measures latency without piling load on the relay).

    Each sender sends ``messages`` numbered JSON messages, ``interval`` s
    apart; every client records every message it gets and its latency (all
    clients live in this process, so one clock serves). Waits until every
    client has everything, or nothing new came for ``settle`` s after the last
    send (lost messages never come), at most ``timeout`` s.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    loop = asyncio.get_running_loop()
    ids = [f"p{p}c{c}" for p in range(len(urls)) for c in range(clients_per_url)]
    received: dict[str, list[tuple[str, int, float]]] = {i: [] for i in ids}
    senders = [f"p{p}c0" for p in range(len(urls) if senders is None else senders)]
    sent = dict.fromkeys(senders, 0)
    last_arrival = [loop.time()]
    async with contextlib.AsyncExitStack() as stack:
        conns = {}
        for i in ids:
            url = urls[int(i[1 : i.index("c")])].rstrip("/") + room
            conns[i] = await stack.enter_async_context(connect(url, open_timeout=5))

        async def listen(i: str) -> None:
            with contextlib.suppress(ConnectionClosed):
                async for text in conns[i]:
                    m = json.loads(text)
                    now = loop.time()
                    received[i].append((m["from"], m["seq"], now - m["t"]))
                    last_arrival[0] = now

        async def speak(i: str) -> None:
            start = loop.time()
            for seq in range(messages):
                await asyncio.sleep(max(0.0, start + seq * interval - loop.time()))
                with contextlib.suppress(ConnectionClosed):
                    await conns[i].send(json.dumps({"from": i, "seq": seq, "t": loop.time()}))
                    sent[i] += 1

        listeners = [loop.create_task(listen(i)) for i in ids]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(speak(s) for s in senders))
                total = sum(sent.values())
                while any(len(r) < total for r in received.values()):
                    if loop.time() - last_arrival[0] > settle:
                        break
                    await asyncio.sleep(0.005)
        except TimeoutError:
            pass
        finally:
            for task in listeners:
                task.cancel()
    return Probe(senders, sent, received)


# -- the relay process itself (python -m wslearn.scale) ---------------------------------------


async def _relay(redis_url: str, index: int) -> None:
    """Serve WebSocket clients; PUBLISH what they send; fan out what Redis delivers."""
    from redis.asyncio import Redis
    from websockets.asyncio.server import ServerConnection, serve

    from wslearn.broadcast import Rooms

    loop = asyncio.get_running_loop()
    rooms = Rooms()
    client = Redis.from_url(redis_url, socket_timeout=2)
    stopping = asyncio.Event()
    subscribed = asyncio.Event()

    async def publish(room: str, message: str) -> None:
        with contextlib.suppress(Exception):  # Redis is down: at-most-once, this one is lost
            await client.publish(CHANNEL + room, message)

    async def handler(ws: ServerConnection) -> None:
        await rooms.serve(ws, publish)

    async def subscribe_forever() -> None:
        while not stopping.is_set():
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL + "*")
                subscribed.set()
                while True:
                    m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if m is None or m["type"] != "pmessage":
                        continue
                    rooms.deliver(m["channel"].decode()[len(CHANNEL) :], m["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: resubscribe once it is back
                await asyncio.sleep(0.05)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def headers(connection: ServerConnection, request: Any, response: Any) -> None:
        response.headers[NODE_HEADER] = str(index)

    async def parent_gone() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # EOF: whoever started us is gone
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    relay = loop.create_task(subscribe_forever())
    watch = loop.create_task(parent_gone())
    async with asyncio.timeout(START_TIMEOUT):
        await subscribed.wait()
    async with serve(
        handler, LOOPBACK, 0, family=socket.AF_INET, compression=None, process_response=headers
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"{READY} ws://{LOOPBACK}:{port}", flush=True)
        await stopping.wait()
    relay.cancel()
    watch.cancel()
    await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wslearn.scale", description=_relay.__doc__)
    parser.add_argument("--redis", required=True, help="redis:// or unix:// URL")
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_relay(args.redis, args.index))


if __name__ == "__main__":
    main()
