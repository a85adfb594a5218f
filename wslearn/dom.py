"""The browser's ``DOMException``, shared by ``wslearn.websocket`` and ``wslearn.close``."""

from __future__ import annotations


class DOMException(Exception):
    """An error the browser API throws; ``name`` is what JS sees as ``e.name``.

    The names used here are the WHATWG WebSocket ones: ``SyntaxError``,
    ``InvalidStateError`` and ``InvalidAccessError``.
    """

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name

    def __repr__(self) -> str:
        return f"DOMException({self.name}: {self.args[0]})"
