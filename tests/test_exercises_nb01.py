"""Notebook 01's exercise checks: the library's behaviour passes, plausible mistakes fail."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wslearn import handshake
from wslearn.exercises import NOT_WRITTEN, run_checker
from wslearn.exercises.nb01_handshake import ALLOWED_ORIGINS, STATUS_CASES

# --- accept_key ---------------------------------------------------------------


def forgot_guid(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()


def hex_digest(key: str) -> str:
    return hashlib.sha1((key + handshake.GUID).encode()).hexdigest()


def base64_of_hex(key: str) -> str:
    return base64.b64encode(hex_digest(key).encode()).decode()


def returns_bytes(key: str) -> bytes:
    return base64.b64encode(hashlib.sha1((key + handshake.GUID).encode()).digest())


def decoded_key(key: str) -> str:
    data = base64.b64decode(key) + handshake.GUID.encode()
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def not_written(*args: object) -> object:
    raise NotImplementedError("your solution here")


def failures(report) -> dict[str, str]:
    return {r.case: r.message for r in report.results if not r.passed}


def test_accept_key_reference_passes_including_the_live_client():
    report = run_checker("accept_key", handshake.accept_key)
    assert report.passed, str(report)
    assert any("real websockets client" in r.case for r in report.results)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (forgot_guid, "append the GUID"),
        (hex_digest, "not the hex text"),
        (base64_of_hex, "not .hexdigest()"),
        (returns_bytes, "return text"),
        (decoded_key, "do not base64-decode it"),
    ],
)
def test_accept_key_mistakes_fail_with_a_hint_that_names_them(wrong, hint):
    report = run_checker("accept_key", wrong)
    assert not report.passed
    messages = failures(report)
    assert "RFC 6455 example key" in messages
    assert hint in messages["RFC 6455 example key"]
    # and the real websockets client refuses the handshake, too
    assert any("real websockets client" in case for case in messages)


def test_accept_key_not_written_fails_every_case_without_crashing():
    report = run_checker("accept_key", not_written)
    assert report.results and not any(r.passed for r in report.results)
    assert NOT_WRITTEN in report.results[0].message


# --- parse_request_head -------------------------------------------------------


def reference_parse(data: bytes) -> tuple[str, str, dict[str, str]]:
    """The library's parser, reshaped into the exercise's return value."""
    request = handshake.parse_request(data)[0]
    names = dict.fromkeys(name.lower() for name, _ in request.headers)
    return request.method, request.target, {n: ", ".join(request.headers.get_all(n)) for n in names}


def keeps_name_case(data: bytes) -> tuple[str, str, dict[str, str]]:
    request = handshake.parse_request(data)[0]
    return request.method, request.target, dict(request.headers)


def splits_every_colon(data: bytes) -> tuple[str, str, dict[str, str]]:
    head = data.split(b"\r\n\r\n")[0].decode()
    start, *lines = head.split("\r\n")
    headers = {line.split(":")[0].lower(): line.split(":")[1].strip() for line in lines}
    return start.split(" ")[0], start.split(" ")[1], headers


def last_value_wins(data: bytes) -> tuple[str, str, dict[str, str]]:
    request = handshake.parse_request(data)[0]
    return request.method, request.target, {n.lower(): v for n, v in request.headers}


def reads_past_the_head(data: bytes) -> tuple[str, str, dict[str, str]]:
    start, *lines = data.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    method, target, _ = start.split(" ")
    return method, target, headers


def test_parse_request_head_reference_passes():
    report = run_checker("parse_request_head", reference_parse)
    assert report.passed, str(report)


@pytest.mark.parametrize(
    ("wrong", "failing_case"),
    [
        (keeps_name_case, "names in any case, odd spacing"),
        (splits_every_colon, "a request from build_request (Host has a colon too)"),
        (last_value_wins, "a header sent twice"),
        (reads_past_the_head, "a frame right after the head"),
    ],
)
def test_parse_request_head_mistakes_fail(wrong, failing_case):
    report = run_checker("parse_request_head", wrong)
    assert not report.passed
    assert failing_case in failures(report)


# --- status_for ---------------------------------------------------------------


def reference_status(data: bytes) -> int:
    """The library as a server: parse_request + check_request, statuses from HandshakeError."""
    try:
        request = handshake.parse_request(data)[0]
        handshake.check_request(request, origins={*ALLOWED_ORIGINS, None})
    except handshake.HandshakeError as error:
        return error.status
    return 101


def always_400(data: bytes) -> int:
    status = reference_status(data)
    return 400 if status == 426 else status


def exact_header_values(data: bytes) -> int:
    """Compares Upgrade and Connection as whole strings, case-sensitively."""
    request = handshake.parse_request(data)[0]
    if (
        request.headers.get("Upgrade") != "websocket"
        or request.headers.get("Connection") != "Upgrade"
    ):
        return 400
    return reference_status(data)


def case_sensitive_names(data: bytes) -> int:
    """Looks headers up in a dict keyed by the names exactly as written."""
    request = handshake.parse_request(data)[0]
    headers = dict(request.headers)
    if "websocket" not in headers.get("Upgrade", "").lower():
        return 400
    return reference_status(data)


def ignores_origin(data: bytes) -> int:
    status = reference_status(data)
    return 101 if status == 403 else status


def test_status_for_reference_passes_and_covers_every_status():
    report = run_checker("status_for", reference_status)
    assert report.passed, str(report)
    assert {status for _, _, status, _ in STATUS_CASES} == {101, 400, 403, 426}


@pytest.mark.parametrize(
    ("wrong", "failing_case", "hint"),
    [
        (always_400, "Sec-WebSocket-Version: 8", "426"),
        (exact_header_values, "a browser's request (keep-alive, Upgrade)", "token"),
        (case_sensitive_names, "header names and values in other cases", "case-insensitive"),
        (ignores_origin, "Origin not allowed", "403"),
    ],
)
def test_status_for_mistakes_fail_with_a_hint(wrong, failing_case, hint):
    report = run_checker("status_for", wrong)
    assert not report.passed
    messages = failures(report)
    assert failing_case in messages
    assert hint in messages[failing_case]


def test_status_for_not_written_fails_every_case():
    report = run_checker("status_for", not_written)
    assert report.results and not any(r.passed for r in report.results)
