"""Plain data across the sandbox's boundary: JSON-ready values, never pickle.

The grader and the student's worker (``wslearn.exercises.sandbox``) exchange
JSON lines. A value crosses as ``None``, ``bool``, ``int``, ``float``,
``str``, ``bytes`` (base64), lists, tuples, sets and dicts of these, and a
few course value types (``framing.Frame``, ``framing.Opcode``) rebuilt field
by field. A value a student returns is rebuilt by the receiver from data, so
a ``str`` subclass whose ``__eq__`` always says yes arrives as a plain
``str``. Exceptions cross as (type, message, a few plain attributes) and are
rebuilt as the course's own exception types where the name is one of them
(``ProtocolError`` keeps its ``code``); any other name becomes a
``RemoteError`` subclass of that name.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import enum
import importlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "NotPlainData",
    "RemoteError",
    "decode",
    "decode_error",
    "encode",
    "encode_error",
]

#: course value types that may cross the boundary, rebuilt from their fields
VALUE_TYPES = ("wslearn.framing.Frame", "wslearn.framing.Opcode")
#: where a rebuilt exception may come from (anything else becomes a RemoteError)
EXCEPTION_MODULES = ("builtins", "wslearn.", "asyncio", "websockets.")
MAX_DEPTH = 200  # nesting of plain data


class NotPlainData(TypeError):
    """A value that cannot cross the boundary (not plain data)."""


class RemoteError(Exception):
    """An exception of a type the grader does not rebuild; named after the original type."""


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
