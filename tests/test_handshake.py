"""Tests for wslearn.handshake: RFC 6455 §4 examples, parser limits, status
codes for each malformed request, and interop with the real `websockets`
library in both directions over 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets.exceptions
import websockets.utils
from conftest import run
from hypothesis import given
from hypothesis import strategies as st
from rawws import RawWebSocket, read_head, read_to_eof, tcp
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from wslearn.framing import Frame, Opcode
from wslearn.handshake import (
    GUID,
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    HandshakeError,
    Headers,
    Request,
    Response,
    accept_key,
    build_error_response,
    build_request,
    build_response,
    check_request,
    check_response,
    generate_key,
    parse_protocols,
    parse_request,
    parse_response,
    select_subprotocol,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 and §4.2.2
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
TIMEOUT = 5.0

# The client handshake of RFC 6455 §1.2, byte for byte.
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RFC_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)
# A masked "Hello" text frame (RFC 6455 §5.7), i.e. what may follow a head.
FIRST_FRAME = bytes.fromhex("818537fa213d7f9f4d5158")


# --- keys ---------------------------------------------------------------------


def test_accept_key_matches_rfc_example() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(RFC_KEY) == RFC_ACCEPT


@given(st.binary(min_size=16, max_size=16))
def test_accept_key_agrees_with_websockets(raw: bytes) -> None:
    key = base64.b64encode(raw).decode()
    assert accept_key(key) == websockets.utils.accept_key(key)


def test_generate_key_is_16_random_bytes_in_base64() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(k, validate=True)) == 16 for k in keys)


# --- Headers --------------------------------------------------------------------


def test_headers_lookup_ignores_case_and_keeps_repeats_in_order() -> None:
    headers = Headers(
        [("Sec-WebSocket-Protocol", "chat"), ("X-Other", "1"), ("sec-websocket-protocol", "json")]
    )
    assert headers.get("SEC-WEBSOCKET-PROTOCOL") == "chat"
    assert headers.get_all("Sec-Websocket-Protocol") == ["chat", "json"]
    assert "x-other" in headers
    assert "Missing" not in headers
    assert headers.get("Missing", "default") == "default"
    assert list(headers) == list(headers.items())
    assert len(headers) == 3


def test_headers_tokens_split_repeated_comma_lists() -> None:
    headers = Headers([("Connection", "keep-alive, Upgrade"), ("Connection", " ,close")])
    assert headers.tokens("connection") == ["keep-alive", "Upgrade", "close"]
    assert headers.has_token("Connection", "upgrade")
    assert not headers.has_token("Connection", "websocket")
    assert parse_protocols("chat, superchat,,json ") == ["chat", "superchat", "json"]
    assert parse_protocols(["a", "b, c"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("Bad Name", "x"), ("X", "a\r\nInjected: yes"), ("X", "a\nb"), ("", "x")],
    ids=["space-in-name", "crlf-in-value", "lf-in-value", "empty-name"],
)
def test_headers_refuse_fields_that_would_corrupt_the_head(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        Headers([(name, value)])


# --- parsing --------------------------------------------------------------------


def test_parse_rfc_example_request() -> None:
    request, consumed = parse_request(RFC_REQUEST)
    assert consumed == len(RFC_REQUEST)
    assert (request.method, request.target, request.version) == ("GET", "/chat", "HTTP/1.1")
    assert request.headers.get("host") == "server.example.com"
    assert request.subprotocols == ["chat", "superchat"]
    assert request.serialize() == RFC_REQUEST
    assert check_request(request) == RFC_KEY


def test_parse_rfc_example_response() -> None:
    response, consumed = parse_response(RFC_RESPONSE)
    assert consumed == len(RFC_RESPONSE)
    assert (response.version, response.status, response.reason) == (
        "HTTP/1.1",
        101,
        "Switching Protocols",
    )
    assert response.serialize() == RFC_RESPONSE
    assert check_response(response, RFC_KEY, ["chat", "superchat"]) == "chat"


def test_build_response_matches_rfc_example() -> None:
    assert build_response(RFC_KEY, subprotocol="chat") == RFC_RESPONSE


@pytest.mark.parametrize(
    ("parse", "head"),
    [(parse_request, RFC_REQUEST), (parse_response, RFC_RESPONSE)],
    ids=["request", "response"],
)
def test_incremental_parse_waits_for_the_whole_head(
    parse: Callable[[bytes], Any], head: bytes
) -> None:
    for split in range(len(head)):
        assert parse(head[:split]) is None, f"parsed early at byte {split}"
    expected = parse(head)
    # Bytes after the blank line (here a first frame) are left for the next layer.
    assert parse(head + FIRST_FRAME) == expected
    assert parse(bytearray(head + FIRST_FRAME)) == expected
    assert expected[1] == len(head)


@given(
    path=st.from_regex(r"/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]{0,40}", fullmatch=True),
    port=st.integers(1, 65535),
    subprotocols=st.lists(st.from_regex(r"[a-z0-9.]{1,12}", fullmatch=True), unique=True),
    origin=st.none() | st.just("http://127.0.0.1:8000"),
)
def test_build_parse_check_round_trip(
    path: str, port: int, subprotocols: list[str], origin: str | None
) -> None:
    data, key = build_request(f"127.0.0.1:{port}", path, origin=origin, subprotocols=subprotocols)
    request, consumed = parse_request(data)
    assert consumed == len(data)
    assert request.target == path
    assert request.headers.get("Host") == f"127.0.0.1:{port}"
    assert request.headers.get("Origin") == origin
    assert request.subprotocols == subprotocols
    assert request.serialize() == data
    assert check_request(request, origins=[None, "http://127.0.0.1:8000"]) == key
    chosen = select_subprotocol(request.subprotocols, subprotocols[::-1])
    response, _ = parse_response(build_response(key, subprotocol=chosen))
    assert check_response(response, key, subprotocols) == chosen


@given(st.binary(max_size=300))
def test_garbage_gives_none_or_a_400_never_another_exception(garbage: bytes) -> None:
    for data in (garbage, b"GET / HTTP/1.1\r\n" + garbage + b"\r\n\r\n"):
        try:
            result = parse_request(data)
            if result is not None:
                check_request(result[0])
        except HandshakeError as exc:
            assert exc.status in (400, 426)


@pytest.mark.parametrize(
    "data",
    [
        b"GET /\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTPS/1.1\r\n\r\n",
        b"\r\n\r\n",
        b"G\xc3\x89T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\nInjected: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    ],
    ids=[
        "two-part-request-line",
        "double-space",
        "four-part-request-line",
        "bad-protocol-name",
        "empty-request-line",
        "non-ascii-method",
        "space-before-colon",
        "obsolete-line-folding",
        "header-without-colon",
        "bare-lf-in-header",
        "nul-in-value",
    ],
)
def test_malformed_head_is_400(data: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_request(data)
    assert info.value.status == 400


def test_malformed_status_line_is_an_error() -> None:
    with pytest.raises(HandshakeError):
        parse_response(b"HTTP/1.1 1O1 Switching Protocols\r\n\r\n")
    response, _ = parse_response(b"HTTP/1.1 101\r\n\r\n")  # empty reason is allowed
    assert (response.status, response.reason) == (101, "")


def _head_of_size(size: int) -> bytes:
    start = b"GET / HTTP/1.1\r\nX-Padding: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def test_head_of_exactly_max_size_is_accepted() -> None:
    head = _head_of_size(MAX_HEAD_SIZE)
    assert len(head) == MAX_HEAD_SIZE
    assert parse_request(head[:-1]) is None
    assert parse_request(head)[1] == MAX_HEAD_SIZE


@pytest.mark.parametrize(
    "data",
    [
        _head_of_size(MAX_HEAD_SIZE + 1),
        _head_of_size(MAX_HEAD_SIZE + 4)[:-4],
        b"GET / HTTP/1.1\r\nX-Padding: " + b"a" * MAX_HEAD_SIZE,
        b"\x16\x03\x01" + bytes(MAX_HEAD_SIZE),
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1),
    ],
    ids=[
        "head-1-byte-too-big",
        "too-big-before-crlfcrlf",
        "endless-header-line",
        "binary-junk",
        "too-many-headers",
        "too-many-headers-before-crlfcrlf",
    ],
)
def test_oversized_head_is_431_even_before_it_ends(data: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_request(data)
    assert info.value.status == 431
    with pytest.raises(HandshakeError):
        parse_response(b"HTTP/1.1" + data[3:])


def test_max_headers_is_allowed() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * MAX_HEADERS + b"\r\n"
    request, _ = parse_request(head)
    assert len(request.headers) == MAX_HEADERS


# --- check_request: one status per malformed request ----------------------------

BASE_FIELDS = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def raw_request(
    method: str = "GET",
    version: str = "HTTP/1.1",
    *,
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
    add: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """The RFC's request with one thing changed."""
    replace = replace or {}
    lines = [f"{method} /chat {version}"]
    lines += [f"{n}: {replace.get(n, v)}" for n, v in BASE_FIELDS if n not in drop]
    lines += [f"{n}: {v}" for n, v in add]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def b64(n: int) -> str:
    return base64.b64encode(bytes(range(n))).decode()


ALLOWED = {"http://good.example"}
KEY, VERSION = "Sec-WebSocket-Key", "Sec-WebSocket-Version"
padding = ("X-Padding", "a" * MAX_HEAD_SIZE)

# request bytes, the server's Origin allow-list, the status it must answer
REFUSED = [
    pytest.param(raw_request(drop=(KEY,)), None, 400, id="missing-key"),
    pytest.param(raw_request(replace={KEY: b64(15)}), None, 400, id="key-15-bytes"),
    pytest.param(raw_request(replace={KEY: b64(17)}), None, 400, id="key-17-bytes"),
    pytest.param(raw_request(replace={KEY: "not base64 !!"}), None, 400, id="key-not-base64"),
    pytest.param(raw_request(add=((KEY, RFC_KEY),)), None, 400, id="key-twice"),
    pytest.param(raw_request(replace={VERSION: "8"}), None, 426, id="version-8"),
    pytest.param(raw_request(replace={VERSION: "8, 13"}), None, 426, id="version-8-and-13"),
    pytest.param(raw_request(add=((VERSION, "8"),)), None, 426, id="version-13-then-8"),
    pytest.param(raw_request(drop=(VERSION,)), None, 400, id="version-missing"),
    pytest.param(raw_request(drop=("Upgrade",)), None, 400, id="no-upgrade"),
    pytest.param(raw_request(replace={"Upgrade": "h2c"}), None, 400, id="upgrade-h2c"),
    pytest.param(raw_request(drop=("Connection",)), None, 400, id="no-connection"),
    pytest.param(
        raw_request(replace={"Connection": "keep-alive"}), None, 400, id="connection-keep-alive"
    ),
    pytest.param(raw_request("POST"), None, 400, id="post"),
    pytest.param(raw_request(version="HTTP/1.0"), None, 400, id="http-1.0"),
    pytest.param(raw_request(drop=("Host",)), None, 400, id="missing-host"),
    pytest.param(raw_request(add=(("Host", "other.example"),)), None, 400, id="two-hosts"),
    pytest.param(
        raw_request(add=(("Origin", "http://evil.example"),)), ALLOWED, 403, id="origin-not-allowed"
    ),
    pytest.param(raw_request(), ALLOWED, 403, id="origin-missing"),
    pytest.param(raw_request(add=(padding,)), None, 431, id="oversized-head"),
    pytest.param(raw_request(add=(("X", "y"),) * MAX_HEADERS), None, 431, id="too-many-headers"),
]


def refusal(data: bytes, origins: set[str | None] | None = None) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        result = parse_request(data)
        assert result is not None, "the test request is incomplete"
        check_request(result[0], origins=origins)
    return info.value


@pytest.mark.parametrize(("data", "origins", "status"), REFUSED)
def test_malformed_request_gets_its_status(
    data: bytes, origins: set[str | None] | None, status: int
) -> None:
    assert refusal(data, origins).status == status


def test_unsupported_version_answer_names_version_13() -> None:
    error = refusal(raw_request(replace={VERSION: "8"}))
    assert error.headers.get_all(VERSION) == ["13"]
    # RFC 9110 §15.5.22: a 426 must say which protocol to upgrade to.
    assert error.headers.get("Upgrade") == "websocket"


ACCEPTED = [
    pytest.param(raw_request(), None, id="rfc-example"),
    pytest.param(
        raw_request(replace={"Connection": "keep-alive, Upgrade"}),
        None,
        id="connection-keep-alive-upgrade",
    ),
    pytest.param(raw_request(add=(("Connection", "keep-alive"),)), None, id="connection-twice"),
    pytest.param(
        raw_request(replace={"Upgrade": "WebSocket", "Connection": "upgrade"}),
        None,
        id="values-any-case",
    ),
    pytest.param(raw_request().replace(KEY.encode(), KEY.lower().encode()), None, id="name-case"),
    pytest.param(
        raw_request(add=(("Origin", "http://good.example"),)), ALLOWED, id="origin-allowed"
    ),
    pytest.param(raw_request(), {None}, id="no-origin-allowed"),
    pytest.param(raw_request(version="HTTP/1.2"), None, id="http-1.2"),
]


@pytest.mark.parametrize(("data", "origins"), ACCEPTED)
def test_valid_request_variant_is_accepted(data: bytes, origins: set[str | None] | None) -> None:
    request, _ = parse_request(data)
    assert check_request(request, origins=origins) == RFC_KEY


@pytest.mark.parametrize("status", [400, 403, 426, 431])
def test_error_response_is_a_complete_http_answer(status: int) -> None:
    error = HandshakeError("something is wrong", status, [("Sec-WebSocket-Version", "13")])
    data = build_error_response(error)
    response, consumed = parse_response(data)
    body = data[consumed:]
    assert response.status == status
    assert response.headers.get("Content-Length") == str(len(body))
    assert response.headers.get("Content-Type").startswith("text/plain")
    assert response.headers.has_token("Connection", "close")
    assert response.headers.get("Sec-WebSocket-Version") == "13"
    assert b"something is wrong" in body


# --- client side: check_response and build_request ------------------------------


def response_with(*, status: int = 101, drop: tuple[str, ...] = (), add=()) -> Response:
    fields = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", RFC_ACCEPT),
    ]
    fields = [(n, v) for n, v in fields if n not in drop] + list(add)
    return Response("HTTP/1.1", status, "Whatever", Headers(fields))


ACCEPT, PROTOCOL = "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol"

# the server's answer, the status the error carries, a word its message must contain
BAD_RESPONSES = [
    pytest.param(response_with(status=403), 403, "403", id="status-403"),
    pytest.param(response_with(status=200), 200, "200", id="status-200"),
    pytest.param(
        response_with(drop=(ACCEPT,), add=[(ACCEPT, accept_key(b64(16)))]),
        101,
        ACCEPT,
        id="wrong-accept",
    ),
    pytest.param(response_with(drop=(ACCEPT,)), 101, ACCEPT, id="missing-accept"),
    pytest.param(response_with(add=[(ACCEPT, RFC_ACCEPT)]), 101, ACCEPT, id="accept-twice"),
    pytest.param(response_with(drop=("Upgrade",)), 101, "Upgrade", id="missing-upgrade"),
    pytest.param(
        response_with(drop=("Upgrade",), add=[("Upgrade", "websocket, h2c")]),
        101,
        "Upgrade",
        id="upgrade-two-protocols",
    ),
    pytest.param(response_with(drop=("Connection",)), 101, "Connection", id="missing-connection"),
    pytest.param(
        response_with(add=[("Sec-WebSocket-Extensions", "permessage-deflate")]),
        101,
        "extension",
        id="extension-not-offered",
    ),
    pytest.param(
        response_with(add=[(PROTOCOL, "superchat")]), 101, "subprotocol", id="protocol-not-offered"
    ),
    pytest.param(
        response_with(add=[(PROTOCOL, "chat, json")]), 101, "subprotocol", id="two-protocols"
    ),
]


@pytest.mark.parametrize(("response", "status", "mention"), BAD_RESPONSES)
def test_bad_server_answer_fails_the_connection(
    response: Response, status: int, mention: str
) -> None:
    with pytest.raises(HandshakeError, match=mention) as info:
        check_response(response, RFC_KEY, offered_subprotocols=["chat", "json"])
    assert info.value.status == status


def test_check_response_accepts_any_case_and_no_subprotocol() -> None:
    response, _ = parse_response(
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
        b"connection: keep-alive, upgrade\r\n"
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    # The server may decline every offered subprotocol (RFC 6455 §4.2.2).
    assert check_response(response, RFC_KEY, ["chat"]) is None


def test_build_request_matches_rfc_fields_and_port() -> None:
    data, key = build_request(
        "127.0.0.1:8765", "/chat?room=1", key=RFC_KEY, subprotocols=["chat", "superchat"]
    )
    assert key == RFC_KEY
    assert data.startswith(b"GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:8765\r\n")
    request, _ = parse_request(data)
    assert request.headers.get("Sec-WebSocket-Protocol") == "chat, superchat"
    assert request.headers.get("Sec-WebSocket-Key") == RFC_KEY
    assert data.endswith(b"\r\n\r\n")
    assert build_request("127.0.0.1")[1] != build_request("127.0.0.1")[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "example.com\r\nX-Evil: 1"},
        {"host": ""},
        {"host": "example.com", "path": "chat"},
        {"host": "example.com", "path": "/a b"},
        {"host": "example.com", "subprotocols": ["chat", "chat"]},
        {"host": "example.com", "subprotocols": ["a,b"]},
        {"host": "example.com", "extra_headers": [("X", "1\r\nX-Evil: 1")]},
    ],
    ids=[
        "crlf-in-host",
        "empty-host",
        "relative-path",
        "space-in-path",
        "duplicate-subprotocol",
        "comma-in-subprotocol",
        "crlf-in-extra-header",
    ],
)
def test_build_request_refuses_arguments_that_would_corrupt_it(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build_request(**kwargs)


def test_select_subprotocol_lets_the_client_order_win() -> None:
    assert select_subprotocol(["chat.v2", "chat.v1"], ["chat.v1", "chat.v2"]) == "chat.v2"
    assert select_subprotocol(["json"], ["chat.v1"]) is None
    assert select_subprotocol([], ["chat.v1"]) is None


def test_request_and_response_are_frozen() -> None:
    request = Request()
    with pytest.raises(AttributeError):
        request.method = "POST"  # type: ignore[misc]
    assert Response().status == 101


# --- interop with the real `websockets` library ---------------------------------


def masked_frame(opcode: int, payload: bytes, mask: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """One final client frame (RFC 6455 §5.2), short payloads only.

    Built by hand, not with wslearn.framing: what the server reads does not depend on it.
    """
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked


async def close_handshake(raw: RawWebSocket) -> None:
    """Close as a client: send close 1000, get it echoed, see the server end TCP."""
    await raw.send(masked_frame(0x8, struct.pack("!H", 1000)))
    # The raw client refuses masked frames: a server never masks (§5.1).
    assert await raw.recv_frame() == Frame(True, Opcode.CLOSE, struct.pack("!H", 1000))
    assert await raw.hung_up()  # §7.1.1: the server closes TCP first


async def _echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def test_build_request_opens_a_real_websockets_server() -> None:
    async def body() -> None:
        async with serve(_echo, "127.0.0.1", 0, compression=None) as server:
            port = server.sockets[0].getsockname()[1]
            # build_request, parse_response and check_response do the handshake in there.
            async with RawWebSocket.connect("127.0.0.1", port, "/echo") as raw:
                assert raw.response is not None and raw.key is not None
                assert raw.response.status == 101
                assert check_response(raw.response, raw.key) is None
                assert raw.leftover == b""  # the server says nothing before we do

                await raw.send(masked_frame(0x1, "héllo".encode()))
                # §5.1: a server never masks its frames (the raw client refuses them).
                assert await raw.recv_frame() == Frame(True, Opcode.TEXT, "héllo".encode())

                await close_handshake(raw)

    run(body(), TIMEOUT)


def test_websockets_server_lets_its_own_subprotocol_order_win() -> None:
    # The contrast select_subprotocol documents: same lists, other choice.
    offered, supported = ["chat.v2", "chat.v1"], ["chat.v1", "chat.v2"]
    assert select_subprotocol(offered, supported) == "chat.v2"

    async def body() -> str | None:
        async with serve(_echo, "127.0.0.1", 0, subprotocols=supported) as server:
            port = server.sockets[0].getsockname()[1]
            async with RawWebSocket.connect("127.0.0.1", port, subprotocols=offered) as raw:
                assert raw.response is not None and raw.key is not None
                subprotocol = check_response(raw.response, raw.key, offered)
                assert raw.subprotocol == subprotocol
                await close_handshake(raw)
                return subprotocol

    assert run(body(), TIMEOUT) == "chat.v1"


SUPPORTED = ["chat.v1", "chat.v2"]


@contextlib.asynccontextmanager
async def tiny_server(answer: str = "accept") -> AsyncIterator[tuple[int, list[Any]]]:
    """A raw-socket WebSocket server: its handshake is built only from this module.

    answer="accept": a correct handshake, then echo frames until a close.
    answer="wrong-accept": a 101 with an accept value for another key.
    answer="refuse": a 403 for every request.
    Yields (port, what the server saw: requests, HandshakeErrors, exceptions).
    """
    seen: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.append(asyncio.current_task())
        try:
            request, rest = await read_head(reader, parse_request)
            seen.append(request)
            assert rest == b"", "a client must wait for the 101 (RFC 6455 §4.1)"
            if answer == "refuse":
                raise HandshakeError("not today", 403)
            key = check_request(request, origins={None, "http://127.0.0.1"})
            if answer == "wrong-accept":
                key = generate_key()
            chosen = select_subprotocol(request.subprotocols, SUPPORTED)
            writer.write(build_response(key, subprotocol=chosen))
            # Server side: the reader refuses unmasked client frames (§5.1).
            ws = RawWebSocket(reader, writer, rest, client=False)
            while (frame := await ws.recv_frame()) is not None:
                # the echo, built by hand (short unmasked frames)
                payload = frame.payload
                writer.write(struct.pack("!BB", 0x80 | frame.opcode, len(payload)) + payload)
                if frame.opcode == 0x8:
                    break
        except HandshakeError as exc:
            seen.append(exc)
            writer.write(build_error_response(exc))
        except ConnectionError:
            pass  # the client went away, e.g. after rejecting our answer
        except Exception as exc:
            seen.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.gather(*tasks)


def test_websockets_client_completes_handshake_with_tiny_server() -> None:
    async def body() -> tuple[str | None, str, list[Any]]:
        async with tiny_server() as (port, seen):
            uri = f"ws://127.0.0.1:{port}/chat"
            async with connect(uri, subprotocols=["chat.v2", "chat.v1"]) as ws:
                await ws.send("hello")
                echoed = await ws.recv()
                subprotocol = ws.subprotocol
        return subprotocol, echoed, seen

    subprotocol, echoed, seen = run(body(), TIMEOUT)
    assert subprotocol == "chat.v2"  # the client's first choice, which the server supports
    assert echoed == "hello"
    assert len(seen) == 1
    assert isinstance(seen[0], Request)
    assert seen[0].target == "/chat"


TINY_REFUSALS = [
    pytest.param(raw_request(replace={VERSION: "8"}), 426, id="version-8"),
    pytest.param(raw_request(drop=(KEY,)), 400, id="missing-key"),
    pytest.param(raw_request("POST"), 400, id="post"),
    pytest.param(raw_request(add=(("Origin", "http://evil.example"),)), 403, id="origin"),
    # Without its final CRLF CRLF: the server must answer, not wait for more.
    pytest.param(raw_request(add=(padding,))[:-4], 431, id="oversized-head-unfinished"),
]


@pytest.mark.parametrize(("data", "status"), TINY_REFUSALS)
def test_tiny_server_answers_malformed_request_with_its_status(data: bytes, status: int) -> None:
    async def body() -> bytes:
        async with tiny_server() as (port, _), tcp("127.0.0.1", port) as (reader, writer):
            writer.write(data)
            return await read_to_eof(reader)

    answer = run(body(), TIMEOUT)
    response, consumed = parse_response(answer)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert response.headers.get("Content-Length") == str(len(answer) - consumed)
    if status == 426:
        assert response.headers.get("Sec-WebSocket-Version") == "13"


def test_wrong_accept_is_refused_by_websockets_and_by_check_response() -> None:
    async def body() -> BaseException:
        async with tiny_server("wrong-accept") as (port, _):
            with pytest.raises(websockets.exceptions.InvalidHandshake) as info:
                async with connect(f"ws://127.0.0.1:{port}/", open_timeout=TIMEOUT):
                    pass
            return info.value

    theirs = run(body(), TIMEOUT)
    assert isinstance(theirs, websockets.exceptions.InvalidHeaderValue)
    assert theirs.name == "Sec-WebSocket-Accept"

    _, key = build_request("127.0.0.1")
    response, _ = parse_response(build_response(generate_key()))
    with pytest.raises(HandshakeError, match="Sec-WebSocket-Accept") as ours:
        check_response(response, key)
    assert ours.value.status == 101


def test_refusal_is_reported_with_its_status_by_websockets_and_by_check_response() -> None:
    async def body() -> BaseException:
        async with tiny_server("refuse") as (port, _):
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/", open_timeout=TIMEOUT):
                    pass
            return info.value

    assert run(body(), TIMEOUT).response.status_code == 403

    response, _ = parse_response(build_error_response(HandshakeError("not today", 403)))
    with pytest.raises(HandshakeError) as ours:
        check_response(response, RFC_KEY)
    assert ours.value.status == 403
