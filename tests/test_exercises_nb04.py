"""Notebook 04's exercise checks: reference solutions pass, plausible mistakes fail."""

from __future__ import annotations

import struct

import pytest

from wslearn import close
from wslearn.exercises import NOT_WRITTEN, run_checker
from wslearn.exercises.nb04_close import (
    SENDABLE_CASES,
    SITUATIONS,
    WAS_CLEAN_CASES,
    reference_was_clean,
)


def failures(report) -> dict[str, str]:
    return {r.case: r.message for r in report.results if not r.passed}


def not_written(*args: object) -> object:
    raise NotImplementedError("your solution here")


@pytest.mark.parametrize("name", ["decode_close_payload", "sendable", "code_for", "was_clean"])
def test_not_written_fails_every_case_with_the_stub_message(name):
    report = run_checker(name, not_written)
    assert report.results and not any(r.passed for r in report.results)
    assert any(NOT_WRITTEN in r.message for r in report.results)


# --- decode_close_payload -------------------------------------------------------------------


def reference_decode(payload: bytes) -> tuple[int, str]:
    """The notebook's solution, by hand (no wslearn.close)."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ValueError("a close payload of 1 byte")
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8")


def little_endian(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return reference_decode(payload)
    return int.from_bytes(payload[:2], "little"), payload[2:].decode("utf-8")


def empty_is_1000(payload: bytes) -> tuple[int, str]:
    return (1000, "") if not payload else reference_decode(payload)


def latin1_reason(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return reference_decode(payload)
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("latin-1")


def one_byte_is_a_code(payload: bytes) -> tuple[int, str]:
    if len(payload) == 1:
        return payload[0], ""
    return reference_decode(payload)


def test_decode_close_payload_reference_and_library_pass_including_the_live_server():
    report = run_checker("decode_close_payload", reference_decode)
    assert report.passed, str(report)
    assert any("real websockets server" in r.case for r in report.results)


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (little_endian, "4000 'bye'", "big-endian"),
        (empty_is_1000, "empty payload", "1005"),
        (latin1_reason, "4999 with a non-ASCII reason", "UTF-8"),
        (one_byte_is_a_code, "1-byte payload", "ValueError"),
    ],
)
def test_decode_close_payload_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    report = run_checker("decode_close_payload", wrong)
    assert not report.passed
    messages = failures(report)
    assert failing_case in messages
    assert hint in messages[failing_case]


def test_little_endian_also_fails_on_the_live_server_case():
    messages = failures(run_checker("decode_close_payload", little_endian))
    assert any("real websockets server" in case for case in messages)


# --- sendable -------------------------------------------------------------------------------


def test_sendable_cases_agree_with_the_library():
    for codes, expected, _ in SENDABLE_CASES:
        assert all(close.is_sendable(code) is expected for code in codes), codes


def reference_sendable(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def whole_range(code: int) -> bool:
    return 1000 <= code <= 4999


def browser_rule(code: int) -> bool:
    """What a page may pass to close(): stricter than the protocol."""
    return code == 1000 or 3000 <= code <= 4999


def rfc_only(code: int) -> bool:
    """Forgets 1012-1014, added to the registry after RFC 6455."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


def test_sendable_reference_and_library_pass():
    assert run_checker("sendable", reference_sendable).passed
    assert run_checker("sendable", close.is_sendable).passed


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (whole_range, "1005", "never sent"),
        (browser_rule, "1001", "sendable"),
        (rfc_only, "1013", "after the RFC"),
        (lambda code: int(reference_sendable(code)), "1000", ""),
    ],
)
def test_sendable_mistakes_fail(wrong, failing_case, hint):
    report = run_checker("sendable", wrong)
    assert not report.passed
    messages = failures(report)
    assert failing_case in messages
    assert hint in messages[failing_case]


# --- code_for -------------------------------------------------------------------------------

REFERENCE_CODES = {
    "the page is done with the connection": 1000,
    "the server is shutting down": 1001,
    "a frame arrived with RSV1 set, but no extension was agreed": 1002,
    "a text-only chat server received a binary message": 1003,
    "a text message is not valid UTF-8": 1007,
    "a client sent a 20 MB message, the server's limit is 1 MB": 1009,
    "the server's handler crashed with an exception": 1011,
    "the server is overloaded: try again in a minute": 1013,
    "the chat app bans a user (an app-specific reason)": 4003,
}


def test_code_for_reference_passes_and_covers_every_situation():
    assert set(REFERENCE_CODES) == set(SITUATIONS)
    report = run_checker("code_for", REFERENCE_CODES.__getitem__)
    assert report.passed, str(report)


def test_code_for_accepts_any_private_code_for_the_app_specific_situation():
    for code in (4000, 4999):
        answers = {**REFERENCE_CODES, "the chat app bans a user (an app-specific reason)": code}
        assert run_checker("code_for", answers.__getitem__).passed


@pytest.mark.parametrize(
    ("situation", "wrong", "hint"),
    [
        ("the server is shutting down", 1000, "1001"),
        ("a text message is not valid UTF-8", 1002, "1007"),
        ("a client sent a 20 MB message, the server's limit is 1 MB", 1008, "1009"),
        ("the chat app bans a user (an app-specific reason)", 1008, "4000-4999"),
        ("the chat app bans a user (an app-specific reason)", 3000, "4000-4999"),
        ("the server's handler crashed with an exception", 1006, "1011"),
    ],
)
def test_code_for_mistakes_fail_with_a_hint(situation, wrong, hint):
    answers = {**REFERENCE_CODES, situation: wrong}
    report = run_checker("code_for", answers.__getitem__)
    assert not report.passed
    messages = failures(report)
    assert list(messages) == [situation]
    assert hint in messages[situation]


# --- was_clean ------------------------------------------------------------------------------


def test_was_clean_cases_follow_the_reference_definition():
    for trace, expected, _ in WAS_CLEAN_CASES:
        assert reference_was_clean(trace) is expected, trace


def both_frames_anywhere(trace: list[str]) -> bool:
    """Forgets that a failed connection is never clean."""
    return "client close frame" in trace and "server close frame" in trace


def server_closed_tcp(trace: list[str]) -> bool:
    """Thinks clean means 'the server closed TCP' (what the RFC asks of a server)."""
    return trace[-1] == "tcp closed by server"


def client_started(trace: list[str]) -> bool:
    """Thinks only a client-initiated close can be clean."""
    frames = [e for e in trace if e.endswith("close frame")]
    return frames[:2] == ["client close frame", "server close frame"] and reference_was_clean(trace)


def test_was_clean_reference_passes():
    report = run_checker("was_clean", reference_was_clean)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("wrong", "failing_case"),
    [
        (both_frames_anywhere, "protocol error → client close frame"),
        (server_closed_tcp, "client close frame → tcp closed by server"),
        (client_started, "message → server close frame"),
    ],
)
def test_was_clean_mistakes_fail(wrong, failing_case):
    report = run_checker("was_clean", wrong)
    assert not report.passed
    assert any(case.startswith(failing_case) for case in failures(report))
