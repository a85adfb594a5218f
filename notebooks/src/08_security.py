# %% [markdown]
# # 08 · Security
#
# **What you will learn**
#
# - what `wss://` adds: TLS under the WebSocket, with a certificate the client must trust; what a
#   wire tap sees with and without it; why an `https://` page may not open `ws://`;
# - Cross-Site WebSocket Hijacking, live in Chromium: why any page can open a socket to your
#   server with the user's cookies, what the cookie's `SameSite` attribute and third-party-cookie
#   blocking really stop, and the fix that stops it all: checking `Origin`;
# - how a browser client proves who it is when it cannot set a header: cookie, token in the URL,
#   single-use ticket, first message; where each one leaks;
# - limits as defence: message size (1009), handshake size (431), connections per address,
#   message rate (1008), idle sockets that never log in; and why clients mask their frames.
#
# Everything runs on `127.0.0.1`; the library is `wslearn.security`.

# %%
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslearn import browser, plots, security, servers, wire
from wslearn.browser import Recorder
from wslearn.exercises import check
from wslearn.handshake import HandshakeError, build_request, check_request, parse_request
from wslearn.security import Bank
from wslearn.websocket import WebSocket

# Two headless Chromiums start in the background; both trust the course's certificate
# (below). The second also allows third-party cookies, as many users' browsers still do.
chromium = browser.Chromium(args=security.chromium_args())
chromium.warm_up()
permissive = browser.Chromium(
    args=security.chromium_args(), preferences=security.ALLOW_THIRD_PARTY_COOKIES
)
permissive.warm_up()
plots.load_in_background()  # matplotlib, for the figures further down

# %% [markdown]
# ## wss: TLS under the WebSocket
#
# `wss://` is the same protocol inside a TLS connection, as `https://` is HTTP inside TLS. TLS
# needs a certificate that the client trusts: signed by a certificate authority (CA) in the
# client's trust store, for the name in the URL. There is no public CA for `127.0.0.1`, so the
# course makes its own CA (with `trustme`, in memory) and a certificate for `127.0.0.1` and
# `localhost`. `tls=True` serves a course server with it:

# %%
ca = security.course_ca()
echo = await servers.start("echo", tls=True)
print(echo.url)

# %% [markdown]
# wslearn's `WebSocket` takes an `ssl` context, a Python extra (a browser has its own trust
# store). One that trusts the course CA connects; the default one (the system's CAs) refuses the
# course's certificate, and a client that trusts the course CA refuses a certificate signed by
# any other CA, even for the right name:


# %%
async def talk(url, **options):
    py = Recorder()
    ws = py.watch(WebSocket(url, **options))
    ws.onopen = lambda event: ws.send("attack at dawn")
    ws.onmessage = lambda event: ws.close(1000)
    log = await py.finish(3)
    errors = [e.details["message"] for e in ws.events if e.type == "error"]
    return log.types(), errors[:1]


other_ca = security.stranger_ca().server_context()
stranger = await servers.start(servers.LocalServer("stranger", servers.echo_handler, tls=True, options={"ssl": other_ca}))
print("course CA trusted:      ", *await talk(echo.url, ssl=ca.client_context()))
print("system CAs only:        ", *await talk(echo.url))
print("another CA's certificate:", *await talk(stranger.url, ssl=ca.client_context()))

# %% [markdown]
# Chromium trusts the course's certificate through one flag, the SHA-256 hash of the
# certificate's public key, and nothing more: it does not switch certificate checks off.

# %%
print(ca.chromium_args()[0])
log = await chromium.run(
    """const ws = watch(new WebSocket(url));
       ws.onopen = () => ws.send("attack at dawn");
       ws.onmessage = () => ws.close(1000);""",
    echo.url,
)
print(log.version, log.types())

# %% [markdown]
# ### What the network sees
#
# The same conversation twice through a `wire.Tap`, a recording proxy: once over `ws://`, once
# over `wss://`. Over `ws://` the handshake and the server's frames are readable by anyone on the
# path (the client's frames are masked, but the mask travels in the frame: notebook 02). Over
# `wss://` the tap sees only TLS records; after the first few (the TLS handshake), every record
# is `application_data`: encrypted.

# %%
plain = await servers.start(servers.LocalServer("plain echo", servers.echo_handler))
taps = {}
for server in (plain, echo):
    tap = await wire.Tap(server).start()
    scheme = "wss" if server.tls else "ws"
    context = ca.client_context() if server.tls else None
    async with connect(f"{scheme}://127.0.0.1:{tap.bound_port}", ssl=context) as ws:
        await ws.send("attack at dawn")
        await ws.recv()
    await tap.stop()
    taps[scheme] = tap

ws_down = taps["ws"].data(wire.SERVER)
print("ws://  server to client:", ws_down[-40:])
print("       'attack at dawn' readable:", b"attack at dawn" in ws_down)
wss_up, wss_down = taps["wss"].data(wire.CLIENT), taps["wss"].data(wire.SERVER)
print("wss:// client to server:", wss_up[:24].hex(" "), "...")
print("       TLS records:", wire.tls_records(wss_up))
print("       'attack at dawn' readable:", b"attack at dawn" in wss_up + wss_down)
try:
    taps["wss"].frames(wire.SERVER)
except ValueError as error:
    print("       frames():", error)

# %% [markdown]
# ### Mixed content
#
# A page loaded over `https://` may not open a `ws://` socket: the data would travel in the clear
# from a page that promised encryption. Chromium throws at once (`127.0.0.1` and `localhost` are
# treated as secure already, so the URL uses another name mapped to `127.0.0.1`):

# %%
log = await chromium.run(
    "const ws = attempt('new WebSocket', () => new WebSocket(url)); if (ws) watch(ws);",
    f"ws://{security.PLAIN_HOST}:{plain.bound_port}/",
    page=f"{echo.http_url}/",
)
print(log.types())
print(log.errors[0])

# %% [markdown]
# ## Cross-Site WebSocket Hijacking
#
# A WebSocket handshake is an HTTP request, and the browser attaches the cookies it would attach
# to any request to that server. Unlike `fetch`, a WebSocket is **not** covered by CORS: any page
# may open one to any server, and read what comes back. If the server trusts the cookie alone,
# a page from another origin, open in the user's browser, acts as the user: **Cross-Site
# WebSocket Hijacking** (CSWSH).
#
# The demo bank (`security.Bank`) has a login page that sets `session=...` and a WebSocket that
# sends the account to whoever holds that cookie. The attacker's page runs this:

# %%
print(security.ATTACK_JS)

# %% [markdown]
# `security.hijack` logs the user in to the bank in one tab, then runs that snippet in a page of
# another origin, `http://127.0.0.1:P` (the browser's own page, on another port);
# `security.hijack_all` does that for each variant below, each against a bank of its own. Two
# words matter: an **origin** is scheme + host + port; a **site** is scheme + registrable domain,
# ports ignored. So the bank at `127.0.0.1:A` is another origin but the *same site* as the attacker at
# `127.0.0.1:P`; the bank at `localhost:A` is another site. A cookie's `SameSite` attribute is
# about sites: `Lax` (Chromium's default when a cookie says nothing) and `Strict` keep the cookie
# off requests from other sites; `None; Secure` sends it everywhere, unless the browser blocks
# third-party cookies.

# %%
variants = {
    "default cookie (Lax), another site": (chromium, {}, "localhost"),
    "default cookie (Lax), same site, other port": (chromium, {}, "127.0.0.1"),
    "SameSite=Strict, same site, other port": (chromium, {"cookie": "; SameSite=Strict"}, "127.0.0.1"),
    "SameSite=None; Secure (wss), another site, 3PC blocked": (
        chromium, {"cookie": "; SameSite=None; Secure", "tls": True}, "localhost"),
    "SameSite=None; Secure (wss), another site, 3PC allowed": (
        permissive, {"cookie": "; SameSite=None; Secure", "tls": True}, "localhost"),
}
attempts = await security.hijack_all(variants)
for label, attempt in attempts.items():
    print(f"{label:55} {attempt.log.types()}")

# %% [markdown]
# In every run the handshake carried the attacker's `Origin`, which the bank ignored:

# %%
for label, attempt in attempts.items():
    print(f"{label:55} Origin: {attempt.handshake['origin']}  cookie sent: {attempt.cookie_sent}")

# %% [markdown]
# ### The fix: check `Origin`
#
# A browser always sends the page's origin in the handshake, and a page cannot change it. The
# server compares it with an allow-list and answers anything else with **403** before the
# upgrade (`handshake.check_request(origins=...)`, notebook 01). The page only sees `error` and
# `close` 1006: the browser hides the status, on purpose.

# %%
bank = await servers.start(Bank(origins=["https://bank.example"]))
attempts["default cookie, same site, Origin allow-list"] = fixed = await security.hijack(
    chromium, bank, "127.0.0.1"
)
print(fixed.log.types(), "| cookie sent:", fixed.cookie_sent, "| bank's log:", bank.access_log[-1])
head, _ = build_request("bank.example", origin=fixed.handshake["origin"])
try:
    check_request(parse_request(head)[0], origins=["https://bank.example"])
except HandshakeError as error:
    print(f"HandshakeError {error.status}: {error}")

# %%
fig = plots.cswsh_outcomes([(label, a.outcome) for label, a in attempts.items()])

# %% [markdown]
# What the figure says: `SameSite` stops other *sites*, not other *origins* of the same site
# (another port, another subdomain: `evil.example.com` is the same site as `bank.example.com`).
# Third-party-cookie blocking helps only where it is on. The `Origin` check stops every variant.
#
# A **CSRF-style token** also works: if the socket needs a secret that only the bank's own pages
# can read (a ticket from `/ticket`, below), the attacker's page cannot get it. It may send the
# request, but without CORS headers the browser will not let it read the answer:

# %%
log = await chromium.run(
    """try { await (await fetch(url, {credentials: "include"})).text(); log("read a ticket"); }
       catch (e) { log("fetch failed", {name: e.name, message: e.message}); }""",
    f"http://127.0.0.1:{bank.bound_port}/ticket",
)
print(log.events)

# %% [markdown]
# Write the check yourself. `origin_allowed(origin, allowed)` gets the `Origin` header's value
# (`None` when the client sent none, as non-browser clients do) and the allow-list; it answers
# whether the handshake may go on.

# %% exercise=origin_allowed
def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    ### BEGIN SOLUTION
    return origin is not None and origin in allowed
    ### END SOLUTION


# %% check=origin_allowed
check("origin_allowed", origin_allowed)

# %% [markdown]
# ## Authentication without headers
#
# A browser's `WebSocket` cannot set a header: no `Authorization: Bearer ...`. What is left:
#
# 1. **The cookie** the browser sends by itself (as above): fine for the site's own pages, **with
#    an Origin check**.
# 2. **A token in the query string**, `wss://host/?token=...`: it works, and it leaks.
# 3. **A ticket**: the page fetches a short-lived, single-use ticket over HTTP (where its cookie
#    or `Authorization` header does work), then puts *that* in the URL.
# 4. **The first message** carries the credentials; the server accepts nothing else before it,
#    and closes a socket that stays silent too long.
#
# ### A token in the URL, and where it ends up

# %%
bank = await servers.start(Bank(auth="query"))
tap = await wire.Tap(bank).start()
log = await chromium.run(
    "const ws = watch(new WebSocket(url)); ws.onmessage = () => ws.close(1000);",
    f"ws://127.0.0.1:{tap.bound_port}/?token={bank.token}",
)
await tap.stop()
print("Chromium:          ", log.types())
print("server's access log:", bank.access_log[-1])
print("on the wire:        ", tap.head(wire.CLIENT).split(b"\r\n")[0])

# %% [markdown]
# The access log keeps it for months, and so do proxies' logs (on `wss://` the path is encrypted
# on the wire, but every TLS-terminating proxy logs it). A browser's history keeps *page*
# addresses, not WebSocket URLs; a token leaks there when it came in the page's own URL
# (`https://app/?token=...`), and into the developer tools' network panel either way. A
# long-lived token in a URL is a password in a log file.
#
# ### A single-use ticket
#
# The bank's `/ticket` answers a logged-in page with a ticket: `user.expires.nonce.signature`,
# signed with HMAC-SHA256 under a key only the server knows. It is good for `ttl` seconds, and
# once:

# %%
bank = await servers.start(Bank(auth="ticket"))
session = bank.login("alice")
ticket = bank.tickets.issue("alice")  # what GET /ticket returns to alice's page
print(ticket, f"(ttl {bank.tickets.ttl:g} s)")


async def use(url, first=None):
    async with connect(url) as ws:
        if first is not None:
            await ws.send(first)
        try:
            async for message in ws:
                return json.loads(message)["owner"]
        except Exception:
            pass
    return f"closed {ws.close_code} {ws.close_reason!r}"


print("first use:   ", await use(f"{bank.url}/?ticket={ticket}"))
print("second use:  ", await use(f"{bank.url}/?ticket={ticket}"))
print("tampered:    ", await use(f"{bank.url}/?ticket={ticket.replace('alice', 'admin')}"))
bank.tickets.ttl = -1  # a ticket that has already expired
print("expired:     ", await use(f"{bank.url}/?ticket={bank.tickets.issue('alice')}"))

# %% [markdown]
# The same flow in Chromium, from the bank's own page (logged in, so `/ticket` answers):

# %%
bank.tickets.ttl = 30
print(security.TICKET_JS)
log = await chromium.run(
    security.TICKET_JS,
    bank.url + "/",
    page=f"{bank.http_url}/login",
    bank=bank.http_url,
)
print(log.types(), log.events[1]["data"])
print(bank.access_log[-1], "(in the log too, but used up)")

# %% [markdown]
# Now validate tickets yourself. `redeem_ticket(ticket, secret, now, used)` gets a ticket in
# that form (`expires` in milliseconds, the signature the unpadded URL-safe base64 of
# HMAC-SHA256 over `user.expires.nonce`), the server's secret, the time in milliseconds, and the
# set of nonces already used (the server adds a nonce to it once it accepts a ticket). It returns
# the ticket's user, or `None` for a malformed, forged, expired or used ticket. The user name may
# contain dots.

# %% setup
import base64
import hashlib
import hmac


# %% exercise=redeem_ticket
def redeem_ticket(ticket: str, secret: bytes, now: int, used: set) -> str | None:
    ### BEGIN SOLUTION
    parts = ticket.rsplit(".", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    user, expires, nonce, signature = parts
    mac = hmac.new(secret, f"{user}.{expires}.{nonce}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, base64.urlsafe_b64encode(mac).rstrip(b"=").decode()):
        return None
    if now >= int(expires) or nonce in used:
        return None
    return user
    ### END SOLUTION


# %% check=redeem_ticket
check("redeem_ticket", redeem_ticket)

# %% [markdown]
# ### The first message, and the socket that never speaks
#
# The bank in `auth="first-message"` mode waits `auth_timeout` seconds for `{"token": ...}`. A
# socket that sends nothing is closed with **1008** (policy violation): an unauthenticated
# socket costs memory, and an attacker can open thousands.

# %%
bank = await servers.start(Bank(auth="first-message", auth_timeout=0.3))
print("right token:", await use(bank.url, json.dumps({"token": bank.token})))
print("wrong token:", await use(bank.url, json.dumps({"token": "guess"})))
print("silence:    ", await use(bank.url))

# %% [markdown]
# ### Why not `Sec-WebSocket-Protocol`?
#
# The one header a page *can* fill is the subprotocol list (`new WebSocket(url, protocols)`), so
# some put a token there. It is a hack: the header names protocols, so proxies and servers log it
# like one; the server must answer with one of the offered values or the browser fails the
# connection (here the echo server answers none); and the value must be an HTTP token, so a
# base64 string with `/` or `=` is refused before anything is sent:

# %%
log = await chromium.run("watch(new WebSocket(url, ['token.abc123']));", echo.url)
print(log.types(), log.console)
log = await chromium.run(
    "attempt('new WebSocket', () => new WebSocket(url, ['Bearer abc/def=']));", echo.url
)
print(log.types(), log.errors)

# %% [markdown]
# Which method fits? Each situation, in more words:
#
# - *same-site page, logged in with a session cookie*: the bank's own pages, on the bank's site;
# - *a service calling a service, no browser*: a Python program connecting to another service;
# - *SPA calling an API on another site; URLs are logged; refuse before the upgrade*: a
#   single-page app on one site with an access token, its WebSocket API on another; the server
#   must refuse unauthenticated upgrades outright;
# - *browser game on another site; the server has no HTTP endpoint; a second unauthenticated is
#   fine*.
#
# Answer `"cookie"`, `"header"`, `"ticket"` or `"first-message"` for each.

# %% exercise=choose_auth
def choose_auth(situation: str) -> str:
    ### BEGIN SOLUTION
    return {
        "same-site page, logged in with a session cookie": "cookie",
        "a service calling a service, no browser": "header",
        "SPA calling an API on another site; URLs are logged; refuse before the upgrade": "ticket",
        "browser game on another site; the server has no HTTP endpoint; a second unauthenticated "
        "is fine": "first-message",
    }[situation]
    ### END SOLUTION


# %% check=choose_auth
check("choose_auth", choose_auth)

# %% [markdown]
# ## Limits as defence
#
# A WebSocket server holds state per connection and parses whatever arrives, so every
# unbounded thing is a way to exhaust it. The bank keeps these limits:
#
# - **message size**: `max_size=4096` bytes; a bigger message gets close **1009** (message too
#   big) before the server buffers it;
# - **handshake head**: `websockets` refuses a line over 8 KiB or more than 128 headers with
#   HTTP **431**;
# - **connections per client address** (`AddressLimit`, here 2): one more gets HTTP **429**;
# - **idle unauthenticated sockets**: the first-message timeout above (1008);
# - **message rate**, per connection: a token bucket.

# %%
bank = await servers.start(Bank(per_address=security.AddressLimit(2)))
cookie = {"Cookie": f"session={bank.login('alice')}"}


async def refused(**headers):
    try:
        async with connect(bank.url, additional_headers=headers):
            return "accepted"
    except InvalidStatus as error:
        return f"HTTP {error.response.status_code} {error.response.reason_phrase}"


async with connect(bank.url, additional_headers=cookie) as ws:
    await ws.recv()
    await ws.send("x" * 5000)
    await ws.wait_closed()
    print("a 5000-byte message:", "close", ws.close_code, ws.close_reason)
print("a 10 kB header:     ", await refused(X_Big="a" * 10_000))
async with connect(bank.url, additional_headers=cookie), connect(bank.url, additional_headers=cookie):
    print("a third connection: ", await refused(**cookie))

# %% [markdown]
# ### A token bucket
#
# A bucket holds at most `burst` tokens and gains `rate` tokens per second. Each message takes
# one; a message that finds less than one whole token is refused (the bank then closes with
# 1008). Bursts up to `burst` pass, and over time no more than `rate` per second. Write it:
# `allowed(times, rate, burst)` gets the arrival times of one connection's messages (seconds, in
# order) and returns, for each, whether it passes. The bucket starts full.

# %% exercise=allowed
def allowed(times: list[float], rate: float, burst: int) -> list[bool]:
    ### BEGIN SOLUTION
    tokens, last, passed = float(burst), times[0] if times else 0.0, []
    for t in times:
        tokens = min(burst, tokens + (t - last) * rate)
        last = t
        passed.append(tokens >= 1)
        if passed[-1]:
            tokens -= 1
    return passed
    ### END SOLUTION


# %% check=allowed
check("allowed", allowed)

# %% [markdown]
# The bank's bucket (`security.TokenBucket`, 5 per second, bursts of 5) against a client that
# sends 20 messages as fast as it can, then the same bucket on a gentler client's timeline:

# %%
bank = await servers.start(Bank(rate=5, burst=5))
async with connect(bank.url, additional_headers={"Cookie": f"session={bank.login()}"}) as ws:
    await ws.recv()
    for _ in range(20):
        await ws.send("balance?")
    answers = []
    try:
        async for message in ws:
            answers.append(message)
    except ConnectionClosed:
        pass
print(f"{len(answers)} answers, then close {ws.close_code} {ws.close_reason!r}")

clock = [0.0]
bucket = security.TokenBucket(rate=5, burst=5, clock=lambda: clock[0])
times = [0.0] * 8 + [0.5 + 0.1 * i for i in range(15)] + [3.0 + 0.02 * i for i in range(10)]
passed = []
for t in times:
    clock[0] = t
    passed.append(bucket.allow())
fig = plots.token_bucket(times, passed, rate=5, burst=5)

# %% [markdown]
# ### Why clients mask
#
# Notebook 02 showed that every client frame is XORed with a fresh random 4-byte key. It is not
# secrecy: the key is in the frame. It protects *other* people: a page's script chooses the bytes
# it sends, and without masking it could make them look like an HTTP request to a proxy that does
# not understand WebSockets, which might then cache a forged answer for everyone behind it (cache
# poisoning, RFC 6455 §10.3). With a key the page cannot predict, it cannot choose the bytes on
# the wire. TLS (`wss://`) hides the bytes from those proxies too.

# %% [markdown]
# ## Summary
#
# - `wss://` is the WebSocket inside TLS: a client trusts a certificate through its CA, never by
#   switching checks off; the network then sees only TLS records. An `https://` page cannot use
#   `ws://`.
# - WebSockets are not covered by CORS: any page may open one with the user's cookies.
#   `SameSite=Lax` (the default) stops other sites, not other origins of the same site; blocking
#   third-party cookies helps where it is on. **Check `Origin` against an allow-list (403)**, or
#   require a token the attacker's page cannot read.
# - Without headers, authenticate with a cookie plus the Origin check, a single-use ticket in the
#   URL, or the first message with a timeout. A long-lived token in the URL ends up in logs;
#   `Sec-WebSocket-Protocol` is not a credential header.
# - Bound everything: message size (1009), handshake (431), connections per address (429),
#   message rate (1008), time to authenticate (1008).

# %%
await servers.stop()
await chromium.close()
await permissive.close()
