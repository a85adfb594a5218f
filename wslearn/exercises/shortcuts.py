"""Tripwires: an exercise's answer may not be a call to the library function that is the answer.

Each exercise lists its *shortcuts* in the registry (``@exercise(...,
shortcuts=["wslearn.handshake.accept_key"])``): the library callables whose
use would be the answer rather than a solution. While the checks run,
``tripwires()`` replaces each of them, in its module and in the learner's own
namespace (``from wslearn.handshake import accept_key as f`` is caught too),
by a wrapper that raises ``ShortcutUsed`` when the caller is the learner's
code, and quietly calls the original when the caller is library code (the
checks themselves compute expected values with the same functions).

"The learner's code" is any frame whose file is neither in the ``wslearn``
package nor in Python's own or installed libraries: a notebook cell, a
student's file, a test's reference namespace.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any

__all__ = ["ShortcutUsed", "reason", "resolve", "tripwires"]


class ShortcutUsed(Exception):
    """The learner's code called a library function that is the exercise's answer."""


def reason(dotted: str) -> str:
    """The one-line failure for using ``dotted`` (``wslearn.`` left out of the name)."""
    name = dotted.removeprefix("wslearn.")
    return f"write it yourself: calling `{name}` here is the answer, not a solution"


def resolve(dotted: str) -> tuple[Any, str, Any]:
    """``(module, attribute, object)`` for ``"package.module.function"``."""
    module_name, _, attribute = dotted.rpartition(".")
    module = importlib.import_module(module_name)
    return module, attribute, getattr(module, attribute)


def _library_roots() -> tuple[str, ...]:
    import wslearn

    roots = {os.path.dirname(os.path.abspath(wslearn.__file__))}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if key in paths:
            roots.add(os.path.abspath(paths[key]))
    return tuple(sorted(roots))


_ROOTS: tuple[str, ...] = ()


def _from_learner(frame: FrameType | None) -> bool:
    """Is ``frame`` (the caller of a tripwire) the learner's code?"""
    global _ROOTS
    if frame is None:
        return False
    if not _ROOTS:
        _ROOTS = _library_roots()
    filename = frame.f_code.co_filename
    if filename.startswith("<frozen"):
        return False
    if filename.startswith("<"):  # a cell or a namespace compiled from text
        return True
    path = os.path.abspath(filename)
    return not any(path == root or path.startswith(root + os.sep) for root in _ROOTS)


@contextlib.contextmanager
def tripwires(shortcuts: Iterable[str], learner: Any = None) -> Iterator[list[str]]:
    """Arm the tripwires of ``shortcuts`` for the duration of the ``with`` block.

    Yields the list of shortcuts the learner's code called (in order, each
    once), filled in as it happens. ``learner`` is the learner's object: names
    in its module's globals bound to a shortcut are rewired too. Everything is
    put back on exit, unless someone else replaced it meanwhile.
    """
    used: list[str] = []
    restore: list[tuple[Any, str, Any, Any]] = []  # (namespace or module, name, original, wire)
    namespace = getattr(learner, "__globals__", None)
    try:
        for dotted in dict.fromkeys(shortcuts):
            try:
                module, attribute, original = resolve(dotted)
            except (ImportError, AttributeError):
                continue  # an optional library that is not installed here

            @functools.wraps(original)
            def wire(*args: Any, _dotted: str = dotted, _original: Any = original, **kwargs: Any):
                if _from_learner(sys._getframe(1)):
                    if _dotted not in used:
                        used.append(_dotted)
                    raise ShortcutUsed(reason(_dotted))
                return _original(*args, **kwargs)

            if learner is original:  # `accept_key = handshake.accept_key`: the answer itself
                used.append(dotted)
            setattr(module, attribute, wire)
            restore.append((module, attribute, original, wire))
            if isinstance(namespace, dict):
                for name, value in list(namespace.items()):
                    if value is original:
                        namespace[name] = wire
                        restore.append((namespace, name, original, wire))
        yield used
    finally:
        for target, name, original, wire in reversed(restore):
            if isinstance(target, dict):
                if target.get(name) is wire:
                    target[name] = original
            elif getattr(target, name, None) is wire:
                setattr(target, name, original)
