"""permessage-deflate (RFC 7692), sans-I/O: negotiation, compression, a decompression limit.

Theory of operation
-------------------
An extension is agreed in the opening handshake (RFC 6455 §9). The client
lists what it can do in ``Sec-WebSocket-Extensions``; the server picks at
most one offer of each extension and answers with the parameters it accepts.
Chromium offers exactly::

    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits

and a ``websockets`` server (default settings) answers::

    Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12;
                              client_max_window_bits=12     (one line on the wire)

The four parameters (RFC 7692 §7.1) tune two independent DEFLATE streams,
one per direction: ``*_max_window_bits`` (8 to 15) caps the LZ77 window
(2**bits bytes of history that matches may point into), and
``*_no_context_takeover`` makes the sender start every message with an empty
window, so neither side keeps a window between messages. The ``server_``
parameters configure what the *server* compresses, the ``client_`` ones what
the *client* compresses.

Once agreed, a message is compressed as a whole (§7.2.1): DEFLATE it, end it
with a sync flush (an empty stored block, ``00 00 ff ff``), drop those 4 bytes,
and set RSV1 on the message's first frame only (§6). The receiver puts the 4
bytes back and inflates (§7.2.2). With context takeover the window carries
over from message to message, so similar messages shrink to a few bytes.

The rules a peer can break, and what follows:

=================================================  ===================================
what                                               consequence
=================================================  ===================================
offer header not in RFC 6455 §9.1 grammar           server answers 400 (§4.2.1)
offer with an unknown, duplicate or invalid         server *declines* that offer
parameter, or a configuration it cannot do          (§7), tries the next one
response with any such parameter, or one the       client fails the connection (§7):
client did not allow, or an extension it did        drops TCP during the handshake
not offer
server declined what the client *requires*         client closes with 1010 (RFC 6455 §7.4.1)
RSV1 on a control frame or a continuation frame    close 1002 (§6.1)
compressed data that does not inflate              close 1007 (as wsproto; websockets 1002)
a message that inflates past ``max_size``          close 1009, inflating stops there
=================================================  ===================================

Nothing here touches a socket: :class:`PerMessageDeflate` turns outgoing
messages into frames and incoming frames into plain frames, which
:class:`wslearn.framing.Assembler` then joins into messages.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from wslearn.framing import Frame, Opcode, ProtocolError
from wslearn.handshake import HandshakeError

__all__ = [
    "NAME",
    "TAIL",
    "Compressor",
    "Cost",
    "Decompressor",
    "ExtensionOffer",
    "NegotiationError",
    "Params",
    "PerMessageDeflate",
    "accept",
    "connection_memory",
    "measure",
    "offer",
    "parse_extensions",
    "parse_response",
    "read_params",
    "sample_messages",
    "serialize_extension",
]

NAME = "permessage-deflate"

#: §7.2.1: the empty stored block a sync flush ends with; the sender removes it,
#: the receiver appends it again before inflating.
TAIL = b"\x00\x00\xff\xff"

INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009
MANDATORY_EXTENSION = 1010

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# §7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15, inclusive"
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}


class NegotiationError(HandshakeError):
    """Extension negotiation went wrong (RFC 6455 §9.1, RFC 7692 §7).

    ``status``: on the server side the HTTP status to answer with (400 for a
    header that breaks the grammar); on the client side the status the server
    sent (101). ``code`` is ``None`` when the connection is simply dropped
    during the handshake, or 1010 when the client, the handshake done, must
    close because the server did not accept an extension it requires.
    """

    def __init__(self, message: str, status: int = 400, code: int | None = None) -> None:
        super().__init__(message, status)
        self.code = code


# --- The header grammar (RFC 6455 §9.1) ----------------------------------------


class ExtensionOffer(NamedTuple):
    """One element of a ``Sec-WebSocket-Extensions`` list: a name and its parameters."""

    name: str
    params: list[tuple[str, str | None]]


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise NegotiationError(f"unterminated quoted string in {text!r}")
    parts.append("".join(current))
    return parts


def _param_value(name: str, raw: str) -> str:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise NegotiationError(f"bad quoted value for {name}: {raw!r}")
        raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
    # §9.1: "When using the quoted-string syntax variant, the value after
    # quoted-string unescaping MUST conform to the 'token' ABNF."
    if not _TOKEN.fullmatch(raw):
        raise NegotiationError(f"value of {name} is not a token: {raw!r}")
    return raw


def parse_extensions(values: str | Iterable[str]) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` header value(s) into a list of offers.

    §9.1: ``extension = extension-token *( ";" extension-param )`` and
    ``extension-param = token [ "=" (token | quoted-string) ]``; several
    header lines count as one comma-separated list. A parameter without a
    value gets ``None``. Raises :class:`NegotiationError` (400) for text that
    breaks the grammar; names and values are not judged here.
    """
    if isinstance(values, str):
        values = [values]
    offers = []
    for value in values:
        # §9.1: "extension-list = 1#extension": a header with no extension at all is
        # broken (Chromium and websockets both fail on an empty one).
        if not value.strip(" \t,"):
            raise NegotiationError("empty Sec-WebSocket-Extensions header")
        for element in _split_outside_quotes(value, ","):
            if not element.strip():
                continue  # RFC 9110 §5.6.1: empty list elements are ignored
            name, *params = (p.strip() for p in _split_outside_quotes(element, ";"))
            if not _TOKEN.fullmatch(name):
                raise NegotiationError(f"extension name is not a token: {name!r}")
            parsed: list[tuple[str, str | None]] = []
            for param in params:
                key, equals, raw = (p.strip() for p in param.partition("="))
                if not _TOKEN.fullmatch(key):
                    raise NegotiationError(f"parameter name is not a token: {key!r}")
                parsed.append((key, _param_value(key, raw) if equals else None))
            offers.append(ExtensionOffer(name, parsed))
    return offers


def serialize_extension(name: str, params: Iterable[tuple[str, str | None]]) -> str:
    """One list element: ``name; key; key=value`` (the form Chromium and websockets send)."""
    parts = [name] + [key if value is None else f"{key}={value}" for key, value in params]
    return "; ".join(parts)


# --- The agreed configuration --------------------------------------------------


@dataclass(frozen=True)
class Params:
    """permessage-deflate parameters: an offer's or a response's (RFC 7692 §7.1).

    ``*_max_window_bits`` is ``None`` when absent (the peer may then use up
    to 15 bits); in an offer ``client_max_window_bits=True`` means "present
    without a value" (the client can honour a limit the server sets).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | bool | None = None

    def items(self) -> list[tuple[str, str | None]]:
        """The parameters as ``(name, value)`` pairs, in websockets' (and Chromium's) order."""
        pairs: list[tuple[str, str | None]] = []
        if self.server_no_context_takeover:
            pairs.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            pairs.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            pairs.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            pairs.append(("client_max_window_bits", None))
        elif self.client_max_window_bits:
            pairs.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return pairs

    def header(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value for these parameters."""
        return serialize_extension(NAME, self.items())

    def window_bits(self, sender: str) -> int:
        """The window the ``"client"`` or ``"server"`` compresses with (15 when unlimited)."""
        bits = self.client_max_window_bits if sender == "client" else self.server_max_window_bits
        return bits if isinstance(bits, int) and not isinstance(bits, bool) else 15

    def no_context_takeover(self, sender: str) -> bool:
        """Whether the ``"client"`` or ``"server"`` starts each message with an empty window."""
        if sender == "client":
            return self.client_no_context_takeover
        return self.server_no_context_takeover


def read_params(params: Iterable[tuple[str, str | None]], *, offer: bool) -> Params:
    """Check one permessage-deflate element's parameters; return them as :class:`Params`.

    ``offer=True`` reads a client's offer, ``False`` a server's response.
    Raises :class:`NegotiationError` naming the rule of RFC 7692 §7 that broke:
    "an extension parameter not defined for use in an offer", "with an invalid
    value", "multiple extension parameters with the same name". A server that
    gets this error declines the offer; a client fails the connection.
    """
    seen: dict[str, str | None] = {}
    for key, value in params:
        if key in seen:
            raise NegotiationError(f"duplicate parameter {key}")
        seen[key] = value
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            # §7.1.1.1, §7.1.1.2: "This extension parameter has no value."
            if value is not None:
                raise NegotiationError(f"{key} takes no value, got {value!r}")
        elif key == "server_max_window_bits" or key == "client_max_window_bits":
            # §7.1.2.2: only the client's offer may carry client_max_window_bits
            # without a value; every other use needs 8..15 without leading zeroes.
            if value is None and not (offer and key == "client_max_window_bits"):
                raise NegotiationError(f"{key} needs a value from 8 to 15")
            if value is not None and value not in _WINDOW_BITS:
                raise NegotiationError(f"{key}={value} is not an integer from 8 to 15")
        else:
            raise NegotiationError(f"unknown parameter {key}")
    client_bits = seen.get("client_max_window_bits", False)
    return Params(
        server_no_context_takeover="server_no_context_takeover" in seen,
        client_no_context_takeover="client_no_context_takeover" in seen,
        server_max_window_bits=_WINDOW_BITS.get(seen.get("server_max_window_bits") or ""),
        client_max_window_bits=(
            None
            if client_bits is False
            else True
            if client_bits is None
            else _WINDOW_BITS[client_bits]
        ),
    )


def _check_bits(*values: int | bool | None) -> None:
    """Our own settings: window bits are 8..15 (``None``/``True``: no number given)."""
    for bits in values:
        if isinstance(bits, int) and not isinstance(bits, bool) and not 8 <= bits <= 15:
            raise ValueError(f"window bits must be 8..15, got {bits}")


# --- The client's side of the negotiation --------------------------------------


def offer(
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | bool | None = True,
) -> str:
    """The client's ``Sec-WebSocket-Extensions`` value; by default exactly Chromium's.

    ``offer()`` is ``"permessage-deflate; client_max_window_bits"``: no limits
    asked of the server, and "you may limit my window" (§7.1.2.2).
    """
    _check_bits(server_max_window_bits, client_max_window_bits)
    return Params(
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    ).header()


def parse_response(
    values: str | Iterable[str] | None, offered: str | None = None, *, required: bool = False
) -> Params | None:
    """The client checks the server's ``Sec-WebSocket-Extensions``; returns the agreement.

    ``values``: the response's header value(s), ``None`` or ``[]`` when it had
    none. ``offered``: what :func:`offer` sent (default: Chromium's offer).
    Returns ``None`` when the server declined. Raises :class:`NegotiationError`
    (status 101, ``code=None``: drop the connection) when the response breaks
    a rule of RFC 7692 §7, or (``code=1010``) when ``required`` and declined.
    """
    wanted = read_params(parse_extensions(offered or offer())[0].params, offer=True)

    def fail(message: str) -> NegotiationError:
        return NegotiationError(message, 101)

    try:
        accepted = parse_extensions([] if values is None else values)
    except NegotiationError as exc:
        raise fail(str(exc)) from None
    if not accepted:
        if required:
            raise NegotiationError(f"the server did not accept {NAME}", 101, MANDATORY_EXTENSION)
        return None

    # RFC 6455 §4.1: the client fails if the response "indicates the use of an
    # extension that was not present in the client's handshake".
    if len(accepted) > 1 or accepted[0].name != NAME:
        raise fail(f"the server accepted {', '.join(e.name for e in accepted)}; offered {NAME}")
    try:
        got = read_params(accepted[0].params, offer=False)
    except NegotiationError as exc:
        raise fail(str(exc)) from None
    # §7.1.1.1: a client that asked for server_no_context_takeover needs it back.
    if wanted.server_no_context_takeover and not got.server_no_context_takeover:
        raise fail("server_no_context_takeover was asked for but not accepted")
    # §7.1.2.1: "with the same or smaller value as the offer".
    limit = wanted.server_max_window_bits
    if limit is not None and (got.server_max_window_bits or 16) > limit:
        raise fail(f"server_max_window_bits must be <= {wanted.server_max_window_bits}")
    # §7.1.2.2: "If a received extension negotiation offer doesn't have the
    # client_max_window_bits extension parameter, the corresponding extension
    # negotiation response to the offer MUST NOT include" it.
    if got.client_max_window_bits is not None and wanted.client_max_window_bits is None:
        raise fail("client_max_window_bits in the response but not in the offer")
    # A hint the client gave about itself binds the client (§7.1.1.2, §7.1.2.2).
    client_bits = got.client_max_window_bits
    if wanted.client_max_window_bits not in (None, True):
        client_bits = min(client_bits or 15, wanted.client_max_window_bits)
    return Params(
        got.server_no_context_takeover,
        got.client_no_context_takeover or wanted.client_no_context_takeover,
        got.server_max_window_bits,
        client_bits,
    )


# --- The server's side of the negotiation --------------------------------------


def accept(
    values: str | Iterable[str] | None,
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | None = None,
) -> tuple[str, Params] | None:
    """The server picks the first acceptable permessage-deflate offer (RFC 7692 §5, §7).

    The keyword arguments are the server's own wishes (websockets' defaults
    are ``server_max_window_bits=12, client_max_window_bits=12``). Returns
    ``(response header value, agreed Params)``, or ``None`` when every offer
    is declined (then the response carries no ``Sec-WebSocket-Extensions``
    and the connection runs uncompressed). Raises :class:`NegotiationError`
    (400) only when the header breaks RFC 6455 §9.1's grammar, and
    ``ValueError`` for window bits of its own outside 8..15.
    """
    _check_bits(server_max_window_bits, client_max_window_bits)
    for element in parse_extensions([] if values is None else values):
        if element.name != NAME:
            continue  # an extension this server does not know: not selected (§9.1)
        try:
            # §7: "A server MUST decline an extension negotiation offer for this
            # extension if" a parameter is unknown, invalid or repeated.
            wanted = read_params(element.params, offer=True)
        except NegotiationError:
            continue
        # §7.1.1.1: the server may always add server_no_context_takeover; it
        # must when the client asked (else the client fails the connection).
        server_nct = server_no_context_takeover or wanted.server_no_context_takeover
        # §7.1.1.2: "A server MAY include the client_no_context_takeover".
        client_nct = client_no_context_takeover or wanted.client_no_context_takeover
        # §7.1.2.1: answer "with the same or smaller value as the offer".
        server_bits = server_max_window_bits
        if wanted.server_max_window_bits is not None:
            server_bits = min(server_bits or 15, wanted.server_max_window_bits)
        # §7.1.2.2: client_max_window_bits only if the offer had it; the server
        # may lower the client's hint, never raise it.
        client_bits: int | None = None
        if wanted.client_max_window_bits is not None:
            client_bits = client_max_window_bits
            if wanted.client_max_window_bits is not True:
                client_bits = min(client_bits or 15, wanted.client_max_window_bits)
        agreed = Params(server_nct, client_nct, server_bits, client_bits)
        return agreed.header(), agreed
    return None


# --- Compression (§7.2) --------------------------------------------------------


def _zlib_bits(bits: int) -> int:
    """zlib window bits for a DEFLATE window of ``bits``.

    zlib refuses to *compress* with an 8-bit window, but with 9 bits it never
    reaches further back than 512 - 262 = 250 bytes (it keeps MIN_LOOKAHEAD
    bytes free), so its output also fits a peer's 256-byte window. Chromium
    makes the same substitution.
    """
    return max(bits, 9)


class Compressor:
    """Compresses the messages one endpoint sends (one DEFLATE stream per direction).

    With context takeover (the default) the LZ77 window survives from one
    message to the next; with ``no_context_takeover`` each message starts
    empty and nothing is kept between messages (no memory for an idle
    connection). ``mem_level`` is zlib's (1-9; websockets uses 5).
    """

    def __init__(
        self,
        window_bits: int = 15,
        *,
        no_context_takeover: bool = False,
        level: int = 6,
        mem_level: int = 8,
    ) -> None:
        if not 8 <= window_bits <= 15:
            raise ValueError(f"window bits must be 8..15, got {window_bits}")
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.level, self.mem_level = level, mem_level
        self._zlib: zlib._Compress | None = None  # type: ignore[name-defined]

    def _stream(self) -> zlib._Compress:  # type: ignore[name-defined]
        if self._zlib is None:
            self._zlib = zlib.compressobj(
                self.level, zlib.DEFLATED, -_zlib_bits(self.window_bits), self.mem_level
            )
        return self._zlib

    def compress(self, data: bytes, fin: bool = True) -> bytes:
        """Compress ``data``: a whole message, or one fragment of it (``fin=False``).

        Every call ends with a sync flush, so each fragment can go out at once;
        only the message's last one drops the 4-byte tail (§7.2.1 step 3).
        """
        stream = self._stream()
        out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
        if fin:
            if not out.endswith(TAIL):  # a sync flush always ends so; never trust, check
                raise AssertionError("zlib's sync flush did not end with 00 00 ff ff")
            out = out[:-4]
            if self.no_context_takeover:
                self._zlib = None  # §7.1.1: the next message starts with an empty window
        return out


class Decompressor:
    """Inflates the messages one endpoint receives, at most ``max_size`` bytes each.

    The limit is enforced while inflating (zlib's ``max_length``), so a few
    kilobytes of compressed zeros cannot grow into gigabytes in memory: the
    message fails with 1009 as soon as it passes ``max_size``.
    """

    def __init__(
        self,
        window_bits: int = 15,
        *,
        no_context_takeover: bool = False,
        max_size: int | None = None,
    ) -> None:
        if not 8 <= window_bits <= 15:
            raise ValueError(f"window bits must be 8..15, got {window_bits}")
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.max_size = max_size
        self._zlib: zlib._Decompress | None = None  # type: ignore[name-defined]
        self._size = 0  # bytes of the current message inflated so far

    def decompress(self, data: bytes, fin: bool = True) -> bytes:
        """Inflate ``data``: a whole message's payload, or one fragment (``fin=False``).

        Raises :class:`~wslearn.framing.ProtocolError` with 1009 past
        ``max_size`` and 1007 for data that is not DEFLATE.
        """
        if self._zlib is None:
            self._zlib = zlib.decompressobj(-self.window_bits)
        if fin:
            data = bytes(data) + TAIL  # §7.2.2 step 1
        # One byte more than allowed tells "exactly max_size" from "too big":
        # inflate stops when its output is full or its input is used up.
        room = 0 if self.max_size is None else self.max_size - self._size + 1
        try:
            out = self._zlib.decompress(data, room)
        except zlib.error as exc:
            self._zlib, self._size = None, 0
            raise ProtocolError(
                f"compressed data is not valid DEFLATE: {exc}", INVALID_DATA
            ) from None
        self._size += len(out)
        if self.max_size is not None and self._size > self.max_size:
            self._zlib, self._size = None, 0
            raise ProtocolError(f"message inflates past max_size={self.max_size}", MESSAGE_TOO_BIG)
        if fin:
            self._size = 0
            # A final block (BFINAL) ends the DEFLATE stream: the sender must start
            # a new one, so must we. Without context takeover we always do.
            if self.no_context_takeover or self._zlib.eof:
                self._zlib = None
        return out


class PerMessageDeflate:
    """permessage-deflate on one endpoint of a connection, frames in and out.

    ``client=True`` for the client's end. Outgoing messages go through
    :meth:`encode` (compressed, RSV1 on the first frame); incoming frames
    through :meth:`decode` (inflated, RSV1 cleared), then to an
    :class:`~wslearn.framing.Assembler`. Control frames pass untouched.
    """

    def __init__(
        self,
        params: Params,
        *,
        client: bool,
        max_size: int | None = None,
        level: int = 6,
        mem_level: int = 8,
    ) -> None:
        me, peer = ("client", "server") if client else ("server", "client")
        self.params = params
        self.compressor = Compressor(
            params.window_bits(me),
            no_context_takeover=params.no_context_takeover(me),
            level=level,
            mem_level=mem_level,
        )
        self.decompressor = Decompressor(
            params.window_bits(peer),
            no_context_takeover=params.no_context_takeover(peer),
            max_size=max_size,
        )
        self._inflating = False  # inside a compressed message that arrives in fragments

    def encode(
        self,
        data: str | bytes,
        *,
        opcode: Opcode | None = None,
        fragment_size: int | None = None,
        compress: bool = True,
    ) -> list[Frame]:
        """Frames for one message (TEXT for ``str``, BINARY for ``bytes``, or ``opcode``).

        The payload is compressed as a whole and split after compression;
        ``fragment_size`` splits the compressed bytes. ``compress=False`` sends
        this message as it is, RSV1 clear (§6: allowed on a per-message basis).
        """
        if opcode is None:
            opcode = Opcode.TEXT if isinstance(data, str) else Opcode.BINARY
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if compress:
            payload = self.compressor.compress(payload)
        size = fragment_size or max(len(payload), 1)
        chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        last = len(chunks) - 1
        return [
            # §6: "the Per-Message Compressed bit" is set on the first frame only.
            Frame(
                i == last,
                opcode if i == 0 else Opcode.CONTINUATION,
                chunk,
                rsv1=compress and i == 0,
            )
            for i, chunk in enumerate(chunks)
        ]

    def decode(self, frame: Frame) -> Frame:
        """The frame with its payload inflated and RSV1 cleared (uncompressed frames unchanged).

        §6.1: "An endpoint MUST NOT set the 'Per-Message Compressed' bit of
        control frames and non-first fragments of a data message. An endpoint
        receiving such a frame MUST _Fail the WebSocket Connection_."
        """
        if frame.opcode.is_control:
            if frame.rsv1:
                raise ProtocolError(f"RSV1 set on a {frame.opcode.name} frame")
            return frame
        if frame.opcode is Opcode.CONTINUATION:
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a continuation frame")
            if not self._inflating:
                return frame  # a fragment of an uncompressed message
        elif not frame.rsv1:
            return frame  # an uncompressed message
        self._inflating = not frame.fin
        payload = self.decompressor.decompress(frame.payload, frame.fin)
        return Frame(frame.fin, frame.opcode, payload, False, frame.rsv2, frame.rsv3, frame.mask)


# --- What it costs (notebook 10) -------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """What permessage-deflate costs on one stream of messages with one configuration.

    ``ratio`` is compressed bytes / original bytes over the whole stream;
    ``compress_us`` / ``decompress_us`` the CPU time per message;
    ``idle_bytes`` what one connection (a compressor for what it sends and a
    decompressor for what it receives) keeps allocated between messages, and
    ``peak_bytes`` the most it held while working on a message.
    """

    kind: str
    window_bits: int
    context_takeover: bool
    mem_level: int
    ratio: float
    compress_us: float
    decompress_us: float
    idle_bytes: int
    peak_bytes: int


def sample_messages(kind: str, count: int = 100) -> list[bytes]:
    """Realistic, reproducible messages: ``"chat"``, ``"random"`` or ``"document"``.

    chat: small JSON chat lines (about 120 bytes, much alike); random: 1 KiB
    of random bytes (what encrypted or already-compressed data looks like);
    document: a JSON document of about 100 kB (a list of records).
    """
    import json
    import random

    rng = random.Random(7)  # the same messages on every run
    words = [
        "ok",
        "sure",
        "lunch",
        "at",
        "noon?",
        "the",
        "build",
        "is",
        "green",
        "again",
        "see",
        "you",
        "soon",
        "thanks",
    ]
    if kind == "chat":
        return [
            json.dumps(
                {
                    "type": "message",
                    "room": "general",
                    "user": f"user{rng.randrange(40)}",
                    "text": " ".join(rng.choices(words, k=rng.randrange(3, 9))),
                    "ts": 1_764_000_000_000 + i * 1_337,
                }
            ).encode()
            for i in range(count)
        ]
    if kind == "random":
        return [rng.randbytes(1024) for _ in range(count)]
    if kind == "document":
        return [
            json.dumps(
                [
                    {
                        "id": n,
                        "name": f"item {n}",
                        "owner": f"user{rng.randrange(40)}",
                        "tags": rng.sample(words, 3),
                        "price": round(rng.uniform(1, 500), 2),
                        "in_stock": rng.random() < 0.8,
                    }
                    for n in range(900)
                ]
            ).encode()
            for _ in range(count)
        ]
    raise ValueError(f"kind must be 'chat', 'random' or 'document', not {kind!r}")


def connection_memory(
    params: Params, message: bytes, *, client: bool = False, mem_level: int = 8
) -> tuple[int, int]:
    """``(idle, peak)`` bytes of one connection's compression state, measured.

    zlib allocates through Python's raw allocator, so :mod:`tracemalloc` sees
    every byte of its windows and hash tables. The endpoint (the server unless
    ``client``) sends ``message`` once and receives it once, compressed by its
    peer; ``idle`` is what stays allocated afterwards (what every idle
    connection costs), ``peak`` the high-water mark while working.
    """
    import tracemalloc

    peer = PerMessageDeflate(params, client=not client)
    incoming = peer.encode(message)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        endpoint = PerMessageDeflate(params, client=client, mem_level=mem_level)
        endpoint.encode(message)
        for frame in incoming:
            endpoint.decode(frame)
        current, peak = tracemalloc.get_traced_memory()
        del endpoint
        return current - before, peak - before
    finally:
        if started:
            tracemalloc.stop()


def measure(
    kind: str,
    window_bits: int = 15,
    context_takeover: bool = True,
    *,
    mem_level: int = 8,
    messages: list[bytes] | None = None,
    repeat: int = 2,
) -> Cost:
    """Compress and inflate a stream of ``kind`` messages; return the :class:`Cost`.

    Times are the process's CPU time (``time.process_time``: other programs
    on a busy machine do not count), the best of ``repeat`` runs over the
    whole stream, divided by the number of messages. Memory is measured in a
    separate pass, because tracing allocations slows everything down.
    """
    import time

    messages = (
        messages
        if messages is not None
        else sample_messages(kind, 80 if kind != "document" else 3)
    )
    nct = not context_takeover
    best_c = best_d = float("inf")
    compressed: list[bytes] = []
    for _ in range(repeat):
        compressor = Compressor(window_bits, no_context_takeover=nct, mem_level=mem_level)
        start = time.process_time()
        compressed = [compressor.compress(m) for m in messages]
        best_c = min(best_c, time.process_time() - start)
        decompressor = Decompressor(window_bits, no_context_takeover=nct)
        start = time.process_time()
        inflated = [decompressor.decompress(c) for c in compressed]
        best_d = min(best_d, time.process_time() - start)
        if inflated != messages:
            raise AssertionError("round trip changed the messages")
    both = Params(nct, nct, window_bits, window_bits)
    idle, peak = connection_memory(both, messages[0], mem_level=mem_level)
    return Cost(
        kind,
        window_bits,
        context_takeover,
        mem_level,
        ratio=sum(map(len, compressed)) / sum(map(len, messages)),
        compress_us=best_c / len(messages) * 1e6,
        decompress_us=best_d / len(messages) * 1e6,
        idle_bytes=idle,
        peak_bytes=peak,
    )
