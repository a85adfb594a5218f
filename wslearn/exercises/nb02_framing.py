"""Checks for notebook 02 (framing).

The expected answers come from two independent encoders: ``wslearn.framing``
and the ``websockets`` library's own ``websockets.frames``. The last case of
``apply_mask`` and ``encode_length`` sends a frame built with the learner's
function to a real ``websockets`` echo server and checks what comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from websockets import frames as ws_frames

from wslearn import framing, servers
from wslearn.exercises import Result, case, describe_error, exercise
from wslearn.exercises.mistakes import known, slips

NOTEBOOK = "02_framing"

#: RFC 6455 §5.7: the masking key of the examples.
RFC_KEY = bytes.fromhex("37fa213d")
#: The key of the client frames in the cases of ``parse_header``.
CASE_KEY = bytes.fromhex("5799df0a")


# --- a real peer ------------------------------------------------------------------------------


async def _echo_of(frame: bytes) -> bytes | str:
    """Send one raw client frame to a real ``websockets`` echo server.

    Returns the payload of the server's answer (the echo), or a sentence saying
    how the server closed the connection instead.
    """
    from wslearn.raw import RawWebSocket

    async with servers.echo() as server:
        try:
            async with RawWebSocket.connect(server.host, server.bound_port, timeout=3) as raw:
                await raw.send(frame)
                answer = await raw.recv_frame(timeout=2)
        except TimeoutError:
            return "the server was still waiting for the rest of the frame after 2 s"
    if answer is None:
        return "the server hung up without an answer"
    if answer.opcode is framing.Opcode.CLOSE:
        code = int.from_bytes(answer.payload[:2], "big")
        reason = answer.payload[2:].decode("utf-8", "replace")
        return f"the server closed the connection: {code} {reason!r}"
    return answer.payload


def _echo_result(description: str, got: bytes | str, want: bytes, hint: str) -> Result:
    if got == want:
        return Result(description, True)
    if isinstance(got, str):
        return Result(description, False, f"{got}; {hint}")
    return Result(description, False, f"the server echoed {got[:20]!r}…; {hint}")


# --- parse_header -----------------------------------------------------------------------------

FIELDS = ("fin", "opcode", "masked", "length")


def _header_cases() -> list[tuple[str, bytes, dict[str, Any]]]:
    """The RFC's examples, server frames made by ``websockets`` (a real peer's encoder) and
    client frames made by ``wslearn.framing`` with a fixed key (so the cases never change),
    each with the fields its encoder was asked for (the checks never decode with the very
    function the exercise is about: it is a shortcut, tripwired while they run)."""
    ws = ws_frames

    def client(opcode: framing.Opcode, payload: bytes, fin: bool = True) -> bytes:
        return framing.encode_frame(framing.Frame(fin, opcode, payload), mask=CASE_KEY)

    def fields(fin: bool, opcode: int, masked: bool, length: int) -> dict[str, Any]:
        return {"fin": fin, "opcode": opcode, "masked": masked, "length": length}

    big = ws.Frame(ws.Opcode.BINARY, bytes(70_000)).serialize(mask=False)
    return [
        (
            "RFC 6455 §5.7: unmasked 'Hello'",
            bytes.fromhex("810548656c6c6f"),
            fields(True, 1, False, 5),
        ),
        (
            "RFC 6455 §5.7: masked 'Hello' (a client frame)",
            bytes.fromhex("818537fa213d7f9f4d5158"),
            fields(True, 1, True, 5),
        ),
        (
            "first fragment of a text message (FIN=0)",
            client(framing.Opcode.TEXT, b"Hel", False),
            fields(False, 1, True, 3),
        ),
        (
            "a ping from a client",
            client(framing.Opcode.PING, b"are you there?"),
            fields(True, 9, True, 14),
        ),
        (
            "binary, 256 bytes from a server (16-bit length)",
            ws.Frame(ws.Opcode.BINARY, bytes(256)).serialize(mask=False),
            fields(True, 2, False, 256),
        ),
        (
            "text, 1000 bytes from a client (16-bit length + mask)",
            client(framing.Opcode.TEXT, b"x" * 1000),
            fields(True, 1, True, 1000),
        ),
        (
            "binary, 70 000 bytes (64-bit length), header only",
            big[:10],
            fields(True, 2, False, 70_000),
        ),
    ]


def _header_size(want: dict[str, Any]) -> int:
    """Bytes in the header (§5.2): 2, the extended length (0, 2 or 8), the masking key (0 or 4)."""
    length = want["length"]
    extended = 0 if length < 126 else 2 if length < 65536 else 8
    return 2 + extended + 4 * want["masked"]


def _fields(got: Any) -> dict[str, Any]:
    """The learner's answer in the shape the checks compare (flags as bools)."""
    if not isinstance(got, dict) or set(got) != set(FIELDS):
        raise TypeError(f"return a dict with exactly the keys {', '.join(FIELDS)}")
    return {
        "fin": bool(got["fin"]),
        "opcode": int(got["opcode"]),
        "masked": bool(got["masked"]),
        "length": got["length"],
    }


HEADER_HINT = "byte 0 holds FIN and the opcode, byte 1 MASK and the 7-bit length"

HEADER_SLIPS = {
    "fin_low": "FIN is the top bit of byte 0: data[0] & 0x80",
    "opcode_whole": "the opcode is the low 4 bits of byte 0: data[0] & 0x0F, not the whole byte",
    "opcode_top": "the opcode is the low 4 bits of byte 0 (data[0] & 0x0F), not the top 4",
    "mask_byte0": "MASK is the top bit of byte 1: data[1] & 0x80",
    "no_7f": "clear the MASK bit first: the 7-bit length is data[1] & 0x7F",
    "no_extended": "7-bit length 126 means the real length is in the next 2 bytes, 127 the next 8",
    "little": "extended lengths are big-endian (network byte order): int.from_bytes(..., 'big')",
    "two_for_127": "127 announces an 8-byte length: data[2:10], not data[2:4]",
}


def model_header(data: bytes, **slip: bool) -> dict[str, Any]:
    """``parse_header`` with some of ``HEADER_SLIPS`` made."""
    length = data[1] if slip.get("no_7f") else data[1] & 0x7F
    order = "little" if slip.get("little") else "big"
    if not slip.get("no_extended") and length in (126, 127):
        end = 4 if length == 126 or slip.get("two_for_127") else 10
        length = int.from_bytes(data[2:end], order)
    return {
        "fin": bool(data[0] & (0x01 if slip.get("fin_low") else 0x80)),
        "opcode": data[0] if slip.get("opcode_whole") else data[0] >> 4 if slip.get(
            "opcode_top"
        ) else data[0] & 0x0F,
        "masked": bool((data[0] if slip.get("mask_byte0") else data[1]) & 0x80),
        "length": length,
    }


def _equal(got: Any, value: Any) -> bool:
    return bool(got == value)


@exercise("parse_header", notebook=NOTEBOOK, shortcuts=["wslearn.framing.decode_frame"])
def check_parse_header(parse_header: Callable[[bytes], dict]) -> Iterator[Result]:
    """Read FIN, the opcode, MASK and the payload length from a frame header."""
    for description, data, want in _header_cases():
        yield case(
            f"{description}: {data[: _header_size(want)].hex(' ')}",
            lambda data=data: _fields(parse_header(data)),
            want,
            hint=HEADER_HINT,
            diagnose=known(slips(model_header, HEADER_SLIPS, data), _equal),
        )


# --- apply_mask -------------------------------------------------------------------------------

MASK_HINT = "payload byte j (counted from the start of the payload) uses key byte j % 4"

MASK_SLIPS = {
    "no_offset": "data starts at byte `offset` of the payload: byte i of data is payload byte "
    "offset + i, so it uses mask[(offset + i) % 4]",
    "minus_offset": "byte i of data is payload byte offset + i: add the offset, do not subtract it",
    "half_key": "the key has 4 bytes: use mask[i % 4], not i % 2 (i counted in the payload)",
    "first_only": "each byte uses its own key byte (index % 4), not always the first one",
}


def model_mask(data: bytes, mask: bytes, offset: int, **slip: bool) -> bytes:
    """``apply_mask`` with some of ``MASK_SLIPS`` made."""
    if slip.get("no_offset") and slip.get("minus_offset"):
        raise ValueError("two ways of the same slip")
    start = 0 if slip.get("no_offset") else -offset if slip.get("minus_offset") else offset
    size = 2 if slip.get("half_key") else 4
    return bytes(
        b ^ mask[0 if slip.get("first_only") else (start + i) % size] for i, b in enumerate(data)
    )


def _same_bytes(got: Any, want: bytes) -> bool:
    return isinstance(got, bytes | bytearray) and bytes(got) == want


def _mask_diagnosis(data: bytes, mask: bytes, offset: int) -> Callable[[Any], str | None]:
    mistakes = known(slips(model_mask, MASK_SLIPS, data, mask, offset), _same_bytes)

    def diagnose(got: Any) -> str | None:
        if isinstance(got, str) or not isinstance(got, bytes | bytearray):
            return "return bytes: bytes(...) of the XOR-ed values"
        if len(got) != len(data):
            return "one output byte per input byte: the result is exactly as long as data"
        return mistakes(got)

    return diagnose


def _chunks(message: bytes, sizes: tuple[int, ...]) -> list[tuple[bytes, int]]:
    """``message`` cut into pieces of ``sizes`` (the rest last), each with its offset."""
    pieces, offset = [], 0
    for size in (*sizes, len(message)):
        if offset >= len(message):
            break
        pieces.append((message[offset : offset + size], offset))
        offset += size
    return pieces


@exercise(
    "apply_mask",
    notebook=NOTEBOOK,
    shortcuts=[
        "wslearn.framing.apply_mask",
        "wslearn.framing.encode_frame",
        "wslearn.framing.decode_frame",
        "websockets.utils.apply_mask",
        "websockets.speedups.apply_mask",
    ],
)
async def check_apply_mask(apply_mask: Callable[[bytes, bytes, int], bytes]) -> list[Result]:
    """XOR a piece of a payload, starting at byte ``offset``, with the 4-byte key (§5.3)."""
    plain = b"Hello, WebSocket masking!"
    key = bytes.fromhex("a1b2c3d4")
    cases = [
        ("RFC 6455 §5.7: 'Hello' with key 37 fa 21 3d", b"Hello", RFC_KEY, 0),
        ("25 bytes from the start: the key repeats", plain, key, 0),
        ("unmasking is masking again", framing.apply_mask(plain, key), key, 0),
        ("a piece starting at byte 1 of the payload", b"ello", RFC_KEY, 1),
        ("a piece starting at byte 6", plain[6:], key, 6),
        ("a piece starting at byte 4 (a whole key further)", plain[4:], key, 4),
        ("an empty piece at byte 3", b"", key, 3),
        ("300 bytes of every value, from byte 1023", bytes(range(256)) + bytes(44),
         bytes.fromhex("00ff7f80"), 1023),
    ]
    results = [
        case(
            description,
            lambda data=data, mask=mask, offset=offset: apply_mask(data, mask, offset),
            framing.apply_mask(bytes(offset) + data, mask)[offset:],
            hint=MASK_HINT,
            compare=_same_bytes,
            diagnose=_mask_diagnosis(data, mask, offset),
        )
        for description, data, mask, offset in cases
    ]
    # A real server unmasks what we masked, piece by piece: does the echo come back intact?
    message = "Masked by you, in three pieces, unmasked by websockets ✓".encode()
    description = "a real websockets server unmasks your frame, masked in pieces of 5, 6, the rest"
    try:
        pieces = _chunks(message, (5, 6))
        masked = b"".join(bytes(apply_mask(piece, key, at)) for piece, at in pieces)
    except Exception as exc:
        results.append(Result(description, False, describe_error(exc)))
        return results
    frame = bytes([0x81, 0x80 | len(message)]) + key + masked
    got = await _echo_of(frame)
    first_failure = next((r.message for r in results if not r.passed), "")
    diagnosis = first_failure.partition("; ")[2] or MASK_HINT  # what the cases above said
    results.append(_echo_result(description, got, message, diagnosis))
    return results


# --- encode_length ----------------------------------------------------------------------------

LENGTH_HINT = "one byte up to 125; 126, then 2 bytes, up to 65535; 127, then 8 bytes, beyond"

LENGTH_SLIPS = {
    "no_mask_bit": "a client's frame sets the MASK bit: OR byte 1 with 0x80",
    "mask_always": "set the MASK bit (0x80) only when masked is True",
    "little": "the extended length is big-endian (network byte order): n.to_bytes(k, 'big')",
    "edge_125": "125 still fits in the 7 bits: the escapes start at 126 (use n <= 125)",
    "edge_126": "126 itself is the escape value: a length of 126 needs the 2-byte form",
    "edge_65535": "65535 still fits in 2 bytes: from 65536 on, 127, then 8 bytes",
    "short_long": "a length over 65535 does not fit in 2 bytes: 127, then 8 bytes",
    "long_form": "use the shortest form: 126-65535 take 2 length bytes, not 8 (RFC 6455 §5.2)",
    "not_minimal": "use the shortest form: 0-125 fit in the 7 bits themselves (RFC 6455 §5.2)",
}


def model_length(n: int, masked: bool, **slip: bool) -> bytes:
    """``encode_length`` with some of ``LENGTH_SLIPS`` made."""
    if slip.get("no_mask_bit") and slip.get("mask_always"):
        raise ValueError("two ways of the same slip")
    bit = 0x80 if (masked and not slip.get("no_mask_bit")) or slip.get("mask_always") else 0
    order = "little" if slip.get("little") else "big"
    small = n < 125 if slip.get("edge_125") else n <= (126 if slip.get("edge_126") else 125)
    medium = n < 65535 if slip.get("edge_65535") else n <= 0xFFFF
    if small and not slip.get("not_minimal"):
        return bytes([bit | n])
    if (medium or slip.get("short_long")) and not slip.get("long_form"):
        if slip.get("short_long"):
            n &= 0xFFFF
        return bytes([bit | 126]) + n.to_bytes(2, order)
    return bytes([bit | 127]) + n.to_bytes(8, order)


@exercise("encode_length", notebook=NOTEBOOK, shortcuts=["wslearn.framing.encode_frame"])
async def check_encode_length(encode_length: Callable[[int, bool], bytes]) -> list[Result]:
    """The second header byte (MASK + 7-bit length) and the extended length, if any."""
    cases = [
        (5, False),
        (5, True),
        (0, True),
        (125, False),
        (126, False),
        (1000, True),
        (65535, True),
        (65536, False),
        (70_000, True),
        (5_000_000_000, False),
    ]
    results = [
        case(
            f"{n:,} bytes, {'masked (client)' if masked else 'unmasked (server)'}",
            lambda n=n, masked=masked: encode_length(n, masked),
            model_length(n, masked),
            hint=LENGTH_HINT,
            compare=_same_bytes,
            diagnose=known(slips(model_length, LENGTH_SLIPS, n, masked), _same_bytes),
        )
        for n, masked in cases
    ]
    # A real server reads a 70 000-byte frame whose length you encoded.
    message = bytes(range(256)) * 274  # 70 144 bytes: the 64-bit form
    description = f"a real websockets server reads your header of a {len(message):,}-byte frame"
    try:
        second = bytes(encode_length(len(message), True))
    except Exception as exc:
        results.append(Result(description, False, describe_error(exc)))
        return results
    frame = b"\x82" + second + RFC_KEY + framing.apply_mask(message, RFC_KEY)
    got = await _echo_of(frame)
    diagnosis = known(slips(model_length, LENGTH_SLIPS, len(message), True), _same_bytes)(second)
    results.append(_echo_result(description, got, message, diagnosis or LENGTH_HINT))
    return results
