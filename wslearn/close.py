"""Close codes and close-frame payloads, sans-I/O (notebook 04).

Theory of operation
-------------------
A WebSocket connection ends with a *closing handshake*: each side sends one
Close control frame (opcode 0x8) and the other answers with one (RFC 6455
§5.5.1, §7.1.2).  The payload of a Close frame is either empty, or a 2-byte
big-endian *status code* followed by an optional UTF-8 *reason*.  A control
frame carries at most 125 bytes (§5.5), so the reason is at most 123 bytes.

Not every number may appear in that 2-byte field.  RFC 6455 §7.4 and the IANA
"WebSocket Close Code Number Registry" split the 16-bit space into ranges.
Four registered codes are never put on the wire: 1004 is reserved with no
meaning yet, and 1005, 1006 and 1015 exist only so that an API can *report* a
situation ("no code was sent", "the TCP connection just dropped", "TLS
failed").

The browser's ``WebSocket.close(code, reason)`` is stricter still: a script may
only choose 1000 or a code in 3000-4999 (WHATWG WebSockets, "validate close
code and reason").  The protocol-level codes are the browser's to send.  That
rule belongs to the browser side (``wslearn.dom.check_close_args``): this
module is RFC 6455 only and imports nothing from the browser side.

This module has four parts, one per idea:

- ``CloseCode``: every registered code, with its meaning and whether it may be sent;
- ``describe(code)``: what any integer means as a close code;
- ``is_sendable(code)``: may this code appear in a Close frame?
- ``encode_close`` / ``decode_close``: the Close frame payload, both directions.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from wslearn.framing import ProtocolError

__all__ = [
    "MAX_CLOSE_PAYLOAD",
    "MAX_REASON_BYTES",
    "NEVER_ON_WIRE",
    "CloseCode",
    "decode_close",
    "describe",
    "encode_close",
    "is_sendable",
]

# RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
MAX_CLOSE_PAYLOAD = 125
# ... and 2 of those bytes are the status code (§5.5.1), leaving 123 for the reason.
MAX_REASON_BYTES = MAX_CLOSE_PAYLOAD - 2


class CloseCode(IntEnum):
    """Every code in the IANA WebSocket Close Code Number Registry (1000-1015).

    1000-1011 and 1015 come from RFC 6455 §7.4.1; 1012-1014 were added to the
    registry later (they are not in the RFC, but browsers and servers use them).
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    @property
    def on_wire(self) -> bool:
        """True if an endpoint may put this code in a Close frame."""
        return self not in NEVER_ON_WIRE

    @property
    def meaning(self) -> str:
        """One sentence on when this code is used."""
        return _MEANINGS[self]


# Registered codes that never appear in a Close frame:
# §7.4.1: 1004 "Reserved. The specific meaning might be defined in the future."
# §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
#         control frame by an endpoint"; they exist to be *reported* to an application.
NEVER_ON_WIRE: frozenset[CloseCode] = frozenset(
    {
        CloseCode.RESERVED,
        CloseCode.NO_STATUS_RCVD,
        CloseCode.ABNORMAL_CLOSURE,
        CloseCode.TLS_HANDSHAKE,
    }
)

_REGISTERED: frozenset[int] = frozenset(int(c) for c in CloseCode)

# Meanings in our own words, after RFC 6455 §7.4.1 and the IANA registry.
_MEANINGS: dict[CloseCode, str] = {
    CloseCode.NORMAL_CLOSURE: "the purpose of the connection has been fulfilled",
    CloseCode.GOING_AWAY: "the endpoint is going away (server shutting down, page navigated away)",
    CloseCode.PROTOCOL_ERROR: "the peer broke the WebSocket protocol",
    CloseCode.UNSUPPORTED_DATA: "a kind of data the endpoint cannot accept (e.g. binary to a "
    "text-only endpoint)",
    CloseCode.RESERVED: "reserved; a meaning may be defined in the future (never sent)",
    CloseCode.NO_STATUS_RCVD: "the Close frame carried no status code (reported, never sent)",
    CloseCode.ABNORMAL_CLOSURE: "the connection dropped without a Close frame (reported, "
    "never sent)",
    CloseCode.INVALID_FRAME_PAYLOAD_DATA: "message data did not match its type (e.g. invalid "
    "UTF-8 in a text message)",
    CloseCode.POLICY_VIOLATION: "a message broke the endpoint's policy (generic refusal)",
    CloseCode.MESSAGE_TOO_BIG: "a message was too big to process",
    CloseCode.MANDATORY_EXTENSION: "the client needed an extension the server did not negotiate",
    CloseCode.INTERNAL_ERROR: "the server hit an unexpected condition",
    CloseCode.SERVICE_RESTART: "the service is restarting",
    CloseCode.TRY_AGAIN_LATER: "the service is overloaded or down for now; try again later",
    CloseCode.BAD_GATEWAY: "a gateway or proxy got an invalid response upstream (like HTTP 502)",
    CloseCode.TLS_HANDSHAKE: "the TLS handshake failed (reported, never sent)",
}


def describe(code: int) -> str:
    """Describe any integer as a close code, in one line.

    Registered codes get their name and meaning; other numbers get the range
    they fall in (RFC 6455 §7.4.2).  Useful to print whatever a peer sent.
    """
    if code in _REGISTERED:
        member = CloseCode(code)
        return f"{code} {member.name}: {member.meaning}"
    # §7.4.2 "Reserved Status Code Ranges".
    if 0 <= code <= 999:
        return f"{code}: not used (0-999 are not valid close codes)"
    if 1000 <= code <= 2999:
        return f"{code}: reserved for the protocol/extensions (unassigned)"
    if 3000 <= code <= 3999:
        return f"{code}: registered with IANA for libraries/frameworks/applications"
    if 4000 <= code <= 4999:
        return f"{code}: private use (agreed between the applications)"
    return f"{code}: invalid (close codes are 1000-4999)"


def is_sendable(code: int) -> bool:
    """May ``code`` appear in a Close frame on the wire?

    True for 1000-1003, 1007-1014 and 3000-4999.  An endpoint that *receives*
    any other code fails the connection with 1002 (Autobahn case 7.9).
    """
    # §7.4.1 + IANA registry: registered codes, minus the report-only ones.
    if 1000 <= code <= 2999:
        return code in _REGISTERED and CloseCode(code).on_wire
    # §7.4.2: 3000-3999 (IANA-registered) and 4000-4999 (private use) are open
    # to applications; 0-999 are "not used" and nothing above 4999 is defined.
    return 3000 <= code <= 4999


def encode_close(code: int | None = None, reason: str = "") -> bytes:
    """Build a Close frame payload (RFC 6455 §5.5.1).

    ``code=None`` gives the empty payload (a Close frame with no status).  A
    reason needs a code, because the reason only exists after the 2-byte code.

    Raises ``ValueError`` for a reason without a code, a code that may not be
    sent, or a payload over 125 bytes.
    """
    if code is None:
        if reason:
            # §5.5.1: "If there is a body, the first two bytes of the body MUST
            # be a 2-byte unsigned integer ... representing a status code".
            raise ValueError("a close reason needs a close code")
        return b""
    if not is_sendable(code):
        raise ValueError(f"close code {code} may not be sent ({describe(code)})")
    payload = struct.pack("!H", code) + reason.encode("utf-8")
    if len(payload) > MAX_CLOSE_PAYLOAD:
        # §5.5: control frames carry 125 bytes at most.
        raise ValueError(
            f"close reason is {len(payload) - 2} bytes of UTF-8; at most "
            f"{MAX_REASON_BYTES} fit in a Close frame"
        )
    return payload


def decode_close(payload: bytes | bytearray | memoryview) -> tuple[int, str]:
    """Read a received Close frame payload (any bytes-like) as ``(code, reason)``.

    An empty payload gives ``(1005, "")``: §7.1.5 says the connection close
    code is then 1005, "no status received".  Anything malformed raises
    ``ProtocolError`` whose ``.code`` is the code to close with in return.
    """
    payload = bytes(payload)
    if len(payload) > MAX_CLOSE_PAYLOAD:
        # §5.5: "All control frames MUST have a payload length of 125 bytes or less".
        raise ProtocolError(f"close payload is {len(payload)} bytes; at most 125 allowed")
    if not payload:
        return int(CloseCode.NO_STATUS_RCVD), ""
    if len(payload) == 1:
        # §5.5.1: a body starts with a *2-byte* status code.
        raise ProtocolError("close payload of 1 byte: a status code needs 2")
    (code,) = struct.unpack("!H", payload[:2])
    if not is_sendable(code):
        # §7.4: the code is not one an endpoint may send, so the peer broke the protocol.
        raise ProtocolError(f"close code {code} may not be sent ({describe(code)})")
    try:
        # §5.5.1: the reason "is not guaranteed to be human readable" but MUST be UTF-8.
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        # §8.1: invalid UTF-8 fails the connection; §7.4.1: 1007 is the code for it.
        raise ProtocolError(f"close reason is not valid UTF-8: {exc}", code=1007) from None
    return code, reason
