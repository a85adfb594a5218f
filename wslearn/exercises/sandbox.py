"""Student code, run apart: a limited worker process and a plain-data boundary.

The grader never runs a student's code in its own process. Each submitted
notebook gets a :class:`Sandbox`: a worker process (``worker.py``) that
executes the course's setup code and the student's exercise cells, then
answers calls over a pipe. The checks stay in the grader and call the
student's functions through :class:`StudentFunction` proxies, so a check
written as ``checker(fn)`` works unchanged.

The boundary carries plain data only, as JSON lines (``plain.py``: ``None``,
``bool``, ``int``, ``float``, ``str``, ``bytes``, lists, tuples, sets and
dicts of these, a few course value types), never pickle. An object of the
grader's that a check passes in (a live ``WebSocket``) becomes a handle: the
student's code reads its public attributes and calls its public methods
across the pipe, so the real socket, on the grader's side, sends the bytes.

Isolation, best first (``isolation()`` says which one this machine gives):

- as root, where the kernel allows namespaces: a new PID namespace (every
  process the student starts, detached or not, dies with the notebook), a
  new mount namespace in which the course checkout, the submissions and the
  gradebook folder are covered by empty tmpfs mounts (only the package and
  the interpreter stay visible, read-only) and ``/tmp`` is private, and the
  worker itself runs as a uid of its own that no account has, so its parent
  (root) cannot be signalled;
- otherwise: the worker runs in its own session below a keeper that is the
  subreaper of its process tree (a detached process stays below it), and the
  whole tree is killed, then any process still carrying the sandbox's token
  in its environment. As root it still runs as a uid of its own: student
  code never runs as root (``os.kill(-1, SIGKILL)`` as root ends every
  process on the machine).

Either way each grading process starts one *template* that has imported the
course's modules and forks each notebook's sandbox from it (see
``worker.py``), so a notebook's worker is ready in milliseconds.

Limits in every case (:class:`Limits`): address space (RLIMIT_AS), CPU time
for the whole notebook, wall time per cell, per call and per notebook, file
size, and the output the grader keeps (the rest is counted, not stored).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import itertools
import json
import os
import queue
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from wslearn.exercises.plain import (
    NotPlainData,
    RemoteError,
    decode,
    decode_error,
    encode,
    encode_error,
)

__all__ = [
    "Limits",
    "NotPlainData",
    "RemoteError",
    "Sandbox",
    "SandboxBroken",
    "StudentFunction",
    "decode",
    "decode_error",
    "encode",
    "encode_error",
    "isolation",
    "sandbox_processes",
]

WORKER = str(Path(__file__).resolve().with_name("worker.py"))  # run as a script, never imported
#: what student code may do with a grader's object besides its public attributes: use it as
#: a container (a check may pass a deque for the student's function to change in place)
CONTAINER_METHODS = ("__len__", "__getitem__", "__contains__", "__iter__")
MAX_MESSAGE = 16 * 1024 * 1024  # bytes in one message across the pipe
SANDBOX_IDS = 0x40000000  # student code runs as uid/gid SANDBOX_IDS + the grader's pid
#: the environment of student code (the worker adds HOME and TMPDIR)
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "PYTHONDONTWRITEBYTECODE": "1", "USER": "student", "LOGNAME": "student"}


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one notebook's student code may use.

    The wall limits are generous for an answer and short for a loop that never
    ends, which is what a broken class spends its time on: the course's
    reference answers run each call in under 10 ms (a live one, ``ask``, in
    about 0.2 s) and each exercise cell in a few ms.
    """

    memory: int = 2 * 1024**3  # address space, bytes (RLIMIT_AS)
    cell_seconds: float = 5.0  # wall time of one exercise cell of the student's
    call_seconds: float = 2.0  # wall time of one call of a student's function
    setup_seconds: float = 60.0  # wall time of the course's own setup code (imports) per step
    notebook_seconds: float = 120.0  # wall time of the whole notebook (also its CPU limit)
    output_bytes: int = 1024 * 1024  # printed output kept per notebook
    file_bytes: int = 64 * 1024 * 1024  # largest file it may write (RLIMIT_FSIZE)
    processes: int = 256  # processes of the sandbox user (RLIMIT_NPROC), root mode only


class SandboxBroken(RuntimeError):
    """The worker is gone or out of time: the call could not be answered."""


# -- the grader's side -------------------------------------------------------------------------


def isolation() -> str:
    """The isolation this machine gives student code, in words for the gradebook."""
    if _namespaces():
        return "pid+mount namespaces, own uid, rlimits"
    if os.geteuid() == 0:
        return "own session and process group, rlimits, own uid (no namespaces: the kernel " \
               "refused them)"
    return "own session and process group, rlimits (no namespaces: not root)"


_NAMESPACES: bool | None = None


def _namespaces() -> bool:
    global _NAMESPACES
    if _NAMESPACES is None:
        _NAMESPACES = False
        if os.geteuid() == 0:
            with contextlib.suppress(Exception):  # the real thing, with a worker that exits
                uid, gid = _sandbox_ids()
                config = {"uid": uid, "gid": gid, "limits": dataclasses.asdict(Limits()),
                          "hide": [], "keep": []}
                probe = subprocess.run([sys.executable, "-I", WORKER, "probe", json.dumps(config)],
                                       capture_output=True, timeout=20, start_new_session=True)
                _NAMESPACES = probe.returncode == 0
    return _NAMESPACES


class _Template:
    """The grading process's template (``worker.py template``): forks sandboxes on request."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-u", "-B", WORKER, "template", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=ENVIRONMENT,
            start_new_session=True, close_fds=True,
        )
        theirs.close()
        ours.settimeout(60)  # it answers in milliseconds; a template that does not is ended
        self.socket = ours
        self.lock = threading.Lock()
        self.owner = os.getpid()  # a forked copy of the grader starts its own

    def ask(self, request: dict[str, Any], fds: Iterable[int] = ()) -> dict[str, Any]:
        with self.lock:
            try:
                socket.send_fds(self.socket, [json.dumps(request).encode()], list(fds))
                answer = self.socket.recv(65536)
            except OSError:
                answer = b""
            if not answer:
                self.process.kill()  # the next _template() starts a fresh one
                raise SandboxBroken("the sandbox template did not answer")
        return json.loads(answer)

    def close(self) -> None:
        self.socket.close()  # the template ends at EOF, and its keepers with it
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


_TEMPLATE: _Template | None = None
_TEMPLATE_LOCK = threading.Lock()


def _template() -> _Template:
    """This process's template, started on first use (again if it ended)."""
    global _TEMPLATE
    with _TEMPLATE_LOCK:
        if _TEMPLATE is not None and _TEMPLATE.owner != os.getpid():
            _TEMPLATE = None  # inherited through fork(): the parent's, not to be shared
        if _TEMPLATE is None or _TEMPLATE.process.poll() is not None:
            if _TEMPLATE is None:
                atexit.register(lambda: _TEMPLATE and _TEMPLATE.owner == os.getpid()
                                and _TEMPLATE.close())
            else:
                _TEMPLATE.close()
            _TEMPLATE = _Template()
        return _TEMPLATE


def _sandbox_ids() -> tuple[int, int]:
    """The uid and gid student code runs as: unused ids, one pair per grading process.

    No account has them, so they own nothing but the sandbox's own files, and
    two students graded at the same time never share a uid (nor its
    RLIMIT_NPROC budget, nor the right to signal each other).
    """
    number = SANDBOX_IDS + os.getpid()
    return number, number


def _student_ids() -> tuple[int, int] | None:
    """The ids student code runs as, if not the grader's own: as root, never root.

    Without namespaces too: ``os.kill(-1, SIGKILL)`` as root would end every
    process on the machine. (The interpreter must then be readable by other
    users: the worker reports what it cannot import.)
    """
    return _sandbox_ids() if os.geteuid() == 0 else None


def sandbox_processes(token: str | None = None, namespace: str | None = None) -> list[int]:
    """Pids of live processes in PID namespace ``namespace`` or carrying ``token`` in their env.

    With neither, every live process running as a sandbox uid (root mode), for tests.
    """
    every = token is None and namespace is None
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # a zombie: dead, only waiting for its parent
            uid = os.stat(f"/proc/{entry}").st_uid
            in_range = every and SANDBOX_IDS <= uid < SANDBOX_IDS + 2**23
            if in_range or (namespace and os.readlink(f"/proc/{entry}/ns/pid") == namespace):
                found.append(int(entry))
            elif token is not None:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if f"WSLEARN_SANDBOX={token}".encode() in f.read():
                        found.append(int(entry))
        except (OSError, IndexError):
            continue
    return found


class _Output:
    """Drains the worker's stdout/stderr, keeping at most ``limit`` bytes."""

    def __init__(self, fd: int, limit: int) -> None:
        self.limit, self.kept, self.dropped = limit, bytearray(), 0
        self.thread = threading.Thread(target=self._drain, args=(fd,), daemon=True)
        self.thread.start()

    def _drain(self, fd: int) -> None:
        with open(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                room = self.limit - len(self.kept)
                self.kept += chunk[:room]
                self.dropped += max(0, len(chunk) - room)

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[output truncated: {self.dropped:,} more bytes were not kept]\n"
        return text


class Sandbox:
    """One worker process for one notebook: run cells, then call its functions.

    Use as a context manager; leaving it kills every process the worker
    started. After a broken call (time limit, the worker died), the next
    ``start()`` gives a fresh worker. ``preload``: modules the course's setup
    code imports, imported once by the template rather than once per notebook.
    """

    def __init__(self, limits: Limits = Limits(), *, hide: Iterable[Path] = (),
                 shortcuts: dict[str, list[str]] | None = None,
                 preload: Iterable[str] = ()) -> None:
        self.limits = limits
        self.hide = [Path(p).resolve() for p in hide]
        self.shortcuts = shortcuts or {}
        self.preload = sorted(set(preload))
        self.token = secrets.token_hex(8)
        self.started_at = time.monotonic()
        self.outputs: list[str] = []
        self.shortcuts_used: list[str] = []  # reasons, as the student's calls reported them
        self._running = False
        self._keeper: int | None = None  # the template's child that holds the sandbox
        self._worker: int | None = None
        self._home = ""
        self._handles: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self._waiters: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._lock = threading.Lock()
        self._dead = ""
        self._namespace: str | None = None

    # -- life cycle --

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._running and not self._dead

    def start(self) -> None:
        """Start a fresh worker (stopping the previous one)."""
        self.stop()
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        out_r, out_w = os.pipe()
        env = {**ENVIRONMENT, "WSLEARN_SANDBOX": self.token}
        self._dead = ""
        try:
            self._fork(env, (to_worker_r, from_worker_w, out_w))
        finally:
            for fd in (to_worker_r, from_worker_w, out_w):
                os.close(fd)
        self._running = True
        os.set_blocking(to_worker_w, False)
        self._write = open(to_worker_w, "wb", buffering=0)  # noqa: SIM115
        self._output = _Output(out_r, self.limits.output_bytes - sum(map(len, self.outputs)))
        self._reader = threading.Thread(
            target=self._read, args=(open(from_worker_r, "rb"),), daemon=True  # noqa: SIM115
        )
        self._reader.start()
        self._handles.clear()

    def _fork(self, env: dict[str, str], fds: tuple[int, int, int]) -> None:
        """Ask the template for a sandbox: a keeper, (an init,) and the worker."""
        config: dict[str, Any] = {"limits": dataclasses.asdict(self.limits), "env": env,
                                  "namespaces": _namespaces()}
        ids = _student_ids()
        if ids is not None:
            config.update(uid=ids[0], gid=ids[1])
        if config["namespaces"]:  # the course covered
            keep = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
                    Path(__file__).resolve().parent.parent]
            config.update(hide=[str(p) for p in self.hide], keep=[str(p) for p in keep])
        else:  # a home of its own
            config["home"] = self._home = tempfile.mkdtemp(prefix="wslearn-sbx-")
            if "uid" in config:
                os.chown(self._home, config["uid"], config["gid"])
        reply = _template().ask({"op": "spawn", "config": config, "preload": self.preload}, fds)
        self._keeper = int(reply["pid"])
        self._worker = reply.get("init")  # the worker without namespaces, their init with
        if "error" in reply:
            self._dead = reply["error"]
        self._namespace = reply.get("namespace")

    def stop(self) -> None:
        """Kill the worker and everything it started; keep its output."""
        if not self._running:
            return
        self._running = False
        self._dead = self._dead or "the worker was stopped"
        keeper, self._keeper = self._keeper, None
        if keeper is not None:  # the template kills the keeper's whole tree (and namespace)
            with contextlib.suppress(SandboxBroken, OSError):
                _template().ask({"op": "kill", "pid": keeper})
        for _ in range(400):  # stragglers: still dying with the namespace, or escaped by token
            pids = sandbox_processes(self.token, self._namespace)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = ""
        with contextlib.suppress(OSError):
            self._write.close()
        self._output.thread.join(timeout=5)
        self._reader.join(timeout=5)
        self.outputs.append(self._output.text())
        self._fail_all(self._dead)

    def output(self) -> str:
        """Everything the student's code printed (as much as the limit keeps)."""
        return "".join(self.outputs)

    # -- messages --

    def _read(self, pipe: Any) -> None:
        reason = "the student's process ended"
        with pipe:
            while True:
                line = pipe.readline(MAX_MESSAGE + 1)
                if not line:
                    break
                if len(line) > MAX_MESSAGE:
                    reason = "the student's process sent a message over 16 MB"
                    break
                try:
                    message = json.loads(line)
                    target = int(message["call"] if "cb" in message else message["id"])
                except Exception:
                    reason = "the student's process wrote garbage on the grading pipe"
                    break
                with self._lock:
                    deliver = self._waiters.get(target)
                if deliver is not None:
                    deliver(message)
        self._dead = self._dead or reason
        self._fail_all(self._dead)

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            waiters = list(self._waiters.values())
        for deliver in waiters:
            deliver({"dead": reason})

    def _send(self, message: dict[str, Any]) -> None:
        """Write one message; a worker that stops reading (stopped, stuck) is out of time."""
        data = memoryview((json.dumps(message, separators=(",", ":")) + "\n").encode())
        deadline = time.monotonic() + self.limits.call_seconds
        try:
            while data:
                if not select.select([], [self._write], [], deadline - time.monotonic())[1]:
                    raise TimeoutError
                data = data[os.write(self._write.fileno(), data):]
        except (OSError, ValueError, TimeoutError):
            self._dead = self._dead or "the student's process stopped reading"
            self.stop()
            raise SandboxBroken(self._dead) from None

    def _handle(self, obj: Any) -> int:
        number = next(self._ids)
        self._handles[number] = obj
        return number

    def _callback(self, message: dict[str, Any]) -> None:
        """The student's code used a handle: read an attribute or call a method, for real."""
        reply: dict[str, Any] = {"op": "reply", "to": message["cb"]}
        try:
            obj = self._handles[int(message["handle"])]
            attr = str(message["attr"])
            if attr.startswith("_") and attr not in CONTAINER_METHODS:
                raise AttributeError(f"{attr!r} is private")
            value = getattr(obj, attr)
            if message.get("op") == "call":
                value = value(*decode(message["args"]))
                if attr == "__iter__":
                    value = list(value)
            elif callable(value):
                reply["callable"] = True
                value = None
            reply["result"] = encode(value)
        except Exception as exc:
            reply = {"op": "reply", "to": message["cb"], "error": encode_error(exc, "<")}
        with contextlib.suppress(SandboxBroken):
            self._send(reply)

    def request(self, message: dict[str, Any], timeout: float | None = None) -> Any:
        """Send one request and wait for its answer, serving the student's callbacks meanwhile."""
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._waiting(message, box.put, timeout) as deadline:
            while True:
                try:
                    answer = box.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    answer = None
                done, value = self._step(answer, timeout)
                if done:
                    return value

    async def arequest(self, message: dict[str, Any], timeout: float | None = None) -> Any:
        """``request`` for a check running on an event loop (async student functions)."""
        import asyncio

        loop = asyncio.get_running_loop()
        box: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        deliver = lambda m: loop.call_soon_threadsafe(box.put_nowait, m)
        with self._waiting(message, deliver, timeout) as deadline:
            while True:
                try:
                    answer = await asyncio.wait_for(box.get(), max(0, deadline - time.monotonic()))
                except TimeoutError:
                    answer = None
                done, value = self._step(answer, timeout)
                if done:
                    return value

    @contextlib.contextmanager
    def _waiting(self, message: dict[str, Any], deliver: Callable[[dict[str, Any]], None],
                 timeout: float | None) -> Iterator[float]:
        """Send ``message``; route what comes back for it to ``deliver``; yield the deadline."""
        if not self.alive:
            raise SandboxBroken(self._dead or "the student's process is not running")
        number = next(self._ids)
        with self._lock:
            self._waiters[number] = deliver
        try:
            deadline = time.monotonic() + self._time_left(timeout)
            self._send({**message, "id": number})
            yield deadline
        finally:
            with self._lock:
                self._waiters.pop(number, None)

    def _step(self, answer: dict[str, Any] | None, timeout: float | None) -> tuple[bool, Any]:
        """Handle one message for a request (None: time is up): ``(True, result)`` at the end."""
        if answer is None:
            answer = {"dead": self._out_of_time(timeout)}
        if "cb" in answer:
            self._callback(answer)
            return False, None
        return True, self._result(answer)

    def _time_left(self, timeout: float | None) -> float:
        left = self.limits.notebook_seconds - (time.monotonic() - self.started_at)
        if left <= 0:
            self._dead = f"the notebook ran longer than {self.limits.notebook_seconds:g} s"
            self.stop()
            raise SandboxBroken(self._dead)
        return min(left, timeout if timeout is not None else self.limits.call_seconds)

    def _out_of_time(self, timeout: float | None) -> str:
        limit = timeout if timeout is not None else self.limits.call_seconds
        self._dead = f"it ran longer than {limit:g} s and was stopped (an endless loop?)"
        self.stop()
        return self._dead

    def _result(self, answer: dict[str, Any]) -> Any:
        if "dead" in answer:
            raise SandboxBroken(answer["dead"])
        if "error" in answer:
            error = decode_error(answer["error"])
            if type(error).__name__ == "ShortcutUsed":
                self.shortcuts_used.append(str(error))
            raise error
        try:
            return decode(answer.get("result"))
        except (NotPlainData, RecursionError, ValueError, TypeError) as exc:
            raise NotPlainData(f"the result could not be read as plain data: {exc}") from None

    # -- what the grader does with it --

    def run_cell(self, code: str, label: str, timeout: float | None = None) -> None:
        """Run one cell's code in the worker's namespace; raises what the cell raised.

        ``timeout``: its wall limit, by default ``limits.cell_seconds``.
        """
        self.request({"op": "exec", "code": code, "label": label},
                     self.limits.cell_seconds if timeout is None else timeout)

    def get(self, expression: str, exercise: str = "") -> Any:
        """The object ``expression`` names: plain data as it is, a callable as a proxy."""
        info = self.request({"op": "get", "expr": expression})
        if info["kind"] == "value":
            return info["value"]
        return StudentFunction(self, info["ref"], info["kind"], info["name"],
                               self.shortcuts.get(exercise, []))


class StudentFunction:
    """A student's function, called across the boundary with plain data.

    Calling it sends the arguments to the worker and returns the decoded
    result, or raises the rebuilt exception. An ``async def`` function returns
    an awaitable, so several calls can be in flight at once. Objects of the
    grader's passed as arguments become handles (see the module docstring).
    """

    def __init__(self, sandbox: Sandbox, ref: int, kind: str, name: str,
                 shortcuts: list[str]) -> None:
        self._sandbox, self._ref, self.kind = sandbox, ref, kind
        self.__name__ = self.__qualname__ = name
        self._shortcuts = shortcuts

    def __repr__(self) -> str:
        return f"<student's {self.kind} {self.__name__}>"

    def _message(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        handle = self._sandbox._handle
        return {"op": "call", "ref": self._ref, "args": encode(list(args), handle),
                "kwargs": encode(kwargs, handle), "shortcuts": self._shortcuts}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        message = self._message(args, kwargs)
        if self.kind == "async":
            return self._sandbox.arequest(message)
        return self._sandbox.request(message)


