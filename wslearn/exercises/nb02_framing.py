"""Checks for notebook 02 (framing).

The expected answers come from two independent encoders: ``wslearn.framing``
and the ``websockets`` library's own ``websockets.frames``. The last case of
``apply_mask`` and ``encode_length`` sends a frame built with the learner's
function to a real ``websockets`` echo server and checks what comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from websockets import frames as ws_frames

from wslearn import framing, handshake, servers
from wslearn.exercises import Result, case, describe_error, exercise

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
    async with servers.echo() as server:
        reader, writer = await asyncio.open_connection(server.host, server.bound_port)
        try:
            request, key = handshake.build_request(f"{server.host}:{server.bound_port}")
            writer.write(request)
            async with asyncio.timeout(3):
                head = await reader.readuntil(b"\r\n\r\n")
                parsed = handshake.parse_response(head)
                assert parsed is not None
                handshake.check_response(parsed[0], key)
                writer.write(frame)
                incoming = framing.FrameReader(expect_masked=False)
                while data := await reader.read(65536):
                    for answer in incoming.feed(data):
                        if answer.opcode is framing.Opcode.CLOSE:
                            code = int.from_bytes(answer.payload[:2], "big")
                            reason = answer.payload[2:].decode("utf-8", "replace")
                            return f"the server closed the connection: {code} {reason!r}"
                        return answer.payload
            return "the server hung up without an answer"
        except TimeoutError:
            return "the server was still waiting for the rest of the frame after 3 s"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _echo_result(description: str, got: bytes | str, want: bytes, hint: str) -> Result:
    if got == want:
        return Result(description, True)
    if isinstance(got, str):
        return Result(description, False, f"{got}; {hint}")
    return Result(description, False, f"the server echoed {got[:20]!r}…; {hint}")


# --- parse_header -----------------------------------------------------------------------------

FIELDS = ("fin", "opcode", "masked", "length")


def _header_cases() -> list[tuple[str, bytes]]:
    """The RFC's examples, server frames made by ``websockets`` (a real peer's encoder) and
    client frames made by ``wslearn.framing`` with a fixed key (so the cases never change)."""
    ws = ws_frames

    def client(opcode: framing.Opcode, payload: bytes, fin: bool = True) -> bytes:
        return framing.encode_frame(framing.Frame(fin, opcode, payload), mask=CASE_KEY)

    big = ws.Frame(ws.Opcode.BINARY, bytes(70_000)).serialize(mask=False)
    return [
        ("RFC 6455 §5.7: unmasked 'Hello'", bytes.fromhex("810548656c6c6f")),
        ("RFC 6455 §5.7: masked 'Hello' (a client frame)", bytes.fromhex("818537fa213d7f9f4d5158")),
        ("first fragment of a text message (FIN=0)", client(framing.Opcode.TEXT, b"Hel", False)),
        ("a ping from a client", client(framing.Opcode.PING, b"are you there?")),
        (
            "binary, 256 bytes from a server (16-bit length)",
            ws.Frame(ws.Opcode.BINARY, bytes(256)).serialize(mask=False),
        ),
        (
            "text, 1000 bytes from a client (16-bit length + mask)",
            client(framing.Opcode.TEXT, b"x" * 1000),
        ),
        ("binary, 70 000 bytes (64-bit length), header only", big[:10]),
    ]


def _reference_header(data: bytes) -> tuple[dict[str, Any], int]:
    """The answer for ``data``, and how many bytes its header has (key included)."""
    header = framing._parse_header(data, None, None, allow_rsv1=True)
    assert header is not None, "a test case must hold a whole header"
    fields = {
        "fin": header.fin,
        "opcode": int(header.opcode),
        "masked": header.mask is not None,
        "length": header.length,
    }
    return fields, header.size


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


def _header_hint(parse_header: Callable[[bytes], dict], data: bytes, want: dict) -> str:
    """Recognise the usual slips from the learner's result and name the first one."""
    try:
        got = _fields(parse_header(data))
    except Exception:
        return "byte 0 holds FIN and the opcode, byte 1 MASK and the 7-bit length"
    if got["fin"] != want["fin"]:
        return "FIN is the top bit of byte 0: data[0] & 0x80"
    if got["opcode"] != want["opcode"]:
        return "the opcode is the low 4 bits of byte 0: data[0] & 0x0F"
    if got["masked"] != want["masked"]:
        return "MASK is the top bit of byte 1: data[1] & 0x80"
    length = got["length"]
    if length == data[1]:
        return "clear the MASK bit first: the 7-bit length is data[1] & 0x7F"
    if length in (126, 127):
        return "7-bit length 126 means the real length is in the next 2 bytes, 127 the next 8"
    extra = data[2:4] if data[1] & 0x7F == 126 else data[2:10]
    if length == int.from_bytes(extra, "little"):
        return "extended lengths are big-endian (network byte order): int.from_bytes(..., 'big')"
    return "126: length in data[2:4]; 127: length in data[2:10]; both big-endian"


@exercise("parse_header", notebook=NOTEBOOK)
def check_parse_header(parse_header: Callable[[bytes], dict]) -> Iterator[Result]:
    """Read FIN, the opcode, MASK and the payload length from a frame header."""
    for description, data in _header_cases():
        want, size = _reference_header(data)
        yield case(
            f"{description}: {data[:size].hex(' ')}",
            lambda data=data: _fields(parse_header(data)),
            want,
            hint=_header_hint(parse_header, data, want),
        )


# --- apply_mask -------------------------------------------------------------------------------


def _mask_hint(apply_mask: Callable[[bytes, bytes], bytes], data: bytes, mask: bytes) -> str:
    try:
        got = apply_mask(data, mask)
    except Exception:
        return "XOR byte i of the data with byte i % 4 of the key"
    if isinstance(got, str) or not isinstance(got, bytes | bytearray):
        return "return bytes: bytes(b ^ mask[i % 4] for i, b in enumerate(data))"
    if len(got) != len(data):
        return "the result is exactly as long as the data: one output byte per input byte"
    if got == bytes(b ^ mask[i % 2] for i, b in enumerate(data)):
        return "the key has 4 bytes: use mask[i % 4], not i % 2"
    if got == bytes(b ^ mask[0] for b in data):
        return "byte i uses key byte i % 4, not always the first one"
    return "XOR byte i of the data with byte i % 4 of the key"


@exercise("apply_mask", notebook=NOTEBOOK)
async def check_apply_mask(apply_mask: Callable[[bytes, bytes], bytes]) -> list[Result]:
    """XOR data with a 4-byte masking key repeated (RFC 6455 §5.3)."""
    plain = b"Hello, WebSocket masking!"
    key = bytes.fromhex("a1b2c3d4")
    cases = [
        ("RFC 6455 §5.7: 'Hello' with key 37 fa 21 3d", b"Hello", RFC_KEY),
        ("25 bytes: the key repeats more than 6 times", plain, key),
        ("unmasking is masking again", framing.apply_mask(plain, key), key),
        ("an empty payload stays empty", b"", key),
        ("300 bytes of every value", bytes(range(256)) + bytes(44), bytes.fromhex("00ff7f80")),
    ]
    results = [
        case(
            description,
            lambda data=data, mask=mask: apply_mask(data, mask),
            framing.apply_mask(data, mask),
            hint=_mask_hint(apply_mask, data, mask),
            compare=lambda got, want: isinstance(got, bytes | bytearray) and bytes(got) == want,
        )
        for description, data, mask in cases
    ]
    # A real server unmasks what we masked: does the echo come back intact?
    message = "Masked by you, unmasked by websockets ✓".encode()
    description = "a real websockets server unmasks your masked frame"
    try:
        masked = bytes(apply_mask(message, key))
    except Exception as exc:
        results.append(Result(description, False, describe_error(exc)))
        return results
    frame = bytes([0x81, 0x80 | len(message)]) + key + masked
    got = await _echo_of(frame)
    results.append(_echo_result(description, got, message, _mask_hint(apply_mask, message, key)))
    return results


# --- encode_length ----------------------------------------------------------------------------


def _reference_length(n: int, masked: bool) -> bytes:
    """Byte 1 and the extended length of a frame of ``n`` bytes (RFC 6455 §5.2)."""
    bit = 0x80 if masked else 0
    if n <= 125:
        return bytes([bit | n])
    if n <= 0xFFFF:
        return bytes([bit | 126]) + n.to_bytes(2, "big")
    return bytes([bit | 127]) + n.to_bytes(8, "big")


def _length_hint(encode_length: Callable[[int, bool], bytes], n: int, masked: bool) -> str:
    want = _reference_length(n, masked)
    try:
        got = bytes(encode_length(n, masked))
    except Exception:
        return "one byte up to 125; 126 + 2 bytes up to 65535; 127 + 8 bytes beyond"
    if masked and got == bytes([want[0] & 0x7F]) + want[1:]:
        return "a client's frame sets the MASK bit: OR byte 1 with 0x80"
    if not masked and got[:1] == bytes([want[0] | 0x80]):
        return "set the MASK bit (0x80) only when masked is True"
    if len(want) > 1 and got[1:] == want[1:][::-1]:
        return "the extended length is big-endian (network byte order): n.to_bytes(k, 'big')"
    if len(got) > len(want):
        return "use the shortest form: 0-125 in 7 bits, 126-65535 in 2 bytes (RFC 6455 §5.2)"
    if len(got) < len(want):
        return "126..65535: the byte 126, then 2 length bytes; 65536 on: 127, then 8 bytes"
    return "one byte up to 125; 126 + 2 bytes up to 65535; 127 + 8 bytes beyond"


@exercise("encode_length", notebook=NOTEBOOK)
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
            _reference_length(n, masked),
            hint=_length_hint(encode_length, n, masked),
            compare=lambda got, want: isinstance(got, bytes | bytearray) and bytes(got) == want,
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
    results.append(
        _echo_result(description, got, message, _length_hint(encode_length, len(message), True))
    )
    return results
