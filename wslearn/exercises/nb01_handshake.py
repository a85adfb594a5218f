"""Checks for notebook 01 (the opening handshake)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from wslearn import handshake
from wslearn.exercises import Result, case, exercise
from wslearn.exercises.mistakes import known, slips

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

ACCEPT_HINT = "base64(SHA-1(key + GUID)): hashlib.sha1(...).digest(), then base64.b64encode"

ACCEPT_SLIPS = {
    "no_guid": "append the GUID to the key before hashing",
    "hex_text": "base64-encode the 20 raw digest bytes (.digest()), not the hex text",
    "b64_hex": "base64-encode the raw digest bytes (.digest()), not .hexdigest()",
    "as_bytes": "return text: decode the base64 bytes with .decode('ascii')",
    "decoded_key": "hash the key as the text it is; do not base64-decode it first",
    "sha256": "the RFC uses SHA-1 (hashlib.sha1), not SHA-256",
    "guid_first": "the key comes first, then the GUID: key + GUID",
}


def model_accept(key: str, **slip: bool) -> str | bytes:
    """The accept value computed with some of ``ACCEPT_SLIPS`` made."""
    if slip.get("hex_text") and slip.get("b64_hex"):
        raise ValueError("two ways of the same slip")
    guid = "" if slip.get("no_guid") else handshake.GUID
    text = key.encode() if not slip.get("decoded_key") else base64.b64decode(key)
    joined = guid.encode() + text if slip.get("guid_first") else text + guid.encode()
    digest = (hashlib.sha256 if slip.get("sha256") else hashlib.sha1)(joined)
    if slip.get("hex_text"):
        value = digest.hexdigest().encode()
    elif slip.get("b64_hex"):
        value = base64.b64encode(digest.hexdigest().encode())
    else:
        value = base64.b64encode(digest.digest())
    return value if slip.get("as_bytes") else value.decode()


async def _real_client_accepts(accept_key: Callable[[str], Any]) -> Result:
    """A server answering with the learner's accept value; does ``websockets`` connect?"""
    from websockets.asyncio.client import connect

    from wslearn.raw import RawWebSocket, listen

    description = "a real websockets client accepts your server's answer"

    def respond(request: handshake.Request, key: str) -> bytes:
        try:
            accept = str(accept_key(key))
        except Exception:
            accept = "(your accept_key raised)"
        right = handshake.accept_key(key).encode()
        return handshake.build_response(key).replace(right, accept.encode("ascii", "replace"))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await RawWebSocket.accept(reader, writer, respond=respond)
        with contextlib.suppress(Exception):  # if the client accepted, it closes at once
            await raw.answer_close(timeout=3)

    async with listen(serve) as port:
        try:
            async with connect(f"ws://127.0.0.1:{port}", open_timeout=5, compression=None):
                pass
        except Exception as exc:
            return Result(description, False, f"the client refused your value ({exc})")
    return Result(description, True)


@exercise(
    "accept_key",
    notebook=NOTEBOOK,
    shortcuts=[
        "wslearn.handshake.accept_key",
        "wslearn.handshake.build_response",
        "websockets.utils.accept_key",
    ],
)
async def check_accept_key(accept_key: Callable[[str], str]) -> list[Result]:
    """The Sec-WebSocket-Accept value a server sends for a client's key."""
    results = [
        case(
            "RFC 6455 example key" if key == RFC_KEY else f"key {key}",
            lambda key=key: accept_key(key),
            handshake.accept_key(key),
            hint=ACCEPT_HINT,
            diagnose=known(slips(model_accept, ACCEPT_SLIPS, key)),
        )
        for key in [RFC_KEY, *KEYS]
    ]
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


PARSE_SLIPS = {
    "every_colon": "split each line at the first colon only: 'Host: 127.0.0.1:8765' has two",
    "keep_case": "header names are case-insensitive: lowercase them (name.lower())",
    "lower_values": "lowercase the names only: values keep their case",
    "no_strip": "strip spaces and tabs around each value: value.strip(' \\t')",
    "last_wins": "a repeated header keeps every value: join them with ', ', in order",
    "first_wins": "a repeated header keeps every value: join them with ', ', in order",
    "past_head": "stop at the empty line (b'\\r\\n\\r\\n'): the bytes after it are a frame",
}


def model_parse(data: bytes, **slip: bool) -> tuple[str, str, dict[str, str]]:
    """``parse_request_head`` with some of ``PARSE_SLIPS`` made."""
    if slip.get("last_wins") and slip.get("first_wins"):
        raise ValueError("two ways of the same slip")
    head = data if slip.get("past_head") else data.split(b"\r\n\r\n", 1)[0]
    start, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = start.split(" ")
    headers: dict[str, str] = {}
    for line in filter(None, lines):
        if slip.get("every_colon"):
            name, value = [*line.split(":"), ""][:2]
        else:
            name, _, value = line.partition(":")
        name = name if slip.get("keep_case") else name.lower()
        value = value if slip.get("no_strip") else value.strip(" \t")
        value = value.lower() if slip.get("lower_values") else value
        if name in headers and not slip.get("last_wins"):
            if not slip.get("first_wins"):
                headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value
    return method, target, headers


def _same_parse(got: Any, want: Any) -> bool:
    return isinstance(got, tuple | list) and tuple(got) == tuple(want)


@exercise(
    "parse_request_head",
    notebook=NOTEBOOK,
    shortcuts=[
        "wslearn.handshake.parse_request",
        "wslearn.exercises.nb01_handshake.reference_parse",
    ],
)
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
            compare=_same_parse,
            diagnose=known(slips(model_parse, PARSE_SLIPS, data), _same_parse),
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


#: (description, request, status, hint, {a wrong status: what it means})
STATUS_CASES: list[tuple[str, bytes, int, str, dict[int, str]]] = [
    (
        "a valid request",
        _request(),
        101,
        "a request that follows every rule gets 101",
        {400: "a valid request is refused: test each rule alone on this request"},
    ),
    (
        "a browser's request (keep-alive, Upgrade)",
        _request(replace=("Connection: Upgrade", "Connection: keep-alive, Upgrade")),
        101,
        "Connection is a comma-separated list: look for the token Upgrade in it",
        {400: "Connection is a list of tokens: split it at commas and look for upgrade"},
    ),
    (
        "header names and values in other cases",
        _request(replace=("Upgrade: websocket", "UPGRADE: WebSocket")),
        101,
        "header names and the Upgrade/Connection tokens are case-insensitive",
        {400: "tokens are case-insensitive: 'WebSocket' is the token websocket"},
    ),
    (
        "allowed Origin",
        _request(add="Origin: http://127.0.0.1:8000"),
        101,
        "an Origin in ALLOWED_ORIGINS is welcome",
        {403: "this Origin is in ALLOWED_ORIGINS: compare the whole value with the set"},
    ),
    ("POST", _request(replace=("GET ", "POST ")), 400, "only GET can open a WebSocket: 400", {}),
    (
        "HTTP/1.0",
        _request(replace=("HTTP/1.1", "HTTP/1.0")),
        400,
        "the handshake needs HTTP/1.1: read the version at the end of the start line",
        {},
    ),
    ("no Host", _request(drop="Host"), 400, "a request without Host is a bad request: 400", {}),
    (
        "no Upgrade",
        _request(drop="Upgrade"),
        400,
        "without Upgrade: websocket: 400",
        {},
    ),
    (
        "Connection: keep-alive only",
        _request(replace=("Connection: Upgrade", "Connection: keep-alive")),
        400,
        "Connection must contain the token Upgrade: 400",
        {},
    ),
    (
        "a key of 8 bytes",
        _request(replace=(RFC_KEY, base64.b64encode(bytes(8)).decode())),
        400,
        "base64-decode the key: it must be exactly 16 bytes, otherwise 400",
        {101: "the key is valid base64, but of 8 bytes: decode it and count, 16 or 400"},
    ),
    (
        "a key that is not base64",
        _request(replace=(RFC_KEY, "not base64!")),
        400,
        "a key that does not base64-decode is a bad request: 400",
        {101: "decode with base64.b64decode(key, validate=True): a bad key raises ValueError"},
    ),
    (
        "no Sec-WebSocket-Version",
        _request(drop="Sec-WebSocket-Version"),
        400,
        "a missing version is a malformed request: 400",
        {426: "426 is for a version you do not speak; a request with no version is malformed: 400"},
    ),
    (
        "Sec-WebSocket-Version: 8",
        _request(replace=("Version: 13", "Version: 8")),
        426,
        "a well-formed request for a version we do not speak gets 426 Upgrade Required",
        {400: "the request is well formed, only its version is one you do not speak: 426"},
    ),
    (
        "Origin not allowed",
        _request(add="Origin: http://evil.example"),
        403,
        "a browser page from an origin not in ALLOWED_ORIGINS is refused with 403",
        {
            101: "check the Origin header against ALLOWED_ORIGINS: refuse the others with 403",
            400: "the request itself is valid: an origin you refuse gets 403, not 400",
        },
    ),
    (
        "a header line without a colon",
        _request(add="this is not a header"),
        400,
        "every line of the head after the first must be 'Name: value': otherwise 400",
        {101: "a line without a colon is not a header: the head is not valid HTTP, 400"},
    ),
    ("not HTTP at all", b"hello there\r\n\r\n", 400, "bytes that are not HTTP get 400", {}),
]


def _status_diagnosis(wrong: dict[int, str], status: int) -> Callable[[Any], str | None]:
    """Name the mistake behind a wrong status: the case's own table, then the general ones."""

    def diagnose(got: Any) -> str | None:
        if isinstance(got, bool) or not isinstance(got, int):
            return "return the status as an int: 101, 400, 403 or 426"
        if got in wrong:
            return wrong[got]
        if status == 400 and got == 101:
            return "this request breaks a rule of §4.2.1, and your code let it through"
        if status == 400 and got in (403, 426):
            return "the form of the request is wrong: check form first, the version and Origin last"
        return None

    return diagnose


@exercise(
    "status_for",
    notebook=NOTEBOOK,
    shortcuts=[
        "wslearn.handshake.check_request",
        "wslearn.handshake.parse_request",
        "wslearn.exercises.nb01_handshake.reference_status",
    ],
)
def check_status_for(status_for: Callable[[bytes], int]) -> Iterator[Result]:
    """The HTTP status a server answers an opening handshake with."""
    for description, data, status, hint, wrong in STATUS_CASES:
        yield case(
            description,
            lambda data=data: status_for(data),
            status,
            hint=hint,
            diagnose=_status_diagnosis(wrong, status),
        )
