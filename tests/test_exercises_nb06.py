"""Notebook 06's exercise checks: reference solutions pass, plausible mistakes fail."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import not_written, reference

from wslearn import scratch
from wslearn.close import decode_close, encode_close
from wslearn.exercises import NOT_WRITTEN, run_checker
from wslearn.framing import Frame, Opcode, ProtocolError


def failed_cases(report) -> dict[str, str]:
    return {r.case: r.message for r in report.results if not r.passed}


REF = reference("06_build_a_server")
reference_pong_for = REF["pong_for"]
reference_reassemble = REF["reassemble"]
reference_close_reply = REF["close_reply"]


@pytest.mark.parametrize("name", ["pong_for", "reassemble", "close_reply"])
def test_not_written_fails_every_case_with_the_stub_message(name):
    report = run_checker(name, not_written)
    assert report.results and not any(r.passed for r in report.results)
    assert any(NOT_WRITTEN in r.message for r in report.results)


@pytest.mark.parametrize(
    ("name", "solution"),
    [
        ("pong_for", reference_pong_for),
        ("reassemble", reference_reassemble),
        ("close_reply", reference_close_reply),
    ],
)
def test_reference_passes_including_the_live_server_cases(name, solution):
    report = run_checker(name, solution)
    assert report.passed, str(report)
    live = [r.case for r in report.results if "websockets client" in r.case]
    raw = [r.case for r in report.results if "raw client" in r.case]
    assert live and raw


# --- pong_for ---------------------------------------------------------------------------------


def test_pong_for_library_piece_passes():
    assert run_checker("pong_for", scratch.pong_for).passed


def test_pong_for_copying_the_ping_with_a_new_opcode_passes():
    """Keeping the ping's masking key on the Frame is harmless: a server encodes unmasked."""
    report = run_checker("pong_for", lambda ping: dataclasses.replace(ping, opcode=Opcode.PONG))
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda ping: Frame(True, Opcode.PING, ping.payload), "PONG (opcode 0xA)"),
        (lambda ping: Frame(True, Opcode.PONG, b""), "payload unchanged"),
        (lambda ping: ping, "PONG (opcode 0xA)"),
        (lambda ping: Frame(False, Opcode.PONG, ping.payload), "never fragmented"),
        (lambda ping: ping.payload, "return a framing.Frame"),
    ],
)
def test_pong_for_mistakes_fail_with_a_hint(wrong, hint):
    report = run_checker("pong_for", wrong)
    messages = failed_cases(report)
    assert "PING b'hello'" in messages
    assert hint in messages["PING b'hello'"]
    live = [case for case in messages if "your pong_for" in case or "websockets client" in case]
    assert live, "the live server cases fail too"


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


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (decode_each_fragment, "'café' with the é split between two fragments", "straddle"),
        (no_rules, "a CONTINUATION with nothing before it", "raise ProtocolError"),
        (keeps_control_frames, "a PING between two fragments", "skip them"),
        (always_text, "one BINARY frame with FIN", "bytes"),
        (value_error_instead, "the last fragment has no FIN", "raised ValueError"),
    ],
)
def test_reassemble_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    messages = failed_cases(run_checker("reassemble", wrong))
    assert failing_case in messages
    assert hint in messages[failing_case]


def test_reassemble_without_rules_fails_the_live_raw_client_case():
    messages = failed_cases(run_checker("reassemble", no_rules))
    (case,) = [case for case in messages if "raw client" in case]
    assert "1002" in case


def test_reassemble_value_error_fails_the_live_case_with_1011():
    messages = failed_cases(run_checker("reassemble", value_error_instead))
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


def test_close_reply_library_piece_passes_through_an_adapter():
    """scratch.close_reply takes (code, reason); the exercise takes the raw payload."""

    def adapter(payload):
        try:
            return scratch.close_reply(*decode_close(payload))
        except ProtocolError as error:
            return encode_close(error.code)

    assert run_checker("close_reply", adapter).passed


def test_close_reply_may_drop_the_reason():
    def code_only(payload):
        return reference_close_reply(payload)[:2]

    assert run_checker("close_reply", code_only).passed


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (echo_payload, "1005 on the wire", "never sent"),
        (echo_payload, "a 1-byte payload", "2 bytes"),
        (always_1000, "4000 'bye'", "echo the code"),
        (always_1000, "an empty close payload", "empty payload"),
        (empty_gets_1000, "an empty close payload", "1005 may never be sent"),
        (every_error_is_1002, "a reason that is not UTF-8", "1007"),
    ],
)
def test_close_reply_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    messages = failed_cases(run_checker("close_reply", wrong))
    assert failing_case in messages
    assert hint in messages[failing_case]


@pytest.mark.parametrize(
    ("wrong", "live_case"),
    [
        (echo_payload, "a raw client sends close code 1005: the server must answer 1002"),
        (always_1000, "a real websockets client closes with 4000 'bye'"),
        (empty_gets_1000, "a real websockets client sends an empty close frame"),
    ],
)
def test_close_reply_mistakes_also_fail_on_the_live_server(wrong, live_case):
    assert live_case in failed_cases(run_checker("close_reply", wrong))
