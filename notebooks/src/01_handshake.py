# %% [markdown]
# # 01 · The opening handshake
#
# **What you will learn**
#
# - what the HTTP request that opens a WebSocket says, and what the server's `101` answer says;
# - how `Sec-WebSocket-Accept` is computed from `Sec-WebSocket-Key`, and why;
# - how client and server agree on a subprotocol, and what `ws.protocol` reports in a browser;
# - how to do the handshake yourself over a plain TCP socket;
# - what happens when either side gets it wrong: the client's errors, and the server's statuses.
#
# Everything runs on `127.0.0.1`; the library is `wslearn.handshake` (RFC 6455 §4).

# %% [markdown]
# ## One request, one answer
#
# A WebSocket connection starts as a TCP connection carrying one ordinary HTTP/1.1 `GET` request.
# A few headers turn it into a request to *switch protocols*:
#
# - `Upgrade: websocket` and `Connection: Upgrade`: "let's stop speaking HTTP on this connection";
# - `Sec-WebSocket-Key`: 16 random bytes in base64, fresh for every connection;
# - `Sec-WebSocket-Version: 13`: the only version of the protocol in use;
# - optionally `Origin` (browsers always send it) and `Sec-WebSocket-Protocol` (subprotocols).
#
# The server agrees with status `101 Switching Protocols`, repeats `Upgrade` and `Connection`, and
# adds `Sec-WebSocket-Accept`, a value derived from the client's key. Each head ends with an empty
# line; after it the same TCP connection carries WebSocket frames (notebook 02), and HTTP is over.
# Any other status (`403`, `404`, ...) means: no WebSocket here.

# %%
import asyncio
import base64
import hashlib
import inspect

import websockets

from wslearn import close, framing, handshake, plots, servers, wire
from wslearn.exercises import check
from wslearn.raw import read_head

# %% [markdown]
# ## A real handshake, captured
#
# The `websockets` library connects to the course's echo server through the wire tap, which
# records every byte in both directions. `tap.head(...)` returns the HTTP head that opened the
# connection, exactly as it crossed the wire.

# %%
echo = await servers.start("echo")
async with wire.Tap(echo) as tap:
    async with websockets.connect(tap.url, compression=None) as ws:
        await ws.send("Hello")
        await ws.recv()
request_head = tap.head(wire.CLIENT)
response_head = tap.head(wire.SERVER)
print(request_head.decode())
print(response_head.decode())

# %% [markdown]
# `handshake.parse_request` and `handshake.parse_response` turn those bytes into objects. Each
# returns the head and how many bytes it used (`None` if the head is not complete yet). Header
# names are case-insensitive, so the lookups ignore case.

# %%
request, used = handshake.parse_request(request_head)
print(request.method, request.target, request.version, f"({used} bytes)")
for name, value in request.headers:
    print(f"  {name:24} {value}")

response, used = handshake.parse_response(response_head)
print(response.status, response.reason, f"({used} bytes)")
for name, value in response.headers:
    print(f"  {name:24} {value}")

print("lookup ignores case:", request.headers.get("sec-websocket-key"))

# %% [markdown]
# The same exchange as a sequence diagram, drawn from the captured bytes: the request, the answer,
# and then the first frames on the same connection (`"Hello"` and its echo).

# %%
hello_out = tap.frames(wire.CLIENT)[0]
hello_back = tap.frames(wire.SERVER)[0]
fig = plots.handshake_sequence(
    request_head,
    response_head,
    frames=[
        plots.Arrow("client", f"text frame {hello_out.payload.decode()!r}",
                    f"{len(framing.encode_frame(hello_out))} bytes, masked"),
        plots.Arrow("server", f"text frame {hello_back.payload.decode()!r}",
                    f"{len(framing.encode_frame(hello_back))} bytes"),
    ],
)

# %% [markdown]
# ## The accept value, step by step
#
# Why the key? A server that answers `101` must prove it really is a WebSocket server that read
# *this* request, and not, say, an HTTP cache replaying an old answer or a server that blindly
# echoes headers. The rule (§4.2.2) is:
#
# > `Sec-WebSocket-Accept` = base64( SHA-1( key + `258EAFA5-E914-47DA-95CA-C5AB0DC85B11` ) )
#
# The long string is a fixed GUID written into the RFC; no other protocol would produce it by
# accident. It is a proof of understanding, not security: anyone can compute it. The key is used as
# the text the client sent; it is never base64-decoded for this.
#
# **Exercise 1 · accept_key.** Before you read on, compute the `Sec-WebSocket-Accept` value for
# a client's key yourself, in plain Python. The check also runs a real `websockets` client against
# a server that answers with your value.
#
# *Hint:* `hashlib.sha1(data).digest()` gives the 20 raw bytes of a digest;
# `base64.b64encode(raw)` turns bytes into base64 (as bytes).

# %% exercise=accept_key
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    ### BEGIN SOLUTION
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")
    ### END SOLUTION


# %% check=accept_key
check("accept_key", accept_key)

# %% [markdown]
# Now the same steps, one at a time, with the key from the captured request.

# %%
key = request.headers.get("Sec-WebSocket-Key")
print("1. key (base64 text):    ", key)
print("   decoded, it is", len(base64.b64decode(key)), "random bytes")
joined = key + handshake.GUID
print("2. key + GUID:           ", joined)
digest = hashlib.sha1(joined.encode("ascii")).digest()
print("3. SHA-1 digest:         ", digest.hex(" "), f"({len(digest)} bytes)")
accept = base64.b64encode(digest).decode("ascii")
print("4. base64 of the digest: ", accept)

# %%
sent = response.headers.get("Sec-WebSocket-Accept")
print("the server sent:         ", sent)
print("matches our computation: ", sent == accept)
print("handshake.accept_key(key):", handshake.accept_key(key))

# %% [markdown]
# RFC 6455 §1.3 works the same rule on a sample key, `dGhlIHNhbXBsZSBub25jZQ==` ("the sample
# nonce" in base64). Its accept value is a handy test for your own code in the exercises:

# %%
print(handshake.accept_key("dGhlIHNhbXBsZSBub25jZQ=="))

# %% [markdown]
# ## Subprotocols: agreeing on what the messages mean
#
# WebSocket moves messages; it does not say what they mean. A client can offer one or more
# *subprotocols* (application-level formats, such as `chat.v2`) in `Sec-WebSocket-Protocol`, in its
# order of preference. The server picks **one** of them and names it in its answer, or names none.
#
# The course's `subprotocol` server speaks `chat.v2` and `chat.v1` and takes the first one in the
# client's list that it supports. In a browser and in Python:
#
# ```js
# const ws = new WebSocket(url, ["chat.v2", "chat.v1"]);
# ws.onopen = () => console.log(ws.protocol);   // the server's choice
# ```

# %%
chat = await servers.start("subprotocol")
async with wire.Tap(chat) as tap:
    async with websockets.connect(tap.url, subprotocols=["chat.v2", "chat.v1"], compression=None) as ws:
        chosen = ws.subprotocol
offer, _ = handshake.parse_request(tap.head(wire.CLIENT))
answer, _ = handshake.parse_response(tap.head(wire.SERVER))
print("client offers:  Sec-WebSocket-Protocol:", offer.headers.get("Sec-WebSocket-Protocol"))
print("server answers: Sec-WebSocket-Protocol:", answer.headers.get("Sec-WebSocket-Protocol"))
print("ws.subprotocol in Python:", chosen)

# %% [markdown]
# Now several offers, one connection each. The browser column follows the WHATWG WebSockets
# standard: `ws.protocol` is the server's choice, or `""` when the page offered nothing. If the page
# offered subprotocols and the server picked none, a browser **fails the connection** (an `error`
# event, then `close` with code 1006), where `websockets` and `handshake.check_response` accept it
# with no subprotocol. RFC 6455 allows both; browsers are stricter.

# %%
def browser_protocol(offered, chosen):
    """What a browser's ws.protocol shows after this handshake (or that it never opens)."""
    if chosen is None and offered:
        return "never opens: error, then close 1006"
    return repr(chosen or "")


print(f"{'client offers':24} {'server picks':14} {'Python ws.subprotocol':22} browser ws.protocol")
for offered in (["chat.v2", "chat.v1"], ["chat.v1", "chat.v2"], ["chat.v1"], ["chat.v3"], []):
    async with websockets.connect(chat.url, subprotocols=offered or None, compression=None) as ws:
        chosen = ws.subprotocol
    print(f"{', '.join(offered) or '(nothing)':24} {chosen or '(none)':14} {chosen!s:22} "
          f"{browser_protocol(offered, chosen)}")

# %% [markdown]
# Who decides when the client offers `chat.v1, chat.v2`? The RFC lets the server choose any offered
# value. This server lets the client's order win (`handshake.select_subprotocol` does the same);
# a `websockets` server left to its defaults walks its *own* list instead.

# %% [markdown]
# ## The handshake by hand
#
# No library client this time: a plain asyncio TCP connection, `build_request` to write the
# request, `parse_response` and `check_response` to read and verify the answer. Reading is the only
# subtle part: TCP delivers bytes in chunks of any size, so we keep reading until the parser finds
# the empty line. Whatever came after it already belongs to the frames.

# %%
print(inspect.getsource(read_head))  # from wslearn.raw; notebook 06's server reads heads the same way

# %%
host = f"{echo.host}:{echo.bound_port}"
reader, writer = await asyncio.open_connection(echo.host, echo.bound_port)
data, key = handshake.build_request(host)
writer.write(data)
response, rest = await read_head(reader, handshake.parse_response)
print(data.decode())
print(response.serialize().decode())
print("check_response:", handshake.check_response(response, key), "(no subprotocol), no error")

# %% [markdown]
# `check_response` returned without raising: the handshake is done and this socket now speaks
# WebSocket. One text frame (masked, as every client frame must be), the echo back, and a polite
# close, with `wslearn.framing` (notebook 02 explains every bit):

# %%
frames = framing.FrameReader(expect_masked=False)
writer.write(framing.encode_frame(framing.Frame(True, framing.Opcode.TEXT, b"by hand"), mask=True))
received = frames.feed(rest)
while not received:
    received = frames.feed(await reader.read(4096))
print("echoed:", received[0])

goodbye = close.encode_close(1000, "done")
writer.write(framing.encode_frame(framing.Frame(True, framing.Opcode.CLOSE, goodbye), mask=True))
received = []
while not received:
    received = frames.feed(await reader.read(4096))
print("server's close:", received[0], "→ code and reason", close.decode_close(received[0].payload))
writer.close()
await writer.wait_closed()

# %% [markdown]
# ## When the server answers wrongly
#
# A client must check the answer and *fail the connection* if anything is off (§4.1): a status other
# than `101`, a missing `Upgrade` or `Connection`, an accept value that does not match its key, or
# a subprotocol or extension it never offered. Failing means closing TCP; a client never sends an
# HTTP error back.
#
# To see it happen we need a server that gets it wrong. This tiny one parses the request properly
# but makes a classic mistake: it hashes the key *without* the GUID.

# %%
async def forgetful_server(reader, writer):
    """Answer 101 with the accept value computed without the GUID, then wait for the client to go."""
    request, _ = await read_head(reader, handshake.parse_request)
    key = request.headers.get("Sec-WebSocket-Key")
    wrong = base64.b64encode(hashlib.sha1(key.encode()).digest())
    writer.write(handshake.build_response(key).replace(handshake.accept_key(key).encode(), wrong))
    await writer.drain()
    await reader.read()  # returns b"" when the client hangs up
    writer.close()


liar = await asyncio.start_server(forgetful_server, "127.0.0.1", 0)
liar_port = liar.sockets[0].getsockname()[1]

try:
    async with websockets.connect(f"ws://127.0.0.1:{liar_port}"):
        print("connected?!")
except websockets.InvalidHandshake as exc:
    print("websockets:     ", type(exc).__name__, "-", exc)

async def check_by_hand(host, port):
    """Handshake with wslearn.handshake over a raw socket; print check_response's verdict."""
    reader, writer = await asyncio.open_connection(host, port)
    data, key = handshake.build_request(f"{host}:{port}")
    writer.write(data)
    response, _ = await read_head(reader, handshake.parse_response)
    try:
        handshake.check_response(response, key)
        print("check_response:  accepted")
    except handshake.HandshakeError as exc:
        print("check_response: ", type(exc).__name__, exc.status, "-", exc)
    writer.close()


await check_by_hand("127.0.0.1", liar_port)
liar.close()

# %% [markdown]
# Both clients refuse. The two wrong values they quote differ because each connection sends a
# fresh random `Sec-WebSocket-Key`, and the forgetful server hashes whatever key it gets; neither
# is the key + GUID value the client expects. `HandshakeError.status` is the status the server
# sent: a `101` can still be a failed handshake.
#
# A server that refuses with an HTTP error is the everyday case: no permission, wrong path,
# overloaded. The course's `reject` server answers every handshake with `403 Forbidden`:

# %%
refuser = await servers.start("reject", status=403)
try:
    async with websockets.connect(refuser.url):
        print("connected?!")
except websockets.InvalidStatus as exc:
    print("websockets:     ", type(exc).__name__, exc.response.status_code, "-", exc)

await check_by_hand(refuser.host, refuser.bound_port)

# %% [markdown]
# A browser page learns much less. For *any* failed handshake (a 403, a wrong accept value, a
# missing subprotocol) the `WebSocket` object fires `error`, then `close` with code **1006**
# (abnormal closure) and `wasClean` false. The status and the reason appear only in the developer
# console. The WHATWG standard forbids telling a page more: a refusal must look the same as a
# server that does not exist, so that a page cannot use WebSocket to probe servers it has no
# business talking to.
#
# ```js
# const ws = new WebSocket("ws://127.0.0.1:PORT");          // the reject server
# ws.onerror = () => console.log("error");                    // first
# ws.onclose = (e) => console.log(e.code, e.wasClean);        // then: 1006 false
# ```
#
# Notebook 03 records these events from real sockets.

# %% [markdown]
# ## When the client asks wrongly
#
# Now the other side. A server checks each request (§4.2.1) and refuses a bad one with an HTTP
# status and a short explanation, then closes the connection:
#
# - **400 Bad Request**: the request is not a valid handshake (not `GET`, no `Host`, no
#   `Upgrade: websocket`, a key that is not 16 bytes, ...). 400 is always a correct answer.
# - **426 Upgrade Required**: a well-formed handshake for a protocol *version* the server does not
#   speak; the answer lists the versions it does (`Sec-WebSocket-Version: 13`).
# - **403 Forbidden**: a valid request the server does not want, e.g. from a web page whose
#   `Origin` it does not trust. (The Origin protects browser users; any other client can write
#   whatever it likes there.)
#
# Here is a whole server made of `parse_request`, `check_request`, `build_response` and
# `build_error_response`. It accepts pages from `ALLOWED_ORIGINS` and clients that send no Origin;
# after answering it simply hangs up (a real server would go on with frames after a `101`).

# %%
ALLOWED_ORIGINS = {"http://127.0.0.1:8000"}


async def strict_server(reader, writer):
    """Answer one opening handshake by the RFC's rules, then close."""
    try:
        request, _ = await read_head(reader, handshake.parse_request)
        key = handshake.check_request(request, origins={*ALLOWED_ORIGINS, None})
        writer.write(handshake.build_response(key))
    except handshake.HandshakeError as error:
        writer.write(handshake.build_error_response(error))
    except ConnectionError:
        pass
    await writer.drain()
    writer.close()


strict = await asyncio.start_server(strict_server, "127.0.0.1", 0)
strict_port = strict.sockets[0].getsockname()[1]

# %% [markdown]
# A helper sends raw bytes and returns the answer's status line, then we spoil a valid request
# in one place at a time. We send each request to `websockets`' echo server too.

# %%
async def status_line(port, data):
    """Send `data` to 127.0.0.1:port and return the status line of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        response, _ = await read_head(reader, handshake.parse_response)
    except ConnectionError:
        return "(closed, no answer)"
    finally:
        writer.close()
    return f"{response.status} {response.reason}"


good, key = handshake.build_request("127.0.0.1")
requests = {
    "valid": good,
    "POST instead of GET": good.replace(b"GET ", b"POST "),
    "no Upgrade header": good.replace(b"Upgrade: websocket\r\n", b""),
    "key of 8 bytes": good.replace(key.encode(), base64.b64encode(b"8 bytes!")),
    "Sec-WebSocket-Version: 8": good.replace(b"Version: 13", b"Version: 8"),
    "Origin not allowed": good.replace(b"\r\n\r\n", b"\r\nOrigin: http://evil.example\r\n\r\n"),
    "Origin allowed": good.replace(b"\r\n\r\n", b"\r\nOrigin: http://127.0.0.1:8000\r\n\r\n"),
    "not HTTP at all": b"hello there\r\n\r\n",
}
print(f"{'request':26} {'strict_server':28} websockets")
for name, data in requests.items():
    ours = await status_line(strict_port, data)
    theirs = await status_line(echo.bound_port, data)
    print(f"{name:26} {ours:28} {theirs}")

# %% [markdown]
# The two servers disagree on some statuses, and both are within the rules: §4.2.1 asks for "an
# appropriate error code (such as 400 Bad Request)", and only the version has a status of its own
# in the RFC. `websockets` is more specific in places, and simply hangs up on bytes that are not
# HTTP. It checks `Origin` only when it is given a list of allowed origins, which is why it lets
# the "evil" page in. Here is one refusal in full, with its `Sec-WebSocket-Version` hint:

# %%
reader, writer = await asyncio.open_connection("127.0.0.1", strict_port)
writer.write(requests["Sec-WebSocket-Version: 8"])
print((await reader.read()).decode())
writer.close()
strict.close()

# %% [markdown]
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code, then run the check cell below it.
#
# **Exercise 1** (`accept_key`) is higher up, in "The accept value". The next two make you the
# server.

# %% [markdown]
# **Exercise 2 · parse_request_head.** Split a request head into `(method, target, headers)`:
#
# - the head ends at the first empty line (`b"\r\n\r\n"`); ignore anything after it;
# - the first line is `METHOD TARGET VERSION`; return the method and the target;
# - every other line is `Name: value`; `headers` is a `dict` from the name **in lower case** to
#   the value with spaces and tabs stripped from both ends;
# - a header that appears more than once gets its values joined with `", "`, in order.
#
# For the RFC's example request the answer starts
# `("GET", "/chat", {"host": "server.example.com", "upgrade": "websocket", ...})`.
# Use only plain Python (bytes and str methods), not `wslearn.handshake`.
#
# *Hint:* `line.partition(":")` splits at the first colon only, which matters for
# `Host: 127.0.0.1:8765`.

# %% exercise=parse_request_head
def parse_request_head(data: bytes) -> tuple[str, str, dict[str, str]]:
    ### BEGIN SOLUTION
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    start, *lines = head.split("\r\n")
    method, target, _version = start.split(" ")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name, value = name.lower(), value.strip(" \t")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return method, target, headers
    ### END SOLUTION


# %% check=parse_request_head
check("parse_request_head", parse_request_head)

# %% [markdown]
# **Exercise 3 · status_for.** Be the server: return the status to answer a request with, the
# way `strict_server` above does, but with your own rules instead of `check_request`:
#
# - `400` for a request that is not a valid opening handshake: bytes that are not an HTTP head (a
#   start line that is not `METHOD TARGET VERSION`, a header line without a colon), a method other
#   than `GET` or a version other than `HTTP/1.1`, no `Host`, no token `websocket` in `Upgrade`,
#   no token `Upgrade` in `Connection`, a `Sec-WebSocket-Key` that does not base64-decode to
#   exactly 16 bytes, or no `Sec-WebSocket-Version`;
# - `426` for a valid request whose `Sec-WebSocket-Version` is not `13`;
# - `403` for a valid request whose `Origin` is not in `ALLOWED_ORIGINS` (no Origin is fine);
# - `101` otherwise.
#
# Build it on your `parse_request_head` from exercise 2 and plain Python; `wslearn.handshake` is
# off limits here. `Upgrade` and `Connection` hold comma-separated, case-insensitive *tokens*
# (`keep-alive, Upgrade`). Every request is a complete head.
#
# *Hint:* check the form of the request first and the server's policy (the Origin) last, as the
# RFC lists them; `base64.b64decode(text, validate=True)` raises `ValueError` for bad base64.

# %% exercise=status_for
def status_for(request: bytes) -> int:
    ### BEGIN SOLUTION
    head = request.split(b"\r\n\r\n", 1)[0]
    start, *lines = head.split(b"\r\n")
    try:
        method, _target, headers = parse_request_head(request)
        version = start.split(b" ")[2].decode("latin-1")
    except (ValueError, IndexError):
        return 400
    if any(b":" not in line for line in lines):
        return 400
    if method != "GET" or version != "HTTP/1.1" or "host" not in headers:
        return 400

    def tokens(name: str) -> set[str]:
        return {token.strip().lower() for token in headers.get(name, "").split(",")}

    if "websocket" not in tokens("upgrade") or "upgrade" not in tokens("connection"):
        return 400
    try:
        key = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
    except ValueError:
        return 400
    if len(key) != 16 or "sec-websocket-version" not in headers:
        return 400
    if headers["sec-websocket-version"] != "13":
        return 426
    origin = headers.get("origin")
    if origin is not None and origin not in ALLOWED_ORIGINS:
        return 403
    return 101
    ### END SOLUTION


# %% check=status_for
check("status_for", status_for)

# %% [markdown]
# ## Summary
#
# - The opening handshake is one HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: Upgrade`,
#   a fresh `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`, answered by
#   `101 Switching Protocols`; after the empty line the connection carries frames.
# - `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)): proof that the server understood
#   WebSocket, not a security measure.
# - The client offers subprotocols in its order of preference, the server picks one or none; a
#   browser reports it in `ws.protocol` and fails the connection if it offered some and got none.
# - A client that gets a wrong answer fails the connection; a browser page sees only `error`, then
#   `close` with code 1006.
# - A server refuses a bad request with 400, an unknown version with 426 (listing version 13), an
#   unwanted origin with 403.
#
# Next, notebook 02 opens the frames that follow the handshake.

# %%
await servers.stop()
