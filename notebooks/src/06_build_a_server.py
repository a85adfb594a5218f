# %% [markdown]
# # 06 · Build a server from the course's parts
#
# **What you will learn**
#
# - how the opening handshake (notebook 01), frames (02) and close codes (04) fit together into
#   a working WebSocket server and client, with nothing else but asyncio;
# - what a WebSocket *endpoint* does with each kind of frame (data, ping, pong, close), written
#   *sans-I/O*: bytes in, events out, with no socket in sight;
# - the closing handshake as a small state table, and the limits that protect a server
#   (message size, fragments, silent peers, too many clients);
# - how to check a server against an independent client (`websockets`), byte by byte, and
#   against a real browser.
#
# Everything runs on `127.0.0.1`. The library is `wslearn.connection` (the protocol) and
# `wslearn.scratch` (the asyncio around it).

# %% [markdown]
# ## Three parts, one endpoint, some glue
#
# The earlier notebooks built three *sans-I/O* parts: functions that turn bytes into objects and
# objects into bytes, and never touch a socket.
#
# | part | notebook | what it does for a server |
# | --- | :-: | --- |
# | `wslearn.handshake` | 01 | `parse_request`, `check_request`, `build_response`: read the HTTP upgrade request, check it, answer `101` |
# | `wslearn.framing` | 02 | `FrameReader`, `Assembler`, `encode_frame`: bytes ↔ frames ↔ messages |
# | `wslearn.close` | 04 | `decode_close`, `encode_close`: read and write close frame payloads |
#
# After the handshake, one object puts them together: `wslearn.connection.Connection`, one end of
# a WebSocket connection. It is sans-I/O too: `receive_data(bytes)` returns *events* (a message, a
# ping, a pong, a close), `send_text(...)`, `send_ping(...)`, `send_close(...)` queue frames, and
# `data_to_send()` hands over the bytes to write. `wslearn.scratch` is the glue: asyncio reads
# the handshake with streams, then hands every chunk of bytes from the socket to that object and
# writes what it returns; a clock handles the timeouts.

# %%
import inspect
import secrets

import websockets

from wslearn import browser, close, connection, framing, handshake, plots, scratch, wire
from wslearn.exercises import check
from wslearn.framing import Opcode

browser.warm_up()  # headless Chromium starts in the background; used further down
for module in (connection, scratch):
    print(f"{module.__name__} is {len(inspect.getsource(module).splitlines())} lines of Python")

# %% [markdown]
# ## The finished server, first
#
# `scratch.serve(handler)` listens on `127.0.0.1` (the OS picks a free port) and, for every
# client, does the handshake and then calls `handler(connection)`. A handler is an `async`
# function; the simplest one sends every message back:

# %%
print(inspect.getsource(scratch.echo))
server = await scratch.serve(scratch.echo, subprotocols=["chat.v1", "chat.v2"])
print(server)

# %% [markdown]
# The server runs in the background of the kernel's event loop, so it keeps serving after the
# cell has finished. A client that had no part in writing it, the `websockets` library, talks to
# it through a wire tap (`wslearn.wire.Tap`), which records every byte both ways:

# %%
async with wire.Tap(server.url) as tap:
    async with websockets.connect(tap.url, subprotocols=["chat.v2"]) as ws:
        await ws.send("Hello, scratch!")
        print("websockets got back:", await ws.recv())
        print("subprotocol:", ws.subprotocol)
print(tap.transcript())

# %% [markdown]
# ## Step 1 · the opening handshake (notebook 01)
#
# The server's first job is to read bytes until the blank line that ends the HTTP request head,
# then check the request and answer. Here is the request `websockets` sent, and the server's work
# done again by hand with the parts from notebook 01:

# %%
request_bytes = tap.head(wire.CLIENT)
print(request_bytes.decode())
request, consumed = handshake.parse_request(request_bytes)  # None while the head is incomplete
key = handshake.check_request(request)  # raises HandshakeError(status) for a bad request
chosen = handshake.select_subprotocol(request.subprotocols, server.subprotocols)
answer = handshake.build_response(key, subprotocol=chosen)
print(answer.decode())
print("what the server really sent:", "the same bytes" if answer == tap.head(wire.SERVER) else "?")

# %% [markdown]
# The client also offered `permessage-deflate` (compression, an *extension*). The answer names no
# extension, and that is how a server declines one: from then on both sides send frames
# uncompressed, with RSV1 clear.
#
# ## Step 2 · the endpoint: bytes in, events out
#
# Now a conversation that takes every branch, this time with the course's own client,
# `scratch.connect`, built from the same parts: a text message, one sent in fragments of 7 bytes,
# a binary message, a ping, and the 2016 article's `close(1000, "Closing normally!")`.

# %%
async with wire.Tap(server.url) as tap:
    async with scratch.connect(tap.url, subprotocols=["chat.v1"]) as client:
        await client.send("Hello")
        await client.send("a message in fragments", fragment_size=7)
        await client.send(bytes([0, 1, 2, 255]))
        round_trip = await client.ping(b"still there?")
        replies = [await client.recv() for _ in range(3)]
        await client.close(1000, "Closing normally!")
print("echoes:", replies)
print(f"ping round trip: {round_trip * 1000:.2f} ms, subprotocol: {client.subprotocol}")
print("the server's close frame said:", client.close_code, repr(client.close_reason))

# %% [markdown]
# Replay the server's side without a server: hand every byte the client sent after its head to a
# fresh server-side `Connection`, and look at the events it returns. No socket, no event loop:
# bytes in, events out.

# %%
client_bytes = tap.data(wire.CLIENT)[len(tap.head(wire.CLIENT)) :]
endpoint = connection.Connection(client=False)
for event in endpoint.receive_data(client_bytes):
    print(event)
print("state:", endpoint.state.name)

# %% [markdown]
# The fragments of the second message came out as one `Message`: the endpoint joined them
# and checked the UTF-8. What does it want to write back? Only its own answers: echoing is the
# *handler's* business, not the protocol's.

# %%
for frame in framing.FrameReader(expect_masked=False).feed(endpoint.data_to_send()):
    print(frame)

# %% [markdown]
# And what the real server wrote back, decoded from the tap (server frames are never masked):
# the handler's three echoes, with the endpoint's own frames among them.

# %%
for frame in tap.frames(wire.SERVER):
    print(frame)
counts = {"data": 0, "ping": 0, "pong": 0, "close": 0}
for frame in tap.frames(wire.CLIENT):
    counts["data" if frame.opcode.is_data else frame.opcode.name.lower()] += 1
fig = plots.frame_loop(counts, title="receive_data() on the server, with this conversation")

# %% [markdown]
# Look at where the PONG is: the endpoint answers a ping at once, while messages wait in a queue
# until the handler's `recv()` takes them, so a PONG may overtake the echoes of messages sent
# before the ping.
#
# ## Step 3 · the closing handshake (notebook 04)
#
# Each side sends one close frame and receives one (§7.1.2). The side that receives a close frame
# first answers it at once, and the server closes TCP first (§7.1.1). `wslearn.connection` keeps
# the whole closing handshake in one table, `TRANSITIONS`, which the figure draws:

# %%
for (state, event), new_state in connection.TRANSITIONS.items():
    if new_state is not state:
        print(f"{state.name:8} --{event.value:^15}--> {new_state.name}")
fig = plots.closing_states(connection.TRANSITIONS)

# %% [markdown]
# Two endpoints can talk with no network at all: hand each one's `data_to_send()` to the other's
# `receive_data()`. Here the client closes first:

# %%
alice, bob = connection.Connection(client=True), connection.Connection(client=False)
alice.send_close(1000, "Closing normally!")
print("alice sent her close frame:", alice.state.name)
print("bob receives it:          ", bob.receive_data(alice.data_to_send()), bob.state.name)
print("alice receives the answer:", alice.receive_data(bob.data_to_send()), alice.state.name)
print("bob, the server, should close TCP now:", bob.close_tcp)

# %% [markdown]
# ## Limits: what a server refuses
#
# A server must not let one peer hold its memory. The endpoint fails the connection (§7.1.7: a
# close frame with the right code, then it reads no more) when a message grows past `max_size`
# bytes (1009), or past `max_fragments` frames (1009 again; the same default as websockets: this
# stops an endless message of empty fragments), or when text is not UTF-8 (1007). Each failure
# is a short message in `endpoint.error`, not a crash:


# %%
def client_frame(fin, opcode, payload=b""):
    """One masked client frame, as bytes."""
    return framing.encode_frame(framing.Frame(fin, opcode, payload), mask=True)


def how_it_fails(data, **limits):
    """Feed client bytes to a fresh server endpoint; say how it failed the connection."""
    endpoint = connection.Connection(client=False, **limits)
    endpoint.receive_data(data)
    (frame,) = framing.FrameReader(expect_masked=False).feed(endpoint.data_to_send())
    print(f"{endpoint.error}\n    → close frame {close.decode_close(frame.payload)}")


print(f"defaults: max_size={connection.MAX_SIZE}, max_fragments={connection.MAX_FRAGMENTS}")
endless = client_frame(False, Opcode.TEXT) + client_frame(False, Opcode.CONTINUATION) * 10_000
how_it_fails(client_frame(True, Opcode.TEXT, b"too long"), max_size=4)
how_it_fails(endless)
how_it_fails(client_frame(True, Opcode.TEXT, b"caf\xe9"))

# %% [markdown]
# Two more limits need a clock or a socket, so they live in `scratch`: a peer silent for
# `ping_interval` seconds gets a PING and is dropped if no PONG comes within `ping_timeout`
# (the same defaults as websockets), and a server answers HTTP 503 to connections beyond
# `max_connections`:

# %%
print(f"defaults: ping_interval={scratch.PING_INTERVAL} s, ping_timeout={scratch.PING_TIMEOUT} s")
async with scratch.serve(scratch.echo, max_connections=1) as small:
    async with scratch.connect(small.url):
        try:
            await scratch.connect(small.url)
        except scratch.HandshakeError as error:
            print("the second client got:", error)

# %% [markdown]
# ## Your own handler
#
# Everything above is the same for every server; what a server *does* is its handler. This one
# speaks first (no request needed: the connection is full duplex), answers in upper case, and ends
# the conversation with a private close code when asked to.


# %%
async def shout(ws):
    """Greet, echo in upper case, close with 4000 on 'bye'."""
    await ws.send(f"welcome! you are client {secrets.token_hex(2)}")
    async for message in ws:
        if message == "bye":
            await ws.close(4000, "see you")
            return
        await ws.send(message.upper())


shouter = await scratch.serve(shout)
async with websockets.connect(shouter.url) as ws:
    print(await ws.recv())
    await ws.send("hello, server")
    print(await ws.recv())
    await ws.send("bye")
    try:
        await ws.recv()
    except websockets.ConnectionClosed as closed:
        print("the server closed:", closed.rcvd.code, repr(closed.rcvd.reason))

# %% [markdown]
# ## A real browser talks to your server
#
# The 2016 article taught the browser's side of all this in a few snippets: send in `onopen`,
# read `e.data` in `onmessage`, send only while `ws.readyState === WebSocket.OPEN`, end with
# `ws.close(1000, "Closing normally!")`, and read the chosen subprotocol in `ws.protocol`. Its
# example server is gone; ours is right here. Headless Chromium runs that JavaScript against the
# scratch server, and `wslearn.browser` brings back every event it fired:

# %%
chromium = await browser.run(
    """
    const ws = watch(new WebSocket(url, ["chat.v2", "chat.v1"]), "protocol", "extensions");
    ws.onopen = () => ws.send("Hello from your browser!");
    ws.onmessage = (e) => {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, "Closing normally!");
    };
    """,
    url=server.url,
)
print(chromium)

# %% [markdown]
# `open` with the subprotocol the server chose (`ws.protocol`: the first one in the *browser's*
# list that the server supports, `select_subprotocol` from notebook 01) and no extension (the
# browser offered `permessage-deflate`; our `101` named none); the echo; then `close` with code
# 1000, the reason, and `wasClean` true: the closing handshake completed both ways.
#
# ## Exercises
#
# Each exercise is one of the endpoint's three pluggable pieces, with the very signature
# `wslearn.connection` uses. The check calls your function directly, then plugs it into a running
# scratch server (`scratch.serve(scratch.echo, pong_for=your_function)`: an argument, nothing
# else) and talks to that server with a `websockets` client and with the course's raw client
# (`wslearn.raw`), which sends frames no polite client would.
#
# **Exercise 1 · pong_for.** A PING arrived carrying `ping_payload`. Return the payload of the PONG
# that answers it; the endpoint builds the frame around it. Hint: §5.5.3 says what a PONG sent in
# response to a PING must carry.

# %% exercise=pong_for
def pong_for(ping_payload: bytes) -> bytes:
    ### BEGIN SOLUTION
    return ping_payload
    ### END SOLUTION


# %% check=pong_for
check("pong_for", pong_for)

# %% [markdown]
# **Exercise 2 · reassemble.** `frames` is everything that arrived for one message, in order,
# possibly with control frames in between. Return the message: `str` for TEXT, `bytes` for BINARY.
# Raise `ProtocolError` unless the first data frame is TEXT or BINARY, every later one is a
# CONTINUATION, and only the last one has FIN set. Hint: decode UTF-8 once, after joining, since a
# character may be split between two fragments.

# %% exercise=reassemble
from wslearn.framing import Frame, Opcode, ProtocolError


def reassemble(frames: list[Frame]) -> str | bytes:
    ### BEGIN SOLUTION
    data = [f for f in frames if not f.opcode.is_control]  # skip pings between fragments
    if not data or data[0].opcode not in (Opcode.TEXT, Opcode.BINARY):
        raise ProtocolError("a message starts with a TEXT or BINARY frame")
    if any(f.opcode is not Opcode.CONTINUATION for f in data[1:]):
        raise ProtocolError("the fragments after the first are CONTINUATION frames")
    if not data[-1].fin or any(f.fin for f in data[:-1]):
        raise ProtocolError("only the last fragment has FIN set")
    payload = b"".join(f.payload for f in data)
    return payload.decode("utf-8") if data[0].opcode is Opcode.TEXT else payload
    ### END SOLUTION


# %% check=reassemble
check("reassemble", reassemble)

# %% [markdown]
# **Exercise 3 · close_reply.** `payload` is the payload of the close frame a client sent. Return
# the payload of the server's answer: the same code (and reason), empty for empty, and for a
# payload that breaks a rule, the code of the `framing.ProtocolError` that `close.decode_close`
# raises. Hint: `close.encode_close` and `close.decode_close` from notebook 04 do all the byte
# work.


# %% exercise=close_reply
def close_reply(payload: bytes) -> bytes:
    ### BEGIN SOLUTION
    if not payload:
        return b""  # nothing to echo, and 1005 is never sent
    try:
        code, reason = close.decode_close(payload)
    except framing.ProtocolError as error:
        return close.encode_close(error.code)  # 1002, or 1007 for a reason that is not UTF-8
    return close.encode_close(code, reason)
    ### END SOLUTION


# %% check=close_reply
check("close_reply", close_reply)

# %% [markdown]
# ## Summary
#
# - A WebSocket server is the handshake, framing and close parts, one sans-I/O endpoint that
#   puts them together (`wslearn.connection`: bytes in, events out), and a little asyncio glue
#   that moves bytes and keeps time (`wslearn.scratch`).
# - The endpoint answers a PING with a PONG carrying the same payload, joins fragments into
#   messages and checks their UTF-8, and answers a close frame with its code; the closing
#   handshake is a three-state table, and the server closes TCP first.
# - Every broken rule is a `ProtocolError` carrying the close code to answer with (1002, 1007,
#   1009), so the endpoint fails a connection in one place; limits on size, fragments, silence
#   and connections keep one peer from holding a server's memory.
# - Declining an extension or choosing a subprotocol is just what the `101` says, or does not say.
# - An independent client (`websockets`), the wire bytes and a real browser all agree with the
#   server: the 2016 article's `onopen`, `onmessage`, `readyState` guard, `close(1000, "Closing
#   normally!")` and `ws.protocol` ran against it unchanged.
#
# ## What next
#
# You have now seen every layer of a WebSocket connection, from the first HTTP line to the last
# close frame, and every fact of the 2016 article live. Some directions from here:
#
# - **TLS** (`wss://`): the same protocol inside an encrypted connection; Python's `ssl` module
#   wraps the streams, and nothing in the endpoint changes.
# - **Keepalive and reconnection** (notebook 07), **security** (08), **many clients** (09) and
#   **compression** (10) build on what you have here.
# - **Production servers**: `websockets` (what this course compared against; its `Protocol` is
#   the same sans-I/O idea as `wslearn.connection`), or ASGI frameworks (Starlette, FastAPI).
# - **Testing your own server**: the Autobahn|Testsuite runs hundreds of conformance cases;
#   `tests/test_conformance.py` in this course runs a subset against `scratch`.

# %%
for running in (server, shouter):
    await running.stop()
await browser.close()
