# %% [markdown]
# # 06 · Build a server from the course's parts
#
# **What you will learn**
#
# - how the opening handshake (notebook 01), frames (02) and close codes (04) fit together into
#   a working WebSocket server, with nothing else but asyncio;
# - what a server's *frame loop* does with each kind of frame: data, ping, pong, close;
# - how to check a server you wrote against an independent client (`websockets`), and read the
#   conversation byte by byte;
# - how to write your own handler, and watch a real browser (the one showing you this page) talk
#   to a server this notebook runs, with the seed's own JavaScript.
#
# Everything runs on `127.0.0.1`. The library is `wslearn.scratch`.

# %% [markdown]
# ## Three parts and some glue
#
# The earlier notebooks built three *sans-I/O* parts: functions that turn bytes into objects and
# objects into bytes, and never touch a socket.
#
# | part | notebook | what it does for a server |
# | --- | :-: | --- |
# | `wslearn.handshake` | 01 | `parse_request`, `check_request`, `build_response`: read the HTTP upgrade request, check it, answer `101` |
# | `wslearn.framing` | 02 | `decode_frame` / `FrameReader`, `Assembler`, `encode_frame`: bytes ↔ frames ↔ messages |
# | `wslearn.close` | 04 | `decode_close`, `encode_close`: read and write close frame payloads |
#
# A server is those three parts plus *glue*: a socket to read from and write to, and one loop per
# connection that decides what to do with each frame. `wslearn.scratch` is that glue, written with
# asyncio streams. It holds no protocol knowledge of its own: every rule lives in one of the three
# parts, and this notebook takes the server apart to show where.

# %%
import ast
import asyncio
import inspect
import secrets
import textwrap

import websockets
from IPython.display import HTML, display

from wslearn import close, framing, handshake, plots, scratch, wire
from wslearn.exercises import check
from wslearn.framing import Opcode

for old in globals().get("running", {}).values():  # a second run in this kernel: stop them
    await old.stop()
running = {}


async def start(name, server):
    """Start a scratch server in the background of the kernel's loop (replacing `name`)."""
    if name in running:
        await running.pop(name).stop()
    running[name] = await server
    return running[name]


def show_source(function):
    """Print the code of a library function without its docstring."""
    lines = textwrap.dedent(inspect.getsource(function)).splitlines()
    first = ast.parse("\n".join(lines)).body[0].body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        del lines[first.lineno - 1 : first.end_lineno]
    print("\n".join(lines), end="\n\n")


print(f"wslearn.scratch is {len(inspect.getsource(scratch).splitlines())} lines of Python")

# %% [markdown]
# ## The finished server, first
#
# `scratch.serve(handler)` listens on `127.0.0.1` (the OS picks a free port) and, for every
# client, does the handshake and then calls `handler(connection)`. A handler is an `async`
# function; the simplest one sends every message back:

# %%
show_source(scratch.echo)
server = await start("echo", scratch.serve(scratch.echo, subprotocols=["chat.v1", "chat.v2"]))
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
# In the server, `read_head` collects the head (it may arrive in several pieces) and `accept`
# makes the calls above, or answers with the `HandshakeError`'s HTTP status. The `pages` branch
# lets the same port serve an HTML page to a plain GET, which browser tests use.

# %%
show_source(scratch.read_head)
show_source(scratch.accept)

# %% [markdown]
# ## Step 2 · the frame loop (notebook 02)
#
# After the `101`, every byte from the client is part of a frame. Each connection runs one
# background task that takes frames off the socket one at a time and acts on each by its opcode:

# %%
show_source(scratch.Connection._frame_loop)

# %% [markdown]
# The pieces it calls are short. A data frame goes to the `Assembler` (notebook 02), which joins
# fragments and checks UTF-8; a PING is answered with `pong_for`:

# %%
show_source(scratch.Connection._on_data)
show_source(scratch.pong_for)

# %% [markdown]
# Now a conversation that takes every branch, this time with the course's own client,
# `scratch.connect`, built from the same parts: a text message, one sent in fragments of 7 bytes,
# a binary message, a ping, and the seed's `close(1000, "Closing normally!")`.

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
# Replay the server's side of it: decode the client's bytes with `decode_frame` (the client masks
# every frame, so `expect_masked=True`) and make each decision the frame loop makes, with the same
# library calls.

# %%
client_bytes = tap.data(wire.CLIENT)[len(tap.head(wire.CLIENT)) :]
assembler = framing.Assembler()
counts = {"data": 0, "ping": 0, "pong": 0, "close": 0}
offset = 0
while decoded := framing.decode_frame(client_bytes[offset:], expect_masked=True):
    frame, size = decoded
    offset += size
    if frame.opcode is Opcode.PING:
        counts["ping"] += 1
        action = f"answer with {scratch.pong_for(frame)}"
    elif frame.opcode is Opcode.PONG:
        counts["pong"] += 1
        action = "wake up the ping() waiting for it"
    elif frame.opcode is Opcode.CLOSE:
        counts["close"] += 1
        code, reason = close.decode_close(frame.payload)
        action = f"{code} {reason!r}: answer with payload {scratch.close_reply(code, reason)!r}"
    else:
        counts["data"] += 1
        message = assembler.feed(frame)
        action = "keep, wait for more" if message is None else f"message {message.data!r}"
    print(f"{frame.opcode.name:12} FIN={frame.fin:d} {len(frame.payload):3} B → {action}")
print(f"{offset} of {len(client_bytes)} bytes decoded")

# %% [markdown]
# And what the server really wrote back, decoded from the tap (server frames are never masked):

# %%
for frame in tap.frames(wire.SERVER):
    print(frame)

# %% [markdown]
# Each echo is one whole frame, however the message arrived. Look at where the PONG is: the frame
# loop answers a ping itself, at once, while messages wait in a queue until the handler's
# `recv()` takes them, so a PONG may overtake the echoes of messages sent before the ping.

# %%
fig = plots.frame_loop(counts, title="The scratch server's frame loop, with this conversation")

# %% [markdown]
# ## Step 3 · the closing handshake (notebook 04)
#
# When the client's close frame arrives, the server reads its payload with `decode_close`, and
# answers with `close_reply`: the same code and reason, or an empty payload for an empty one
# (1005 is never sent). A malformed payload makes `decode_close` raise `ProtocolError`, and the
# loop answers with that error's code instead (1002, or 1007 for a reason that is not UTF-8).
# Then the server closes TCP first (§7.1.1), so the client is not left waiting.

# %%
show_source(scratch.Connection._on_close)
show_source(scratch.close_reply)
for code, reason in [(1000, "Closing normally!"), (4000, "bye"), (1005, "")]:
    print(f"received {code} {reason!r:20} → answer payload {scratch.close_reply(code, reason)!r}")

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


shouter = await start("shout", scratch.serve(shout))
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
# ## A real browser talks to your kernel
#
# The seed taught the browser's side of all this in a few snippets: send in `onopen`, read
# `e.data` in `onmessage`, send only while `ws.readyState === WebSocket.OPEN`, end with
# `ws.close(1000, "Closing normally!")`, and read the chosen subprotocol in `ws.protocol`. Its
# example server is gone; ours is right here. First a handler that notes what the server sees of
# each client:


# %%
seen = []  # what the server saw, one entry per connection


async def record(ws):
    """Echo every message, and note the request, the messages and the close frame."""
    entry = {
        "client": ws.request.headers.get("User-Agent", "?"),
        "origin": ws.request.headers.get("Origin"),
        "offered subprotocols": ws.request.subprotocols,
        "chosen": ws.subprotocol,
        "offered extensions": ws.request.headers.get("Sec-WebSocket-Extensions"),
        "messages": [],
    }
    seen.append(entry)
    try:
        async for message in ws:
            entry["messages"].append(message)
            await ws.send(message)
    finally:
        await ws.wait_closed()
        entry["close received"] = (ws.close_code, ws.close_reason)


browser_server = await start("browser", scratch.serve(record, subprotocols=["chat.v1", "chat.v2"]))
print(browser_server)

# %% [markdown]
# The JavaScript is the seed's, with `console.log` replaced by `show`, which adds a line under the
# cell:

# %%
BROWSER_JS = """
const ws = new WebSocket(url, ["chat.v2", "chat.v1"]);
show(`new WebSocket(url): readyState ${ws.readyState}`);
ws.onopen = function (e) {
  show(`open: readyState ${ws.readyState}, protocol "${ws.protocol}", extensions "${ws.extensions}"`);
  ws.send("Hello from your browser!");
};
ws.onmessage = function (e) {
  if (e.data) {
    show(`message: ${e.data}`);
  }
  if (ws.readyState === WebSocket.OPEN) {
    ws.close(1000, "Closing normally!");
    show(`close(1000, "Closing normally!"): readyState ${ws.readyState}`);
  }
};
ws.onerror = function (e) {
  show(`error: readyState ${ws.readyState}`);
};
ws.onclose = function (e) {
  show(`close: code ${e.code}, reason "${e.reason}", wasClean ${e.wasClean}, readyState ${ws.readyState}`);
  done();
};
"""


def in_the_browser(url, js):
    """HTML with a list, and a script that runs `js` in this page with `url`, `show` and `done`."""
    box = f"wslearn-browser-{secrets.token_hex(4)}"
    return HTML(f"""
<ol id="{box}" class="wslearn-browser-log">
  <li>Waiting for your browser to run the script (a headless run has no browser).</li>
</ol>
<script>
(() => {{
  const out = document.getElementById("{box}");
  out.replaceChildren();
  const show = (text) => {{
    const line = document.createElement("li");
    line.textContent = text;
    out.append(line);
    console.log(text);
  }};
  const done = () => {{ out.dataset.done = "true"; }};
  const url = "{url}";
  {js}
}})();
</script>""")


display(in_the_browser(browser_server.url, BROWSER_JS))

# %% [markdown]
# If this notebook runs in JupyterLab on your computer, the list above was filled in by your
# browser: `open` with readyState 1 and the subprotocol the server chose (`ws.protocol`), the echo
# of the message, readyState 2 (CLOSING) right after `close()`, and finally `close` with code
# 1000, the reason, and `wasClean true`. The same connection, seen from the server (a browser
# needs a moment; a run without a browser waits two seconds and says so):


# %%
async def wait_for_browser(timeout=2.0):
    """Wait until a connection has ended with a close frame, for at most `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not any("close received" in entry for entry in seen):
                await asyncio.sleep(0.05)
    except TimeoutError:
        pass


await wait_for_browser()
if not seen:
    print("No browser connected: this notebook ran without one (headless).")
for entry in seen:
    for name, value in entry.items():
        print(f"{name:22} {value}")

# %% [markdown]
# Note what the browser offered and what it got: a browser such as Chromium offers
# `permessage-deflate`; our server named no extension in its `101`, so `ws.extensions` is empty
# and every frame crossed uncompressed. The subprotocol is the first one in the *browser's* list
# that the server supports (`select_subprotocol`, notebook 01).
#
# ## Exercises
#
# Each exercise is one piece of the frame loop. The check calls your function directly, then
# plugs it into a running server (a `scratch.Connection` using your piece instead of the
# library's) and talks to that server with a `websockets` client and with a raw client that sends
# frames no polite client would.
#
# **Exercise 1 · pong_for.** Return the frame that answers the PING frame `ping`. Hint: §5.5.3
# says a PONG carries exactly the PING's payload, and control frames are never fragmented.

# %% exercise=pong_for
from wslearn.framing import Frame, Opcode


def pong_for(ping: Frame) -> Frame:
    ### BEGIN SOLUTION
    return Frame(True, Opcode.PONG, ping.payload)
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
# - A WebSocket server is the handshake, framing and close parts plus a little glue: read the
#   request head, check it, answer `101`; then one loop per connection that decodes a frame at a
#   time and acts on its opcode.
# - Data frames go to an assembler that enforces the fragment rules and UTF-8; a PING gets a PONG
#   with the same payload; a close frame gets its code echoed, and then the server closes TCP.
# - Every broken rule is a `ProtocolError` carrying the close code to answer with (1002, 1007,
#   1009), so the loop fails a connection in one place.
# - Declining an extension or choosing a subprotocol is just what the `101` says, or does not say.
# - An independent client (`websockets`), the wire bytes and a real browser all agree with the
#   server: the seed's `onopen`, `onmessage`, `readyState` guard, `close(1000, "Closing
#   normally!")` and `ws.protocol` ran against it unchanged.
#
# ## What next
#
# You have now seen every layer of a WebSocket connection, from the first HTTP line to the last
# close frame, and every fact of the seed live. Some directions from here:
#
# - **TLS** (`wss://`): the same protocol inside an encrypted connection; Python's `ssl` module
#   wraps the streams, and nothing in the three parts changes.
# - **Compression**: implement `permessage-deflate` (RFC 7692) on top of `framing`: RSV1 marks a
#   compressed message, and the `101` must agree to it.
# - **Production servers**: `websockets` (what this course compared against), or ASGI frameworks
#   (Starlette, FastAPI) that hand you a connection object like `scratch`'s.
# - **Testing your own server**: the Autobahn|Testsuite runs hundreds of conformance cases;
#   `tests/test_conformance.py` in this course runs a subset against `scratch`.
# - **In the browser**: `WebSocketStream`, whose `write()` returns a promise and so brings
#   backpressure to the API (notebook 05's problem, solved in the browser).

# %%
for old in running.values():
    await old.stop()
running.clear()
