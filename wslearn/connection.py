"""One WebSocket endpoint, client or server side, sans-I/O (notebook 06).

Bytes from the peer go in with :meth:`Connection.receive_data`, events come
out (:class:`~wslearn.framing.Message`, :class:`Ping`, :class:`Pong`,
:class:`Close`); what the application sends goes in with ``send_*`` and the
bytes to write come out of :meth:`Connection.data_to_send`. No sockets, no
clocks, no tasks: :mod:`wslearn.scratch`, the slow consumer of notebook 05 and
:mod:`wslearn.raw` wrap this one object in asyncio, and a test can drive it
with plain byte strings (the shape of websockets' ``Protocol`` and wsproto's
``Connection``).

Everything protocol-shaped is delegated: frames to :mod:`wslearn.framing`
(``FrameReader``, ``Assembler``, ``encode_frame``), close payloads to
:mod:`wslearn.close`. Three decisions are public functions with the
signatures notebook 06's exercises use, and each can be swapped for another
one with a constructor argument (no subclass): :func:`pong_for`,
:func:`reassemble` and :func:`close_reply`.

Theory of operation: the closing handshake
------------------------------------------
A connection is OPEN until a close frame goes one way or the other (§7.1.2):

* the application calls :meth:`~Connection.send_close`: our close frame goes
  out, we are CLOSING, and we still deliver what the peer sends until its close
  frame comes back (§7.1.2: data may still arrive);
* the peer's close frame arrives first: we answer at once with
  ``close_reply(payload)`` (§5.5.1 "the endpoint MUST send a Close frame in
  response") and the handshake is complete: CLOSED;
* a rule is broken (a :class:`~wslearn.framing.ProtocolError`, or a pluggable
  piece that raised): we send a close frame carrying the error's code and
  stop looking at the peer's bytes (§7.1.7 "_Fail the WebSocket
  Connection_"): CLOSING, with :attr:`~Connection.error` set;
* the TCP connection ends (:meth:`~Connection.receive_eof`): CLOSED, and
  without a close frame from the peer the code is 1006 (§7.1.5).

The whole machine is :data:`TRANSITIONS`, one ``(state, input) -> state``
table (h11's way); :func:`wslearn.plots.closing_states` draws it. Once
CLOSED, or after failing, :attr:`~Connection.close_tcp` says the TCP connection
should now be closed; the server closes it first (§7.1.1).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from wslearn.close import CloseCode, decode_close, encode_close
from wslearn.deflate import Params, PerMessageDeflate
from wslearn.framing import (
    Assembler,
    Frame,
    FrameReader,
    Message,
    Opcode,
    ProtocolError,
    encode_frame,
    fragment,
)

__all__ = [
    "MAX_CONTROL_PAYLOAD",
    "MAX_FRAGMENTS",
    "MAX_SIZE",
    "TRANSITIONS",
    "Close",
    "Connection",
    "Event",
    "Input",
    "InvalidState",
    "Ping",
    "Pong",
    "State",
    "close_reply",
    "pong_for",
    "reassemble",
]

MAX_SIZE = 2**20  # bytes in one message (websockets' default too)
MAX_FRAGMENTS = 4096  # frames in one message (websockets' default too)
MAX_CONTROL_PAYLOAD = (
    125  # §5.5: "All control frames MUST have a payload length of 125 bytes or less"
)


# --- events: what receive_data() returns ------------------------------------------------------


@dataclass(frozen=True)
class Ping:
    """The peer sent a PING; the PONG is already queued (while OPEN)."""

    payload: bytes


@dataclass(frozen=True)
class Pong:
    """The peer sent a PONG (an answer to one of our pings, or unsolicited, §5.5.3)."""

    payload: bytes


@dataclass(frozen=True)
class Close:
    """The peer's close frame: ``code`` 1005 when it had no payload (§7.1.5)."""

    code: int
    reason: str


Event = Message | Ping | Pong | Close


# --- the closing handshake as one table ---------------------------------------------------------


class State(enum.IntEnum):
    """Where the closing handshake stands (the numbers are the browser's ``readyState``)."""

    OPEN = 1
    CLOSING = 2  # our close frame is out, the peer's has not arrived
    CLOSED = 3  # both close frames exchanged, or TCP ended


class Input(enum.Enum):
    """What moves the closing handshake along."""

    SEND_CLOSE = "send close"  # the application closes
    RECEIVE_CLOSE = "receive close"  # the peer's close frame arrives
    FAIL = "fail"  # a broken rule: send a close frame with its code, read no more
    EOF = "TCP ends"  # the peer (or the network) ended the TCP connection


TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.OPEN, Input.SEND_CLOSE): State.CLOSING,
    (State.OPEN, Input.RECEIVE_CLOSE): State.CLOSED,  # our reply goes out at once
    (State.OPEN, Input.FAIL): State.CLOSING,
    (State.OPEN, Input.EOF): State.CLOSED,  # no close frame: 1006
    (State.CLOSING, Input.SEND_CLOSE): State.CLOSING,  # one close frame only: ignored
    (State.CLOSING, Input.RECEIVE_CLOSE): State.CLOSED,
    (State.CLOSING, Input.FAIL): State.CLOSING,
    (State.CLOSING, Input.EOF): State.CLOSED,
    (State.CLOSED, Input.SEND_CLOSE): State.CLOSED,
    (State.CLOSED, Input.RECEIVE_CLOSE): State.CLOSED,
    (State.CLOSED, Input.FAIL): State.CLOSED,
    (State.CLOSED, Input.EOF): State.CLOSED,
}


class InvalidState(RuntimeError):
    """The application sent data after the close frame went out (§5.5.1)."""


# --- the pluggable pieces (notebook 06's exercises) -----------------------------------------


def pong_for(ping_payload: bytes) -> bytes:
    """The payload of the PONG that answers a PING carrying ``ping_payload``.

    §5.5.3: "A Pong frame sent in response to a Ping frame must have identical
    'Application data' as found in the message body of the Ping frame being
    replied to."
    """
    return bytes(ping_payload)


def reassemble(frames: list[Frame]) -> str | bytes:
    """The message carried by ``frames``: ``str`` for TEXT, ``bytes`` for BINARY.

    ``frames`` are one message's frames in order; control frames among them are
    skipped (§5.4 lets them come between fragments). Raises
    :class:`~wslearn.framing.ProtocolError` for broken fragmentation (1002) or
    text that is not UTF-8 (1007), through :class:`~wslearn.framing.Assembler`.
    """
    assembler = Assembler()
    message = None
    for frame in frames:
        if message is not None:
            raise ProtocolError(f"{frame.opcode.name} frame after the message's last fragment")
        item = assembler.feed(frame)
        if isinstance(item, Message):
            message = item
    if message is None:
        raise ProtocolError("the message's last fragment (FIN set) is missing")
    return message.data


def close_reply(payload: bytes) -> bytes:
    """The payload of our close frame answering the peer's close frame ``payload``.

    §5.5.1: the endpoint "typically echos the status code it received"; we echo
    the reason too, as websockets does. An empty payload gets an empty one
    (1005 may never be sent, §7.4.1), and a broken one (1 byte, a code that may
    not be sent, a reason that is not UTF-8) gets the code of the error that
    :func:`~wslearn.close.decode_close` raises: 1002 or 1007.
    """
    if not payload:
        return b""
    try:
        code, reason = decode_close(payload)
    except ProtocolError as error:
        return encode_close(error.code)
    return encode_close(code, reason)


_LIBRARY_REASSEMBLE = reassemble

# --- the endpoint ------------------------------------------------------------------------------


def _short_reason(text: str) -> str:
    """``text`` cut to the 123 UTF-8 bytes a close reason can hold (§5.5)."""
    return text.encode("utf-8")[:123].decode("utf-8", "ignore")


class Connection:
    """One WebSocket endpoint after the opening handshake (``client=True``: the client side).

    ``max_size`` bounds a message in bytes and ``max_fragments`` in frames
    (``None``: no limit); past either, the connection fails with 1009.
    ``pong_for``, ``reassemble`` and ``close_reply`` replace the library's
    pieces (same signatures as the module's functions). A piece that raises
    :class:`~wslearn.framing.ProtocolError` fails the connection with its
    code; one that raises anything else fails it with 1011 and the exception
    is kept in :attr:`error`. ``deflate``: the permessage-deflate parameters
    agreed in the handshake (:mod:`wslearn.deflate`), or ``None`` (RSV1 is then
    a protocol error).
    """

    def __init__(
        self,
        client: bool,
        *,
        max_size: int | None = MAX_SIZE,
        max_fragments: int | None = MAX_FRAGMENTS,
        pong_for: Callable[[bytes], bytes] = pong_for,
        reassemble: Callable[[list[Frame]], str | bytes] = reassemble,
        close_reply: Callable[[bytes], bytes] = close_reply,
        deflate: Params | None = None,
    ) -> None:
        self.client = client
        self.max_size, self.max_fragments = max_size, max_fragments
        self.pong_for, self.reassemble, self.close_reply = pong_for, reassemble, close_reply
        self.state = State.OPEN
        self.close_sent: tuple[int, str] | None = None  # (code, reason); 1005: empty frame
        self.close_received: tuple[int, str] | None = None
        self.error: Exception | None = None  # why we failed the connection, if we did
        self.eof_received = False
        # §5.1: a client masks every frame it sends, a server never does, and each
        # side fails the connection on a frame masked the wrong way (FrameReader checks).
        self._reader = FrameReader(
            max_size=max_size, expect_masked=not client, allow_rsv1=deflate is not None
        )
        # RFC 7692: messages inflate (at most max_size bytes, else 1009) before anything else.
        self.deflate = None
        if deflate is not None:
            self.deflate = PerMessageDeflate(deflate, client=client, max_size=max_size)
        # The library's reassemble() streams through an Assembler (UTF-8 fails on the
        # first bad byte); a plugged one gets the list of the message's frames.
        streaming = reassemble is _LIBRARY_REASSEMBLE
        self._assembler = Assembler(max_size=max_size) if streaming else None
        self._fragments: list[Frame] = []  # the message so far, for a plugged reassemble
        self._count = 0  # frames of the message so far
        self._size = 0
        self._outgoing: list[bytes] = []

    # -- the state machine --

    def _move(self, event: Input) -> None:
        self.state = TRANSITIONS[self.state, event]

    @property
    def failed(self) -> bool:
        """True once we failed the connection: the peer's bytes are no longer read."""
        return self.error is not None

    @property
    def close_tcp(self) -> bool:
        """Should the TCP connection be closed now? (The server closes it first, §7.1.1.)"""
        return self.state is State.CLOSED or self.failed

    @property
    def close_code(self) -> int | None:
        """The peer's close code (1005: empty close frame, 1006: none); ``None`` while OPEN."""
        if self.close_received is not None:
            return self.close_received[0]
        return None if self.state is State.OPEN else int(CloseCode.ABNORMAL_CLOSURE)

    # -- receiving --

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Take bytes from the peer; return the events they complete, in order."""
        if self.failed or self.state is State.CLOSED or not data:
            return []  # §7.1.7: after failing (or closing) nothing more is processed
        reader = self._reader
        reader.receive(data)
        events: list[Event] = []
        try:
            while reader.buffered and (frame := reader.next_frame()) is not None:
                event = self._on_frame(frame)
                if event is not None:
                    events.append(event)
                if self.state is State.CLOSED:
                    break  # §1.4: after the close frames, any further data is discarded
        except ProtocolError as exc:
            self.fail(exc.code, str(exc), exc)
        except Exception as exc:  # a pluggable piece broke: an internal error
            self.fail(CloseCode.INTERNAL_ERROR, "internal error", exc)
        return events

    def receive_eof(self) -> list[Event]:
        """The TCP connection has ended (a FIN, or a reset)."""
        self.eof_received = True
        self._move(Input.EOF)
        return []

    def _on_frame(self, frame: Frame) -> Event | None:
        if self.deflate is not None:
            frame = self.deflate.decode(frame)
        opcode = frame.opcode
        if not opcode.is_control:
            return self._on_data(frame)
        if opcode is Opcode.PING:
            if self.state is State.OPEN:  # like websockets: nothing after our close frame
                payload = self.pong_for(frame.payload)
                if not isinstance(payload, bytes | bytearray | memoryview):
                    raise TypeError(f"pong_for returned {type(payload).__name__}, not bytes")
                self._send_frame(Frame(True, Opcode.PONG, payload))
            return Ping(frame.payload)
        if opcode is Opcode.PONG:
            return Pong(frame.payload)
        return self._on_close(frame)

    def _on_data(self, frame: Frame) -> Message | None:
        if self._count == 0 and frame.fin and self._assembler is not None:
            # The common case, a whole message in one frame: nothing to join or keep.
            # (FrameReader has checked its size; the Assembler checks the other cases.)
            if frame.opcode is Opcode.BINARY:
                return Message(Opcode.BINARY, frame.payload)
            if frame.opcode is Opcode.TEXT:
                try:
                    return Message(Opcode.TEXT, frame.payload.decode("utf-8"))
                except UnicodeDecodeError as exc:  # §8.1; 1007: §7.4.1
                    raise ProtocolError(f"invalid UTF-8 in TEXT message: {exc}", 1007) from None
        self._count += 1
        if self.max_fragments is not None and self._count > self.max_fragments:
            # An endless message of (empty) fragments would hold memory for ever.
            raise ProtocolError(
                f"message of more than {self.max_fragments} fragments", CloseCode.MESSAGE_TOO_BIG
            )
        if self._assembler is not None:
            # Checks order, size and UTF-8 frame by frame, and keeps only the data.
            item = self._assembler.feed(frame)
            if frame.fin:
                self._count = 0
            return item if isinstance(item, Message) else None
        self._fragments.append(frame)
        self._size += len(frame.payload)
        if self.max_size is not None and self._size > self.max_size:
            raise ProtocolError(
                f"message of {self._size}+ bytes exceeds max_size={self.max_size}",
                CloseCode.MESSAGE_TOO_BIG,
            )
        if not frame.fin:
            return None
        frames, self._fragments, self._size, self._count = self._fragments, [], 0, 0
        data = self.reassemble(frames)
        if isinstance(data, str):
            return Message(Opcode.TEXT, data)
        if isinstance(data, bytes | bytearray):
            return Message(Opcode.BINARY, bytes(data))
        raise TypeError(f"reassemble returned {type(data).__name__}, not str or bytes")

    def _on_close(self, frame: Frame) -> Close | None:
        try:
            self.close_received = decode_close(frame.payload)
        except ProtocolError:
            self.close_received = None  # broken: the reply below carries the error's code
        if self.state is State.OPEN:
            reply = self.close_reply(frame.payload)
            if not isinstance(reply, bytes | bytearray):
                raise TypeError(f"close_reply returned {type(reply).__name__}, not bytes")
            self._send_close_payload(bytes(reply))
        self._move(Input.RECEIVE_CLOSE)
        if self.close_received is None:
            self.error = ProtocolError(f"broken close payload {frame.payload[:8].hex(' ')}")
            return None
        return Close(*self.close_received)

    # -- sending --

    def send_text(self, text: str, *, fragment_size: int | None = None) -> None:
        """Queue a TEXT message (in frames of ``fragment_size`` bytes if given, §5.4)."""
        self._send_message(Opcode.TEXT, text.encode("utf-8"), fragment_size)

    def send_binary(
        self, data: bytes | bytearray | memoryview, *, fragment_size: int | None = None
    ) -> None:
        """Queue a BINARY message (in frames of ``fragment_size`` bytes if given, §5.4)."""
        self._send_message(Opcode.BINARY, data, fragment_size)

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a PING (§5.5.2); at most 125 bytes."""
        self._send_control(Opcode.PING, payload)

    def send_pong(self, payload: bytes = b"") -> None:
        """Queue an unsolicited PONG (§5.5.3: a heartbeat); at most 125 bytes."""
        self._send_control(Opcode.PONG, payload)

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (§7.1.2); ``code=None`` sends an empty close frame.

        Only the first close frame goes out; a second call changes nothing.
        Raises ``ValueError`` for a code that may not be sent or a reason too long.
        """
        payload = encode_close(code, reason)
        if self.state is State.OPEN:
            self._send_close_payload(payload)
        self._move(Input.SEND_CLOSE)

    def fail(self, code: int, reason: str = "", error: Exception | None = None) -> None:
        """Fail the connection (§7.1.7): send a close frame with ``code`` once, read no more."""
        self.error = error or ProtocolError(reason or "failed", code)
        if self.state is State.OPEN:
            self._send_close_payload(encode_close(code, _short_reason(reason)))
        self._move(Input.FAIL)

    def data_to_send(self) -> bytes:
        """The bytes queued for the peer since the last call (``b""`` if none)."""
        if not self._outgoing:
            return b""
        data = self._outgoing[0] if len(self._outgoing) == 1 else b"".join(self._outgoing)
        self._outgoing.clear()
        return data

    def _send_message(
        self, opcode: Opcode, payload: bytes | bytearray | memoryview, size: int | None
    ) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send a message: the connection is {self.state.name}")
        if self.deflate is not None:
            for frame in self.deflate.encode(bytes(payload), opcode=opcode, fragment_size=size):
                self._send_frame(frame)
        elif size is None:
            self._outgoing.append(
                encode_frame(Frame(True, opcode, payload), mask=self.client, check=False)
            )
        else:
            for frame in fragment(bytes(payload), opcode, size):
                self._send_frame(frame)

    def _send_control(self, opcode: Opcode, payload: bytes) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send a {opcode.name}: the connection is {self.state.name}")
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"a {opcode.name} payload is at most 125 bytes, got {len(payload)}")
        self._send_frame(Frame(True, opcode, payload))

    def _send_close_payload(self, payload: bytes) -> None:
        try:
            self.close_sent = decode_close(payload)
        except ProtocolError:  # a plugged close_reply may return a broken payload: sent as is
            self.close_sent = (int.from_bytes(payload[:2], "big") if len(payload) > 1 else 1005, "")
        self._send_frame(Frame(True, Opcode.CLOSE, payload))

    def _send_frame(self, frame: Frame) -> None:
        self._outgoing.append(encode_frame(frame, mask=self.client, check=False))

    def __repr__(self) -> str:
        side = "client" if self.client else "server"
        return f"<connection.Connection {side} {self.state.name}>"
