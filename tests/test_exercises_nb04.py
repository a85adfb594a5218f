"""Notebook 04's exercise checks: the notebook's solutions pass, plausible mistakes fail."""

from __future__ import annotations

import struct

import pytest
from helpers import failures, message_of, reference

from wslearn import close
from wslearn.exercises import run_checker
from wslearn.exercises.nb04_close import (
    SENDABLE_CASES,
    SITUATIONS,
    WAS_CLEAN_CASES,
    reference_was_clean,
)

REF = reference("04_close_codes")  # the notebook's own reference solutions
decode_close_payload = REF["decode_close_payload"]
sendable = REF["sendable"]
code_for = REF["code_for"]
was_clean = REF["was_clean"]


# --- decode_close_payload -------------------------------------------------------------------


def little_endian(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return decode_close_payload(payload)
    return int.from_bytes(payload[:2], "little"), payload[2:].decode("utf-8")


def empty_is_1000(payload: bytes) -> tuple[int, str]:
    return (1000, "") if not payload else decode_close_payload(payload)


def latin1_reason(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return decode_close_payload(payload)
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("latin-1")


def one_byte_is_a_code(payload: bytes) -> tuple[int, str]:
    if len(payload) == 1:
        return payload[0], ""
    return decode_close_payload(payload)


def test_decode_close_payload_reference_passes_including_the_live_server():
    report = run_checker("decode_close_payload", decode_close_payload)
    assert report.passed, str(report)
    assert any("real websockets server" in r.case for r in report.results)


def test_little_endian_also_fails_on_the_live_server_case():
    messages = failures("decode_close_payload", little_endian)
    assert any("real websockets server" in case for case in messages)


# --- sendable -------------------------------------------------------------------------------


def test_sendable_cases_agree_with_the_library():
    for codes, expected, _ in SENDABLE_CASES:
        assert all(close.is_sendable(code) is expected for code in codes), codes


def whole_range(code: int) -> bool:
    return 1000 <= code <= 4999


def browser_rule(code: int) -> bool:
    """What a page may pass to close(): stricter than the protocol."""
    return code == 1000 or 3000 <= code <= 4999


def rfc_only(code: int) -> bool:
    """Forgets 1012-1014, added to the registry after RFC 6455."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


def returns_an_int(code: int) -> int:
    return int(sendable(code))


def test_sendable_reference_passes_and_the_library_is_a_shortcut():
    assert run_checker("sendable", sendable).passed
    report = run_checker("sendable", close.is_sendable)
    assert not report.passed and "`close.is_sendable`" in report.results[0].message


# --- mistakes in decode_close_payload and sendable ------------------------------------------

MISTAKES = [
    # (exercise, wrong solution, a case it fails, a hint that case's message gives)
    ("decode_close_payload", little_endian, "4000 'bye'", "big-endian"),
    ("decode_close_payload", empty_is_1000, "empty payload", "1005"),
    ("decode_close_payload", latin1_reason, "4999 with a non-ASCII reason", "UTF-8"),
    ("decode_close_payload", one_byte_is_a_code, "1-byte payload", "ValueError"),
    ("sendable", whole_range, "1005", "never sent"),
    ("sendable", browser_rule, "1001", "the rule for a page's close(code)"),
    ("sendable", rfc_only, "1013", "after the RFC"),
    ("sendable", returns_an_int, "1000", ""),
]


@pytest.mark.parametrize(
    ("exercise", "wrong", "failing_case", "hint"),
    MISTAKES,
    ids=[wrong.__name__ for _, wrong, _, _ in MISTAKES],
)
def test_a_mistake_fails_its_case_with_a_hint(exercise, wrong, failing_case, hint):
    assert hint in message_of(exercise, wrong, failing_case)


# --- code_for -------------------------------------------------------------------------------


def code_for_but(situation: str, code: int):
    """The notebook's ``code_for``, except that it answers ``code`` for ``situation``."""
    return lambda asked: code if asked == situation else code_for(asked)


def test_code_for_reference_passes_and_covers_every_situation():
    report = run_checker("code_for", code_for)
    assert report.passed, str(report)
    assert [r.case for r in report.results] == list(SITUATIONS)


def test_code_for_accepts_any_private_code_for_the_app_specific_situation():
    for code in (4000, 4999):
        answers = code_for_but("the chat app bans a user (an app-specific reason)", code)
        assert run_checker("code_for", answers).passed


@pytest.mark.parametrize(
    ("situation", "wrong", "hint", "answer"),
    [
        ("the server is shutting down", 1000, "going away", "1001"),
        ("a text message is not valid UTF-8", 1002, "invalid frame payload data", "1007"),
        ("a client sent a 20 MB message, the server's limit is 1 MB", 1008, "too big", "1009"),
        ("the chat app bans a user (an app-specific reason)", 1008, "application's own", "4000"),
        ("the chat app bans a user (an app-specific reason)", 3000, "libraries", "4000"),
        ("the server's handler crashed with an exception", 1006, "never sent", "1011"),
    ],
)
def test_code_for_mistakes_fail_with_a_hint_that_keeps_the_answer(situation, wrong, hint, answer):
    messages = failures("code_for", code_for_but(situation, wrong))
    assert list(messages) == [situation]
    assert hint in messages[situation] and answer not in messages[situation]


# --- was_clean ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "definition", [was_clean, reference_was_clean], ids=["notebook", "checker"]
)
def test_was_clean_cases_follow_the_notebook_and_the_checker_definition(definition):
    for trace, expected, _ in WAS_CLEAN_CASES:
        assert definition(trace) is expected, trace


def both_frames_anywhere(trace: list[str]) -> bool:
    """Forgets that a failed connection is never clean."""
    return "client close frame" in trace and "server close frame" in trace


def server_closed_tcp(trace: list[str]) -> bool:
    """Thinks clean means 'the server closed TCP' (what the RFC asks of a server)."""
    return trace[-1] == "tcp closed by server"


def client_started(trace: list[str]) -> bool:
    """Thinks only a client-initiated close can be clean."""
    frames = [e for e in trace if e.endswith("close frame")]
    return frames[:2] == ["client close frame", "server close frame"] and was_clean(trace)


def test_was_clean_notebook_passes_and_the_checkers_definition_is_a_shortcut():
    assert run_checker("was_clean", was_clean).passed
    report = run_checker("was_clean", reference_was_clean)
    assert not report.passed and "write it yourself" in report.results[0].message


@pytest.mark.parametrize(
    ("wrong", "failing_case"),
    [
        (both_frames_anywhere, "protocol error → client close frame"),
        (server_closed_tcp, "client close frame → tcp closed by server"),
        (client_started, "message → server close frame"),
    ],
)
def test_was_clean_mistakes_fail(wrong, failing_case):
    assert any(case.startswith(failing_case) for case in failures("was_clean", wrong))
