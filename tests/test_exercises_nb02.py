"""Notebook 02's checks pass the notebook's reference solutions and fail the usual wrong ones."""

from __future__ import annotations

import pytest
from conftest import reference

from wslearn import framing
from wslearn.exercises import run_checker

REF = reference("02_framing")  # the notebook's own reference solutions
parse_header = REF["parse_header"]
apply_mask = REF["apply_mask"]
encode_length = REF["encode_length"]


# --- parse_header -------------------------------------------------------------------------------


def header_forgets_the_mask_bit(data: bytes) -> dict:
    return {**parse_header(data), "length": parse_header(data)["length"] | (data[1] & 0x80)}


def header_little_endian(data: bytes) -> dict:
    fields = parse_header(data)
    if data[1] & 0x7F == 126:
        fields["length"] = int.from_bytes(data[2:4], "little")
    elif data[1] & 0x7F == 127:
        fields["length"] = int.from_bytes(data[2:10], "little")
    return fields


def header_ignores_extended_lengths(data: bytes) -> dict:
    return {**parse_header(data), "length": data[1] & 0x7F}


def header_with_fin_as_a_number(data: bytes) -> dict:
    return {**parse_header(data), "fin": data[0] & 0x80, "masked": data[1] & 0x80}


def header_reads_the_opcode_from_the_top(data: bytes) -> dict:
    return {**parse_header(data), "opcode": data[0] >> 4}


def test_parse_header_passes_the_reference():
    report = run_checker("parse_header", parse_header)
    assert report.passed, str(report)
    assert len(report.results) >= 7


def test_parse_header_accepts_truthy_flags():
    """FIN as 0x80 instead of True is the same answer: the check compares truth values."""
    assert run_checker("parse_header", header_with_fin_as_a_number).passed


def test_parse_header_explains_a_wrong_return_shape():
    report = run_checker("parse_header", lambda data: (True, 1, True, 5))
    assert not report.passed
    assert "return a dict with exactly the keys" in report.results[0].message


# --- apply_mask ---------------------------------------------------------------------------------


def mask_with_i_mod_2(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ mask[(offset + i) % 2] for i, b in enumerate(data))


def mask_with_the_first_byte_only(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ mask[0] for b in data)


def mask_returning_a_list(data: bytes, mask: bytes, offset: int = 0) -> list[int]:
    return list(apply_mask(data, mask, offset))


def test_apply_mask_passes_the_reference_and_the_library_is_a_shortcut():
    report = run_checker("apply_mask", apply_mask)
    assert report.passed, str(report)
    assert report.results[-1].case.startswith("a real websockets server unmasks your frame")
    library = run_checker("apply_mask", lambda data, mask, offset=0: framing.apply_mask(data, mask))
    assert not library.passed and "`framing.apply_mask`" in library.results[0].message


def test_apply_mask_the_real_server_rejects_a_wrong_mask():
    real = run_checker("apply_mask", mask_with_i_mod_2).results[-1]
    assert not real.passed
    assert "the server closed the connection: 1007" in real.message  # invalid UTF-8


# --- encode_length ------------------------------------------------------------------------------


def length_without_the_mask_bit(n: int, masked: bool) -> bytes:
    return encode_length(n, False)


def length_little_endian(n: int, masked: bool) -> bytes:
    first = encode_length(n, masked)
    return first[:1] + first[1:][::-1]


def length_not_minimal(n: int, masked: bool) -> bytes:
    """Always the 16-bit form below 65536: websockets accepts it, the RFC does not."""
    mask_bit = 0x80 if masked else 0
    if n <= 0xFFFF:
        return bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    return encode_length(n, masked)


def length_with_two_bytes_for_everything_long(n: int, masked: bool) -> bytes:
    mask_bit = 0x80 if masked else 0
    if n <= 125:
        return bytes([mask_bit | n])
    return bytes([mask_bit | 126]) + (n & 0xFFFF).to_bytes(2, "big")


def test_encode_length_matches_the_library_encoder():
    for n in (0, 125, 126, 65535, 65536, 70_000):
        for masked in (False, True):
            key = b"\x00\x00\x00\x00" if masked else False
            frame = framing.encode_frame(framing.Frame(True, framing.Opcode.BINARY, bytes(n)), key)
            header = frame[1 : len(frame) - n - (4 if masked else 0)]
            assert encode_length(n, masked) == header


def test_encode_length_the_real_server_rejects_an_unmasked_client_frame():
    real = run_checker("encode_length", length_without_the_mask_bit).results[-1]
    assert not real.passed
    assert "1002" in real.message and "OR byte 1 with 0x80" in real.message


# --- mistakes, and the stubs of the student copies ----------------------------------------------

MISTAKES = [
    # (exercise, wrong solution, a hint that the message of some failed case gives)
    ("parse_header", header_forgets_the_mask_bit, "data[1] & 0x7F"),
    ("parse_header", header_little_endian, "big-endian"),
    ("parse_header", header_ignores_extended_lengths, "126 means the real length"),
    ("parse_header", header_reads_the_opcode_from_the_top, "low 4 bits"),
    ("apply_mask", mask_with_i_mod_2, "mask[i % 4], not i % 2"),
    ("apply_mask", mask_with_the_first_byte_only, "not always the first one"),
    ("apply_mask", mask_returning_a_list, "return bytes"),
    ("encode_length", length_without_the_mask_bit, "OR byte 1 with 0x80"),
    ("encode_length", length_little_endian, "big-endian"),
    ("encode_length", length_not_minimal, "shortest form"),
    ("encode_length", length_with_two_bytes_for_everything_long, "127, then 8 bytes"),
]


@pytest.mark.parametrize(
    ("exercise", "wrong", "hint"), MISTAKES, ids=[wrong.__name__ for _, wrong, _ in MISTAKES]
)
def test_a_wrong_solution_fails_with_a_hint(exercise, wrong, hint):
    report = run_checker(exercise, wrong)
    assert not report.passed
    assert any(hint in r.message for r in report.results if not r.passed), str(report)
