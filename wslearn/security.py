"""Securing a WebSocket service: the parts notebook 08 runs and tests check.

- **TLS.** :class:`CourseCA`: a certificate authority made for this course
  with ``trustme`` (keys in memory only) and one certificate for ``127.0.0.1``
  and ``localhost``. ``servers.start("echo", tls=True)`` serves ``wss://``
  with it; wslearn's ``WebSocket`` trusts it when given
  ``ssl=course_ca().client_context()``; Chromium trusts exactly that
  certificate with :meth:`CourseCA.chromium_args` (its public key's hash, not
  "ignore every certificate error"). A certificate from any other CA is still
  refused (:func:`stranger_ca`).
- **The bank.** :class:`Bank`: a login page that sets a session cookie and a
  WebSocket that hands the account to whoever holds it. Without an ``Origin``
  allow-list it is open to Cross-Site WebSocket Hijacking: WebSockets are not
  covered by CORS, so any page in the user's browser may open one, and the
  browser attaches the cookies it would attach anyway.
- **Credentials without headers.** The browser's ``WebSocket`` cannot set a
  header, so the bank accepts, one per ``auth`` mode: the cookie, a token in the
  query string, a single-use :class:`TicketBook` ticket fetched over HTTP first,
  or the first message. Every refusal is a close with 1008 and a reason.
- **Limits.** :class:`TokenBucket` (messages per second, per connection: 1008),
  :class:`AddressLimit` (connections per client address: HTTP 429), the
  first-message timeout (an idle unauthenticated socket: 1008), and the
  ``websockets`` limits the bank keeps (``max_size``: 1009; head limits: 431).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import ssl
import time
import weakref
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wslearn import handshake, servers
from wslearn.servers import LocalServer

__all__ = [
    "ALLOW_THIRD_PARTY_COOKIES",
    "ATTACK_JS",
    "AUTH_MODES",
    "PLAIN_HOST",
    "TICKET_JS",
    "AddressLimit",
    "AuthError",
    "Bank",
    "CourseCA",
    "Hijack",
    "TicketBook",
    "TokenBucket",
    "chromium_args",
    "course_ca",
    "hijack",
    "hijack_all",
    "stranger_ca",
]

#: A Chromium profile's preferences that allow third-party cookies, as many
#: users' browsers still do (``browser.Chromium(preferences=...)``).
ALLOW_THIRD_PARTY_COOKIES = {
    "profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}
}

AUTH_MODES = ("cookie", "query", "ticket", "first-message")

#: A name Chromium resolves to 127.0.0.1 (``chromium_args``) that does not look
#: like loopback: browsers trust ``ws://127.0.0.1`` and ``ws://localhost`` as if
#: secure, so only a URL with another name shows the mixed-content rule.
PLAIN_HOST = "bank.test"


# --- TLS -------------------------------------------------------------------------------------


class CourseCA:
    """A certificate authority of our own and its certificate for the loopback names."""

    def __init__(self, name: str = "wslearn course CA") -> None:
        self.ca = trustme.CA(organization_name=name)
        self.leaf = self.ca.issue_cert("127.0.0.1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        """A server's TLS context presenting the loopback certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client's context that trusts this CA (and checks names, as always)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    @property
    def spki_hash(self) -> str:
        """base64(SHA-256(the certificate's SubjectPublicKeyInfo)): what Chromium pins."""
        leaf = x509.load_pem_x509_certificate(self.leaf.cert_chain_pems[0].bytes())
        spki = leaf.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def chromium_args(self) -> list[str]:
        """Flags that make Chromium accept this one certificate and nothing more."""
        return [f"--ignore-certificate-errors-spki-list={self.spki_hash}"]


_course: CourseCA | None = None


def course_ca() -> CourseCA:
    """The course's CA, made once per process (in memory: nothing to install or leak)."""
    global _course
    if _course is None:
        _course = CourseCA()
    return _course


def chromium_args() -> list[str]:
    """Chromium's flags for this notebook: trust the course certificate; map ``PLAIN_HOST``."""
    return [*course_ca().chromium_args(), f"--host-resolver-rules=MAP {PLAIN_HOST} 127.0.0.1"]


def stranger_ca() -> CourseCA:
    """A different CA with a certificate for the same names: what a client must refuse."""
    return CourseCA("not the course CA")


# --- tickets and the token bucket --------------------------------------------------------------


class AuthError(Exception):
    """A credential was refused; the message is the close reason the bank sends (1008)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TicketBook:
    """Single-use tickets: ``user.expires.nonce.signature``, signed with HMAC-SHA256.

    A page fetches a ticket over HTTP (where its cookie authenticates it) and
    puts it in the WebSocket URL. Leaked into a log it is worth little: it
    expires after ``ttl`` seconds and works once. ``expires`` is in
    milliseconds of ``clock()`` (``time.time`` unless a test passes its own).
    """

    def __init__(
        self, secret: bytes | None = None, ttl: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.ttl = ttl
        self.clock = clock
        self.used: set[str] = set()

    def sign(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())

    def issue(self, user: str) -> str:
        expires = int((self.clock() + self.ttl) * 1000)
        body = f"{user}.{expires}.{secrets.token_urlsafe(9)}"
        return f"{body}.{self.sign(body)}"

    def redeem(self, ticket: str) -> str:
        """The ticket's user, once; :class:`AuthError` naming what is wrong otherwise.

        Checked in this order: form, signature (before anything in it is
        trusted), expiry, then single use (the nonce is remembered only for a
        ticket that passed the rest, so a forged one cannot burn a real one).
        """
        parts = ticket.rsplit(".", 3)
        if len(parts) != 4 or not parts[1].isdigit():
            raise AuthError("malformed ticket")
        user, expires, nonce, signature = parts
        if not hmac.compare_digest(signature, self.sign(f"{user}.{expires}.{nonce}")):
            raise AuthError("bad ticket signature")
        if self.clock() * 1000 >= int(expires):
            raise AuthError("ticket expired")
        if nonce in self.used:
            raise AuthError("ticket already used")
        self.used.add(nonce)
        return user


class TokenBucket:
    """At most ``burst`` messages at once, refilled at ``rate`` per second.

    ``allow()`` takes one token if there is one. One bucket per connection: a
    client that floods is closed (1008) without slowing anyone else.
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.last = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class AddressLimit:
    """At most ``most`` open connections per client address (the rest get HTTP 429)."""

    most: int = 4
    open: Counter[str] = field(default_factory=Counter)

    def admits(self, address: str) -> bool:
        return self.open[address] < self.most

    @contextlib.contextmanager
    def holding(self, address: str):
        self.open[address] += 1
        try:
            yield
        finally:
            self.open[address] -= 1


# --- the bank -----------------------------------------------------------------------------------

# ``rel=icon`` with an empty data: URL: Chromium asks no /favicon.ico. Over TLS that
# request's connection outlives the visit by a second (it waits for close_notify),
# and the bank's stop() would wait for it.
_HEAD = '<!doctype html><link rel="icon" href="data:,">'
LOGIN_PAGE = _HEAD + "<p>Logged in to the bank as {user}.</p>"
HOME_PAGE = _HEAD + "<p>The bank.</p>"


def _account(user: str) -> dict[str, Any]:
    return {"owner": user, "balance": 1234.56, "iban": "XX00 0000 0000 4242"}


@dataclass(repr=False)
class Bank(LocalServer):
    """The demo bank: ``/login`` sets a session cookie; the WebSocket serves the account.

    ``cookie`` is the Set-Cookie attributes after ``session=...; Path=/``
    (``"; SameSite=Lax"``, ``"; SameSite=None; Secure"``). ``origins`` (an
    allow-list checked by ``handshake.check_request``: 403) is off by default:
    that is the hole. Start it as any server: ``await servers.start(Bank(...))``;
    ``tls=True`` serves it over https/wss with the course CA.
    ``auth`` picks how a socket proves who it is (one of
    :data:`AUTH_MODES`). ``/ticket`` gives a logged-in page a ticket.
    ``access_log`` holds one line per HTTP request, as a web server writes it;
    ``handshakes`` the ``Origin`` and ``Cookie`` of every WebSocket handshake.
    After the account, each message is answered with the balance, at most
    ``rate`` per second (``burst`` at once) per connection.
    """

    name: str = "bank"
    handler: Any = None  # always _serve
    cookie: str = ""
    origins: Collection[str | None] | None = None
    auth: str = "cookie"
    token: str = "alice-api-token-0123456789"  # the long-lived token of auth="query"
    auth_timeout: float = 1.0
    rate: float = 5.0
    burst: float = 5.0
    per_address: AddressLimit = field(default_factory=lambda: AddressLimit(4))
    tickets: TicketBook = field(default_factory=TicketBook)
    sessions: dict[str, str] = field(default_factory=dict)
    access_log: list[str] = field(default_factory=list)
    handshakes: list[dict[str, str | None]] = field(default_factory=list)
    _connections: weakref.WeakSet[ServerConnection] = field(
        default_factory=weakref.WeakSet, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, not {self.auth!r}")
        self.handler = self._serve
        self.options = {
            "max_size": 4096,
            # A flooder's unread messages fill the receive queue, and websockets then
            # stops reading, the client's close frame included: after our 1008 close
            # frame, cut TCP after 1 s instead of waiting the default 10.
            "close_timeout": 1.0,
            "process_request": self._process_request,
            "process_response": self._log_response,
            "create_connection": self._track,
            **self.options,
        }
        if self.tls:
            # A TLS connection Chromium leaves open gets 0.2 s, not close_timeout, to
            # answer our close_notify: stop() waits for every connection to end.
            self.options.setdefault("ssl_shutdown_timeout", 0.2)

    def _track(self, *args: Any, **kwargs: Any) -> ServerConnection:
        connection = ServerConnection(*args, **kwargs)
        self._connections.add(connection)
        return connection

    async def stop(self, timeout: float | None = None) -> None:
        """Stop as any server does, first cutting connections that are not WebSockets.

        Chromium keeps spare connections open (pre-connects that never send a
        request; a fetch's connection after its HTTP answer, which websockets
        leaves for the client to close, for up to ``close_timeout``). The server
        would wait for each one to end; open WebSockets still get a close frame.
        """
        if self._server is not None:
            self._server.server.close()  # accept no more connections
            for connection in list(self._connections):
                transport = getattr(connection, "transport", None)
                response = connection.response
                if transport is not None and (response is None or response.status_code != 101):
                    transport.abort()
        await super().stop(timeout)

    def login(self, user: str = "alice") -> str:
        """A new session for ``user`` (what ``/login`` does); the session id."""
        session = secrets.token_urlsafe(16)
        self.sessions[session] = user
        return session

    def _session_user(self, request: Request) -> str | None:
        for part in request.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session" and value in self.sessions:
                return self.sessions[value]
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            if path == "/login":
                user = "alice"
                body = LOGIN_PAGE.format(user=user).encode()
                cookie = f"session={self.login(user)}; Path=/{self.cookie}"
                return _page(body, ("Set-Cookie", cookie))
            if path == "/ticket":
                user = self._session_user(request)
                if user is None:
                    return connection.respond(HTTPStatus.UNAUTHORIZED, "log in first\n")
                return _page(self.tickets.issue(user).encode(), content_type="text/plain")
            return _page(HOME_PAGE.encode())
        headers = request.headers
        self.handshakes.append({"origin": headers.get("Origin"), "cookie": headers.get("Cookie")})
        try:  # the fix for Cross-Site WebSocket Hijacking, when origins is given
            parsed = handshake.parse_request(request.serialize())
            assert parsed is not None
            handshake.check_request(parsed[0], origins=self.origins)
        except handshake.HandshakeError as error:
            return connection.respond(error.status, f"{error}\n")
        address = connection.remote_address[0]
        if not self.per_address.admits(address):
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "too many connections\n")
        return None

    def _log_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        # The line a web server's access log keeps: the whole target, query included.
        address = connection.remote_address[0]
        self.access_log.append(f'{address} "GET {request.path} HTTP/1.1" {response.status_code}')

    async def _authenticate(self, ws: ServerConnection) -> str:
        request = ws.request
        assert request is not None
        query = parse_qs(urlsplit(request.path).query)
        if self.auth == "cookie":
            user = self._session_user(request)
            if user is None:
                raise AuthError("not logged in")
            return user
        if self.auth == "query":
            if not hmac.compare_digest(query.get("token", [""])[0], self.token):
                raise AuthError("bad token")
            return "alice"
        if self.auth == "ticket":
            return self.tickets.redeem(query.get("ticket", [""])[0])
        # first-message: {"token": ...} within auth_timeout, or the socket is closed.
        try:
            async with asyncio.timeout(self.auth_timeout):
                first = await ws.recv()
        except TimeoutError:
            raise AuthError("authentication timeout") from None
        try:
            token = json.loads(first)["token"]
        except (ValueError, KeyError, TypeError):
            raise AuthError('first message must be {"token": ...}') from None
        if not isinstance(token, str) or not hmac.compare_digest(token, self.token):
            raise AuthError("bad token")
        return "alice"

    async def _serve(self, ws: ServerConnection) -> None:
        with self.per_address.holding(ws.remote_address[0]):
            try:
                user = await self._authenticate(ws)
            except AuthError as error:
                await ws.close(1008, str(error))  # 1008: "violates its policy"
                return
            account = _account(user)
            await ws.send(json.dumps(account))
            bucket = TokenBucket(self.rate, self.burst)
            with contextlib.suppress(ConnectionClosed):  # e.g. 1009: the limit did its job
                async for _ in ws:
                    if not bucket.allow():
                        ws.close_timeout = 0.1  # no patience for a flooder (see close_timeout)
                        await ws.close(1008, "rate limit exceeded")
                        return
                    await ws.send(json.dumps({"balance": account["balance"]}))


def _page(body: bytes, *extra: tuple[str, str], content_type: str = "text/html") -> Response:
    headers = Headers(
        [
            ("Content-Type", f"{content_type}; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *extra,
        ]
    )
    return Response(200, "OK", headers, body)


# --- Cross-Site WebSocket Hijacking, run in a browser --------------------------------------------

#: What the attacker's page runs: open the bank's socket; whatever arrives is stolen.
ATTACK_JS = """\
const ws = watch(new WebSocket(url));   // the browser adds the bank's cookies, if it may
ws.onmessage = (event) => ws.close(1000);
"""


#: What the bank's own page runs: fetch a ticket (its cookie works for HTTP), then
#: open the socket with it. ``args.bank`` is the bank's http(s) address.
TICKET_JS = """\
const ticket = await (await fetch(args.bank + "/ticket")).text();
const ws = watch(new WebSocket(url + "?ticket=" + ticket));
ws.onmessage = (event) => ws.close(1000);
"""


@dataclass
class Hijack:
    """One attempt: the browser's event log and what the bank saw in the handshake."""

    log: Any  # browser.EventLog
    handshake: dict[str, str | None]

    @property
    def cookie_sent(self) -> bool:
        return bool(self.handshake.get("cookie"))

    @property
    def opened(self) -> bool:
        return "open" in self.log.types()

    @property
    def account(self) -> dict[str, Any] | None:
        """What the attacker's page read, if anything."""
        data = [e["data"] for e in self.log.events if e["type"] == "message"]
        return json.loads(data[0]) if data else None

    @property
    def outcome(self) -> tuple[bool, bool, bool]:
        return self.cookie_sent, self.opened, self.account is not None


async def hijack(chromium: Any, bank: Bank, host: str) -> Hijack:
    """Log in to ``bank`` at ``host`` in a tab, then run :data:`ATTACK_JS` from another origin.

    The attacker's page is the browser's own harness page (``http://127.0.0.1:P``,
    another port): with ``host="127.0.0.1"`` it is the same *site* as the bank,
    with ``host="localhost"`` another site. Same browser, same profile, as a
    user with two tabs open.
    """
    scheme = "https" if bank.tls else "http"
    await chromium.run("", page=f"{scheme}://{host}:{bank.bound_port}/login")
    before = len(bank.handshakes)
    log = await chromium.run(
        ATTACK_JS, f"{'wss' if bank.tls else 'ws'}://{host}:{bank.bound_port}/"
    )
    seen = bank.handshakes[before:]
    return Hijack(log, seen[0] if seen else {"origin": None, "cookie": None})


async def hijack_all(variants: Mapping[str, tuple[Any, dict[str, Any], str]]) -> dict[str, Hijack]:
    """:func:`hijack` for each ``label: (chromium, Bank fields, host)``, each on its own bank.

    The banks are started as ``"bank 1"``, ``"bank 2"``, ... (``servers.stop()``
    stops them). Variants in different browsers or on different hosts run at
    once; those sharing a browser and a host run in turn, in order, because
    cookies belong to a host, not to a port: another bank's login there would
    replace the cookie before the attack.
    """
    banks = [
        await servers.start(Bank(name=f"bank {number}", **fields))
        for number, (_, fields, _) in enumerate(variants.values(), 1)
    ]
    chains: dict[tuple[int, str], list[tuple[str, Any, Bank, str]]] = {}
    for (label, (chromium, _, host)), bank in zip(variants.items(), banks, strict=True):
        chains.setdefault((id(chromium), host), []).append((label, chromium, bank, host))
    results: dict[str, Hijack] = {}

    async def in_turn(chain: list[tuple[str, Any, Bank, str]]) -> None:
        for label, chromium, bank, host in chain:
            results[label] = await hijack(chromium, bank, host)

    await asyncio.gather(*(in_turn(chain) for chain in chains.values()))
    return {label: results[label] for label in variants}
