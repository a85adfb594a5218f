"""The WebSocket opening handshake (RFC 6455 §4), sans-I/O.

A WebSocket connection begins as one HTTP/1.1 request asking the server to
switch the TCP connection to another protocol (§1.3, §4.1)::

    GET /chat HTTP/1.1
    Host: server.example.com
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
    Sec-WebSocket-Version: 13

The server agrees with ``101 Switching Protocols`` and proves that it is a
WebSocket server that read *this* request by hashing the key (§4.2.2)::

    HTTP/1.1 101 Switching Protocols
    Upgrade: websocket
    Connection: Upgrade
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=

After the blank line that ends each head, both sides speak WebSocket frames
(see ``wslearn.framing``).

Theory of operation
-------------------
Nothing here touches a socket: functions take bytes and return objects, or
take objects and return bytes, so the same code serves a notebook, a test and
an asyncio server. The two sides use it like this::

    client                                server
    ------                                ------
    data, key = build_request(host)  -->  parse_request(buffer)  # None: read more
                                          key = check_request(request)
    parse_response(buffer)           <--  build_response(key) or
    check_response(response, key)         build_error_response(error)

Parsers return ``None`` while the head is incomplete ("need more bytes" is
not an error) and ``(object, consumed)`` once the ``CRLF CRLF`` that ends the
head has arrived. Bytes after the head (a first frame sent eagerly) are not
consumed: they belong to the next layer.

Every refusal is a :class:`HandshakeError` whose ``status`` is the HTTP status
a server answers with. The statuses this module chooses, and why:

========================================  ======  ================================
request problem                           status  where the rule comes from
========================================  ======  ================================
head over ``MAX_HEAD_SIZE`` bytes, or     431     RFC 6585 §5; a server must bound
more than ``MAX_HEADERS`` header lines            what it buffers
malformed request line or header line     400     RFC 9112 §2.2, §5
not GET, or HTTP older than 1.1           400     RFC 6455 §4.2.1 item 1
no Host, or more than one                 400     §4.2.1 item 2; RFC 9112 §3.2
no ``websocket`` in Upgrade               400     §4.2.1 item 3
no ``Upgrade`` token in Connection        400     §4.2.1 item 4
key missing, repeated, or not 16 bytes    400     §4.2.1 item 5
Sec-WebSocket-Version missing             400     §4.2.1 item 7
Sec-WebSocket-Version other than 13       426     §4.2.2 /version/, with
                                                  ``Sec-WebSocket-Version: 13``
Origin not in the server's allow-list     403     §4.2.2 /origin/, §10.2
========================================  ======  ================================

§4.2.1 asks for "an appropriate error code (such as 400 Bad Request)" for any
request that is not a valid handshake, so 400 is always a correct answer. The
``websockets`` library (17.x) is more specific for some cases: 405 with
``Allow: GET`` for other methods, 505 for HTTP/1.0, 426 with
``Upgrade: websocket`` for a missing Upgrade or Connection token, a plain 400
for an unsupported version, and it does not check Host at all. Both are
within the RFC; this module keeps the RFC's single rule, plus the one status
the RFC names explicitly (426 for the version).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

__all__ = [
    "GUID",
    "MAX_HEADERS",
    "MAX_HEAD_SIZE",
    "HandshakeError",
    "Headers",
    "Request",
    "Response",
    "accept_key",
    "build_error_response",
    "build_request",
    "build_response",
    "check_request",
    "check_response",
    "generate_key",
    "parse_protocols",
    "parse_request",
    "parse_response",
    "select_subprotocol",
]

#: The fixed string every server appends to the client's key (§1.3, §4.2.2).
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Largest head (request or status line + headers + CRLF CRLF) we buffer, in bytes.
#: 8 KiB is the usual default of HTTP servers (and of ``websockets`` per line).
MAX_HEAD_SIZE = 8192

#: Largest number of header lines we accept (the same limit as ``websockets``).
MAX_HEADERS = 128

# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: a field value may hold HTAB, SP, visible ASCII and obs-text,
# but never CR, LF, NUL or other control characters.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 9112 §3: request-line = method SP request-target SP HTTP-version
_REQUEST_LINE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])")
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
# (the SP before an empty reason is often left out; we tolerate that).
_STATUS_LINE = re.compile(r"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")


class HandshakeError(Exception):
    """The handshake failed; ``status`` is the HTTP status that goes with it.

    On the server side it is the status to answer with (send
    :func:`build_error_response`), and ``headers`` are the extra header
    fields that answer must carry. On the client side (:func:`check_response`)
    it is the status the server sent; a client answers nothing, it closes
    the connection (§4.1: "_Fail the WebSocket Connection_").
    """

    def __init__(
        self, message: str, status: int = 400, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = Headers(headers)


class Headers:
    """HTTP header fields: order-preserving, repeatable, names case-insensitive.

    A header may appear more than once (``Sec-WebSocket-Protocol`` often
    does), and RFC 9110 §5.1 makes names case-insensitive, so a ``dict`` is
    the wrong shape. Iterating yields ``(name, value)`` pairs as received;
    ``"name" in headers`` and the lookups ignore case. Instances are
    immutable, so a frozen :class:`Request` really is frozen.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        if isinstance(items, Mapping):
            items = items.items()
        checked = []
        for name, value in items:
            # Refuse what would corrupt the head when serialized: a CR or LF
            # in a value would let a caller inject header lines.
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"invalid header name: {name!r}")
            if _BAD_VALUE.search(value):
                raise ValueError(f"invalid header value for {name}: {value!r}")
            checked.append((name, value))
        self._items: tuple[tuple[str, str], ...] = tuple(checked)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default`` when it is absent."""
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order received."""
        lowered = name.lower()
        return [v for n, v in self._items if n.lower() == lowered]

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of every ``name`` header, as written.

        ``Connection: keep-alive, Upgrade`` gives ``["keep-alive", "Upgrade"]``;
        RFC 9110 §5.3 says repeated fields combine as one comma-separated list.
        """
        return parse_protocols(self.get_all(name))

    def has_token(self, name: str, token: str) -> bool:
        """Whether ``token`` is one of the tokens of ``name``, ignoring case."""
        return token.lower() in (t.lower() for t in self.tokens(name))

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def serialize(self) -> bytes:
        """``Name: value\\r\\n`` per field (without the blank line that ends a head)."""
        return b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True)
class Request:
    """An HTTP request head, e.g. a client's opening handshake (§4.1)."""

    method: str = "GET"
    target: str = "/"
    version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offers, in its order of preference (§4.1)."""
        return self.headers.tokens("Sec-WebSocket-Protocol")

    def serialize(self) -> bytes:
        start = f"{self.method} {self.target} {self.version}\r\n".encode("ascii")
        return start + self.headers.serialize() + b"\r\n"


@dataclass(frozen=True)
class Response:
    """An HTTP response head, e.g. a server's opening handshake (§4.2.2).

    A body (error responses have one) is not part of it: the parser stops
    at the blank line, and a refused client closes the connection anyway.
    """

    version: str = "HTTP/1.1"
    status: int = 101
    reason: str = "Switching Protocols"
    headers: Headers = field(default_factory=Headers)

    def serialize(self) -> bytes:
        start = f"{self.version} {self.status} {self.reason}\r\n".encode("latin-1")
        return start + self.headers.serialize() + b"\r\n"


# --- keys -------------------------------------------------------------------


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded.

    §4.1: "a randomly selected 16-byte value that has been base64-encoded";
    "The nonce MUST be selected randomly for each connection."
    """
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for ``key`` (§4.2.2 step 5.4).

    base64(SHA-1(key + GUID)). The key is used as the text the client sent,
    not decoded: the point is only to prove the server understood WebSocket.
    """
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_protocols(values: str | Iterable[str]) -> list[str]:
    """Split one or more comma-separated header values into their tokens.

    ``parse_protocols(["chat, superchat", "json"])`` gives
    ``["chat", "superchat", "json"]``: a repeated header is the same list
    continued (RFC 9110 §5.3). Empty elements are dropped (RFC 9110 §5.6.1).
    """
    if isinstance(values, str):
        values = [values]
    return [t.strip(" \t") for v in values for t in v.split(",") if t.strip(" \t")]


def select_subprotocol(offered: Iterable[str], supported: Iterable[str]) -> str | None:
    """The first subprotocol in the client's list that the server supports.

    §4.2.2 lets the server pick any one of the offered values (or none), so
    the policy is the server's. Here the client's preference order wins.
    ``websockets`` does the opposite: its server walks *its own* list and
    takes the first one the client offered. ``None`` means "no subprotocol":
    the response then has no ``Sec-WebSocket-Protocol`` header.
    """
    supported = list(supported)
    return next((p for p in offered if p in supported), None)


# --- building ---------------------------------------------------------------


def build_request(
    host: str,
    path: str = "/",
    *,
    key: str | None = None,
    origin: str | None = None,
    subprotocols: Iterable[str] = (),
    extra_headers: Iterable[tuple[str, str]] = (),
) -> tuple[bytes, str]:
    """A client's opening handshake (§4.1) and the key it carries.

    ``host`` goes into the Host header as given, so pass ``"127.0.0.1:8765"``
    for a non-default port (§4.1 item 4). Keep the returned key: the
    server's answer is checked against it (:func:`check_response`).
    """
    if not host or re.search(r"[\s\x00-\x1f\x7f/]", host):
        raise ValueError(f"invalid host: {host!r}")
    # §3: the resource name is "/" or starts with "/"; no spaces in a target.
    if not path.startswith("/") or re.search(r"[\s\x00-\x1f\x7f]", path):
        raise ValueError(f"invalid path: {path!r}")
    key = generate_key() if key is None else key
    fields = [
        ("Host", host),  # §4.1 item 4
        ("Upgrade", "websocket"),  # item 5
        ("Connection", "Upgrade"),  # item 6
        ("Sec-WebSocket-Key", key),  # item 7
        ("Sec-WebSocket-Version", "13"),  # item 9
    ]
    if origin is not None:
        fields.append(("Origin", origin))  # item 8: browsers always send it
    protocols = list(subprotocols)
    if protocols:
        # item 10: "one or more comma-separated subprotocol values", each a
        # token and all unique.
        if not all(_TOKEN.fullmatch(p) for p in protocols) or len(set(protocols)) != len(protocols):
            raise ValueError(f"subprotocols must be unique tokens: {protocols!r}")
        fields.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    fields.extend(extra_headers)
    return Request("GET", path, "HTTP/1.1", Headers(fields)).serialize(), key


def build_response(
    key: str, *, subprotocol: str | None = None, extra_headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """The server's ``101 Switching Protocols`` answer to a valid request (§4.2.2 step 5)."""
    fields = [
        ("Upgrade", "websocket"),  # step 5.2
        ("Connection", "Upgrade"),  # step 5.3
        ("Sec-WebSocket-Accept", accept_key(key)),  # step 5.4
    ]
    if subprotocol is not None:
        fields.append(("Sec-WebSocket-Protocol", subprotocol))  # step 5.5
    fields.extend(extra_headers)
    return Response("HTTP/1.1", 101, "Switching Protocols", Headers(fields)).serialize()


def build_error_response(error: HandshakeError) -> bytes:
    """The HTTP response refusing a handshake: ``error.status``, a one-line body.

    The connection is not reused afterwards (``Connection: close``). When the
    error carries an ``Upgrade`` header (426), RFC 9110 §7.8 also asks for an
    ``Upgrade`` option in Connection.
    """
    try:
        reason = HTTPStatus(error.status).phrase
    except ValueError:
        reason = "Error"
    body = f"{error.status} {reason}: {error}\n".encode()
    connection = "Upgrade, close" if "Upgrade" in error.headers else "close"
    fields = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", connection),
        *error.headers,
    ]
    return Response("HTTP/1.1", error.status, reason, Headers(fields)).serialize() + body


# --- parsing ----------------------------------------------------------------


def _split_head(data: bytes | bytearray) -> tuple[str, Headers, int] | None:
    """Find a complete head in ``data``: ``(start line, headers, consumed)``.

    Shared by both parsers. The limits apply before the end of the head has
    arrived: a peer must not be able to make us buffer without bound.
    """
    # The head, including the CRLF CRLF that ends it, must fit in MAX_HEAD_SIZE.
    end = bytes(data[:MAX_HEAD_SIZE]).find(b"\r\n\r\n")
    if end == -1:
        if len(data) >= MAX_HEAD_SIZE:
            raise HandshakeError(f"head larger than {MAX_HEAD_SIZE} bytes", 431)
        # Each complete line but the first is a header line.
        if bytes(data).count(b"\r\n") - 1 > MAX_HEADERS:
            raise HandshakeError(f"more than {MAX_HEADERS} header lines", 431)
        return None
    # latin-1 maps every byte to one character, so nothing can fail to decode
    # here; the regexes below decide what is allowed (RFC 9110 §5.5).
    start, *lines = bytes(data[:end]).decode("latin-1").split("\r\n")
    if len(lines) > MAX_HEADERS:
        raise HandshakeError(f"more than {MAX_HEADERS} header lines", 431)
    fields = []
    for line in lines:
        # RFC 9112 §5: field-line = field-name ":" OWS field-value OWS. No
        # whitespace is allowed before the colon (§5.1, "MUST reject ... 400"),
        # and a line starting with SP/HTAB is obsolete folding (§5.2): both
        # fail the token test on the name.
        name, colon, value = line.partition(":")
        value = value.strip(" \t")
        if not colon or not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise HandshakeError(f"malformed header line: {line[:80]!r}", 400)
        fields.append((name, value))
    return start, Headers(fields), end + 4


def parse_request(data: bytes | bytearray) -> tuple[Request, int] | None:
    """Parse a request head from the start of ``data``.

    Returns ``(request, consumed)`` once the head is complete, ``None`` if more
    bytes are needed. Raises :class:`HandshakeError` (400 malformed, 431 too
    large) for a head no amount of extra bytes could fix. Only the syntax is
    checked here; whether it is a valid *WebSocket* request is
    :func:`check_request`'s job.
    """
    head = _split_head(data)
    if head is None:
        return None
    start, headers, consumed = head
    match = _REQUEST_LINE.fullmatch(start)
    if match is None:
        raise HandshakeError(f"malformed request line: {start[:80]!r}", 400)
    method, target, version = match.groups()
    return Request(method, target, version, headers), consumed


def parse_response(data: bytes | bytearray) -> tuple[Response, int] | None:
    """Parse a response head from the start of ``data``; see :func:`parse_request`.

    A response body is not consumed (nor read: this is enough to tell a 101
    from a refusal).
    """
    head = _split_head(data)
    if head is None:
        return None
    start, headers, consumed = head
    match = _STATUS_LINE.fullmatch(start)
    if match is None:
        raise HandshakeError(f"malformed status line: {start[:80]!r}", 400)
    version, status, reason = match.groups()
    return Response(version, int(status), reason or "", headers), consumed


# --- checking ---------------------------------------------------------------


def check_request(request: Request, *, origins: Collection[str | None] | None = None) -> str:
    """Check a client's opening handshake (§4.2.1); return its key if valid.

    ``origins``, when given, is the allow-list of ``Origin`` values; put
    ``None`` in it to also admit clients that send no Origin (non-browsers).
    Raises :class:`HandshakeError` with the status to answer (see the table
    at the top of this module). Rules of form are checked before the
    server's own policy (the Origin), in the order §4.2.1 lists them.
    """
    # §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if request.method != "GET":
        raise HandshakeError(f"method must be GET, not {request.method}", 400)
    version = re.fullmatch(r"HTTP/([0-9]+)\.([0-9]+)", request.version)
    if version is None or (int(version[1]), int(version[2])) < (1, 1):
        raise HandshakeError(f"HTTP/1.1 or higher required, not {request.version}", 400)
    headers = request.headers
    # Item 2: a Host header. RFC 9112 §3.2: a server "MUST respond with a 400"
    # when Host is missing or appears more than once.
    hosts = headers.get_all("Host")
    if len(hosts) != 1:
        raise HandshakeError("missing Host header" if not hosts else "more than one Host header")
    # Item 3: Upgrade contains "websocket", "treated as an ASCII
    # case-insensitive value".
    if not headers.has_token("Upgrade", "websocket"):
        raise HandshakeError(f"Upgrade header must contain websocket: {headers.get('Upgrade')!r}")
    # Item 4: Connection "includes the token 'Upgrade'", again ignoring case;
    # browsers may send e.g. "keep-alive, Upgrade".
    if not headers.has_token("Connection", "Upgrade"):
        raise HandshakeError(
            f"Connection header must contain Upgrade: {headers.get('Connection')!r}"
        )
    # Item 5: a Sec-WebSocket-Key that, "when decoded, is 16 bytes in length".
    keys = headers.get_all("Sec-WebSocket-Key")
    if len(keys) != 1:
        raise HandshakeError(
            "missing Sec-WebSocket-Key header" if not keys else "more than one Sec-WebSocket-Key"
        )
    key = keys[0]
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        raise HandshakeError(f"Sec-WebSocket-Key is not base64: {key!r}") from None
    if len(raw) != 16:
        raise HandshakeError(f"Sec-WebSocket-Key decodes to {len(raw)} bytes, not 16")
    # Item 7: "Sec-WebSocket-Version ... with a value of 13". §4.2.2 /version/:
    # for a version we do not speak, answer e.g. 426 and list the ones we do.
    versions = headers.get_all("Sec-WebSocket-Version")
    if not versions:
        raise HandshakeError("missing Sec-WebSocket-Version header")
    if versions != ["13"]:
        raise HandshakeError(
            f"unsupported Sec-WebSocket-Version {', '.join(versions)}; this server speaks 13",
            426,
            [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
        )
    # Item 6 and §4.2.2 /origin/: a server that does not accept this origin
    # "MUST return an appropriate HTTP error code (e.g., 403 Forbidden)".
    # The Origin header protects browsers' users (§10.2); other clients may
    # set it to anything, so it is no authentication.
    if origins is not None:
        values = headers.get_all("Origin")
        if len(values) > 1:
            raise HandshakeError("more than one Origin header")  # RFC 6454 §7.3
        origin = values[0] if values else None
        if origin not in origins:
            raise HandshakeError(f"origin not allowed: {origin!r}", 403)
    return key


def check_response(
    response: Response, key: str, offered_subprotocols: Iterable[str] = ()
) -> str | None:
    """Check the server's answer to our request (§4.1, last list); return the subprotocol.

    ``key`` is the one :func:`build_request` returned. Returns the subprotocol
    the server chose, or ``None``. Raises :class:`HandshakeError` carrying
    ``response.status`` on any failure. This client offers no extensions,
    so a server that names one is wrong (§4.1 item 5).
    """
    status = response.status
    # §4.1 item 1: anything but 101 is handled "per HTTP" (401, redirects,
    # refusals): for a WebSocket client it means the handshake failed.
    if status != 101:
        raise HandshakeError(f"server refused the upgrade: {status} {response.reason}", status)
    headers = response.headers
    # Item 2: Upgrade must be "websocket" (any case), and nothing else.
    if [t.lower() for t in headers.tokens("Upgrade")] != ["websocket"]:
        raise HandshakeError(f"bad Upgrade header: {headers.get('Upgrade')!r}", status)
    # Item 3: Connection must include the token "Upgrade" (any case).
    if not headers.has_token("Connection", "Upgrade"):
        raise HandshakeError(f"bad Connection header: {headers.get('Connection')!r}", status)
    # Item 4: exactly the accept value derived from our own key.
    accepts = headers.get_all("Sec-WebSocket-Accept")
    if accepts != [accept_key(key)]:
        raise HandshakeError(f"wrong Sec-WebSocket-Accept: {', '.join(accepts)!r}", status)
    # Item 5: an extension "not present in the client's handshake".
    if "Sec-WebSocket-Extensions" in headers:
        raise HandshakeError("server chose an extension the client did not offer", status)
    # Item 6: a subprotocol "that was not present in the client's handshake".
    chosen = headers.tokens("Sec-WebSocket-Protocol")
    if not chosen:
        return None
    if len(chosen) > 1 or chosen[0] not in list(offered_subprotocols):
        raise HandshakeError(f"server chose a subprotocol not offered: {chosen!r}", status)
    return chosen[0]
