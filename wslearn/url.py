"""The part of the WHATWG URL parser that ``new WebSocket(url)`` needs.

The constructor parses its URL with the URL Standard, then: ``http:`` becomes
``ws:``, ``https:`` becomes ``wss:``, any other scheme or a fragment throws a
``SyntaxError``. This module does that for the URLs a course meets (IPv4,
short and hex IPv4, IPv6, domains including IDNA, userinfo, dot segments,
percent-encoding), so ``wslearn.websocket`` reports the same ``url`` and
the same errors as Chromium. A relative URL is an error: a Python program
has no document to resolve it against.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote

from wslearn.dom import DOMException

__all__ = ["DEFAULT_PORT", "URLRecord", "parse_websocket_url", "syntax_error"]

_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_PATH_ENCODE = set(' "#<>?`{}')
_QUERY_ENCODE = set(" \"#<>'")
_USERINFO_ENCODE = _PATH_ENCODE | set("/:;=@[\\]^|")
_FORBIDDEN_HOST = set(" #%/:<>?@[\\]^|") | {chr(i) for i in range(0x20)} | {"\x7f"}
DEFAULT_PORT = {"ws": 80, "wss": 443}


@dataclass(frozen=True)
class URLRecord:
    scheme: str
    username: str
    password: str
    host: str
    port: int | None
    path: str
    query: str | None

    @property
    def origin(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"

    @property
    def href(self) -> str:
        userinfo = ""
        if self.username or self.password:
            userinfo = self.username + (f":{self.password}" if self.password else "") + "@"
        query = "" if self.query is None else f"?{self.query}"
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{userinfo}{self.host}{port}{self.path}{query}"


def _percent_encode(text: str, encode_set: set[str]) -> str:
    return "".join(
        "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
        if ch in encode_set or not " " <= ch <= "~"
        else ch
        for ch in text
    )


def syntax_error(message: str) -> DOMException:
    return DOMException(f"Failed to construct 'WebSocket': {message}", "SyntaxError")


def _parse_host(text: str, url: str) -> str:
    """WHATWG host parser, for the hosts a course meets (IPv4, IPv6, domains)."""
    invalid = syntax_error(f"The URL '{url}' is invalid.")
    if text.startswith("["):
        if not text.endswith("]"):
            raise invalid
        try:
            return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]"
        except ValueError:
            raise invalid from None
    domain = unquote(text)
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise invalid from None
    domain = domain.lower()
    if not domain or _FORBIDDEN_HOST & set(domain):
        raise invalid
    last = domain.rstrip(".").rpartition(".")[2]
    if last and (last.isdigit() or re.fullmatch(r"0x[0-9a-f]*", last)):
        # "ends in a number": an IPv4 address, possibly short ("127.1") or hex
        try:
            return socket.inet_ntoa(socket.inet_aton(domain.rstrip(".")))
        except OSError:
            raise invalid from None
    return domain


def parse_websocket_url(url: str) -> URLRecord:
    """WHATWG "get a URL record": parse ``url``, map http(s) to ws(s), refuse fragments."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    invalid = syntax_error(f"The URL '{url}' is invalid.")
    # URL parser: strip leading/trailing C0 controls and spaces, drop tabs/newlines.
    text = re.sub(r"[\t\n\r]", "", url.strip(_C0_OR_SPACE))
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.\-]*):(.*)", text, re.DOTALL)
    if match is None:
        # A relative URL needs a base URL; a Python program has no document.
        raise invalid
    scheme, rest = match[1].lower(), match[2]
    # "If urlRecord's scheme is "http", set it to "ws"; if it is "https",
    # set it to "wss"."
    scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    # "If urlRecord's scheme is not "ws" or "wss", throw a SyntaxError."
    if scheme not in ("ws", "wss"):
        raise syntax_error(
            "The URL's scheme must be either 'http', 'https', 'ws', or 'wss'. "
            f"'{match[1].lower()}' is not allowed."
        )
    rest, hash_sign, fragment = rest.partition("#")
    # Special schemes: any run of / or \ introduces the authority.
    rest = rest.lstrip("/\\")
    end = re.search(r"[/\\?]", rest)
    authority, rest = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    username = password = ""
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        user, _, pw = userinfo.partition(":")
        username = _percent_encode(user, _USERINFO_ENCODE)
        password = _percent_encode(pw, _USERINFO_ENCODE)
    host_text, port_text = authority, ""
    port_match = re.fullmatch(r"(.*?):([^:\]]*)", authority)
    if port_match and not (authority.startswith("[") and authority.endswith("]")):
        host_text, port_text = port_match[1], port_match[2]
    if not host_text:
        raise invalid
    host = _parse_host(host_text, url)
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or int(port_text) > 65535:
            raise invalid
        port = int(port_text)
        if port == DEFAULT_PORT[scheme]:
            port = None
    path_text, question, query_text = rest.partition("?")
    segments: list[str] = []
    for segment in re.split(r"[/\\]", path_text)[1:] if path_text else [""]:
        dots = segment.lower().replace("%2e", ".")
        if dots == "..":
            if segments:
                segments.pop()
        elif dots != ".":
            segments.append(_percent_encode(segment, _PATH_ENCODE))
    if path_text and re.split(r"[/\\]", path_text)[-1].lower().replace("%2e", ".") in (".", ".."):
        segments.append("")  # "/a/.." is "/", not "" (a trailing dot segment keeps its slash)
    path = "/" + "/".join(segments)
    query = _percent_encode(query_text, _QUERY_ENCODE) if question else None
    # "If urlRecord's fragment is non-null, throw a SyntaxError."
    if hash_sign:
        raise syntax_error(
            f"The URL contains a fragment identifier ('{fragment}'). "
            "Fragment identifiers are not allowed in WebSocket URLs."
        )
    return URLRecord(scheme, username, password, host, port, path, query)
