"""Tests for wslearn.close: close codes, Close frame payloads, the browser's close() rules.

The expected values are written here from the texts (RFC 6455 §5.5, §5.5.1,
§7.4; the IANA close code registry; the WHATWG close() steps; Autobahn cases
7.7 and 7.9), not computed with the module under test.  The live tests close
connections with a real `websockets` server over a raw socket, and decode every
Close frame it sends with `decode_close`.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator

import pytest
from conftest import run
from hypothesis import given
from hypothesis import strategies as st
from rawws import RawWebSocket
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.exceptions import ProtocolError as WebsocketsProtocolError
from websockets.frames import Close

from wslearn.close import (
    NEVER_ON_WIRE,
    CloseCode,
    decode_close,
    describe,
    encode_close,
    is_sendable,
)
from wslearn.dom import DOMException, check_close_args
from wslearn.framing import Frame, Opcode, ProtocolError, encode_frame

# --------------------------------------------------------------------------------------
# The table: which codes may appear in a Close frame (RFC 6455 §7.4.1, §7.4.2 + IANA)
# --------------------------------------------------------------------------------------

# Written out by hand from the RFC and the registry.
SENDABLE_RANGES = [
    (1000, 1003),  # normal, going away, protocol error, unsupported data
    # 1004 reserved, 1005 no status, 1006 abnormal: never on the wire
    (1007, 1011),  # invalid payload, policy, too big, mandatory extension, internal error
    (1012, 1014),  # IANA registry: service restart, try again later, bad gateway
    # 1015 TLS handshake: never on the wire; 1016-2999 unassigned
    (3000, 3999),  # registered with IANA for libraries, frameworks, applications
    (4000, 4999),  # private use
]


def _sendable_by_table(code: int) -> bool:
    return any(low <= code <= high for low, high in SENDABLE_RANGES)


# Autobahn|Testsuite (FACTS.md): case 7.7 closes cleanly with these codes ...
AUTOBAHN_7_7_VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
# ... and case 7.9 expects a 1002 answer to these.
AUTOBAHN_7_9_INVALID = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]


def test_is_sendable_matches_the_table_for_every_code_up_to_5999() -> None:
    wrong = [code for code in range(6000) if is_sendable(code) != _sendable_by_table(code)]
    assert wrong == []


@pytest.mark.parametrize("code", [5000, 65535, 65536, -1, -1000])
def test_is_sendable_rejects_codes_outside_the_16_bit_ranges(code: int) -> None:
    assert is_sendable(code) is False


@pytest.mark.parametrize("code", AUTOBAHN_7_7_VALID)
def test_autobahn_7_7_codes_are_sendable_and_decode(code: int) -> None:
    assert is_sendable(code)
    assert decode_close(struct.pack("!H", code)) == (code, "")


@pytest.mark.parametrize("code", AUTOBAHN_7_9_INVALID)
def test_autobahn_7_9_codes_are_a_protocol_error(code: int) -> None:
    assert not is_sendable(code)
    with pytest.raises(ProtocolError) as info:
        decode_close(struct.pack("!H", code))
    assert info.value.code == 1002


# --------------------------------------------------------------------------------------
# CloseCode and describe()
# --------------------------------------------------------------------------------------

IANA_REGISTRY = {
    1000: "NORMAL_CLOSURE",
    1001: "GOING_AWAY",
    1002: "PROTOCOL_ERROR",
    1003: "UNSUPPORTED_DATA",
    1004: "RESERVED",
    1005: "NO_STATUS_RCVD",
    1006: "ABNORMAL_CLOSURE",
    1007: "INVALID_FRAME_PAYLOAD_DATA",
    1008: "POLICY_VIOLATION",
    1009: "MESSAGE_TOO_BIG",
    1010: "MANDATORY_EXTENSION",
    1011: "INTERNAL_ERROR",
    1012: "SERVICE_RESTART",
    1013: "TRY_AGAIN_LATER",
    1014: "BAD_GATEWAY",
    1015: "TLS_HANDSHAKE",
}


def test_close_code_holds_every_registered_code_by_name() -> None:
    assert {int(member): member.name for member in CloseCode} == IANA_REGISTRY


def test_never_on_wire_is_1004_1005_1006_1015() -> None:
    assert set(NEVER_ON_WIRE) == {1004, 1005, 1006, 1015}
    assert [int(c) for c in CloseCode if not c.on_wire] == [1004, 1005, 1006, 1015]
    assert all(c.on_wire == is_sendable(c) for c in CloseCode)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1000, "NORMAL_CLOSURE"),
        (1006, "ABNORMAL_CLOSURE"),
        (1014, "BAD_GATEWAY"),
        (0, "not used"),
        (999, "not used"),
        (1016, "reserved for the protocol/extensions"),
        (2999, "reserved for the protocol/extensions"),
        (3000, "registered with IANA"),
        (3999, "registered with IANA"),
        (4000, "private use"),
        (4999, "private use"),
        (5000, "invalid"),
        (65535, "invalid"),
    ],
)
def test_describe_names_the_code_or_its_range(code: int, expected: str) -> None:
    text = describe(code)
    assert text.startswith(str(code))
    assert expected in text


def test_describe_gives_one_line_for_every_code() -> None:
    for code in range(6000):
        text = describe(code)
        assert text and "\n" not in text, code


# --------------------------------------------------------------------------------------
# encode_close / decode_close
# --------------------------------------------------------------------------------------

sendable_codes = st.one_of(
    st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]),
    st.integers(3000, 4999),
)
# Any text, cut to at most 123 bytes of UTF-8 (never splitting a character).
reasons = st.text().map(lambda s: s.encode("utf-8")[:123].decode("utf-8", "ignore"))


def test_encode_close_examples() -> None:
    assert encode_close() == b""
    assert encode_close(None) == b""
    assert encode_close(1000) == b"\x03\xe8"
    assert encode_close(4000, "bye") == b"\x0f\xa0bye"
    assert encode_close(1001, "é") == b"\x03\xe9\xc3\xa9"


def test_encode_close_reason_without_code_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs a close code"):
        encode_close(None, "why")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_encode_close_refuses_codes_that_may_not_be_sent(code: int) -> None:
    with pytest.raises(ValueError, match="may not be sent"):
        encode_close(code)


@pytest.mark.parametrize(
    ("reason", "fits"),
    [
        ("a" * 123, True),
        ("a" * 124, False),
        ("é" * 61 + "a", True),  # 62 characters, 123 bytes
        ("é" * 62, False),  # 62 characters, 124 bytes
        ("😀" * 30 + "abc", True),  # 33 characters, 123 bytes
        ("😀" * 31, False),  # 31 characters, 124 bytes
    ],
    ids=["ascii-123", "ascii-124", "2byte-123", "2byte-124", "4byte-123", "4byte-124"],
)
def test_encode_close_reason_limit_is_123_bytes_not_characters(reason: str, fits: bool) -> None:
    if fits:
        assert len(encode_close(1000, reason)) == 125
    else:
        with pytest.raises(ValueError, match="123"):
            encode_close(1000, reason)


def test_decode_close_empty_payload_is_no_status_received() -> None:
    assert decode_close(b"") == (1005, "")


@given(code=sendable_codes, reason=reasons)
def test_close_payload_round_trip(code: int, reason: str) -> None:
    payload = encode_close(code, reason)
    assert len(payload) <= 125
    assert payload[:2] == code.to_bytes(2, "big")
    assert decode_close(payload) == (code, reason)


@given(code=sendable_codes, reason=reasons)
def test_close_payload_agrees_with_websockets(code: int, reason: str) -> None:
    payload = encode_close(code, reason)
    assert Close(code, reason).serialize() == payload
    theirs = Close.parse(payload)
    assert (theirs.code, theirs.reason) == decode_close(payload)


@given(
    payload=st.one_of(
        st.binary(max_size=125),
        st.builds(
            lambda c, r: c.to_bytes(2, "big") + r, st.integers(0, 65535), st.binary(max_size=20)
        ),
    )
)
def test_decode_close_agrees_with_websockets_on_any_payload(payload: bytes) -> None:
    try:
        theirs = Close.parse(payload)
    except WebsocketsProtocolError:
        expected_error: int | None = 1002
    except UnicodeDecodeError:
        # websockets decodes the reason before it checks the code; decode_close reads
        # the code first, so a payload wrong in both ways is a 1002 there.
        expected_error = 1007 if _sendable_by_table(int.from_bytes(payload[:2], "big")) else 1002
    else:
        expected_error = None
    if expected_error is None:
        assert decode_close(payload) == (theirs.code, theirs.reason)
    else:
        with pytest.raises(ProtocolError) as info:
            decode_close(payload)
        assert info.value.code == expected_error


def _pack(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


# (payload, close code the receiver must answer with)
MALFORMED = {
    "one-byte": (b"\x03", 1002),
    "code-0": (_pack(0), 1002),
    "code-999": (_pack(999), 1002),
    "code-1004-reserved": (_pack(1004), 1002),
    "code-1005-no-status": (_pack(1005), 1002),
    "code-1006-abnormal": (_pack(1006), 1002),
    "code-1015-tls": (_pack(1015), 1002),
    "code-1016-unassigned": (_pack(1016), 1002),
    "code-2999-unassigned": (_pack(2999), 1002),
    "code-5000": (_pack(5000), 1002),
    "code-65535": (_pack(65535), 1002),
    "reason-invalid-utf8": (_pack(1000, b"\xff\xfe"), 1007),
    "reason-truncated-utf8": (_pack(1000, "é".encode()[:1]), 1007),
    "reason-utf16-surrogate": (_pack(1000, b"\xed\xa0\x80"), 1007),
    "payload-126-bytes": (_pack(1000, b"a" * 124), 1002),
}


@pytest.mark.parametrize(("payload", "answer"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_decode_close_malformed_payload_raises_with_answer_code(
    payload: bytes, answer: int
) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_close(payload)
    assert info.value.code == answer


def test_decode_close_takes_any_bytes_like() -> None:
    payload = encode_close(4000, "bye é")
    for buffer in (
        payload,
        bytearray(payload),
        memoryview(payload),
        memoryview(b"xx" + payload)[2:],
    ):
        assert decode_close(buffer) == (4000, "bye é")
    with pytest.raises(ProtocolError) as error:
        decode_close(memoryview(payload[:2] + b"\xff"))
    assert error.value.code == 1007


def test_the_rfc_modules_import_nothing_from_the_browser_side() -> None:
    import ast
    import importlib
    from pathlib import Path

    for name in ("handshake", "framing", "close"):
        module = importlib.import_module(f"wslearn.{name}")
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        browser = {"wslearn.dom", "wslearn.websocket", "wslearn.url", "wslearn.browser"}
        assert imported & browser == set(), name


def test_decode_close_accepts_exactly_125_bytes() -> None:
    assert decode_close(_pack(3000, b"r" * 123)) == (3000, "r" * 123)


# --------------------------------------------------------------------------------------
# check_close_args: the WHATWG close(code, reason) rules
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1001, False),
        (1002, False),
        (1011, False),
        (2999, False),
        (3000, True),
        (3999, True),
        (4000, True),
        (4999, True),
        (5000, False),
        (65535, False),
        (-1, False),  # [Clamp] makes it 0
        (70000, False),  # [Clamp] makes it 65535
    ],
)
def test_check_close_args_code_rule(code: int, allowed: bool) -> None:
    if allowed:
        assert check_close_args(code, None) == (code, b"")
    else:
        with pytest.raises(DOMException) as info:
            check_close_args(code, None)
        assert info.value.name == "InvalidAccessError"


@pytest.mark.parametrize(
    ("reason", "allowed"),
    [
        ("", True),
        ("a" * 123, True),
        ("a" * 124, False),
        ("é" * 61 + "a", True),  # 62 characters, 123 bytes
        ("é" * 62, False),  # 62 characters, 124 bytes
        ("€" * 41, True),  # 41 characters, 123 bytes
        ("€" * 41 + "a", False),  # 42 characters, 124 bytes
        ("😀" * 31, False),  # 31 characters, 124 bytes
    ],
    ids=[
        "empty",
        "ascii-123",
        "ascii-124",
        "2byte-123",
        "2byte-124",
        "3byte-123",
        "3byte-124",
        "4byte-124",
    ],
)
def test_check_close_args_reason_rule_counts_utf8_bytes(reason: str, allowed: bool) -> None:
    if allowed:
        assert check_close_args(3000, reason) == (3000, reason.encode("utf-8"))
    else:
        with pytest.raises(DOMException) as info:
            check_close_args(3000, reason)
        assert info.value.name == "SyntaxError"


def test_check_close_args_checks_code_before_reason() -> None:
    with pytest.raises(DOMException) as info:
        check_close_args(1001, "x" * 200)
    assert info.value.name == "InvalidAccessError"


def test_check_close_args_without_arguments_means_a_close_frame_without_body() -> None:
    assert check_close_args() == (None, b"")
    assert check_close_args(None, None) == (None, b"")
    assert check_close_args(None, "") == (None, b"")


def test_check_close_args_reason_without_code_gets_1000() -> None:
    assert check_close_args(None, "bye") == (1000, b"bye")


def test_check_close_args_turns_lone_surrogates_into_replacement_characters() -> None:
    # WebIDL USVString: unpaired surrogates become U+FFFD, paired ones join.
    assert check_close_args(1000, "a\ud800b") == (1000, "a\ufffdb".encode())
    assert check_close_args(1000, "\ud83d\ude00") == (1000, "😀".encode())


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000.0, None), ("1000", None), (True, None), (1000, b"bytes")],
    ids=["float-code", "str-code", "bool-code", "bytes-reason"],
)
def test_check_close_args_rejects_non_int_code_and_non_str_reason(
    code: object, reason: object
) -> None:
    with pytest.raises(TypeError):
        check_close_args(code, reason)  # type: ignore[arg-type]


@given(code=st.one_of(st.just(1000), st.integers(3000, 4999)), reason=reasons)
def test_check_close_args_output_always_encodes(code: int, reason: str) -> None:
    checked_code, reason_bytes = check_close_args(code, reason)
    assert checked_code is not None
    payload = encode_close(checked_code, reason_bytes.decode("utf-8"))
    assert decode_close(payload) == (code, reason)


# --------------------------------------------------------------------------------------
# Live closing handshakes against a real websockets server, over a raw socket
# --------------------------------------------------------------------------------------

TIMEOUT = 5.0


async def _handler(ws: ServerConnection) -> None:
    """Echo messages; on /close4000 close with 4000 + a reason; on /wait just wait."""
    assert ws.request is not None
    if ws.request.path == "/close4000":
        await ws.close(4000, "bye now")
    elif ws.request.path == "/wait":
        await ws.wait_closed()
    else:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                await ws.send(message)


@contextlib.asynccontextmanager
async def _server(**kwargs: object) -> AsyncIterator[tuple[Server, int]]:
    async with serve(_handler, "127.0.0.1", 0, compression=None, **kwargs) as server:  # type: ignore[arg-type]
        port = server.sockets[0].getsockname()[1]
        yield server, port


@contextlib.asynccontextmanager
async def _live(path: str = "/", **kwargs: object) -> AsyncIterator[RawWebSocket]:
    """A `websockets` server (``kwargs``) and a raw client connected to ``path``."""
    async with _server(**kwargs) as (_, port), RawWebSocket.connect("127.0.0.1", port, path) as raw:
        yield raw


def _close(payload: bytes) -> Frame:
    return Frame(True, Opcode.CLOSE, payload)


async def _answer_to(data: Frame | bytes) -> int:
    """Send ``data`` first thing; the code of the server's close frame (TCP then closed)."""
    async with _live() as raw:
        await raw.send(data)
        code, _ = decode_close((await raw.recv_close()).payload)
        # After the closing handshake the server closes TCP first (§7.1.1).
        assert await raw.hung_up()
    return code


def test_live_client_initiated_1000_is_echoed() -> None:
    async def scenario() -> None:
        async with _live() as raw:
            await raw.send(Frame(True, Opcode.TEXT, b"hello"))
            # Servers never mask (§5.1): the raw client refuses masked frames.
            assert await raw.recv_frame() == Frame(True, Opcode.TEXT, b"hello")
            await raw.send(_close(encode_close(1000, "done")))
            payload = (await raw.recv_close()).payload
            # websockets echoes the whole payload, reason included (§5.5.1 allows it).
            assert payload == encode_close(1000, "done")
            assert decode_close(payload) == (1000, "done")
            assert await raw.hung_up()

    run(scenario(), TIMEOUT)


def test_live_close_without_status_is_answered_without_status() -> None:
    async def scenario() -> None:
        async with _live() as raw:
            await raw.send(_close(b""))
            payload = (await raw.recv_close()).payload
            # websockets echoes the empty body: no code on the wire either way.
            assert payload == b""
            assert decode_close(payload) == (1005, "")
            assert await raw.hung_up()

    run(scenario(), TIMEOUT)


def test_live_server_shutdown_sends_1001() -> None:
    async def scenario() -> None:
        async with _server() as (server, port):
            async with RawWebSocket.connect("127.0.0.1", port, "/wait") as raw:
                server.close()  # closes open connections with 1001 "going away"
                payload = (await raw.recv_close()).payload
                assert decode_close(payload) == (1001, "")
                await raw.send(_close(payload))  # echo to finish the handshake
                assert await raw.hung_up()
            await server.wait_closed()  # waits for our side of TCP to close too

    run(scenario(), TIMEOUT)


def test_live_server_closes_with_4000_and_reason() -> None:
    async def scenario() -> None:
        async with _live("/close4000") as raw:
            payload = (await raw.recv_close()).payload
            assert decode_close(payload) == (4000, "bye now")
            await raw.send(_close(encode_close(4000)))
            assert await raw.hung_up()

    run(scenario(), TIMEOUT)


def test_live_message_over_max_size_gets_1009() -> None:
    async def scenario() -> None:
        async with _live(max_size=1024) as raw:
            await raw.send(Frame(True, Opcode.BINARY, b"x" * 1024))
            assert await raw.recv_frame() == Frame(True, Opcode.BINARY, b"x" * 1024)  # at the limit
            await raw.send(Frame(True, Opcode.BINARY, b"x" * 1025))
            code, _ = decode_close((await raw.recv_close()).payload)
            assert code == 1009
            assert await raw.hung_up()

    run(scenario(), TIMEOUT)


BAD_FRAMES = {
    "rsv1-without-extension": (Frame(True, Opcode.TEXT, b"hi", rsv1=True), 1002),
    "unmasked-client-frame": (encode_frame(Frame(True, Opcode.TEXT, b"hi"), mask=False), 1002),
    "invalid-utf8-text": (Frame(True, Opcode.TEXT, b"\xce\xba\xff"), 1007),
}


@pytest.mark.parametrize(("data", "answer"), list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_live_bad_frame_gets_close_code(data: Frame | bytes, answer: int) -> None:
    assert run(_answer_to(data), TIMEOUT) == answer


@pytest.mark.parametrize(("payload", "answer"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_live_server_answers_malformed_close_like_decode_close(payload: bytes, answer: int) -> None:
    """websockets answers each malformed Close payload with the code decode_close names."""
    assert run(_answer_to(_close(payload)), TIMEOUT) == answer


# CloseEvent fields (code, reason, wasClean) that wslearn.websocket reports for each of
# the scenarios above are tested in tests/test_websocket.py by the port's author.
