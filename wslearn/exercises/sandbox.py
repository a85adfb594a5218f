"""Student code, run apart: a limited worker process and a plain-data boundary.

The grader never runs a student's code in its own process. Each submitted
notebook gets a :class:`Sandbox`: a fresh Python worker (this file, run as a
script) that executes the course's setup code and the student's exercise
cells, then answers calls over a pipe. The checks stay in the grader and call
the student's functions through :class:`StudentFunction` proxies, so a check
written as ``checker(fn)`` works unchanged.

The boundary carries plain data only, as JSON lines: ``None``, ``bool``,
``int``, ``float``, ``str``, ``bytes`` (base64), lists, tuples, sets and dicts
of these, and a few course value types (``framing.Frame``, ``framing.Opcode``)
rebuilt field by field. Never pickle: a value a student returns is rebuilt by
the grader from data, so a ``str`` subclass whose ``__eq__`` always says yes
arrives as a plain ``str``. Exceptions cross as (type, message, a few plain
attributes) and are rebuilt as the course's own exception types where the
name is one of them (``ProtocolError`` keeps its ``code``). An object of the
grader's that a check passes in (a live ``WebSocket``) becomes a handle: the
student's code reads its public attributes and calls its public methods
across the pipe, so the real socket, on the grader's side, sends the bytes.

Isolation, best first (``isolation()`` says which one this machine gives):

- as root with ``unshare``: a new PID namespace (every process the student
  starts, detached or not, dies with the worker), a new mount namespace in
  which the course checkout, the submissions and the gradebook folder are
  covered by empty tmpfs mounts (only the package and the interpreter stay
  visible, read-only) and ``/tmp`` is private, and the worker itself runs as
  a uid of its own that no account has, so its parent (root) cannot be signalled;
- otherwise: its own session and process group, killed as a group, then any
  process still carrying the sandbox's token in its environment.

Limits in every case (:class:`Limits`): address space (RLIMIT_AS), CPU time
for the whole notebook, wall time per cell and per call and per notebook,
file size, and the output the grader keeps (the rest is counted, not stored).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import dataclasses
import enum
import importlib
import itertools
import json
import os
import queue
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "Limits",
    "NotPlainData",
    "RemoteError",
    "Sandbox",
    "SandboxBroken",
    "StudentFunction",
    "decode",
    "encode",
    "isolation",
    "sandbox_processes",
]

#: course value types that may cross the boundary, rebuilt from their fields
VALUE_TYPES = ("wslearn.framing.Frame", "wslearn.framing.Opcode")
#: where a rebuilt exception may come from (anything else becomes a RemoteError)
EXCEPTION_MODULES = ("builtins", "wslearn.", "asyncio", "websockets.")
#: what student code may do with a grader's object besides its public attributes: use it as
#: a container (a check may pass a deque for the student's function to change in place)
CONTAINER_METHODS = ("__len__", "__getitem__", "__contains__", "__iter__")
MAX_MESSAGE = 16 * 1024 * 1024  # bytes in one message across the pipe
MAX_DEPTH = 200  # nesting of plain data
SANDBOX_IDS = 0x40000000  # student code runs as uid/gid SANDBOX_IDS + the grader's pid
#: in the worker: the call being answered and the shortcuts it used
CURRENT: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("call")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one notebook's student code may use."""

    memory: int = 2 * 1024**3  # address space, bytes (RLIMIT_AS)
    cell_seconds: float = 10.0  # wall time of one cell or one call of the student's
    setup_seconds: float = 60.0  # wall time of the course's own setup code (imports) per step
    notebook_seconds: float = 120.0  # wall time of the whole notebook (also its CPU limit)
    output_bytes: int = 1024 * 1024  # printed output kept per notebook
    file_bytes: int = 64 * 1024 * 1024  # largest file it may write (RLIMIT_FSIZE)
    processes: int = 256  # processes of the sandbox user (RLIMIT_NPROC), root mode only


class NotPlainData(TypeError):
    """A value that cannot cross the boundary (not plain data)."""


class RemoteError(Exception):
    """An exception of a type the grader does not rebuild; named after the original type."""


class SandboxBroken(RuntimeError):
    """The worker is gone or out of time: the call could not be answered."""


# -- plain data across the boundary ------------------------------------------------------------


def encode(value: Any, handle: Callable[[Any], int] | None = None, depth: int = 0) -> Any:
    """``value`` as JSON-ready data; objects become handles only if ``handle`` is given."""
    if depth > MAX_DEPTH:
        raise NotPlainData("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if value == value and abs(value) != float("inf") else {"$float": repr(value)}
    if kind in (bytes, bytearray):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if kind is list:
        return [encode(v, handle, depth + 1) for v in value]
    if kind is tuple:
        return {"$tuple": [encode(v, handle, depth + 1) for v in value]}
    if kind in (set, frozenset):
        items = [encode(v, handle, depth + 1) for v in value]
        return {"$set": items, "frozen": kind is frozenset}
    if kind is dict:
        return {"$dict": [[encode(k, handle, depth + 1), encode(v, handle, depth + 1)]
                          for k, v in value.items()]}
    name = f"{kind.__module__}.{kind.__qualname__}"
    if name in VALUE_TYPES:
        if isinstance(value, enum.Enum):
            return {"$value": name, "enum": encode(value.value, None, depth + 1)}
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if "opcode" in fields:
            fields["opcode"] = int(fields["opcode"])
        return {"$value": name, "fields": encode(fields, None, depth + 1)}
    if handle is not None:
        return {"$handle": handle(value)}
    raise NotPlainData(
        f"{kind.__name__} is not plain data (str, bytes, int, float, bool, None, "
        "or lists, tuples, sets and dicts of these)"
    )


def decode(data: Any, resolve: Callable[[int], Any] | None = None) -> Any:
    """The value ``encode`` wrote; handles are turned into objects by ``resolve``."""
    if isinstance(data, list):
        return [decode(v, resolve) for v in data]
    if not isinstance(data, dict):
        return data
    if "$bytes" in data:
        return base64.b64decode(data["$bytes"])
    if "$float" in data:
        return float(data["$float"])
    if "$tuple" in data:
        return tuple(decode(v, resolve) for v in data["$tuple"])
    if "$set" in data:
        items = [decode(v, resolve) for v in data["$set"]]
        return frozenset(items) if data.get("frozen") else set(items)
    if "$dict" in data:
        return {_key(decode(k, resolve)): decode(v, resolve) for k, v in data["$dict"]}
    if "$value" in data and data["$value"] in VALUE_TYPES:
        module, _, name = data["$value"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        if "enum" in data:
            return cls(decode(data["enum"]))
        return cls(**decode(data["fields"]))
    if "$handle" in data and resolve is not None:
        return resolve(int(data["$handle"]))
    raise NotPlainData(f"unknown data {str(data)[:60]!r}")


def _key(value: Any) -> Any:
    if isinstance(value, list):
        raise NotPlainData("a list cannot be a dict key")
    return value


def encode_error(exc: BaseException, code_prefix: str = "<") -> dict[str, Any]:
    """An exception as data: its type, message, plain attributes and the student's line."""
    kind = type(exc)
    attrs = {}
    for attr in ("code", "status", "name"):
        value = getattr(exc, attr, None)
        if type(value) in (int, str):
            attrs[attr] = value
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(code_prefix):
            line = tb.tb_lineno
        tb = tb.tb_next
    try:
        message = str(exc)[:2000]
    except Exception:
        message = "(its message could not be read)"
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "message": message,
            "attrs": attrs, "line": line}


def decode_error(data: dict[str, Any]) -> BaseException:
    """Rebuild an exception from ``encode_error``'s data, as the course's type where known."""
    module, _, name = str(data.get("type", "RemoteError")).rpartition(".")
    cls: type[BaseException] | None = None
    if module.startswith(EXCEPTION_MODULES) or module == "builtins":
        with contextlib.suppress(Exception):
            found = getattr(importlib.import_module(module or "builtins"), name)
            if isinstance(found, type) and issubclass(found, Exception):
                cls = found
    if cls is None:
        safe = "".join(c for c in name if c.isalnum() or c == "_")[:60] or "RemoteError"
        cls = type(safe, (RemoteError,), {})
    exc = cls.__new__(cls)
    Exception.__init__(exc, str(data.get("message", "")))
    for attr, value in dict(data.get("attrs", {})).items():
        if attr in ("code", "status", "name") and type(value) in (int, str):
            with contextlib.suppress(Exception):
                setattr(exc, attr, value)
    exc.student_line = data.get("line")  # type: ignore[attr-defined]
    return exc


# -- the grader's side -------------------------------------------------------------------------


def isolation() -> str:
    """The isolation this machine gives student code, in words for the gradebook."""
    return "pid+mount namespaces, own uid, rlimits" if _namespaces() else (
        "own session and process group, rlimits (no namespaces: "
        + ("unshare unavailable" if os.geteuid() == 0 else "not root") + ")"
    )


_NAMESPACES: bool | None = None


def _namespaces() -> bool:
    global _NAMESPACES
    if _NAMESPACES is None:
        _NAMESPACES = False
        if os.geteuid() == 0 and shutil.which("unshare"):
            with contextlib.suppress(Exception):  # the real thing, with a worker that is `true`
                config = {"uid": 0, "gid": 0, "limits": json.dumps(dataclasses.asdict(Limits())),
                          "hide": [], "keep": [], "worker": [shutil.which("true") or "/bin/true"]}
                probe = subprocess.run(
                    ["unshare", "--fork", "--pid", "--mount-proc", "--mount", "--kill-child",
                     sys.executable, "-I", __file__, "init", json.dumps(config)],
                    capture_output=True, timeout=20,
                )
                _NAMESPACES = probe.returncode == 0
    return _NAMESPACES


def _sandbox_ids() -> tuple[int, int]:
    """The uid and gid student code runs as: unused ids, one pair per grading process.

    No account has them, so they own nothing but the sandbox's own files, and
    two students graded at the same time never share a uid (nor its
    RLIMIT_NPROC budget, nor the right to signal each other).
    """
    number = SANDBOX_IDS + os.getpid()
    return number, number


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
    ``start()`` gives a fresh worker; ``replay`` cells are run again first.
    """

    def __init__(self, limits: Limits = Limits(), *, hide: Iterable[Path] = (),
                 shortcuts: dict[str, list[str]] | None = None) -> None:
        self.limits = limits
        self.hide = [Path(p).resolve() for p in hide]
        self.shortcuts = shortcuts or {}
        self.token = secrets.token_hex(8)
        self.started_at = time.monotonic()
        self.outputs: list[str] = []
        self.shortcuts_used: list[str] = []  # reasons, as the student's calls reported them
        self._process: subprocess.Popen[bytes] | None = None
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
        return self._process is not None and not self._dead

    def start(self) -> None:
        """Start a fresh worker (stopping the previous one)."""
        self.stop()
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        out_r, out_w = os.pipe()
        script = str(Path(__file__).resolve())
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "WSLEARN_SANDBOX": self.token,
            "PYTHONDONTWRITEBYTECODE": "1",
            "USER": "student",
            "LOGNAME": "student",
        }
        worker = [sys.executable, "-I", "-u", script, "worker",
                  str(to_worker_r), str(from_worker_w)]
        limits = json.dumps(dataclasses.asdict(self.limits))
        if _namespaces():
            uid, gid = _sandbox_ids()
            keep = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
                    Path(__file__).resolve().parent.parent]
            command = [
                "unshare", "--fork", "--pid", "--mount-proc", "--mount", "--kill-child", "--",
                sys.executable, "-I", script, "init",
                json.dumps({"uid": uid, "gid": gid, "limits": limits,
                            "hide": [str(p) for p in self.hide],
                            "keep": [str(p) for p in keep], "worker": worker}),
            ]
            preexec = None
        else:
            command = worker
            env["HOME"] = env["TMPDIR"] = self._home = tempfile.mkdtemp(prefix="wslearn-sbx-")

            def preexec() -> None:
                _set_limits(self.limits, processes=False)

        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, env=env,
            pass_fds=(to_worker_r, from_worker_w), start_new_session=True,
            preexec_fn=preexec, close_fds=True,
        )
        for fd in (to_worker_r, from_worker_w, out_w):
            os.close(fd)
        os.set_blocking(to_worker_w, False)
        self._write = open(to_worker_w, "wb", buffering=0)  # noqa: SIM115
        self._output = _Output(out_r, self.limits.output_bytes - sum(map(len, self.outputs)))
        self._dead = ""
        self._reader = threading.Thread(
            target=self._read, args=(open(from_worker_r, "rb"),), daemon=True  # noqa: SIM115
        )
        self._reader.start()
        self._handles.clear()
        self._namespace = None
        if _namespaces():  # note the new PID namespace, to find its processes later
            children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
            for _ in range(200):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    init = int(children.read_text().split()[0])
                    self._namespace = os.readlink(f"/proc/{init}/ns/pid")
                    break
                time.sleep(0.005)

    def stop(self) -> None:
        """Kill the worker and everything it started; keep its output."""
        process, self._process = self._process, None
        if process is None:
            return
        self._dead = self._dead or "the worker was stopped"
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for _ in range(100):  # stragglers: detached, or still dying with the namespace
            pids = sandbox_processes(self.token, self._namespace)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        if not _namespaces():
            shutil.rmtree(getattr(self, "_home", ""), ignore_errors=True)
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
        deadline = time.monotonic() + self.limits.cell_seconds
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
        return min(left, timeout if timeout is not None else self.limits.cell_seconds)

    def _out_of_time(self, timeout: float | None) -> str:
        limit = timeout if timeout is not None else self.limits.cell_seconds
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
        """Run one cell's code in the worker's namespace; raises what the cell raised."""
        self.request({"op": "exec", "code": code, "label": label}, timeout)

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


# -- inside the sandbox ------------------------------------------------------------------------


def _set_limits(limits: Limits, *, processes: bool) -> None:
    import resource

    cpu = int(limits.notebook_seconds) + 1
    pairs = [
        (resource.RLIMIT_AS, limits.memory),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_CORE, 0),
    ]
    if processes:
        pairs.append((resource.RLIMIT_NPROC, limits.processes))
    for kind, value in pairs:
        resource.setrlimit(kind, (value, value))


#: top-level folders the student's process keeps seeing (read as they are; /tmp gets its own)
SYSTEM_FOLDERS = frozenset({"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                            "sbin", "sys", "tmp", "usr"})


def _init(config: dict[str, Any]) -> int:
    """PID 1 of the namespace (root): cover the course, then run the worker as its own uid."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    bind, remount, read_only = 4096, 32, 1  # MS_BIND, MS_REMOUNT, MS_RDONLY

    def mount(source: str, target: Path, fstype: str | None = None, flags: int = 0,
              options: str | None = None) -> None:  # mount(2) itself: no /bin/mount per call
        if libc.mount(source.encode(), str(target).encode(), fstype and fstype.encode(), flags,
                      options and options.encode()) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(target))

    # unshare --mount made every mount private to this namespace: nothing here leaks out.
    # Hold each folder to keep (the interpreter, the package) open first: /tmp's own tmpfs
    # below would swallow a checkout that lives under /tmp, and a hidden folder swallows what
    # is inside it. Binding from /proc/self/fd/N brings each one back, read-only.
    # This interpreter's own folders are always kept: it still imports after the covering.
    own = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    held = {
        Path(p): os.open(p, os.O_PATH | os.O_DIRECTORY)
        for p in dict.fromkeys([*map(str, own), *config["keep"]])
    }
    hide = [Path(p) for p in config["hide"] if Path(p).is_dir()]
    # Beyond the course's own folders, every top-level folder that Python does not need is
    # covered too: another copy of the course elsewhere on the disk (a teacher's second
    # checkout, /work, /home, /srv) must be as unreachable as this one.
    hide += [entry for entry in Path("/").iterdir()
             if entry.name not in SYSTEM_FOLDERS and entry.is_dir() and not entry.is_symlink()]
    for path in held:  # a folder nobody may enter (/root) on the way
        closed = [a for a in path.parents if a != Path("/") and not a.stat().st_mode & 0o001]
        if closed:
            hide.append(closed[-1])
    covered = [Path("/tmp"), Path("/dev/shm"), *hide]
    mount("wslearn-tmp", Path("/tmp"), "tmpfs", 0, "mode=1777,size=256m")
    mount("wslearn-shm", Path("/dev/shm"), "tmpfs", 0, "mode=1777,size=16m")
    for path in sorted(set(hide)):  # outermost first; what lies inside a covered one is gone
        if not any(c == path or c in path.parents for c in covered[:2]) and path.exists():
            mount("wslearn-hidden", path, "tmpfs", 0, "mode=755,size=1m")
    for path, fd in held.items():
        if any(c == path or c in path.parents for c in covered):
            path.mkdir(parents=True, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, bind)
            mount("none", path, None, remount | bind | read_only)
        os.close(fd)
    home = Path("/tmp/work")
    home.mkdir(mode=0o700)
    os.chown(home, config["uid"], config["gid"])
    limits = Limits(**json.loads(config["limits"]))
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home)}
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(home)
            os.setgroups([])
            os.setgid(config["gid"])
            os.setuid(config["uid"])
            _set_limits(limits, processes=True)
            os.execve(config["worker"][0], config["worker"], env)
        except BaseException as exc:
            os.write(2, f"the sandbox could not start the worker: {exc!r}\n".encode())
        finally:
            os._exit(127)
    while True:  # reap everything; end (and so end the namespace) when the worker ends
        try:
            done, status = os.wait()
        except ChildProcessError:
            return 0
        if done == pid:
            return os.waitstatus_to_exitcode(status)


class _Handle:
    """An object of the grader's, seen from the student's code (see ``Sandbox._callback``)."""

    def __init__(self, worker: _Worker, number: int) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_number", number)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        worker, number = self._worker, self._number
        answer = worker.callback({"handle": number, "attr": attr, "op": "get"})
        if answer.get("callable"):
            return lambda *args: worker.result(
                worker.callback({"handle": number, "attr": attr, "op": "call",
                                 "args": encode(list(args))})
            )
        return worker.result(answer)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("the grader's objects are read-only here")

    def _call(self, method: str, *args: Any) -> Any:
        answer = self._worker.callback({"handle": self._number, "attr": method, "op": "call",
                                        "args": encode(list(args))})
        return self._worker.result(answer)

    def __len__(self) -> int:
        return int(self._call("__len__"))

    def __getitem__(self, key: Any) -> Any:
        return self._call("__getitem__", key)

    def __contains__(self, item: Any) -> bool:
        return bool(self._call("__contains__", item))

    def __iter__(self) -> Any:
        return iter(self._call("__iter__"))


class _Worker:
    """The worker's loop: run cells, hand out functions, answer calls."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        import asyncio

        self.reader = open(read_fd, "rb")  # noqa: SIM115
        self.writer = open(write_fd, "wb", buffering=0)  # noqa: SIM115
        os.set_inheritable(read_fd, False)
        os.set_inheritable(write_fd, False)
        self.write_lock = threading.Lock()
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.objects: dict[int, Any] = {}
        self.replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.callbacks = itertools.count(1)
        self.incoming: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.tripwires: dict[str, Any] = {}
        self.tasks: set[Any] = set()
        CURRENT.set({"call": 0, "used": []})

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self.write_lock:
            self.writer.write(data)

    def read_forever(self) -> None:
        for line in self.reader:
            message = json.loads(line)
            if message.get("op") == "reply":
                box = self.replies.get(int(message["to"]))
                if box is not None:
                    box.put(message)
            else:
                self.loop.call_soon_threadsafe(self.incoming.put_nowait, message)
        self.loop.call_soon_threadsafe(self.incoming.put_nowait, None)

    def callback(self, message: dict[str, Any]) -> dict[str, Any]:
        number = next(self.callbacks)
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        self.replies[number] = box
        try:
            self.send({**message, "cb": number, "call": CURRENT.get()["call"]})
            return box.get()
        finally:
            self.replies.pop(number, None)

    def result(self, answer: dict[str, Any]) -> Any:
        if "error" in answer:
            raise decode_error(answer["error"])
        return decode(answer.get("result"))

    async def serve(self) -> None:
        threading.Thread(target=self.read_forever, daemon=True).start()
        while (message := await self.incoming.get()) is not None:
            self.handle(message)

    def handle(self, message: dict[str, Any]) -> None:
        import inspect

        number = int(message["id"])
        CURRENT.set({"call": number, "used": []})
        try:
            op = message["op"]
            if op == "exec":
                flags = __import__("ast").PyCF_ALLOW_TOP_LEVEL_AWAIT
                code = compile(message["code"], f"<{message['label']}>", "exec", flags=flags)
                outcome = eval(code, self.namespace)
                if inspect.isawaitable(outcome):
                    self.finish_later(number, outcome, lambda _: None)
                    return
                self.send({"id": number, "result": None})
            elif op == "get":
                obj = eval(message["expr"], self.namespace)
                if not callable(obj):
                    self.send({"id": number, "result": encode({"kind": "value", "value": obj})})
                    return
                ref = len(self.objects) + 1
                self.objects[ref] = obj
                kind = "async" if inspect.iscoroutinefunction(obj) else "function"
                name = getattr(obj, "__name__", message["expr"])
                self.send({"id": number, "result": encode(
                    {"kind": kind, "ref": ref, "name": str(name)})})
            elif op == "call":
                function = self.objects[int(message["ref"])]
                arm = _armed(list(message.get("shortcuts", [])), function)
                args = decode(message["args"], lambda n: _Handle(self, n))
                kwargs = decode(message["kwargs"], lambda n: _Handle(self, n))
                with arm() as used:
                    try:
                        outcome = function(*args, **kwargs)
                    finally:
                        CURRENT.get()["used"].extend(used)
                if inspect.isawaitable(outcome):
                    self.finish_later(number, outcome, encode, arm)
                    return
                self.reply(number, encode(outcome))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.fail(number, exc)

    def fail(self, number: int, exc: BaseException) -> None:
        if not self.shortcut(number):
            self.send({"id": number, "error": encode_error(exc)})

    def shortcut(self, number: int) -> bool:
        """If the call used a shortcut, answer with that failure, whatever it returned."""
        used = CURRENT.get()["used"]
        if not used:
            return False
        from wslearn.exercises.shortcuts import reason

        self.send({"id": number, "error": {
            "type": "wslearn.exercises.shortcuts.ShortcutUsed", "attrs": {}, "line": None,
            "message": reason(used[0])}})
        return True

    def reply(self, number: int, result: Any) -> None:
        if not self.shortcut(number):
            self.send({"id": number, "result": result})

    def finish_later(self, number: int, awaitable: Any, convert: Callable[[Any], Any],
                     arm: Callable[[], Any] = contextlib.nullcontext) -> None:
        import asyncio

        async def finish() -> None:  # runs in a copy of this call's context (CURRENT)
            try:
                with arm() as used:
                    try:
                        value = convert(await awaitable)
                    finally:
                        CURRENT.get()["used"].extend(used or ())
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.fail(number, exc)
                return
            self.reply(number, value)

        task = asyncio.ensure_future(finish())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _armed(shortcuts: list[str], function: Any) -> Callable[[], Any]:
    """A context manager factory: the exercise's shortcut tripwires, armed around a call."""
    if not shortcuts:
        return lambda: contextlib.nullcontext([])
    from wslearn.exercises.shortcuts import tripwires

    return lambda: tripwires(shortcuts, function)


def _worker_main(read_fd: int, write_fd: int) -> None:
    import asyncio

    async def main() -> None:
        await _Worker(read_fd, write_fd).serve()

    asyncio.run(main())


if __name__ == "__main__":
    if sys.argv[1] == "init":
        sys.exit(_init(json.loads(sys.argv[2])))
    elif sys.argv[1] == "worker":
        sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
        _worker_main(int(sys.argv[2]), int(sys.argv[3]))
