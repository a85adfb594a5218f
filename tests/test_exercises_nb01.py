"""Notebook 01's exercise checks: the notebook's solutions pass, plausible mistakes fail."""

from __future__ import annotations

import base64
import hashlib

import pytest
from helpers import failures, message_of, reference

from wslearn import handshake
from wslearn.exercises import run_checker
from wslearn.exercises.nb01_handshake import ALLOWED_ORIGINS, STATUS_CASES

REF = reference("01_handshake")  # the notebook's own reference solutions


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


ACCEPT_KEY_MISTAKES = [forgot_guid, hex_digest, base64_of_hex, returns_bytes, decoded_key]


def test_accept_key_notebook_passes_including_the_live_client():
    report = run_checker("accept_key", REF["accept_key"])
    assert report.passed, str(report)
    assert any("real websockets client" in r.case for r in report.results)


def test_accept_key_handed_over_from_the_library_is_a_shortcut():
    report = run_checker("accept_key", handshake.accept_key)
    assert not report.passed and "write it yourself" in report.results[0].message


@pytest.mark.parametrize("wrong", ACCEPT_KEY_MISTAKES)
def test_accept_key_mistakes_are_refused_by_the_real_websockets_client_too(wrong):
    assert any("real websockets client" in case for case in failures("accept_key", wrong))


# --- parse_request_head -------------------------------------------------------


def _lines(data: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """The start line's words and the (name, value) pairs, in plain Python."""
    start, *lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    pairs = [(name, value.strip(" \t")) for name, _, value in (ln.partition(":") for ln in lines)]
    return start.split(" "), pairs


def library_parse(data: bytes) -> tuple[str, str, dict[str, str]]:
    """The library's parser, reshaped into the exercise's return value: a shortcut."""
    request = handshake.parse_request(data)[0]
    names = dict.fromkeys(name.lower() for name, _ in request.headers)
    return request.method, request.target, {n: ", ".join(request.headers.get_all(n)) for n in names}


def keeps_name_case(data: bytes) -> tuple[str, str, dict[str, str]]:
    words, pairs = _lines(data)
    return words[0], words[1], dict(pairs)


def splits_every_colon(data: bytes) -> tuple[str, str, dict[str, str]]:
    head = data.split(b"\r\n\r\n")[0].decode()
    start, *lines = head.split("\r\n")
    headers = {line.split(":")[0].lower(): line.split(":")[1].strip() for line in lines}
    return start.split(" ")[0], start.split(" ")[1], headers


def last_value_wins(data: bytes) -> tuple[str, str, dict[str, str]]:
    words, pairs = _lines(data)
    return words[0], words[1], {n.lower(): v for n, v in pairs}


def reads_past_the_head(data: bytes) -> tuple[str, str, dict[str, str]]:
    start, *lines = data.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    method, target, _ = start.split(" ")
    return method, target, headers


def test_parse_request_head_notebook_passes_and_the_library_is_a_shortcut():
    assert run_checker("parse_request_head", REF["parse_request_head"]).passed
    report = run_checker("parse_request_head", library_parse)
    assert not report.passed and "`handshake.parse_request`" in report.results[0].message


# --- status_for ---------------------------------------------------------------


def library_status(data: bytes) -> int:
    """The library as a server (parse_request + check_request): a shortcut."""
    try:
        request = handshake.parse_request(data)[0]
        handshake.check_request(request, origins={*ALLOWED_ORIGINS, None})
    except handshake.HandshakeError as error:
        return error.status
    return 101


def always_400(data: bytes) -> int:
    status = REF["status_for"](data)
    return 400 if status == 426 else status


def exact_header_values(data: bytes) -> int:
    """Compares Upgrade and Connection as whole strings, case-sensitively."""
    headers = dict(_lines(data)[1])
    if headers.get("Upgrade") != "websocket" or headers.get("Connection") != "Upgrade":
        return 400
    return REF["status_for"](data)


def case_sensitive_names(data: bytes) -> int:
    """Looks headers up in a dict keyed by the names exactly as written."""
    headers = dict(_lines(data)[1])
    if "websocket" not in headers.get("Upgrade", "").lower():
        return 400
    return REF["status_for"](data)


def ignores_origin(data: bytes) -> int:
    status = REF["status_for"](data)
    return 101 if status == 403 else status


def test_status_for_notebook_passes_and_the_library_is_a_shortcut():
    assert run_checker("status_for", REF["status_for"]).passed
    report = run_checker("status_for", library_status)
    assert not report.passed and "write it yourself" in report.results[0].message


def test_status_for_cases_cover_every_status_and_agree_with_the_library():
    assert {status for _, _, status, _, _ in STATUS_CASES} == {101, 400, 403, 426}
    assert all(library_status(data) == status for _, data, status, _, _ in STATUS_CASES)


# --- mistakes, and the stubs of the student copies ------------------------------

MISTAKES = [
    # (exercise, wrong solution, a case it fails, a hint that case's message gives)
    ("accept_key", forgot_guid, "RFC 6455 example key", "append the GUID"),
    ("accept_key", hex_digest, "RFC 6455 example key", "not the hex text"),
    ("accept_key", base64_of_hex, "RFC 6455 example key", "not .hexdigest()"),
    ("accept_key", returns_bytes, "RFC 6455 example key", "return text"),
    ("accept_key", decoded_key, "RFC 6455 example key", "do not base64-decode it"),
    ("parse_request_head", keeps_name_case, "names in any case, odd spacing", ""),
    (
        "parse_request_head",
        splits_every_colon,
        "a request from build_request (Host has a colon too)",
        "",
    ),
    ("parse_request_head", last_value_wins, "a header sent twice", ""),
    ("parse_request_head", reads_past_the_head, "a frame right after the head", ""),
    ("status_for", always_400, "Sec-WebSocket-Version: 8", "426"),
    ("status_for", exact_header_values, "a browser's request (keep-alive, Upgrade)", "token"),
    (
        "status_for",
        case_sensitive_names,
        "header names and values in other cases",
        "case-insensitive",
    ),
    ("status_for", ignores_origin, "Origin not allowed", "403"),
]


@pytest.mark.parametrize(
    ("exercise", "wrong", "failing_case", "hint"),
    MISTAKES,
    ids=[wrong.__name__ for _, wrong, _, _ in MISTAKES],
)
def test_a_mistake_fails_its_case_with_a_hint(exercise, wrong, failing_case, hint):
    assert hint in message_of(exercise, wrong, failing_case)
