"""RFC 6455 §5 framing, sans-I/O: bytes in, frames out, and back.

Theory of operation
-------------------
After the handshake, each direction of a WebSocket connection is a stream of
*frames*. A frame is a 2-byte header, an optional extended length, an optional
4-byte masking key and the payload (RFC 6455 §5.2)::

    byte 0   FIN RSV1 RSV2 RSV3 | opcode (4 bits)
    byte 1   MASK | payload length (7 bits): 0..125, or 126 / 127 meaning
             "the real length follows in 2 / 8 bytes" (network byte order)
    then     masking key (4 bytes), present when MASK is 1
    then     payload (XOR-ed with the key when MASK is 1)

A *message* is one frame with FIN=1, or a TEXT/BINARY frame with FIN=0 followed
by CONTINUATION frames, the last one with FIN=1 (§5.4). Control frames (CLOSE,
PING, PONG) are never fragmented and may appear between the fragments.

This module knows nothing about sockets. :func:`decode_frame` looks at a byte
string and returns a :class:`Frame` plus how many bytes it used, or ``None``
when it needs more; :class:`FrameReader` does the same for a stream that arrives
in chunks; :class:`Assembler` turns frames into :class:`Message` objects.
Every broken rule raises :class:`ProtocolError` carrying the close code
(§7.4.1) that the peer should be sent before the connection is dropped.

Close-frame payloads (code + reason) are checked by :mod:`wslearn.close`.
"""

from __future__ import annotations

import codecs
import enum
import os
import struct
import sys
from dataclasses import dataclass
from typing import NamedTuple

try:  # numpy comes with matplotlib; the module still works without it.
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only where numpy is missing
    _np = None

__all__ = [
    "Assembler",
    "Frame",
    "FrameReader",
    "Message",
    "Opcode",
    "ProtocolError",
    "apply_mask",
    "decode_frame",
    "encode_frame",
    "fragment",
]

# Close codes used here besides ProtocolError's default, 1002 "protocol error"
# (§7.4.1). The full table lives in wslearn.close.
INVALID_DATA = 1007  # e.g. a text message that is not UTF-8
MESSAGE_TOO_BIG = 1009


class ProtocolError(Exception):
    """A peer broke a protocol rule; ``code`` is the close code to answer with."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class Opcode(enum.IntEnum):
    """The 4-bit opcode of §5.2. Values 3-7 and 0xB-0xF are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """CLOSE, PING, PONG: "opcodes where the most significant bit ... is 1" (§5.5)."""
        return bool(self & 0x8)

    @property
    def is_data(self) -> bool:
        """CONTINUATION, TEXT, BINARY: the frames that carry a message."""
        return not self & 0x8


def _short(data: bytes | str, limit: int = 24) -> str:
    """repr() of a payload, cut short when long (keeps notebooks readable)."""
    if len(data) <= limit:
        return repr(data)
    unit = "bytes" if isinstance(data, bytes) else "characters"
    return f"{data[:16]!r}...({len(data)} {unit})"


@dataclass(frozen=True, repr=False, init=False)
class Frame:
    """One WebSocket frame, as it is (or will be) on the wire.

    ``payload`` is always the *unmasked* application data. ``mask`` is the
    4-byte masking key that was on the wire (after decoding) or that should be
    used (when encoding), or ``None`` for an unmasked frame. Keeping the key
    lets a learner see it and lets ``encode_frame(decode_frame(b)[0])``
    reproduce ``b`` byte for byte.
    """

    fin: bool
    opcode: Opcode
    payload: bytes
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask: bytes | None = None

    def __init__(
        self,
        fin: bool,
        opcode: Opcode | int,
        payload: bytes | bytearray | memoryview,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        mask: bytes | None = None,
    ) -> None:
        # Normalise on construction, so that every Frame in the program is sane.
        # (The `type(...) is` tests keep the common case cheap.)
        if type(opcode) is not Opcode:
            opcode = Opcode(opcode)  # ValueError if reserved
        if type(payload) is not bytes:
            if isinstance(payload, str):
                raise TypeError("payload must be bytes; encode text with .encode()")
            payload = bytes(payload)
        if mask is not None and (type(mask) is not bytes or len(mask) != 4):
            mask = bytes(mask)
            if len(mask) != 4:
                raise ValueError(f"a masking key is 4 bytes, got {len(mask)}")
        # Frozen: fill the instance dict directly, as dataclass's own __init__
        # does through object.__setattr__, only in one call (frames are hot).
        self.__dict__.update(
            fin=fin, opcode=opcode, payload=payload, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=mask
        )

    def check(self) -> None:
        """Raise :class:`ProtocolError` if this frame breaks the control-frame rules (§5.5)."""
        if self.opcode & 0x8:  # control (the int test: enum properties are slow)
            # §5.5: "All control frames MUST have a payload length of 125 bytes or less
            # and MUST NOT be fragmented."
            if len(self.payload) > 125:
                raise ProtocolError(f"{self.opcode.name} payload is {len(self.payload)} > 125")
            if not self.fin:
                raise ProtocolError(f"fragmented control frame ({self.opcode.name} with FIN=0)")

    def __repr__(self) -> str:
        parts = [f"fin={self.fin}", f"opcode=Opcode.{self.opcode.name}"]
        parts.append(f"payload={_short(self.payload)}")
        parts += [f"{name}=True" for name in ("rsv1", "rsv2", "rsv3") if getattr(self, name)]
        if self.mask is not None:
            parts.append(f"mask=bytes.fromhex({self.mask.hex()!r})")
        return f"Frame({', '.join(parts)})"


# --- Masking (§5.3) -----------------------------------------------------------

# Below this size the big-integer XOR wins (each numpy call costs about a µs);
# above it numpy wins, by 10-20x at 64 KiB. Measured on the course machines.
_NUMPY_THRESHOLD = 2048
# From here on a payload is unmasked in place (see _unmask_in_place); below it,
# into a fresh array, which costs fewer numpy calls.
_IN_PLACE_THRESHOLD = 2**17


def _xor_small(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """The small-payload mask: the whole payload as ONE big integer, XOR-ed at once.

    CPython does big-integer XOR in C, 30 bits at a time, with no Python loop
    per byte; below :data:`_NUMPY_THRESHOLD` nothing is faster.
    """
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


# §5.3: "The masking key needs to be unpredictable; thus, the masking key MUST be
# derived from a strong source of entropy". Keys come from os.urandom (the OS's
# CSPRNG, what secrets.token_bytes calls), drawn 1,024 keys per system call:
# a call per 4-byte key cost more than encoding a small frame. The block never
# leaves this module, and a forked child starts a fresh one.
_KEY_BLOCK = 4096
_keys = b""
_keys_at = 0


def _random_key() -> bytes:
    global _keys, _keys_at
    at = _keys_at
    if at >= len(_keys):
        _keys, at = os.urandom(_KEY_BLOCK), 0
    _keys_at = at + 4
    return _keys[at : at + 4]


def _forget_keys() -> None:
    global _keys, _keys_at
    _keys, _keys_at = b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_keys)


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated; masking and unmasking are the same.

    §5.3: "Octet i of the transformed data ("transformed-octet-i") is the XOR of
    octet i of the original data ("original-octet-i") with octet at index
    i modulo 4 of the masking key ("masking-key-octet-j")".
    """
    if len(mask) != 4:
        raise ValueError(f"a masking key is 4 bytes, got {len(mask)}")
    return _masked_after(b"", data, bytes(mask))


def _masked_after(prefix: bytes, data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """``prefix + apply_mask(data, mask)``, built in one buffer (prefix: at most 16 bytes).

    The encoder passes the frame header as ``prefix``, which saves copying a
    big payload once more just to glue the header in front of it.
    """
    n = len(data)
    if n < _NUMPY_THRESHOLD or _np is None:
        return prefix + _xor_small(data, mask)
    # The trick: XOR 64-bit words, not bytes, with the key written twice
    # (8 bytes = 2 keys, so byte i still meets key[i % 4]), from the input
    # straight into a fresh numpy array: one pass at memory speed, then one
    # copy out. (numpy 2 reads unaligned 64-bit words at about the speed of an
    # aligned copy; measured here, copying first and XOR-ing in place was no
    # faster.) Two spare words in front hold the prefix (the encoder's frame
    # header), so the result needs no further copy to glue them together.
    key = _np.uint64(int.from_bytes(mask * 2, sys.byteorder))  # as the words lie in memory
    whole = n >> 3  # complete 64-bit words in the payload
    start = 16 - len(prefix)
    words = _np.empty(2 + (n + 7) // 8, dtype=_np.uint64)
    as_bytes = words.view(_np.uint8)
    if prefix:
        as_bytes[start:16] = _np.frombuffer(prefix, dtype=_np.uint8)
    _np.bitwise_xor(_np.frombuffer(data, _np.uint64, whole), key, out=words[2 : 2 + whole])
    if n & 7:  # the last, partial word
        as_bytes[16 + 8 * whole : 16 + n] = _np.frombuffer(data, _np.uint8, offset=8 * whole)
        words[2 + whole] ^= key
    return as_bytes[start : 16 + n].tobytes()


def _unmask_in_place(buffer: memoryview, mask: bytes) -> None:
    """XOR a big, writable ``buffer`` with ``mask`` repeated, where it lies.

    For a megabyte this is 4-5x faster than :func:`_masked_after` on the same
    bytes (measured here), for two reasons. A fresh megabyte array costs more
    than the XOR: glibc gives a freed megabyte back to the OS and the next one
    page-faults in again, while the reader's receive buffer is already in
    memory. And numpy XORs misaligned 64-bit words about 3x slower than words
    on 8-byte boundaries, so the few bytes before the first boundary are done
    apart, with :func:`_xor_small`, and the key is rotated to meet the words
    after them in step (byte ``head + j`` meets ``mask[(head + j) % 4]``).
    """
    in_place = _np.frombuffer(buffer, _np.uint8)
    n = len(in_place)
    head = min(-in_place.__array_interface__["data"][0] % 8, n)  # bytes before a boundary
    rotated = mask[head % 4 :] + mask[: head % 4]
    end = head + ((n - head) & ~7)
    words = in_place[head:end].view(_np.uint64)
    _np.bitwise_xor(words, _np.uint64(int.from_bytes(rotated * 2, sys.byteorder)), out=words)
    del in_place, words  # numpy holds the buffer until its arrays are gone
    if head:
        buffer[:head] = _xor_small(buffer[:head], mask)
    if end < n:  # the last, partial word (end - head is a multiple of 4)
        buffer[end:] = _xor_small(buffer[end:], rotated)


# --- Encoding -----------------------------------------------------------------


def encode_frame(frame: Frame, mask: bytes | bool | None = None, *, check: bool = True) -> bytes:
    """Serialise ``frame`` into wire bytes.

    ``mask`` chooses the masking key:

    * ``None`` (default): use ``frame.mask`` (so a decoded frame re-encodes to
      the same bytes); unmasked when that is ``None`` too.
    * ``True``: a fresh random key, as a client must use for every frame. §5.3:
      "the masking key MUST be derived from a strong source of entropy", hence
      :func:`os.urandom` (the OS's CSPRNG, drawn in blocks of keys).
    * ``False``: unmasked, as a server must send. §5.1: "A server MUST NOT mask
      any frames that it sends to the client."
    * 4 bytes: that key (the RFC examples use ``37 fa 21 3d``).

    The length always uses the minimal encoding (§5.2). ``check=False`` skips
    :meth:`Frame.check`, to build a broken frame on purpose (e.g. to watch a
    server answer with close code 1002).
    """
    opcode = frame.opcode
    if check and opcode & 0x8:  # only control frames have rules to check
        frame.check()
    if mask is None:
        key = frame.mask
    elif mask is True:
        key = _random_key()
    elif mask is False:
        key = None
    else:
        key = bytes(mask)
        if len(key) != 4:
            raise ValueError(f"a masking key is 4 bytes, got {len(key)}")

    head1 = (0x80 if frame.fin else 0) | opcode
    if frame.rsv1 or frame.rsv2 or frame.rsv3:
        head1 |= (0x40 if frame.rsv1 else 0) | (0x20 if frame.rsv2 else 0)
        head1 |= 0x10 if frame.rsv3 else 0
    payload = frame.payload
    length = len(payload)
    # §5.2: "the minimal number of bytes MUST be used to encode the length".
    if length <= 125:
        # The lean path for small frames: two header bytes from one int, no struct.
        if key is None:
            return (head1 << 8 | length).to_bytes(2, "big") + payload
        return (head1 << 8 | 0x80 | length).to_bytes(2, "big") + key + _xor_small(payload, key)
    mask_bit = 0x80 if key is not None else 0
    if length <= 0xFFFF:
        header = struct.pack("!BBH", head1, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", head1, mask_bit | 127, length)
    if key is None:
        return header + payload
    return _masked_after(header + key, payload, key)


# --- Decoding -----------------------------------------------------------------


class _Header(NamedTuple):
    """Everything before the payload; ``size`` counts the header bytes, key included."""

    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: Opcode
    length: int
    mask: bytes | None
    size: int


_new_frame = object.__new__
_OPCODES = {op.value: op for op in Opcode}  # a dict lookup is 10x faster than Opcode(n)


def _parse_header(
    data: bytes | bytearray | memoryview,
    max_size: int | None,
    expect_masked: bool | None,
    allow_rsv1: bool,
) -> _Header | None:
    """Parse a frame header, or return ``None`` if ``data`` is too short to hold it.

    Rules are checked in the order their bytes arrive, so a broken frame fails
    as early as possible, and with the same error however the bytes were chunked.
    """
    available = len(data)
    if available < 1:
        return None
    head1 = data[0]
    # (Plain int tests on the header bytes: this runs once per frame, and
    # properties of enum members cost a microsecond each.)
    # §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings
    # for non-zero values." The only extension in common use, permessage-deflate
    # (RFC 7692), sets RSV1; pass allow_rsv1=True when it was negotiated.
    if head1 & 0x70 and (head1 & 0x30 or not allow_rsv1):
        bits = [
            name for name, bit in (("RSV1", 0x40), ("RSV2", 0x20), ("RSV3", 0x10)) if head1 & bit
        ]
        raise ProtocolError(f"reserved bit {'+'.join(bits)} set but no extension uses it")
    # §5.2: "If an unknown opcode is received, the receiving endpoint MUST
    # _Fail the WebSocket Connection_." (%x3-7 and %xB-F are reserved.)
    opcode = _OPCODES.get(head1 & 0x0F)
    if opcode is None:
        raise ProtocolError(f"reserved opcode {head1 & 0x0F:#x}")
    control = head1 & 0x08
    # §5.5: control frames "MUST NOT be fragmented".
    if control and not head1 & 0x80:
        raise ProtocolError(f"fragmented control frame ({opcode.name} with FIN=0)")

    if available < 2:
        return None
    head2 = data[1]
    masked = head2 & 0x80
    # §5.1: "The server MUST close the connection upon receiving a frame that is
    # not masked." and "A client MUST close a connection if it detects a masked frame."
    if expect_masked is True and not masked:
        raise ProtocolError("client frame is not masked")
    if expect_masked is False and masked:
        raise ProtocolError("server frame is masked")
    length = head2 & 0x7F
    # §5.5: "All control frames MUST have a payload length of 125 bytes or less".
    # 126 and 127 announce an extended length, so they break it too.
    if control and length > 125:
        raise ProtocolError(f"{opcode.name} frame with a payload over 125 bytes")

    # Non-minimal lengths (126 in 2 bytes, 1000 in 8 bytes, ...) are REJECTED.
    # §5.2: "in all cases, the minimal number of bytes MUST be used to encode the
    # length, for example, the length of a 124-byte-long string can't be encoded
    # as the sequence 126, 0, 124." wsproto and Chromium/WebKit fail the
    # connection with 1002; websockets accepts such frames. A sender that breaks a
    # MUST is broken, and accepting it would let two encodings mean one frame.
    size = 2
    if length == 126:
        if available < 4:
            return None
        length = int.from_bytes(data[2:4], "big")
        size = 4
        if length <= 125:
            raise ProtocolError(f"length {length} sent in 2 bytes; 7 bits must be used")
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(data[2:10], "big")
        size = 10
        # §5.2: "the following 8 bytes interpreted as a 64-bit unsigned integer
        # (the most significant bit MUST be 0)".
        if length >> 63:
            raise ProtocolError("64-bit length with the most significant bit set")
        if length <= 0xFFFF:
            raise ProtocolError(f"length {length} sent in 8 bytes; 2 bytes must be used")
    # Checked from the header alone, before a single payload byte is buffered.
    # §7.4.1: 1009 means "a message that is too big for it to process".
    if max_size is not None and length > max_size:
        raise ProtocolError(f"frame of {length} bytes exceeds max_size={max_size}", MESSAGE_TOO_BIG)

    key = None
    if masked:
        if available < size + 4:
            return None
        key = data[size : size + 4]
        if type(key) is not bytes:
            key = bytes(key)
        size += 4
    return _Header(
        head1 & 0x80 != 0,
        head1 & 0x40 != 0,
        head1 & 0x20 != 0,
        head1 & 0x10 != 0,
        opcode,
        length,
        key,
        size,
    )


def _frame_from(
    header: _Header, data: bytes | bytearray | memoryview, *, own: bool = False
) -> Frame:
    """Build the Frame whose header is ``header`` from the complete frame in ``data``.

    ``own=True`` says ``data`` is the caller's own scratch buffer (a bytearray it
    drops the frame from next): a big payload is then unmasked where it lies.
    """
    start, end = header.size, header.size + header.length
    if header.length < _NUMPY_THRESHOLD:
        raw = data[start:end]  # small: a plain slice is the cheapest copy
        payload = bytes(raw) if header.mask is None else _xor_small(raw, header.mask)
    elif (
        header.mask is not None
        and header.length < _IN_PLACE_THRESHOLD
        and not header.length & 7
        and _np is not None
    ):
        # Mid-sized and whole 64-bit words (64 KiB, ...): XOR them straight out
        # of the buffer into a new array, with no view or slice in between.
        key = _np.uint64(int.from_bytes(header.mask * 2, sys.byteorder))
        payload = (_np.frombuffer(data, _np.uint64, header.length >> 3, start) ^ key).tobytes()
    else:
        # Big: look at the payload in place instead of slicing out a copy first.
        with memoryview(data) as view, view[start:end] as raw:
            if header.mask is None:
                payload = bytes(raw)
            elif header.length < _IN_PLACE_THRESHOLD or _np is None:
                payload = _masked_after(b"", raw, header.mask)
            else:  # unmask the reader's own buffer (or a copy) where it lies, copy out once
                target = raw if own else memoryview(bytearray(raw))
                _unmask_in_place(target, header.mask)
                payload = bytes(target)
        # (Both views are released here, so a bytearray caller may resize its buffer.)
    # The header was checked and the payload is bytes: fill the frame in directly.
    frame = _new_frame(Frame)
    frame.__dict__.update(
        fin=header.fin,
        opcode=header.opcode,
        payload=payload,
        rsv1=header.rsv1,
        rsv2=header.rsv2,
        rsv3=header.rsv3,
        mask=header.mask,
    )
    return frame


# The lean path's first bytes: FIN + opcode with RSV1-3 clear, for every frame
# that breaks no rule in its first byte (control frames only with FIN set, §5.5).
_LEAN_FIRST = {
    (0x80 if fin else 0) | op: (fin, op)
    for op in Opcode
    for fin in (False, True)
    if fin or not op & 0x8
}


def _lean_frame(
    data: bytes | bytearray | memoryview, max_size: int | None, expect_masked: bool | None
) -> tuple[Frame, int] | None:
    """A complete short frame (payload < 126 bytes) that breaks no rule, decoded fast.

    Small frames are most of the frames of a chat or a game, and their cost is
    all per-frame overhead, so this path does the fewest steps: two header
    bytes looked up as ints, no header object, the mask as one big-integer XOR.
    Anything else (longer, incomplete, or breaking a rule) returns ``None``
    and takes the general path, which says exactly what is wrong.
    """
    if len(data) < 2:
        return None
    first = _LEAN_FIRST.get(data[0])
    head2 = data[1]
    length = head2 & 0x7F
    if first is None or length > 125 or (max_size is not None and length > max_size):
        return None
    if head2 & 0x80:
        end = 6 + length
        if expect_masked is False or len(data) < end:
            return None
        key = bytes(data[2:6])
        mask = (key * (length // 4 + 1))[:length]
        masked = int.from_bytes(data[6:end], "little") ^ int.from_bytes(mask, "little")
        payload = masked.to_bytes(length, "little")
    else:
        end = 2 + length
        if expect_masked is True or len(data) < end:
            return None
        key, payload = None, bytes(data[2:end])
    frame = _new_frame(Frame)
    frame.__dict__.update(
        fin=first[0], opcode=first[1], payload=payload, rsv1=False, rsv2=False, rsv3=False, mask=key
    )
    return frame, end


def decode_frame(
    data: bytes | bytearray | memoryview,
    *,
    max_size: int | None = None,
    expect_masked: bool | None = None,
    allow_rsv1: bool = False,
) -> tuple[Frame, int] | None:
    """Decode the frame at the start of ``data``.

    Returns ``(frame, consumed)`` with the payload unmasked and ``frame.mask``
    set to the key that was on the wire, or ``None`` when ``data`` holds only
    part of a frame. Bytes after the frame are not looked at.

    ``expect_masked``: ``True`` for a server reading a client, ``False`` for a
    client reading a server, ``None`` to accept both (e.g. reading a capture).
    ``max_size`` limits the payload length (close code 1009).
    Raises :class:`ProtocolError` as soon as the available bytes break a rule.
    """
    lean = _lean_frame(data, max_size, expect_masked)
    if lean is not None:
        return lean
    header = _parse_header(data, max_size, expect_masked, allow_rsv1)
    if header is None:
        return None
    end = header.size + header.length
    if len(data) < end:
        return None
    return _frame_from(header, data), end


class FrameReader:
    """Incremental decoder: feed bytes as they arrive, get complete frames back.

    Chunks may be any size, one byte included. The header is parsed once per
    frame and the payload is copied out once, so a big frame arriving in many
    pieces costs linear time. After a :class:`ProtocolError` the connection is
    finished (§7.1.7 "_Fail the WebSocket Connection_"), and so is the reader.
    """

    def __init__(
        self,
        *,
        max_size: int | None = None,
        expect_masked: bool | None = None,
        allow_rsv1: bool = False,
    ) -> None:
        self.max_size = max_size
        self.expect_masked = expect_masked
        self.allow_rsv1 = allow_rsv1
        self._buffer = bytearray()
        self._header: _Header | None = None  # header of the frame being received
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a frame."""
        return len(self._buffer)

    def receive(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data``; take the frames it completes out with :meth:`next_frame`."""
        self._buffer += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, or ``None`` when more bytes are needed.

        Raises :class:`ProtocolError` at the first broken frame, only after
        every frame before it has been returned, so a peer can act on those
        (answer a ping, deliver a message) before it fails the connection.
        """
        if self._error is not None:
            raise ProtocolError(f"reader already failed: {self._error}", self._error.code)
        try:
            return self._next_frame()
        except ProtocolError as exc:
            self._error = exc
            raise

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data`` and return every frame it completed (possibly none).

        A shortcut for :meth:`receive` then :meth:`next_frame` until ``None``.
        If ``data`` holds a broken frame the error is raised and the good frames
        before it in the same call are not returned: use the two-step form
        where each frame must be acted on first (a server, say).
        """
        self.receive(data)
        frames = []
        while (frame := self.next_frame()) is not None:
            frames.append(frame)
        return frames

    def _next_frame(self) -> Frame | None:
        if self._header is None:
            lean = _lean_frame(self._buffer, self.max_size, self.expect_masked)
            if lean is not None:
                del self._buffer[: lean[1]]
                return lean[0]
            self._header = _parse_header(
                self._buffer, self.max_size, self.expect_masked, self.allow_rsv1
            )
            if self._header is None:
                return None
        end = self._header.size + self._header.length
        if len(self._buffer) < end:
            return None  # wait for the rest of the payload; nothing re-parsed meanwhile
        frame = _frame_from(self._header, self._buffer, own=True)
        del self._buffer[:end]  # CPython drops a bytearray's head without copying the tail
        self._header = None
        return frame


# --- Messages (§5.4 fragmentation, §5.6 data frames) ----------------------------


def fragment(payload: str | bytes, opcode: Opcode = Opcode.TEXT, size: int = 4096) -> list[Frame]:
    """Split one message into frames of at most ``size`` payload bytes.

    §5.4: the first frame carries the opcode with FIN=0, the rest are
    CONTINUATION frames, and the last has FIN=1. An empty message is one empty
    frame. Text is split on bytes, not characters: a code point may straddle
    two frames, and only the whole message must be valid UTF-8.
    """
    if isinstance(payload, str):
        if opcode != Opcode.TEXT:
            raise TypeError("str payloads are sent as TEXT; pass bytes for BINARY")
        payload = payload.encode("utf-8")
    if opcode not in (Opcode.TEXT, Opcode.BINARY):
        raise ValueError(f"only TEXT and BINARY messages are fragmented, not {opcode!r}")
    if size < 1:
        raise ValueError("size must be at least 1")
    data = bytes(payload)
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    last = len(chunks) - 1
    return [
        Frame(fin=i == last, opcode=opcode if i == 0 else Opcode.CONTINUATION, payload=chunk)
        for i, chunk in enumerate(chunks)
    ]


@dataclass(frozen=True, repr=False)
class Message:
    """A complete data message: ``str`` for TEXT, ``bytes`` for BINARY."""

    opcode: Opcode
    data: str | bytes

    def __repr__(self) -> str:
        return f"Message(opcode=Opcode.{self.opcode.name}, data={_short(self.data)})"


class Assembler:
    """Turn a stream of frames into messages, enforcing §5.4 and §5.6.

    :meth:`feed` returns a :class:`Message` when a frame completes one, the
    frame itself for a control frame (the caller answers PING, handles CLOSE),
    and ``None`` for a fragment that was absorbed.
    """

    def __init__(self, *, max_size: int | None = None) -> None:
        self.max_size = max_size
        self._opcode: Opcode | None = None  # opcode of the message in progress
        self._parts: list = []  # str pieces for TEXT, bytes pieces for BINARY
        self._size = 0
        self._decoder: codecs.IncrementalDecoder | None = None

    @property
    def in_message(self) -> bool:
        """True between the first and the last fragment of a message."""
        return self._opcode is not None

    def feed(self, frame: Frame) -> Message | Frame | None:
        """Take the next frame; see the class docstring for what comes back."""
        if frame.opcode.is_control:
            # §5.4: "Control frames (see Section 5.5) MAY be injected in the middle
            # of a fragmented message."
            return frame
        if frame.opcode is Opcode.CONTINUATION:
            if self._opcode is None:
                raise ProtocolError("CONTINUATION frame but no message was started")
        else:
            # §5.4: "The fragments of one message MUST NOT be interleaved between
            # the fragments of another message unless an extension has been negotiated"
            if self._opcode is not None:
                raise ProtocolError(
                    f"{frame.opcode.name} frame inside a fragmented {self._opcode.name} message"
                )
            self._opcode = frame.opcode
            if frame.opcode is Opcode.TEXT:
                self._decoder = codecs.getincrementaldecoder("utf-8")()

        self._size += len(frame.payload)
        if self.max_size is not None and self._size > self.max_size:
            raise ProtocolError(
                f"message of {self._size}+ bytes exceeds max_size={self.max_size}",
                MESSAGE_TOO_BIG,
            )
        if self._decoder is not None:
            # §8.1: an endpoint that finds a text stream is not UTF-8 "MUST _Fail the
            # WebSocket Connection_"; decoding each fragment as it comes fails on the
            # first bad byte, while a code point split across fragments waits for its tail.
            try:
                self._parts.append(self._decoder.decode(frame.payload, frame.fin))
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"invalid UTF-8 in TEXT message: {exc}", INVALID_DATA) from None
        else:
            self._parts.append(frame.payload)

        if not frame.fin:
            return None
        opcode, parts = self._opcode, self._parts
        self._opcode, self._parts, self._size, self._decoder = None, [], 0, None
        data = "".join(parts) if opcode is Opcode.TEXT else b"".join(parts)
        return Message(opcode, data)
