"""Tests for wslearn.framing: RFC 6455 §5 frames, masking, fragmentation, messages.

Expected bytes come from the RFC's own examples (§5.7), from a naive per-byte
masking reference, from the `websockets` library's parser and serializer, and
from a real `websockets` client talking to a real `websockets` server through a
small recording proxy. None of them is computed with the module under test.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ProtocolError as WebsocketsProtocolError
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader

from wslearn import framing
from wslearn.framing import (
    Assembler,
    Frame,
    FrameReader,
    Message,
    Opcode,
    ProtocolError,
    apply_mask,
    decode_frame,
    encode_frame,
    fragment,
)

KEY = bytes.fromhex("37fa213d")  # the masking key of every masked example in §5.7
TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
PING, PONG, CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def naive_mask(data: bytes, key: bytes) -> bytes:
    """§5.3 read literally: octet i XOR masking-key octet i mod 4."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(data))


def decode_all(data: bytes, **options: object) -> list[Frame]:
    """Decode back-to-back frames with decode_frame; all bytes must be used."""
    frames, pos = [], 0
    while pos < len(data):
        result = decode_frame(data[pos:], **options)
        assert result is not None, f"incomplete frame at byte {pos}"
        frame, used = result
        frames.append(frame)
        pos += used
    return frames


# --------------------------------------------------------------------------------------
# RFC 6455 §5.7 examples, byte for byte, in both directions

BIN256 = bytes(range(256))
BIN64K = random.Random(5).randbytes(65536)
RFC_EXAMPLES = [
    pytest.param(
        "81 05 48 65 6c 6c 6f", [Frame(True, TEXT, b"Hello")], id="single-frame-unmasked-text"
    ),
    pytest.param(
        "81 85 37 fa 21 3d 7f 9f 4d 51 58",
        [Frame(True, TEXT, b"Hello", mask=KEY)],
        id="single-frame-masked-text",
    ),
    pytest.param(
        "01 03 48 65 6c  80 02 6c 6f",
        [Frame(False, TEXT, b"Hel"), Frame(True, CONT, b"lo")],
        id="fragmented-unmasked-text",
    ),
    pytest.param("89 05 48 65 6c 6c 6f", [Frame(True, PING, b"Hello")], id="unmasked-ping"),
    # The RFC's answer to that ping is a MASKED pong (older drafts had it unmasked).
    pytest.param(
        "8a 85 37 fa 21 3d 7f 9f 4d 51 58",
        [Frame(True, PONG, b"Hello", mask=KEY)],
        id="masked-pong",
    ),
    pytest.param(
        "82 7e 01 00" + BIN256.hex(), [Frame(True, BINARY, BIN256)], id="256-bytes-binary"
    ),
    pytest.param(
        "82 7f 00 00 00 00 00 01 00 00" + BIN64K.hex(),
        [Frame(True, BINARY, BIN64K)],
        id="64KiB-binary",
    ),
]


@pytest.mark.parametrize(("wire_hex", "frames"), RFC_EXAMPLES)
def test_rfc_example_encodes_to_its_bytes(wire_hex: str, frames: list[Frame]) -> None:
    assert b"".join(encode_frame(f) for f in frames) == bytes.fromhex(wire_hex)


@pytest.mark.parametrize(("wire_hex", "frames"), RFC_EXAMPLES)
def test_rfc_example_decodes_to_its_frames(wire_hex: str, frames: list[Frame]) -> None:
    wire = bytes.fromhex(wire_hex)
    assert decode_all(wire) == frames
    assert FrameReader().feed(wire) == frames


def test_rfc_fragmented_example_assembles_to_hello() -> None:
    assembler = Assembler()
    results = [assembler.feed(f) for f in FrameReader().feed(bytes.fromhex("010348656c80026c6f"))]
    assert results == [None, Message(TEXT, "Hello")]


def test_masked_example_checks_roles() -> None:
    masked = bytes.fromhex("8185 37fa213d 7f9f4d5158")
    assert decode_frame(masked, expect_masked=True) is not None  # a server reading a client
    with pytest.raises(ProtocolError, match="masked") as info:
        decode_frame(masked, expect_masked=False)  # a client reading a server
    assert info.value.code == 1002


# --------------------------------------------------------------------------------------
# Masking


@pytest.mark.parametrize("length", range(71))
def test_apply_mask_matches_naive_reference_for_small_lengths(length: int) -> None:
    data = random.Random(length).randbytes(length)
    assert apply_mask(data, KEY) == naive_mask(data, KEY)
    assert apply_mask(bytearray(data), KEY) == naive_mask(data, KEY)


@pytest.mark.parametrize("length", [1023, 1024, 1025, 4099, 65536, 65543, 1 << 20])
@pytest.mark.parametrize("offset", [0, 1, 3, 6, 7])
def test_apply_mask_matches_naive_reference_on_unaligned_slices(length: int, offset: int) -> None:
    buffer = random.Random(length + offset).randbytes(length + 8)
    key = bytes([0x01, 0x80, 0xFE, 0x5A])
    data = memoryview(buffer)[offset : offset + length]
    expected = naive_mask(bytes(data), key)
    assert apply_mask(data, key) == expected
    assert apply_mask(expected, key) == bytes(data)  # masking twice is the identity


@pytest.mark.parametrize("length", [(1 << 17) + 5, 1 << 20])
@pytest.mark.parametrize("before", range(8))
def test_big_payloads_unmask_right_at_every_alignment(length: int, before: int) -> None:
    # Big payloads are unmasked where they lie, a few bytes apart, then in 64-bit
    # words; ``before`` bytes of an earlier frame shift where the payload starts.
    payload = random.Random(length + before).randbytes(length)
    key = bytes([0x01, 0x80, 0xFE, 0x5A])
    wire = encode_frame(Frame(True, BINARY, payload), mask=key)
    earlier = encode_frame(Frame(True, BINARY, bytes(range(before))), mask=KEY)
    reader = FrameReader(expect_masked=True)
    got = reader.feed(earlier + wire[: len(wire) // 3]) + reader.feed(wire[len(wire) // 3 :])
    assert [f.payload == payload for f in got[1:]] == [True]
    assert decode_frame(memoryview(earlier + wire)[len(earlier) :])[0].payload == payload
    callers = bytearray(wire)
    assert decode_frame(callers)[0].payload == payload
    assert callers == wire  # a caller's buffer is never unmasked in place


def test_masking_works_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framing, "_np", None)  # as if numpy were not installed
    data = random.Random(1).randbytes(70_001)
    assert apply_mask(data, KEY) == naive_mask(data, KEY)
    frame = Frame(True, BINARY, data, mask=KEY)
    assert decode_frame(encode_frame(frame))[0] == frame


def test_module_imports_without_numpy() -> None:
    code = (
        "import sys; sys.modules['numpy'] = None\n"  # makes `import numpy` fail
        "import wslearn.framing as f\n"
        "assert f._np is None\n"
        "assert f.apply_mask(bytes(5000), b'abcd') == b'abcd' * 1250\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_apply_mask_rejects_a_key_that_is_not_4_bytes() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        apply_mask(b"data", b"abc")


def test_apply_mask_has_no_per_byte_python_loop() -> None:
    # 8 MiB: a per-byte loop takes about a second; the real thing takes milliseconds.
    data = bytes(8 << 20)
    best = min(_timed(apply_mask, data, KEY) for _ in range(3))
    assert best < 0.25, f"apply_mask on 8 MiB took {best:.2f} s"


def _timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------
# Encoding


@pytest.mark.parametrize(
    ("length", "header"),
    [
        pytest.param(0, "8200", id="0-in-7-bits"),
        pytest.param(125, "827d", id="125-in-7-bits"),
        pytest.param(126, "827e007e", id="126-in-16-bits"),
        pytest.param(65535, "827effff", id="65535-in-16-bits"),
        pytest.param(65536, "827f0000000000010000", id="65536-in-64-bits"),
    ],
)
def test_encoder_uses_the_minimal_length_encoding(length: int, header: str) -> None:
    wire = encode_frame(Frame(True, BINARY, bytes(length)))
    assert wire == bytes.fromhex(header) + bytes(length)


def test_mask_true_picks_a_fresh_random_key_each_time() -> None:
    frame = Frame(True, TEXT, b"Hello")
    wires = [encode_frame(frame, mask=True) for _ in range(8)]
    keys = {w[2:6] for w in wires}
    assert len(keys) == 8
    assert all(w[:2] == b"\x81\x85" for w in wires)
    assert all(decode_frame(w)[0] == Frame(True, TEXT, b"Hello", mask=w[2:6]) for w in wires)


def test_a_forked_child_never_reuses_the_parents_masking_keys() -> None:
    """Keys come from os.urandom in blocks; a child process must not inherit the block."""
    import os

    frame = Frame(True, BINARY, b"x")
    encode_frame(frame, mask=True)  # the parent now holds a block of keys
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send the next key it would use, and leave at once
        os.write(write_end, encode_frame(frame, mask=True)[2:6])
        os._exit(0)
    os.close(write_end)
    child_key = os.read(read_end, 4)
    os.close(read_end)
    os.waitpid(pid, 0)
    parent_key = encode_frame(frame, mask=True)[2:6]
    assert len(child_key) == 4 and child_key != parent_key


def test_mask_false_sends_unmasked_even_if_the_frame_has_a_key() -> None:
    frame = Frame(True, TEXT, b"Hello", mask=KEY)
    assert encode_frame(frame, mask=False) == bytes.fromhex("810548656c6c6f")
    assert encode_frame(Frame(True, TEXT, b"Hello"), mask=KEY) == encode_frame(frame)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(Frame(True, PING, bytes(126)), id="ping-126-bytes"),
        pytest.param(Frame(True, CLOSE, bytes(200)), id="close-200-bytes"),
        pytest.param(Frame(False, PONG, b""), id="fragmented-pong"),
    ],
)
def test_encoder_refuses_broken_control_frames_unless_told(frame: Frame) -> None:
    with pytest.raises(ProtocolError) as info:
        encode_frame(frame)
    assert info.value.code == 1002
    wire = encode_frame(frame, check=False)  # to show a peer failing the connection
    with pytest.raises(ProtocolError):
        decode_frame(wire)


def test_frame_validates_its_fields() -> None:
    with pytest.raises(ValueError):
        Frame(True, 3, b"")  # reserved opcode
    with pytest.raises(ValueError, match="4 bytes"):
        Frame(True, TEXT, b"", mask=b"abc")
    with pytest.raises(TypeError):
        Frame(True, TEXT, "text")
    frame = Frame(True, 1, bytearray(b"x"), mask=bytearray(KEY))
    assert frame == Frame(True, TEXT, b"x", mask=KEY)
    assert type(frame.payload) is bytes and frame.opcode is TEXT


def test_frame_repr_elides_long_payloads() -> None:
    text = repr(Frame(True, BINARY, bytes(70_000), mask=KEY))
    assert len(text) < 200 and "70000" in text and "37fa213d" in text


# --------------------------------------------------------------------------------------
# Protocol rules: each one raises ProtocolError with the close code to send


def _ext64(n: int) -> bytes:
    return n.to_bytes(8, "big")


RULES = [
    pytest.param(b"\xc1\x00", {}, 1002, id="rsv1-without-extension"),
    pytest.param(b"\xa1\x00", {}, 1002, id="rsv2-without-extension"),
    pytest.param(b"\x91\x00", {}, 1002, id="rsv3-without-extension"),
    pytest.param(b"\xa1\x00", {"allow_rsv1": True}, 1002, id="rsv2-with-deflate"),
    *[
        pytest.param(bytes([0x80 | op, 0]), {}, 1002, id=f"reserved-opcode-{op:#x}")
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)
    ],
    pytest.param(b"\x09\x00", {}, 1002, id="fragmented-ping"),
    pytest.param(b"\x08\x00", {}, 1002, id="fragmented-close"),
    pytest.param(b"\x0a\x00", {}, 1002, id="fragmented-pong"),
    pytest.param(b"\x89\x7e\x00\x7e", {}, 1002, id="ping-126-bytes"),
    pytest.param(b"\x88\x7f" + _ext64(70_000), {}, 1002, id="close-64bit-length"),
    pytest.param(b"\x81\x05Hello", {"expect_masked": True}, 1002, id="unmasked-client-frame"),
    pytest.param(b"\x81\x85" + KEY, {"expect_masked": False}, 1002, id="masked-server-frame"),
    pytest.param(b"\x82\x7f" + _ext64(1 << 63), {}, 1002, id="64bit-length-msb-set"),
    pytest.param(b"\x82\x7f" + _ext64(2**64 - 1), {}, 1002, id="64bit-length-all-ones"),
    pytest.param(b"\x82\x7e\x00\x7c", {}, 1002, id="non-minimal-124-in-16-bits"),
    pytest.param(b"\x82\x7f" + _ext64(125), {}, 1002, id="non-minimal-125-in-64-bits"),
    pytest.param(b"\x82\x7f" + _ext64(65535), {}, 1002, id="non-minimal-65535-in-64-bits"),
    pytest.param(b"\x82\x7e\x01\x00", {"max_size": 255}, 1009, id="over-max-size-16bit"),
    pytest.param(
        b"\x82\x7f" + _ext64(2**63 - 1), {"max_size": 1 << 20}, 1009, id="over-max-size-huge"
    ),
    pytest.param(b"\x82\x06", {"max_size": 5}, 1009, id="over-max-size-7bit"),
]


@pytest.mark.parametrize(("header", "options", "code"), RULES)
def test_rule_is_enforced_from_the_header_alone(header: bytes, options: dict, code: int) -> None:
    # Only the header is given: the error must come before any payload arrives.
    with pytest.raises(ProtocolError) as info:
        decode_frame(header, **options)
    assert info.value.code == code


@pytest.mark.parametrize(("header", "options", "code"), RULES)
def test_rule_fails_the_same_way_fed_byte_by_byte(header: bytes, options: dict, code: int) -> None:
    reader = FrameReader(**options)
    with pytest.raises(ProtocolError) as info:
        for i in range(len(header)):
            assert reader.feed(header[i : i + 1]) == []
    assert info.value.code == code
    with pytest.raises(ProtocolError):  # a failed reader stays failed
        reader.feed(b"\x81\x00")


@pytest.mark.parametrize(
    ("wire", "options"),
    [
        pytest.param(b"\xc1\x00", {"allow_rsv1": True}, id="rsv1-with-deflate"),
        pytest.param(b"\x89\x7d" + bytes(125), {}, id="ping-125-bytes"),
        pytest.param(b"\x82\x7e\x00\x7e" + bytes(126), {}, id="126-in-16-bits"),
        pytest.param(b"\x82\x7f" + _ext64(65536) + bytes(65536), {}, id="65536-in-64-bits"),
        pytest.param(b"\x82\x05" + bytes(5), {"max_size": 5}, id="exactly-max-size"),
        pytest.param(b"\x81\x80" + KEY, {"expect_masked": True}, id="masked-client-frame"),
        pytest.param(b"\x81\x00", {"expect_masked": False}, id="unmasked-server-frame"),
    ],
)
def test_boundary_cases_are_accepted(wire: bytes, options: dict) -> None:
    frame, used = decode_frame(wire, **options)
    assert used == len(wire)
    assert encode_frame(frame, check=False) == wire


# --------------------------------------------------------------------------------------
# Round trips (hypothesis)

payloads = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda n, seed: random.Random(seed).randbytes(n),
        st.sampled_from([1023, 1024, 1025, 65535, 65536, 65537, 70_001]),
        st.integers(0, 1000),
    ),
)
keys = st.binary(min_size=4, max_size=4)


@st.composite
def frames(draw: st.DrawFn, masked: bool | None = None) -> Frame:
    opcode = draw(st.sampled_from(Opcode))
    if opcode.is_control:
        fin, payload = True, draw(st.binary(max_size=125))
    else:
        fin, payload = draw(st.booleans()), draw(payloads)
    keys_for_role = {None: st.none() | keys, True: keys, False: st.none()}
    mask = draw(keys_for_role[masked])
    return Frame(fin, opcode, payload, mask=mask)


@FAST
@given(frame=frames(), tail=st.binary(max_size=20))
def test_encode_then_decode_gives_back_the_frame(frame: Frame, tail: bytes) -> None:
    wire = encode_frame(frame)
    assert decode_frame(wire + tail) == (frame, len(wire))  # never reads past the frame
    # Every proper prefix is "need more bytes", never an error.
    for cut in {0, 1, 2, 3, 5, 9, len(wire) // 2, len(wire) - 1}:
        if cut < len(wire):
            assert decode_frame(wire[:cut]) is None


@FAST
@given(
    batch=st.lists(frames(), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0), max_size=30),
)
def test_frame_reader_returns_the_same_frames_for_any_chunking(
    batch: list[Frame], cuts: list[int]
) -> None:
    wire = b"".join(encode_frame(f) for f in batch)
    points = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    reader = FrameReader()
    received = []
    for start, end in itertools.pairwise(points):
        received += reader.feed(wire[start:end])
    assert received == batch
    assert reader.buffered == 0


def test_frame_reader_accepts_one_byte_at_a_time() -> None:
    batch = [Frame(True, BINARY, BIN64K, mask=KEY), Frame(True, PING, b"x"), Frame(True, TEXT, b"")]
    wire = b"".join(encode_frame(f) for f in batch)
    reader = FrameReader(expect_masked=None)
    received = []
    for i in range(len(wire)):
        received += reader.feed(wire[i : i + 1])
    assert received == batch


def test_frame_reader_is_linear_for_big_frames_in_small_chunks() -> None:
    # 8 MiB in 1 KiB chunks: re-copying the buffer at each chunk would move ~32 GiB.
    payload = bytes(8 << 20)
    wire = encode_frame(Frame(True, BINARY, payload), mask=KEY)
    reader = FrameReader(expect_masked=True)
    start = time.perf_counter()
    received = []
    for i in range(0, len(wire), 1024):
        received += reader.feed(wire[i : i + 1024])
    elapsed = time.perf_counter() - start
    assert [f.payload == payload for f in received] == [True]
    assert elapsed < 2.0, f"{elapsed:.2f} s"


# --------------------------------------------------------------------------------------
# Agreement with the websockets library on the same bytes


def websockets_parse(wire: bytes, *, mask: bool) -> WsFrame:
    """Run websockets' generator-based parser over complete bytes."""
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=mask)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("websockets' parser wanted more bytes")


@FAST
@given(frame=frames(), masked=st.booleans())
def test_websockets_parses_what_we_encode(frame: Frame, masked: bool) -> None:
    wire = encode_frame(frame, mask=masked)
    theirs = websockets_parse(wire, mask=masked)
    assert (theirs.fin, int(theirs.opcode), bytes(theirs.data)) == (
        frame.fin,
        frame.opcode,
        frame.payload,
    )


@FAST
@given(frame=frames(), masked=st.booleans())
def test_we_parse_what_websockets_serializes(frame: Frame, masked: bool) -> None:
    wire = WsFrame(WsOpcode(frame.opcode), frame.payload, frame.fin).serialize(mask=masked)
    ours, used = decode_frame(wire, expect_masked=masked)
    assert used == len(wire)
    payload_start = len(wire) - len(frame.payload)
    key = wire[payload_start - 4 : payload_start] if masked else None
    assert ours == Frame(frame.fin, frame.opcode, frame.payload, mask=key)


@st.composite
def raw_frames(draw: st.DrawFn) -> bytes:
    """Well-delimited but arbitrary frames: any first byte, any length encoding."""
    head1 = draw(st.integers(0, 255))
    masked = draw(st.booleans())
    length = draw(st.integers(0, 300) | st.sampled_from([65535, 65536]))
    width = draw(st.sampled_from([7, 16, 64]))  # how the length is written, minimal or not
    if length > 125 and width == 7:
        width = 16 if length <= 0xFFFF else 64
    if length > 0xFFFF and width == 16:
        width = 64
    header = bytes([head1])
    mask_bit = 0x80 if masked else 0
    if width == 7:
        header += bytes([mask_bit | length])
    elif width == 16:
        header += bytes([mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        header += bytes([mask_bit | 127]) + length.to_bytes(8, "big")
    if masked:
        header += draw(keys)
    if length <= 300:
        return header + draw(st.binary(min_size=length, max_size=length))
    return header + random.Random(draw(st.integers(0, 99))).randbytes(length)


def _non_minimal_length(wire: bytes) -> bool:
    """True if the length field is wider than needed (§5.2 forbids it)."""
    short = wire[1] & 0x7F
    if short == 126:
        return int.from_bytes(wire[2:4], "big") <= 125
    if short == 127:
        return int.from_bytes(wire[2:10], "big") <= 0xFFFF
    return False


@settings(max_examples=400, deadline=None)
@given(wire=raw_frames(), server_side=st.booleans())
def test_we_accept_and_reject_what_websockets_does(wire: bytes, server_side: bool) -> None:
    try:
        ours = decode_frame(wire, expect_masked=server_side)
    except ProtocolError as exc:
        ours = exc
    try:
        theirs = websockets_parse(wire, mask=server_side)
    except WebsocketsProtocolError as exc:
        theirs = exc
    if _non_minimal_length(wire):
        # The one documented difference: websockets accepts non-minimal lengths.
        assert isinstance(ours, ProtocolError)
        return
    if isinstance(theirs, Exception):
        assert isinstance(ours, ProtocolError), f"websockets said {theirs!r}, we said {ours}"
    else:
        assert not isinstance(ours, ProtocolError), f"we said {ours}, websockets accepted"
        frame, used = ours
        assert used == len(wire)
        assert (frame.fin, frame.opcode, frame.payload) == (
            theirs.fin,
            int(theirs.opcode),
            bytes(theirs.data),
        )


# --------------------------------------------------------------------------------------
# Fragmentation and message assembly


def test_fragment_splits_into_a_fin_terminated_sequence() -> None:
    assert fragment("Hello", size=3) == [Frame(False, TEXT, b"Hel"), Frame(True, CONT, b"lo")]
    assert fragment(b"\x00" * 4, BINARY, size=2) == [
        Frame(False, BINARY, b"\x00\x00"),
        Frame(True, CONT, b"\x00\x00"),
    ]
    assert fragment("Hello", size=5) == [Frame(True, TEXT, b"Hello")]
    assert fragment("") == [Frame(True, TEXT, b"")]
    assert fragment(b"", BINARY) == [Frame(True, BINARY, b"")]


def test_fragment_rejects_what_cannot_be_a_message() -> None:
    with pytest.raises(TypeError):
        fragment("text", BINARY)
    with pytest.raises(ValueError):
        fragment(b"x", PING)
    with pytest.raises(ValueError):
        fragment(b"x", BINARY, size=0)


@FAST
@given(text=st.text(), size=st.integers(1, 8))
def test_fragmented_text_reassembles_whatever_the_cut(text: str, size: int) -> None:
    # Cuts land inside multi-byte code points; only the whole message must be UTF-8.
    assembler = Assembler()
    results = [assembler.feed(f) for f in fragment(text, size=size)]
    assert results[-1] == Message(TEXT, text)
    assert all(r is None for r in results[:-1])


def test_code_point_split_across_three_fragments() -> None:
    snowman = "☃".encode()  # e2 98 83
    assembler = Assembler()
    assert assembler.feed(Frame(False, TEXT, b"a" + snowman[:1])) is None
    assert assembler.feed(Frame(False, CONT, snowman[1:2])) is None
    assert assembler.feed(Frame(True, CONT, snowman[2:] + b"b")) == Message(TEXT, "a☃b")


def test_control_frames_interleave_and_come_back() -> None:
    assembler = Assembler()
    ping = Frame(True, PING, b"are you there")
    assert assembler.feed(Frame(False, TEXT, b"Hel")) is None
    assert assembler.in_message
    assert assembler.feed(ping) is ping
    assert assembler.feed(Frame(True, CONT, b"lo")) == Message(TEXT, "Hello")
    assert not assembler.in_message
    assert assembler.feed(Frame(True, BINARY, b"\x00\xff")) == Message(BINARY, b"\x00\xff")


@pytest.mark.parametrize(
    "sequence",
    [
        pytest.param([Frame(True, CONT, b"lo")], id="continuation-without-start"),
        pytest.param(
            [Frame(False, TEXT, b"Hel"), Frame(True, TEXT, b"lo")], id="text-inside-message"
        ),
        pytest.param(
            [Frame(False, BINARY, b"a"), Frame(False, TEXT, b"b")], id="text-inside-binary"
        ),
        pytest.param(
            [Frame(True, TEXT, b"ok"), Frame(True, CONT, b"late")], id="continuation-after-end"
        ),
    ],
)
def test_fragmentation_rules_fail_with_1002(sequence: list[Frame]) -> None:
    assembler = Assembler()
    with pytest.raises(ProtocolError) as info:
        for frame in sequence:
            assembler.feed(frame)
    assert info.value.code == 1002
    assert frame is sequence[-1]  # it is the offending frame that fails


def test_invalid_utf8_fails_at_the_first_bad_fragment() -> None:
    # Autobahn 6.4.1's payload: valid Greek, then F4 90 (above U+10FFFF), then more.
    assembler = Assembler()
    assert assembler.feed(Frame(False, TEXT, "κόσμε".encode())) is None
    with pytest.raises(ProtocolError) as info:
        assembler.feed(Frame(False, CONT, b"\xf4\x90\x80\x80"))  # the message is not over yet
    assert info.value.code == 1007


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff", id="invalid-byte"),
        pytest.param(b"\xce", id="truncated-at-end"),
        pytest.param(b"\xed\xa0\x80", id="surrogate"),
        pytest.param(b"\xc0\xaf", id="overlong"),
    ],
)
def test_invalid_utf8_text_fails_with_1007(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        Assembler().feed(Frame(True, TEXT, payload))
    assert info.value.code == 1007
    assert Assembler().feed(Frame(True, BINARY, payload)) == Message(BINARY, payload)


def test_message_max_size_counts_all_fragments() -> None:
    assembler = Assembler(max_size=10)
    assert assembler.feed(Frame(False, BINARY, bytes(6))) is None
    with pytest.raises(ProtocolError) as info:
        assembler.feed(Frame(True, CONT, bytes(5)))
    assert info.value.code == 1009
    exact = Assembler(max_size=10)
    exact.feed(Frame(False, TEXT, b"x" * 6))
    assert exact.feed(Frame(True, CONT, b"y" * 4)) == Message(TEXT, "xxxxxxyyyy")


# --------------------------------------------------------------------------------------
# A real websockets client and server, recorded through a small proxy


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: list) -> None:
    try:
        while data := await reader.read(65536):
            log.append(data)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def _record(messages: list[str | bytes], ping: bytes) -> tuple[bytes, bytes]:
    """Run the conversation through a proxy; return (client→server, server→client) bytes."""
    up: list[bytes] = []
    down: list[bytes] = []
    finished = asyncio.Event()

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with asyncio.timeout(20):
        async with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
            server_port = server.sockets[0].getsockname()[1]

            async def proxy(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", server_port)
                await asyncio.gather(
                    _relay(client_r, server_w, up), _relay(server_r, client_w, down)
                )
                finished.set()

            relay = await asyncio.start_server(proxy, "127.0.0.1", 0)
            async with relay:
                port = relay.sockets[0].getsockname()[1]
                uri = f"ws://127.0.0.1:{port}"
                async with connect(uri, compression=None, ping_interval=None) as ws:
                    for message in messages:
                        await ws.send(message)
                        assert await ws.recv() == message
                    await (await ws.ping(ping))
                await finished.wait()
    return b"".join(up), b"".join(down)


def test_decodes_a_real_websockets_conversation() -> None:
    messages = ["Hello, wire ☃", bytes(range(256)), random.Random(7).randbytes(70_000)]
    ping = b"are you there?"
    up, down = asyncio.run(_record(messages, ping))

    results = {}
    for name, stream, masked in (("up", up, True), ("down", down, False)):
        head, separator, wire = stream.partition(b"\r\n\r\n")
        assert separator and head.startswith((b"GET ", b"HTTP/1.1 101"))
        frames = []
        reader = FrameReader(expect_masked=masked)  # raises if a frame breaks the role
        for i in range(0, len(wire), 1000):  # arbitrary chunking, as TCP would do
            frames += reader.feed(wire[i : i + 1000])
        assert reader.buffered == 0
        assert all((f.mask is not None) == masked for f in frames)
        assembler = Assembler()
        results[name] = [assembler.feed(f) for f in frames]

    sent = [Message(TEXT, messages[0]), Message(BINARY, messages[1]), Message(BINARY, messages[2])]
    close_1000 = b"\x03\xe8"  # websockets closes with code 1000 and no reason
    client_side, server_side = results["up"], results["down"]
    assert client_side[:3] == sent
    assert [(f.opcode, f.payload) for f in client_side[3:]] == [(PING, ping), (CLOSE, close_1000)]
    assert server_side[:3] == sent  # the echo
    assert [(f.opcode, f.payload) for f in server_side[3:]] == [(PONG, ping), (CLOSE, close_1000)]


# --------------------------------------------------------------------------------------
# Garbage in: only ProtocolError or "need more bytes", and never a big allocation


def _outcome(data: bytes, **options: object) -> tuple[list[Frame], int | None]:
    """Frames decoded from data by decode_frame, and the close code if it failed."""
    frames, pos = [], 0
    try:
        while (result := decode_frame(data[pos:], **options)) is not None:
            frame, used = result
            assert 0 < used <= len(data) - pos
            frames.append(frame)
            pos += used
    except ProtocolError as exc:
        assert exc.code in (1002, 1009)
        return frames, exc.code
    return frames, None


def _outcome_fed_bytewise(data: bytes, **options: object) -> tuple[list[Frame], int | None]:
    reader, frames = FrameReader(**options), []
    try:
        for i in range(len(data)):
            frames += reader.feed(data[i : i + 1])
    except ProtocolError as exc:
        return frames, exc.code
    return frames, None


def test_ten_thousand_random_byte_strings() -> None:
    rng = random.Random(6455)
    interesting = [0x81, 0x82, 0x88, 0x89, 0x8A, 0x01, 0x00, 0x80, 0xC1, 0x7E, 0x7F, 0xFE, 0xFF]
    for _ in range(10_000):
        length = rng.choice([1, 2, 3, 4, 6, 10, 14, 20, 40, 130])
        data = bytes(
            rng.choice(interesting) if rng.random() < 0.3 else rng.randrange(256)
            for _ in range(rng.randrange(length + 1))
        )
        options = rng.choice(
            [{}, {"expect_masked": True}, {"expect_masked": False}, {"max_size": 16}]
        )
        whole = _outcome(data, **options)
        assert _outcome_fed_bytewise(data, **options) == whole


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=64), server_side=st.sampled_from([None, True, False]))
def test_garbage_gives_protocol_error_or_needs_more(data: bytes, server_side: bool | None) -> None:
    whole = _outcome(data, expect_masked=server_side, max_size=1000)
    assert _outcome_fed_bytewise(data, expect_masked=server_side, max_size=1000) == whole


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_header_announcing_2_63_minus_1_bytes_allocates_nothing(masked: bool) -> None:
    header = bytes([0x82, 0xFF if masked else 0x7F]) + _ext64(2**63 - 1) + (KEY if masked else b"")
    tracemalloc.start()
    try:
        assert decode_frame(header + bytes(1000)) is None
        reader = FrameReader()
        assert reader.feed(header) == []
        assert reader.feed(bytes(1000)) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"peak {peak} bytes"
    with pytest.raises(ProtocolError) as info:
        FrameReader(max_size=1 << 20).feed(header)
    assert info.value.code == 1009


def test_header_announcing_2_64_minus_1_bytes_is_a_protocol_error() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as info:
            decode_frame(b"\x82\x7f" + b"\xff" * 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.code == 1002
    assert peak < 64 * 1024


def test_next_frame_returns_every_good_frame_before_raising_at_the_broken_one():
    good = encode_frame(Frame(True, Opcode.TEXT, b"first"))
    ping = encode_frame(Frame(True, Opcode.PING, b"p"))
    broken = encode_frame(Frame(True, Opcode.TEXT, b"x", rsv1=True), check=False)
    reader = FrameReader()
    reader.receive(good + ping + broken)
    assert reader.next_frame().payload == b"first"
    assert reader.next_frame().opcode is Opcode.PING
    with pytest.raises(ProtocolError) as info:
        reader.next_frame()
    assert info.value.code == 1002
    with pytest.raises(ProtocolError):  # a failed reader stays failed
        reader.next_frame()
    assert FrameReader().feed(good[:3]) == []
