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


def usv_string(text: str) -> str:
    """Convert ``text`` as WebIDL turns a JS string into a ``USVString``.

    JS strings are UTF-16: surrogate pairs join into one code point and lone
    surrogates become U+FFFD, so the result always encodes to UTF-8.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
