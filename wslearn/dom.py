"""The browser side's shared rules (WHATWG, WebIDL): ``DOMException``, USVString, ``close()`` args.

Everything here is what a browser enforces on a *script*, not what RFC 6455
asks of an endpoint: ``wslearn.websocket``, ``wslearn.url`` and
``wslearn.reconnect`` use it; the RFC modules (``handshake``, ``framing``,
``close``) never import it.
"""

from __future__ import annotations

from wslearn.close import MAX_REASON_BYTES, CloseCode

__all__ = ["DOMException", "check_close_args", "usv_string"]


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


def check_close_args(
    code: int | None = None, reason: str | None = None
) -> tuple[int | None, bytes]:
    """Apply the browser's ``WebSocket.close(code, reason)`` argument rules.

    The WHATWG steps ("validate close code and reason"), in this order:

    1. a ``code`` that is present but neither 1000 nor in 3000-4999 throws a
       ``DOMException`` named ``InvalidAccessError``;
    2. a ``reason`` whose UTF-8 encoding is longer than 123 bytes throws a
       ``DOMException`` named ``SyntaxError``.

    So ``close(1001, <200 bytes>)`` is an InvalidAccessError, not a SyntaxError.

    Returns ``(code, reason_bytes)`` as the close frame should carry them:
    ``(None, b"")`` means "send a Close frame with no body"; a reason given
    without a code gets code 1000 (WHATWG "close the WebSocket").

    Python mapping of the WebIDL types.  In the browser ``code`` is an
    ``optional [Clamp] unsigned short``: JS numbers are rounded and clamped to
    0-65535 before step 1, so ``close(70000)`` is checked as 65535 and
    ``close(-1)`` as 0; both fail step 1 anyway.  Here ``None`` means "not
    present", an ``int`` is clamped the same way, and anything else (a float,
    a string, a bool) raises ``TypeError``: Python code should pass an int.
    ``reason`` is a ``USVString``: JS strings are UTF-16 and lone surrogates
    become U+FFFD.  A Python ``str`` holding surrogates gets the same treatment.
    """
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"close code must be an int or None, not {type(code).__name__}")
        code = min(max(code, 0), 0xFFFF)  # WebIDL [Clamp] unsigned short
        # Step 1: "If code is not null, but is neither an integer equal to 1000
        # nor an integer in the range 3000 to 4999, inclusive, throw an
        # 'InvalidAccessError' DOMException."
        if code != 1000 and not 3000 <= code <= 4999:
            raise DOMException(
                f"The close code must be either 1000, or between 3000 and 4999. {code} is neither.",
                "InvalidAccessError",
            )
    reason_bytes = b""
    if reason is not None:
        if not isinstance(reason, str):
            raise TypeError(f"close reason must be a str or None, not {type(reason).__name__}")
        # Step 2: "Let reasonBytes be the result of UTF-8 encoding reason.
        # If reasonBytes is longer than 123 bytes, then throw a 'SyntaxError'."
        reason_bytes = usv_string(reason).encode("utf-8")
        if len(reason_bytes) > MAX_REASON_BYTES:
            raise DOMException(
                f"The close reason must not be longer than {MAX_REASON_BYTES} bytes "
                f"of UTF-8; it is {len(reason_bytes)}.",
                "SyntaxError",
            )
    # "Close the WebSocket": if reason is non-empty but code is null, use 1000.
    if code is None and reason_bytes:
        code = int(CloseCode.NORMAL_CLOSURE)
    return code, reason_bytes
