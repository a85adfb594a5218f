"""Notebook 06's exercise checks: plausible mistakes fail with a hint, on the live server too.

(Reference passes and stub fails for every exercise: ``test_exercises.py``.)
"""

from __future__ import annotations

import pytest
from helpers import failures, message_of, reference

from wslearn import connection
from wslearn.close import decode_close, encode_close
from wslearn.exercises import run_checker
from wslearn.framing import Frame, Opcode, ProtocolError

REF = reference("06_build_a_server")
reference_reassemble = REF["reassemble"]
reference_close_reply = REF["close_reply"]


@pytest.mark.parametrize(
    ("name", "solution"),
    [
        ("pong_for", REF["pong_for"]),
        ("reassemble", reference_reassemble),
        ("close_reply", reference_close_reply),
    ],
)
def test_reference_passes_the_live_server_cases_too(name, solution):
    report = run_checker(name, solution)
    live = [r for r in report.results if "websockets client" in r.case or "raw client" in r.case]
    assert len(live) >= 2 and all(r.passed for r in live), str(report)


@pytest.mark.parametrize("name", ["pong_for", "reassemble", "close_reply"])
def test_handing_in_the_library_piece_itself_fails_with_a_reason(name):
    messages = failures(name, getattr(connection, name))
    assert list(messages) == ["your own code, not the library's"]
    assert f"`connection.{name}` here is the answer" in messages["your own code, not the library's"]


@pytest.mark.parametrize("name", ["pong_for", "reassemble", "close_reply"])
def test_a_wrapper_around_the_library_piece_passes(name):
    """Same signatures: the library's piece plugs in where the learner's does."""
    piece = getattr(connection, name)
    assert run_checker(name, lambda *args: piece(*args)).passed


# --- pong_for ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda payload: Frame(True, Opcode.PONG, payload), "return only the PONG's payload"),
        (lambda payload: b"", "got an empty payload"),
        (lambda payload: payload[::-1], "a changed payload"),
        (lambda payload: payload.decode("latin-1"), "a payload is bytes"),
        (lambda payload: len(payload), "return bytes"),
    ],
    ids=["a Frame", "empty", "reversed", "str", "int"],
)
def test_pong_for_mistakes_fail_with_a_hint_and_on_the_live_server(wrong, hint):
    messages = failures("pong_for", wrong)
    assert hint in messages["PING b'hello'"]
    live = [case for case in messages if "raw client" in case or "websockets client" in case]
    assert live, "the live server cases fail too"


def test_pong_for_that_raises_is_named_in_the_live_case():
    def broken(payload):
        raise KeyError("oops")

    messages = failures("pong_for", broken)
    (raw,) = [m for case, m in messages.items() if "raw client" in case]
    assert "CLOSE 1011" in raw and "your pong_for raised KeyError" in raw


# --- reassemble -------------------------------------------------------------------------------


def decode_each_fragment(frames):
    """Decodes fragment by fragment: breaks on a character split between fragments."""
    data = [f for f in frames if not f.opcode.is_control]
    if data[0].opcode is Opcode.BINARY:
        return b"".join(f.payload for f in data)
    return "".join(f.payload.decode("utf-8") for f in data)


def no_rules(frames):
    """Joins whatever comes: never raises."""
    data = [f for f in frames if not f.opcode.is_control]
    payload = b"".join(f.payload for f in data)
    return payload if data[0].opcode is Opcode.BINARY else payload.decode("utf-8", "replace")


def keeps_control_frames(frames):
    """Forgets that a PING may sit between fragments."""
    payload = b"".join(f.payload for f in frames)
    return payload if frames[0].opcode is Opcode.BINARY else payload.decode()


def always_text(frames):
    return reference_reassemble(frames) if frames[0].opcode is Opcode.TEXT else "?"


def value_error_instead(frames):
    try:
        return reference_reassemble(frames)
    except ProtocolError as error:
        raise ValueError(str(error)) from None


def test_reassemble_without_rules_fails_the_live_raw_client_case():
    messages = failures("reassemble", no_rules)
    (case,) = [case for case in messages if "raw client" in case]
    assert "1002" in case


def test_reassemble_value_error_fails_the_live_case_with_1011():
    messages = failures("reassemble", value_error_instead)
    (message,) = [m for case, m in messages.items() if "raw client" in case]
    assert "CLOSE 1011" in message and "raised ValueError" in message


# --- close_reply ------------------------------------------------------------------------------


def echo_payload(payload):
    return payload


def always_1000(payload):
    return encode_close(1000)


def empty_gets_1000(payload):
    return encode_close(1000) if not payload else reference_close_reply(payload)


def every_error_is_1002(payload):
    try:
        return (
            reference_close_reply(payload) if not payload else encode_close(*decode_close(payload))
        )
    except ProtocolError:
        return encode_close(1002)


def test_close_reply_may_drop_the_reason():
    def code_only(payload):
        return reference_close_reply(payload)[:2]

    assert run_checker("close_reply", code_only).passed


MISTAKES = [
    (
        "reassemble",
        decode_each_fragment,
        "'café' with the é split between two fragments",
        "straddle",
    ),
    ("reassemble", no_rules, "a CONTINUATION with nothing before it", "raise ProtocolError"),
    ("reassemble", keeps_control_frames, "a PING between two fragments", "skip them"),
    ("reassemble", always_text, "one BINARY frame with FIN", "bytes"),
    ("reassemble", value_error_instead, "the last fragment has no FIN", "raised ValueError"),
    ("close_reply", echo_payload, "1005 on the wire", "never sent"),
    ("close_reply", echo_payload, "a 1-byte payload", "2 bytes"),
    ("close_reply", always_1000, "4000 'bye'", "echo the code"),
    ("close_reply", always_1000, "an empty close payload", "empty payload"),
    ("close_reply", empty_gets_1000, "an empty close payload", "1005 may never be sent"),
    ("close_reply", every_error_is_1002, "a reason that is not UTF-8", "1007"),
]


@pytest.mark.parametrize(("exercise", "wrong", "failing_case", "hint"), MISTAKES)
def test_a_mistake_fails_its_case_with_a_hint(exercise, wrong, failing_case, hint):
    assert hint in message_of(exercise, wrong, failing_case)


@pytest.mark.parametrize(
    ("wrong", "live_case"),
    [
        (echo_payload, "a raw client sends close code 1005: the server must answer 1002"),
        (always_1000, "a real websockets client closes with 4000 'bye'"),
        (empty_gets_1000, "a real websockets client sends an empty close frame"),
    ],
)
def test_close_reply_mistakes_also_fail_on_the_live_server(wrong, live_case):
    assert live_case in failures("close_reply", wrong)
