"""The student's side of the sandbox: the template, the namespace's init, the worker loop.

The grader (``wslearn.exercises.sandbox``) runs this file as a script, never
imports student code itself. Its roles:

- ``template``: started once per grading process, it imports the modules the
  course's notebooks need (``wslearn``, ``websockets``, ``asyncio``) and then,
  for each notebook, forks a copy of itself that becomes that notebook's
  sandbox. Forking a warm interpreter costs milliseconds; starting two fresh
  ones and importing the course again cost about 0.4 s per notebook, the
  largest part of grading a right answer. The template holds nothing of the
  grader's: no notebook, no plan, no check state, only imported modules.
  The copy (the *keeper*) starts a new session. As root, it unshares new PID
  and mount namespaces and forks their *init* (PID 1), which mounts a fresh
  ``/proc``, covers the course, the submissions and every top-level folder
  Python does not need, and forks the *worker* as a uid of its own, under the
  limits; killing the keeper ends the init (it dies with its parent) and so
  every process in the namespace. Without namespaces the keeper forks the
  worker itself, under the limits, and is the subreaper of its process tree:
  a detached process stays below it, and ``kill_tree`` ends them all.
- ``probe``: sets up namespaces for real in one process, with a worker that
  exits at once, to learn whether this machine allows them.

The worker runs cells, hands out functions and answers calls over two pipes
with plain data (``_Worker``).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import importlib
import itertools
import json
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

if __name__ == "__main__":  # run as a script: the package, not this folder, on the path
    sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]

from wslearn.exercises.plain import decode, decode_error, encode, encode_error

__all__ = [
    "TEMPLATE_MODULES",
    "cover",
    "descendants",
    "kill_tree",
    "probe",
    "set_limits",
    "template",
    "worker_main",
]

#: what every worker needs, imported by the template before the course's own modules
TEMPLATE_MODULES = ("ast", "asyncio", "inspect", "wslearn.exercises.shortcuts",
                    "wslearn.framing")
#: top-level folders the student's process keeps seeing (read as they are; /tmp gets its own)
SYSTEM_FOLDERS = frozenset({"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                            "sbin", "sys", "tmp", "usr"})
CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000  # <linux/sched.h>
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8  # <linux/mount.h>
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36  # <linux/prctl.h>
MAX_REQUEST = 1024 * 1024  # bytes of one request to the template
#: in the worker: the call being answered and the shortcuts it used
CURRENT: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("call")


# -- limits and namespaces ---------------------------------------------------------------------


def set_limits(limits: dict[str, Any], *, processes: bool) -> None:
    """Apply ``sandbox.Limits`` (as a dict) to this process: memory, CPU, files, processes."""
    import resource

    pairs = [
        (resource.RLIMIT_AS, int(limits["memory"])),
        (resource.RLIMIT_CPU, int(limits["notebook_seconds"]) + 1),
        (resource.RLIMIT_FSIZE, int(limits["file_bytes"])),
        (resource.RLIMIT_CORE, 0),
    ]
    if processes:
        pairs.append((resource.RLIMIT_NPROC, int(limits["processes"])))
    for kind, value in pairs:
        resource.setrlimit(kind, (value, value))


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _checked(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), what)


def _mount(source: str, target: Path | str, fstype: str | None = None, flags: int = 0,
           options: str | None = None) -> None:
    """mount(2) itself: no /bin/mount per call."""
    _checked(_libc().mount(source.encode(), str(target).encode(), fstype and fstype.encode(),
                           flags, options and options.encode()), f"mount {target}")


def _die_with_parent(parent: int | None) -> None:
    """SIGKILL this process when its parent ends (``parent``: the pid it must still have)."""
    _checked(_libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent ended before the line above: end now, as it would have


def _close_all_but(keep: Iterable[int]) -> None:
    keep = set(keep)
    for fd in [int(n) for n in os.listdir("/proc/self/fd")]:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def cover(config: dict[str, Any]) -> Path:
    """In a new mount namespace: hide the course and everything Python does not need.

    Returns the student's home, on the namespace's own ``/tmp``.
    """
    # Every mount is private to this namespace (the keeper made "/" private, recursively).
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
    _mount("wslearn-tmp", "/tmp", "tmpfs", 0, "mode=1777,size=256m")
    _mount("wslearn-shm", "/dev/shm", "tmpfs", 0, "mode=1777,size=16m")
    for path in sorted(set(hide)):  # outermost first; what lies inside a covered one is gone
        if not any(c == path or c in path.parents for c in covered[:2]) and path.exists():
            _mount("wslearn-hidden", path, "tmpfs", 0, "mode=755,size=1m")
    for path, fd in held.items():
        if any(c == path or c in path.parents for c in covered):
            path.mkdir(parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND)
            _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(fd)
    home = Path("/tmp/work")
    home.mkdir(mode=0o700)
    os.chown(home, config["uid"], config["gid"])
    return home


def _keeper(config: dict[str, Any], pipes: tuple[int, int], report: int) -> int:
    """New session, new PID and mount namespaces; fork their init; wait for it.

    Writes ``{"init": pid, "namespace": "pid:[…]"}`` to ``report`` once the
    init will die with this process.
    """
    _checked(_libc().unshare(CLONE_NEWPID | CLONE_NEWNS), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)  # as `unshare --mount`: nothing leaks out
    ready_r, ready_w = os.pipe()
    init = os.fork()
    if init == 0:  # PID 1 of the new namespace
        code = 127
        try:
            os.close(report)
            os.close(ready_r)
            _die_with_parent(None)
            # Tell the keeper: this init now dies with it, and its namespace is this one
            # (read before _init mounts this namespace's own /proc over the keeper's too).
            os.write(ready_w, os.readlink("/proc/self/ns/pid").encode())
            os.close(ready_w)
            code = _init(config, pipes)
        except BaseException as exc:
            os.write(2, f"the sandbox could not start the worker: {exc!r}\n".encode())
        finally:
            os._exit(code)
    os.close(ready_w)
    namespace = os.read(ready_r, 200).decode()
    os.close(ready_r)
    for fd in pipes:
        os.close(fd)
    os.write(report, json.dumps({"init": init, "namespace": namespace}).encode())
    os.close(report)
    return os.waitstatus_to_exitcode(os.waitpid(init, 0)[1])


def _group(config: dict[str, Any], pipes: tuple[int, int], report: int) -> int:
    """Without namespaces: be the subreaper of the worker's process tree; wait for it.

    Every process the student starts stays below this one, detached or not
    (an orphan is handed to its nearest subreaper, here), so ``kill_tree``
    finds them all. Writes ``{"init": pid}`` to ``report``.
    """
    _checked(_libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")
    pid = _fork_student(config, Path(config["home"]), pipes, report)
    os.write(report, json.dumps({"init": pid, "namespace": None}).encode())
    os.close(report)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    kill_tree(os.getpid(), keep_root=True)  # as a namespace ends with its init
    return code


def descendants(root: int) -> list[int]:
    """Pids of every live process below ``root`` (by parent pid, read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if fields[0] != b"Z":
                    children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def kill_tree(root: int, *, keep_root: bool = False) -> None:
    """Stop, then kill, every process below ``root`` until none is left (then ``root``)."""
    for _ in range(1000):  # bounded: each round stops (so no new fork) and kills what it saw
        pids = descendants(root)
        if not pids:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        with contextlib.suppress(ChildProcessError):  # reap ours, so they leave /proc
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
    if not keep_root:
        with contextlib.suppress(OSError):
            os.kill(root, signal.SIGKILL)


def _init(config: dict[str, Any], pipes: tuple[int, int]) -> int:
    """PID 1 of the namespace (root): cover the course, then run the worker as its own uid."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this namespace's pids
    pid = _fork_student(config, cover(config), pipes)
    while True:  # reap everything; end (and so end the namespace) when the worker ends
        try:
            done, status = os.wait()
        except ChildProcessError:
            return 0
        if done == pid:
            return os.waitstatus_to_exitcode(status)


def _fork_student(config: dict[str, Any], home: Path, pipes: tuple[int, int],
                  *close: int) -> int:
    """Fork the worker (see ``_student``); this process keeps none of its pipes."""
    pid = os.fork()
    if pid == 0:
        try:
            for fd in close:
                os.close(fd)
            _student(config, home, pipes)
        except BaseException as exc:
            os.write(2, f"the sandbox could not start the worker: {exc!r}\n".encode())
        finally:
            os._exit(127)
    for fd in pipes:
        os.close(fd)
    return pid


def _student(config: dict[str, Any], home: Path, pipes: tuple[int, int]) -> NoReturn:
    """Become the student's worker: own uid (root only), limits, a clean environment; serve."""
    os.chdir(home)
    own_uid = config.get("uid") is not None
    set_limits(config["limits"], processes=own_uid)  # RLIMIT_NPROC counts the whole uid's
    if own_uid:
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(config["uid"])
    if config.get("probe"):
        os._exit(0)
    os.environ.clear()
    os.environ.update({**config["env"], "HOME": str(home), "TMPDIR": str(home)})
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # found again from TMPDIR
    worker_main(*pipes)
    os._exit(0)


# -- the template ------------------------------------------------------------------------------


_TRIED: set[str] = set()


def _preload(modules: Iterable[str]) -> None:
    """Import ``modules`` once (a name that is not a module, ``framing.Frame``, is skipped)."""
    for name in modules:
        if name not in _TRIED:
            _TRIED.add(name)
            with contextlib.suppress(Exception):  # the worker's own import says what is wrong
                importlib.import_module(name)


def template(control: int) -> int:
    """Serve the grader on the socket ``control``: fork sandboxes, kill keepers; end at EOF.

    Requests (one JSON datagram each, the worker's pipes passed along as file
    descriptors): ``{"op": "spawn", "config": …, "preload": [modules]}`` →
    ``{"pid": keeper, "init": pid, "namespace": …}``; ``{"op": "kill", "pid":
    keeper}`` → ``{}``. A keeper is killed only while it is this process's
    unreaped child, so its pid cannot have been reused.
    """
    sock = socket.socket(fileno=control)
    sock.settimeout(0.5)  # wake up now and then to reap ended keepers
    # An init whose keeper was killed is orphaned: it comes here (not to the machine's PID 1,
    # which in a container may never reap) and is reaped below.
    _checked(_libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl")
    keepers: set[int] = set()
    _preload(TEMPLATE_MODULES)
    while True:
        _tidy(keepers)
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 3)
        except TimeoutError:
            continue
        if not data:
            return 0  # the grader is gone: the keepers die with this process
        request = json.loads(data)
        if request["op"] == "kill":
            if request["pid"] in keepers:
                kill_tree(request["pid"])
            _tidy(keepers)
            sock.send(b"{}")
            continue
        _preload(request.get("preload", ()))
        sock.send(json.dumps(_spawn(sock, request["config"], fds, keepers)).encode())


def _tidy(keepers: set[int]) -> None:
    """Reap ended keepers; kill any other child (orphans of a keeper the student killed)."""
    with contextlib.suppress(ChildProcessError):
        while (pid := os.waitpid(-1, os.WNOHANG)[0]) != 0:
            keepers.discard(pid)
    strays: set[int] = set()
    with contextlib.suppress(OSError), open(f"/proc/self/task/{os.getpid()}/children") as f:
        strays = {int(pid) for pid in f.read().split()} - keepers
    for pid in strays:
        kill_tree(pid)


def _spawn(sock: socket.socket, config: dict[str, Any], fds: list[int],
           keepers: set[int]) -> dict[str, Any]:
    """Fork one keeper with the worker's pipes ``fds`` (to worker, from worker, output)."""
    report_r, report_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 127
        try:
            sock.detach()  # closed below with every other descriptor the template held
            _die_with_parent(parent)
            os.setsid()
            to_worker, from_worker, output = fds
            _close_all_but({0, 1, 2, to_worker, from_worker, output, report_w})
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.close(null)
            os.close(output)
            keeper = _keeper if config["namespaces"] else _group
            code = keeper(config, (to_worker, from_worker), report_w)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.write(2, f"the sandbox could not start: {exc!r}\n".encode())
        finally:
            os._exit(code)
    keepers.add(pid)
    os.close(report_w)
    for fd in fds:
        os.close(fd)
    with open(report_r, "rb") as f:
        report = f.read()
    if not report:
        return {"pid": pid, "error": "the sandbox could not start (see its output)"}
    return {"pid": pid, **json.loads(report)}


def probe(config: dict[str, Any]) -> int:
    """Set up one sandbox for real, with a worker that exits at once: 0 if it all worked."""
    to_worker, _ = os.pipe()
    _, from_worker = os.pipe()
    report_r, report_w = os.pipe()
    code = _keeper({**config, "probe": True}, (to_worker, from_worker), report_w)
    return code if os.read(report_r, 4096) else 1


# -- the worker --------------------------------------------------------------------------------

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


def worker_main(read_fd: int, write_fd: int) -> None:
    """Serve the grader on the two pipes until it closes them."""
    import asyncio

    async def main() -> None:
        await _Worker(read_fd, write_fd).serve()

    asyncio.run(main())


if __name__ == "__main__":
    if sys.argv[1] == "template":
        sys.exit(template(int(sys.argv[2])))
    elif sys.argv[1] == "probe":
        sys.exit(probe(json.loads(sys.argv[2])))
