"""Checks for notebook 01 (the opening handshake)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from wslearn import framing, handshake
from wslearn.exercises import Result, case, exercise

NOTEBOOK = "01_handshake"

#: RFC 6455 §1.3: the sample key and the accept value a server must answer with.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#: The Origin values the server of exercise ``status_for`` accepts (the notebook
#: defines the same set); a request without Origin (not a browser) is accepted too.
ALLOWED_ORIGINS = {"http://127.0.0.1:8000"}

# Fixed keys, so that a failure message is the same every time it is shown.
KEYS = ["x3JJHMbDL1EzLkh9GBhXDw==", "AQIDBAUGBwgJCgsMDQ4PEA==", "/+/+/+/+/+/+/+/+/+/+/w=="]


# --- accept_key ---------------------------------------------------------------


def _accept_hint(accept_key: Callable[[str], Any], key: str) -> str:
    """Recognise the usual slips by their result and say which one it is."""
    with contextlib.suppress(Exception):
        got = accept_key(key)
        if isinstance(got, bytes):
            return "return text: decode the base64 bytes with .decode('ascii')"
        digest = hashlib.sha1((key + handshake.GUID).encode()).digest()
        if got == base64.b64encode(hashlib.sha1(key.encode()).digest()).decode():
            return "append the GUID to the key before hashing"
        if got == digest.hex():
            return "base64-encode the 20 digest bytes (.digest()), not the hex text"
        if got == base64.b64encode(digest.hex().encode()).decode():
            return "base64-encode the raw digest bytes (.digest()), not .hexdigest()"
        decoded = base64.b64decode(key) + handshake.GUID.encode()
        if got == base64.b64encode(hashlib.sha1(decoded).digest()).decode():
            return "hash the key as the text it is; do not base64-decode it first"
    return "base64(SHA-1(key + GUID)): hashlib.sha1(...).digest(), then base64.b64encode"


async def _real_client_accepts(accept_key: Callable[[str], Any]) -> Result:
    """A server answering with the learner's accept value; does ``websockets`` connect?"""
    from websockets.asyncio.client import connect

    description = "a real websockets client accepts your server's answer"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await reader.readuntil(b"\r\n\r\n")
            parsed = handshake.parse_request(data)
            key = handshake.check_request(parsed[0]) if parsed else ""
            try:
                accept = str(accept_key(key))
            except Exception:
                accept = "(your accept_key raised)"
            response = handshake.build_response(key).replace(
                handshake.accept_key(key).encode(), accept.encode("ascii", "replace")
            )
            writer.write(response)
            await writer.drain()
            # If the client accepted, it opens and at once closes: answer its close frame.
            frames = framing.FrameReader(expect_masked=True)
            async with asyncio.timeout(5):
                while chunk := await reader.read(4096):
                    for frame in frames.feed(chunk):
                        if frame.opcode is framing.Opcode.CLOSE:
                            reply = framing.Frame(True, framing.Opcode.CLOSE, frame.payload)
                            writer.write(framing.encode_frame(reply, mask=False))
                            await writer.drain()
                            return
        except (OSError, TimeoutError, asyncio.IncompleteReadError, handshake.HandshakeError):
            pass  # the client gave up or sent no valid request; the client side reports it
        except framing.ProtocolError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", open_timeout=5, compression=None):
            pass
    except Exception as exc:
        return Result(description, False, f"the client refused your value ({exc})")
    finally:
        server.close()
    return Result(description, True)


@exercise("accept_key", notebook=NOTEBOOK)
async def check_accept_key(accept_key: Callable[[str], str]) -> list[Result]:
    """The Sec-WebSocket-Accept value a server sends for a client's key."""
    results = [
        case(
            "RFC 6455 example key",
            lambda: accept_key(RFC_KEY),
            RFC_ACCEPT,
            hint=_accept_hint(accept_key, RFC_KEY),
        )
    ]
    for key in KEYS:
        results.append(
            case(
                f"key {key}",
                lambda key=key: accept_key(key),
                handshake.accept_key(key),
                hint=_accept_hint(accept_key, key),
            )
        )
    results.append(await _real_client_accepts(accept_key))
    return results


# --- parse_request_head -------------------------------------------------------


def reference_parse(data: bytes) -> tuple[str, str, dict[str, str]]:
    """What ``parse_request_head`` must return, computed with ``wslearn.handshake``."""
    parsed = handshake.parse_request(data)
    assert parsed is not None, "a test request must be a complete head"
    request = parsed[0]
    names = dict.fromkeys(name.lower() for name, _ in request.headers)
    headers = {name: ", ".join(request.headers.get_all(name)) for name in names}
    return request.method, request.target, headers


def _head(*lines: str, rest: bytes = b"") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rest


PARSE_CASES = [
    (
        "a request from build_request (Host has a colon too)",
        handshake.build_request("127.0.0.1:8765", key=RFC_KEY)[0],
        "split each line at the first colon only: 'Host: 127.0.0.1:8765' has two",
    ),
    (
        "the RFC 6455 §1.2 example",
        _head(
            "GET /chat HTTP/1.1",
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Origin: http://example.com",
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Version: 13",
        ),
        "the start line is 'METHOD TARGET VERSION'; each header line is 'Name: value'",
    ),
    (
        "names in any case, odd spacing",
        _head(
            "GET / HTTP/1.1",
            "HOST:127.0.0.1",
            "upgrade:   WebSocket  ",
            "CONNECTION: keep-alive, Upgrade",
            "sec-websocket-key:\tdGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-VERSION: 13",
        ),
        "lowercase the names (not the values) and strip spaces and tabs around each value",
    ),
    (
        "a header sent twice",
        _head(
            "GET /chat?room=42 HTTP/1.1",
            "Host: 127.0.0.1",
            "Sec-WebSocket-Protocol: chat.v2",
            "Sec-WebSocket-Protocol: chat.v1",
        ),
        "join the values of a repeated header with ', ' in the order they came",
    ),
    (
        "a frame right after the head",
        _head("GET / HTTP/1.1", "Host: 127.0.0.1", rest=bytes.fromhex("818537fa213d7f9f4d5158")),
        "stop at the empty line: the bytes after it are a frame, not headers",
    ),
]


@exercise("parse_request_head", notebook=NOTEBOOK)
def check_parse_request_head(
    parse_request_head: Callable[[bytes], tuple[str, str, dict[str, str]]],
) -> Iterator[Result]:
    """Split a request head into ``(method, target, headers)``, names lowercased."""
    for description, data, hint in PARSE_CASES:
        yield case(
            description,
            lambda data=data: parse_request_head(data),
            reference_parse(data),
            hint=hint,
            compare=lambda got, want: tuple(got) == want,
        )


# --- status_for ---------------------------------------------------------------


def reference_status(data: bytes) -> int:
    """The status a server answers ``data`` with, computed with ``wslearn.handshake``."""
    try:
        parsed = handshake.parse_request(data)
        if parsed is None:
            return 400
        handshake.check_request(parsed[0], origins={*ALLOWED_ORIGINS, None})
    except handshake.HandshakeError as error:
        return error.status
    return 101


def _request(*, drop: str = "", replace: tuple[str, str] = ("", ""), add: str = "") -> bytes:
    """A valid request (as ``websockets`` would send it), changed in one place."""
    lines = [
        "GET /chat HTTP/1.1",
        "Host: 127.0.0.1:8765",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {RFC_KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    if drop:
        lines = [line for line in lines if not line.startswith(drop + ":")]
    old, new = replace
    if old:
        lines = [line.replace(old, new) for line in lines]
    if add:
        lines.append(add)
    return _head(*lines)


STATUS_CASES = [
    ("a valid request", _request(), 101, "a request that follows every rule gets 101"),
    (
        "a browser's request (keep-alive, Upgrade)",
        _request(replace=("Connection: Upgrade", "Connection: keep-alive, Upgrade")),
        101,
        "Connection is a comma-separated list: look for the token Upgrade in it",
    ),
    (
        "header names and values in other cases",
        _request(replace=("Upgrade: websocket", "UPGRADE: WebSocket")),
        101,
        "header names and the Upgrade/Connection tokens are case-insensitive",
    ),
    (
        "allowed Origin",
        _request(add="Origin: http://127.0.0.1:8000"),
        101,
        "an Origin in ALLOWED_ORIGINS is welcome",
    ),
    ("POST", _request(replace=("GET ", "POST ")), 400, "only GET can open a WebSocket: 400"),
    (
        "HTTP/1.0",
        _request(replace=("HTTP/1.1", "HTTP/1.0")),
        400,
        "the handshake needs HTTP/1.1: 400",
    ),
    ("no Host", _request(drop="Host"), 400, "a request without Host is a bad request: 400"),
    ("no Upgrade", _request(drop="Upgrade"), 400, "without Upgrade: websocket: 400"),
    (
        "Connection: keep-alive only",
        _request(replace=("Connection: Upgrade", "Connection: keep-alive")),
        400,
        "Connection must contain the token Upgrade: 400",
    ),
    (
        "a key of 8 bytes",
        _request(replace=(RFC_KEY, base64.b64encode(bytes(8)).decode())),
        400,
        "base64-decode the key: it must be exactly 16 bytes, otherwise 400",
    ),
    (
        "a key that is not base64",
        _request(replace=(RFC_KEY, "not base64!")),
        400,
        "a key that does not base64-decode is a bad request: 400",
    ),
    (
        "no Sec-WebSocket-Version",
        _request(drop="Sec-WebSocket-Version"),
        400,
        "a missing version is a malformed request: 400",
    ),
    (
        "Sec-WebSocket-Version: 8",
        _request(replace=("Version: 13", "Version: 8")),
        426,
        "a well-formed request for a version we do not speak gets 426 Upgrade Required",
    ),
    (
        "Origin not allowed",
        _request(add="Origin: http://evil.example"),
        403,
        "a browser page from an origin not in ALLOWED_ORIGINS is refused with 403",
    ),
    (
        "a header line without a colon",
        _request(add="this is not a header"),
        400,
        "a head that is not valid HTTP is a bad request: 400",
    ),
]


@exercise("status_for", notebook=NOTEBOOK)
def check_status_for(status_for: Callable[[bytes], int]) -> Iterator[Result]:
    """The HTTP status a server answers an opening handshake with."""
    for description, data, status, hint in STATUS_CASES:
        yield case(description, lambda data=data: status_for(data), status, hint=hint)
