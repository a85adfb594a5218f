# %% [markdown]
# # 04 · Close codes and the closing handshake
#
# **What you will learn**
#
# - how a WebSocket connection ends politely: the *closing handshake*, one close frame each way;
# - what a close frame carries (a 2-byte code and a UTF-8 reason) and how to read one;
# - which close codes exist, who may send which, and what the browser's `close()` refuses;
# - what `CloseEvent.code`, `reason` and `wasClean` report in each way a connection can end,
#   seen live, with the bytes on the wire;
# - why 1005 and 1006 show up in `onclose` but never on the wire.
#
# Everything runs on `127.0.0.1`; the library is `wslearn.close` (RFC 6455 §5.5.1, §7).

# %% [markdown]
# ## Ending on purpose
#
# TCP can end a connection on its own, but then neither side knows whether the other one got
# everything, or *why* it ended. WebSocket adds a small ceremony on top (§7.1.2):
#
# 1. one side sends a **close frame** (opcode `0x8`) and from then on sends no more data;
# 2. the other side answers with its own close frame, usually repeating the code;
# 3. the server closes the TCP connection (the client waits for it to).
#
# The close frame's payload is either empty, or a **status code** (2 bytes, big-endian) followed
# by an optional **reason** in UTF-8. A control frame carries at most 125 bytes, so a reason has
# at most 123 bytes.
#
# In the browser, `ws.close(code, reason)` starts this; `readyState` becomes `CLOSING` (2) at
# once, and when TCP has closed it becomes `CLOSED` (3) and a `close` event fires with three
# fields: `code`, `reason` and `wasClean`. The seed's example, and the same line in Python with
# the course's port of the browser API (`wslearn.websocket.WebSocket`):
#
# ```js
# ws.close(1000, "Closing normally!");
# ws.onclose = (e) => console.log(e.code, e.reason, e.wasClean);
# ```

# %%
import asyncio

from wslearn import close, framing, handshake, plots, servers, wire
from wslearn.close import decode_close, encode_close
from wslearn.exercises import check
from wslearn.framing import Frame, Opcode
from wslearn.websocket import DOMException, WebSocket

echo = await servers.start("echo")
closer = await servers.start("closer")

# %%
async with wire.Tap(echo) as tap:
    ws = WebSocket(tap.url)
    await ws.wait_for("open")
    ws.close(1000, "Closing normally!")
    print("right after close(): readyState", ws.readyState)
    event = await ws.closed(timeout=5)
print("close event:", event.code, repr(event.reason), "wasClean", event.wasClean)
for entry in ws.events:
    print(f"{entry.time * 1000:7.2f} ms  {entry.type:10} readyState {entry.readyState}")

# %% [markdown]
# The wire tap saw both close frames. `tap.timeline()` lists every frame of the connection in the
# order it crossed the wire (decoding leniently, so that even a broken frame shows up), and
# `show` prints one frame with its bytes:


# %%
def raw(frame, limit=12):
    """The frame's bytes as they were on the wire (its own mask included), in hex."""
    data = framing.encode_frame(frame, check=False)
    shown = data[:limit].hex(" ") + (" …" if len(data) > limit else "")
    return f"{shown} ({len(data)} B{', masked' if frame.mask else ''})"


def show(direction, frame):
    arrow = "client → server" if direction == wire.CLIENT else "server → client"
    print(f"{arrow}  {frame.opcode.name:5} {raw(frame, limit=24)}")
    if frame.opcode == Opcode.CLOSE:
        print(
            f"{'':22}payload {frame.payload.hex(' ')}  →  decode_close: {decode_close(frame.payload)}"
        )


goodbye = tap.timeline()
for _, direction, frame in goodbye:
    show(direction, frame)

# %% [markdown]
# Read the server's frame byte by byte: `88` is FIN + opcode 8 (close), `13` is the payload
# length (19), `03 e8` is 1000 in big-endian, and the rest is `"Closing normally!"` in UTF-8.
# The client's frame says the same, masked (notebook 02). `encode_close` builds exactly that
# payload, and `decode_close` reads it back:

# %%
payload = encode_close(1000, "Closing normally!")
print(payload.hex(" "))
print(payload == goodbye[-1][2].payload, decode_close(payload))
print(close.describe(1000))

# %% [markdown]
# ## Who starts, who answers
#
# Either side may start the closing handshake. Below, four real connections, each drawn from the
# frames the tap captured and the client's own event log: the client closes; the server shuts
# down (a `websockets` server closes every connection with 1001, *going away*); the server cuts
# TCP without a close frame; the server sends a broken frame and the client *fails* the
# connection. `rude_server` is a few lines of asyncio that misbehave on purpose: it completes the
# opening handshake, sends whatever bytes it is given, then hangs up as soon as the client's
# close frame arrives, without answering it. The coloured bar beside each client is its
# `readyState`, taken from the socket's own event log.


# %%
async def rude_server(first=b""):
    """Handshake, send `first` (raw frame bytes), hang up on the client's close frame."""

    async def connection(reader, writer):
        try:
            request, _ = handshake.parse_request(await reader.readuntil(b"\r\n\r\n"))
            writer.write(handshake.build_response(handshake.check_request(request)) + first)
            frames = framing.FrameReader(expect_masked=True)
            while chunk := await reader.read(4096):
                if any(f.opcode == Opcode.CLOSE for f in frames.feed(chunk)):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, framing.ProtocolError):
            pass
        writer.transport.abort()  # no close frame back, just gone

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    server.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    return server


async def scenario(target, path="", action=None):
    """Connect a WebSocket through a tap, run `action(ws)` once open, wait for the close event."""
    async with wire.Tap(target if hasattr(target, "host") else target.url) as tap:
        ws = WebSocket(tap.url + path)
        if action is not None:
            await ws.wait_for("open")
            await action(ws)
        await ws.closed(timeout=5)
    return ws, tap.timeline()


# %%
def label(frame):
    if frame.opcode != Opcode.CLOSE:
        what = f"{frame.opcode.name} {frame.payload[:12]!r}"
        return what + (" with RSV1 set" if frame.rsv1 else "")
    code, reason = decode_close(frame.payload)
    return f"CLOSE {code}" + (f" {reason!r}" if reason else "")


def arrows(frames):
    return [
        plots.Arrow("client" if d == wire.CLIENT else "server", label(f), raw(f, limit=8))
        for _, d, f in frames
    ]


async def client_closes(ws):
    ws.close(1000, "Closing normally!")


shutdown = servers.echo()  # a server of its own, to shut down


async def server_shuts_down(ws):
    await shutdown.stop()


await shutdown.start()
rsv1_frame = framing.encode_frame(Frame(True, Opcode.TEXT, b"Hello", rsv1=True))
broken = await rude_server(rsv1_frame)
panels = []
for title, target, path, action in [
    ("client: ws.close(1000, 'Closing normally!')", echo, "", client_closes),
    ("server shuts down", shutdown, "", server_shuts_down),
    ("server cuts TCP (closer ?code=1006)", closer, "/?code=1006", None),
    ("server sends a frame with RSV1 set", broken, "", None),
]:
    ws, frames = await scenario(target, path, action)
    panels.append((title, arrows(frames), ws.events))
broken.close()
fig = plots.closing_handshakes(panels)

# %% [markdown]
# - **Client first** and **server first** look the same from the wire: a close frame each way,
#   the answer repeating the code. Both are *clean*: `wasClean` is true.
# - **TCP cut**: no close frame at all. The client reports **1006**, *abnormal closure*, and
#   `wasClean` false. Nobody sent 1006: the client made it up to say "no close frame came".
# - **A broken frame**: the client *fails the connection*. It sends close **1002** (protocol
#   error) with a reason, stops reading, and the page gets an `error` event, then `close` with
#   **1006**: a page is never told the details of a protocol error. Its `readyState` goes from
#   OPEN straight to CLOSED, without CLOSING. Chromium behaves exactly so.
#
# ## The code space
#
# A close code is 16 bits, but only 1000-4999 mean anything (§7.4.2), split by who decides what
# a number means: the protocol itself (1000-2999, registered with IANA), libraries and frameworks
# (3000-3999, also registered), and your own application (4000-4999, private use, no registration).
# Four registered codes are *never sent*: they exist so that an API can report a situation.

# %%
fig = plots.close_code_ranges()

# %%
for code in close.CloseCode:
    sendable = "sent" if close.is_sendable(code) else "NEVER sent"
    print(f"{code:5}  {code.name:27} {sendable:10}  {code.meaning}")
print()
for code in (999, 2000, 3001, 4242, 5000):
    print(close.describe(code))

# %% [markdown]
# The blue marks in the figure are stricter still: a **web page** may only pass 1000 or 3000-4999 to
# `close()`. The protocol codes (1001, 1002, ...) describe situations the *browser* detects, so
# only the browser sends them. A reason longer than 123 bytes of UTF-8 is refused too. The
# checks happen before anything is sent (WHATWG "validate close code and reason"):
#
# ```js
# ws.close(1001);                     // InvalidAccessError
# ws.close(1000, "x".repeat(124));    // SyntaxError
# ws.close(4000, "é".repeat(62));     // SyntaxError: 62 characters, but 124 bytes
# ```
#
# The port raises the same `DOMException`s:

# %%
ws = WebSocket(echo.url)
await ws.wait_for("open")
for args in [(1001,), (2999,), (1000, "x" * 124), (4000, "é" * 62), (1001, "x" * 124)]:
    try:
        ws.close(*args)
    except DOMException as error:
        shown = ", ".join(repr(a) if len(repr(a)) < 12 else f"<{len(a)} chars>" for a in args)
        print(f"{'ws.close(' + shown + ')':30} → {error.name}: {error}")
print("readyState still", ws.readyState, "(OPEN): nothing was sent")
ws.close(4000, "é" * 61)  # 122 bytes: fine
event = await ws.closed(timeout=5)
print(
    "ws.close(4000, 'é' * 61) → close event",
    event.code,
    len(event.reason.encode()),
    "bytes of reason",
)

# %% [markdown]
# Note the last refusal: `close(1001, <124 bytes>)` breaks both rules, and the code is checked
# first, so it is an `InvalidAccessError`.
#
# ## Every way to end, live
#
# Now the whole catalogue, each on a fresh connection through the tap. For each: the close frames
# that crossed the wire (`→` client to server, `←` server to client), what `decode_close` makes of
# each payload, and the `CloseEvent` the client reported. Two more servers join the `closer`
# (which closes with whatever `?code=...&reason=...` asks for): an echo server that accepts
# messages of at most 1 KiB (`max_size`, an option of `websockets.serve`), and more rude servers.

# %%
small = await servers.start(
    servers.LocalServer("small", servers.echo_handler, options={"max_size": 1024})
)
shutdown = servers.echo()
await shutdown.start()
rude = {
    "rsv1": await rude_server(rsv1_frame),
    "utf8": await rude_server(framing.encode_frame(Frame(True, Opcode.TEXT, b"caf\xc3"))),
    "1005": await rude_server(
        framing.encode_frame(Frame(True, Opcode.CLOSE, (1005).to_bytes(2, "big")), check=False)
    ),
    "silent": await rude_server(),
}


def close_with(*args):
    async def action(ws):
        ws.close(*args)

    return action


async def too_big(ws):
    ws.send("x" * 2000)


async def close_done(ws):
    ws.close(1000, "done")


SCENARIOS = [
    ("client ws.close(1000, 'Closing normally!')", echo, "", close_with(1000, "Closing normally!")),
    ("client ws.close() with no code", echo, "", close_with()),
    ("server shuts down", shutdown, "", server_shuts_down),
    ("server closes with 4000 'bye'", closer, "/?code=4000&reason=bye", None),
    ("client sends 2000 B to a 1 KiB server", small, "", too_big),
    ("server: close frame, no status", closer, "/?code=1005", None),
    ("server cuts TCP", closer, "/?code=1006", None),
    ("server hangs up on client's close", rude["silent"], "", close_done),
    ("server: frame with RSV1 set", rude["rsv1"], "", None),
    ("server: invalid UTF-8 text", rude["utf8"], "", None),
    ("server: close code 1005 on the wire", rude["1005"], "", None),
]
results = {}
for name, target, path, action in SCENARIOS:
    results[name] = await scenario(target, path, action)
for server in rude.values():
    server.close()


def decoded(frame):
    try:
        return str(decode_close(frame.payload))
    except framing.ProtocolError as error:
        return f"ProtocolError {error.code}"


for name, (ws, frames) in results.items():
    event = next(e for e in ws.events if e.type == "close").details
    error = "error, then " if any(e.type == "error" for e in ws.events) else ""
    print(
        f"{name}\n  CloseEvent: {error}code {event['code']}, reason {event['reason']!r}, "
        f"wasClean {event['wasClean']}"
    )
    closes = [(d, f) for _, d, f in frames if f.opcode == Opcode.CLOSE]
    for direction, frame in closes:
        sign = "→" if direction == wire.CLIENT else "←"
        print(f"  {sign} {raw(frame, limit=10):46} decode_close: {decoded(frame)}")
    if not closes:
        print("  (no close frame on the wire, either way)")

# %% [markdown]
# What to take from the list:
#
# - **1000**, **1001**, **4000** and **1009** (the server refused a message over its `max_size`)
#   are ordinary closing handshakes: the code and reason arrive as sent, `wasClean` is true, and
#   the client answers with the same code.
# - **`close()` with no code** sends an empty close frame (`88 80` + mask), and the echo is an
#   empty frame `88 00`: the event reports **1005**, *no status received*.
# - **1006** is reported whenever no close frame arrived before TCP closed: a cut, a server that
#   hangs up on the client's close frame, and every connection the client had to *fail*.
# - Broken frames from the server: the client answers with **1002** and a reason, as Chromium
#   does, even for invalid UTF-8 (where RFC 6455 §7.4.1 would suggest 1007). A close frame that
#   carries 1005 is itself a protocol error.
#
# ## 1005 and 1006 are never on the wire
#
# Look again at the two scenarios that reported them: the server's frame for "no status" is
# literally `88 00` (close, length 0), and the TCP cut has no frame at all. These codes are
# *names for an absence*: "the close frame had no code" and "there was no close frame". A code
# that may never be sent must also be refused on receipt, and it is: the client failed the
# connection when a server put 1005 in a close frame. `encode_close` refuses to build one:

# %%
for code in (1005, 1006):
    try:
        encode_close(code)
    except ValueError as error:
        print(error)
print("the empty payload:", decode_close(b""))

# %% [markdown]
# ## The server's side
#
# A page cannot send a broken frame, so to see how a server answers one we send raw bytes from a
# hand-made client (the handshake from notebook 01, the frames from notebook 02) to the 1 KiB
# echo server, one connection per broken frame. `websockets` answers with a close frame and hangs
# up at once: a server *fails* a connection without waiting for the client's answer.


# %%
async def server_answer(server, data):
    """Open a connection by hand, send `data` (raw frame bytes); return the server's close frame."""
    reader, writer = await asyncio.open_connection(server.host, server.bound_port)
    async with asyncio.timeout(5):
        request, key = handshake.build_request(f"{server.host}:{server.bound_port}")
        writer.write(request)
        response, _ = handshake.parse_response(await reader.readuntil(b"\r\n\r\n"))
        handshake.check_response(response, key)
        writer.write(data)
        answer = framing.FrameReader(expect_masked=False).feed(await reader.read())  # until EOF
    writer.close()
    return answer[-1]


def client_frame(opcode, payload, **flags):
    return framing.encode_frame(Frame(True, opcode, payload, **flags), mask=True, check=False)


sent = {
    "a frame with RSV1 set": client_frame(Opcode.TEXT, b"Hello", rsv1=True),
    "text that is not UTF-8": client_frame(Opcode.TEXT, b"caf\xc3"),
    "a 2000-byte message": client_frame(Opcode.BINARY, bytes(2000)),
    "close code 1005": client_frame(Opcode.CLOSE, (1005).to_bytes(2, "big")),
    "close code 1006": client_frame(Opcode.CLOSE, (1006).to_bytes(2, "big")),
    "a 1-byte close payload": client_frame(Opcode.CLOSE, b"\x03"),
    "close 1000 'bye'": client_frame(Opcode.CLOSE, encode_close(1000, "bye")),
}
for name, data in sent.items():
    answer = await server_answer(small, data)
    code, reason = decode_close(answer.payload)
    print(f"{name:24} ← {raw(answer, limit=6):30} {code} {reason!r}")

# %% [markdown]
# Invalid UTF-8 gets **1007** from `websockets` (the code the RFC suggests), a message over the
# limit **1009**, and every broken rule of framing or of close payloads **1002**. Only the
# well-formed `close 1000 'bye'` gets its code echoed.
#
# ## `wasClean`, precisely
#
# The WHATWG standard says `wasClean` is true when "the WebSocket closing handshake was
# completed". In terms of what a browser sees, `wasClean` is **true exactly when a close frame
# went each way before the TCP connection closed, and the browser did not have to fail the
# connection** (a protocol error makes it false, whatever follows). It does not depend on the code,
# on who started, or on who closed TCP. Check it against the catalogue above:

# %%
for name, (ws, frames) in results.items():
    before_tcp = {d for _, d, f in frames if f.opcode == Opcode.CLOSE}
    failed = any(e.type == "error" for e in ws.events)
    event = next(e for e in ws.events if e.type == "close").details
    both = len(before_tcp) == 2
    print(
        f"{name:42} close frame each way: {both!s:5}  failed: {failed!s:5}"
        f"  → wasClean {event['wasClean']}"
    )

# %% [markdown]
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code, then run the check cell below it.
#
# **Exercise 1 · decode_close_payload.** Read a close frame's payload and return `(code, reason)`
# without `wslearn.close`. An empty payload means "no status": return `(1005, "")`. A 1-byte
# payload cannot hold a code: raise `ValueError`. The last case reads a close frame from a real
# `websockets` server.
#
# *Hint:* `int.from_bytes(payload[:2], "big")` reads the code; the reason is UTF-8.


# %% exercise=decode_close_payload
def decode_close_payload(payload: bytes) -> tuple[int, str]:
    ### BEGIN SOLUTION
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ValueError("a close payload of 1 byte cannot hold a status code")
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8")
    ### END SOLUTION


# %% check=decode_close_payload
check("decode_close_payload", decode_close_payload)

# %% [markdown]
# **Exercise 2 · sendable.** Return `True` if `code` may appear in a close frame on the wire (as
# sent by any endpoint, not only a web page), else `False`.
#
# *Hint:* the figure above has the answer: three runs of registered codes and two open ranges.


# %% exercise=sendable
def sendable(code: int) -> bool:
    ### BEGIN SOLUTION
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    ### END SOLUTION


# %% check=sendable
check("sendable", sendable)

# %% [markdown]
# **Exercise 3 · code_for.** Which close code should a peer send in each situation? Return one
# code for each of these sentences (copy them exactly):
#
# - `"the page is done with the connection"`
# - `"the server is shutting down"`
# - `"a frame arrived with RSV1 set, but no extension was agreed"`
# - `"a text-only chat server received a binary message"`
# - `"a text message is not valid UTF-8"`
# - `"a client sent a 20 MB message, the server's limit is 1 MB"`
# - `"the server's handler crashed with an exception"`
# - `"the server is overloaded: try again in a minute"`
# - `"the chat app bans a user (an app-specific reason)"`
#
# *Hint:* the table printed under "The code space" gives each registered code's meaning.


# %% exercise=code_for
def code_for(situation: str) -> int:
    ### BEGIN SOLUTION
    codes = {
        "the page is done with the connection": 1000,
        "the server is shutting down": 1001,
        "a frame arrived with RSV1 set, but no extension was agreed": 1002,
        "a text-only chat server received a binary message": 1003,
        "a text message is not valid UTF-8": 1007,
        "a client sent a 20 MB message, the server's limit is 1 MB": 1009,
        "the server's handler crashed with an exception": 1011,
        "the server is overloaded: try again in a minute": 1013,
        "the chat app bans a user (an app-specific reason)": 4003,
    }
    return codes[situation]
    ### END SOLUTION


# %% check=code_for
check("code_for", code_for)

# %% [markdown]
# **Exercise 4 · was_clean.** A trace lists what a browser saw and did, in order, with these
# words: `"message"` (a data frame, either way), `"client close frame"` (the browser sent its close
# frame), `"server close frame"` (a close frame from the server arrived), `"protocol error"` (the
# browser found a broken frame and failed the connection), and `"tcp closed by server"` or
# `"tcp closed by client"`. Return the `wasClean` the `close` event would report.
#
# *Hint:* only what happened before TCP closed counts; see "`wasClean`, precisely".


# %% exercise=was_clean
def was_clean(trace: list[str]) -> bool:
    ### BEGIN SOLUTION
    before_tcp = []
    for step in trace:
        if step.startswith("tcp closed"):
            break
        before_tcp.append(step)
    return (
        "client close frame" in before_tcp
        and "server close frame" in before_tcp
        and "protocol error" not in before_tcp
    )
    ### END SOLUTION


# %% check=was_clean
check("was_clean", was_clean)

# %% [markdown]
# ## Summary
#
# - A WebSocket ends with a closing handshake: a close frame each way, then the server closes TCP.
#   A close frame's payload is empty, or a 2-byte big-endian code plus up to 123 bytes of UTF-8.
# - Codes: 1000-2999 belong to the protocol (IANA registry), 3000-3999 to libraries and
#   frameworks, 4000-4999 to your application. 1004, 1005, 1006 and 1015 are never sent.
# - A page may only pass 1000 or 3000-4999 to `close()` (else `InvalidAccessError`), with a reason
#   of at most 123 bytes (else `SyntaxError`); the browser sends the protocol codes itself.
# - `CloseEvent.code` is the code in the close frame received; **1005** if it carried none,
#   **1006** if none arrived (a cut, or a connection the browser failed, after an `error` event).
# - `wasClean` is true when a close frame went each way before TCP closed and nothing failed.

# %%
await servers.stop()
