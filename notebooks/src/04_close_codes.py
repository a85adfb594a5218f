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
# Everything runs on `127.0.0.1`; the library is `wslearn.close` (RFC 6455 §5.5.1, §7), and
# headless Chromium (`wslearn.browser`) runs the same endings beside wslearn's `WebSocket`.

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
# fields: `code`, `reason` and `wasClean`. The 2016 article's example, and the same line in
# Python with wslearn's `WebSocket` (`wslearn.websocket`):
#
# ```js
# ws.close(1000, "Closing normally!");
# ws.onclose = (e) => console.log(e.code, e.reason, e.wasClean);
# ```

# %%
import asyncio

from wslearn import browser, close, closings, plots, servers, wire
from wslearn.close import decode_close, encode_close
from wslearn.closings import Ending, RudeServer
from wslearn.exercises import check
from wslearn.framing import Frame, Opcode, encode_frame
from wslearn.websocket import WebSocket

browser.warm_up()  # headless Chromium starts in the background; used further down
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
# `closings.frame_bytes` shows a frame's bytes as they were on the wire:

# %%
goodbye = tap.timeline()
for _, direction, frame in goodbye:
    print(f"{direction}  {frame.opcode.name:5} {closings.frame_bytes(frame, limit=24)}")
    if frame.opcode == Opcode.CLOSE:
        print(f"{'':20}payload {frame.payload.hex(' ')}  →  {decode_close(frame.payload)}")

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
# connection. The coloured bar beside each client is its `readyState`, taken from the socket's
# own event log.
#
# The stage comes from `wslearn.closings`: an `Ending` says where the client connects and what it
# does once open; `in_python(ending, tap=True)` runs it with wslearn's `WebSocket` through a tap
# (`then=` is something the server does once the socket is open); a `RudeServer` misbehaves on
# purpose: it completes the opening handshake, sends the raw bytes it is given, and hangs up
# as soon as the client's close frame arrives, without answering it.

# %%
BYE = (1000, "Closing normally!")
shutdown = await servers.echo().start()  # a server of its own, to shut down
rsv1_frame = encode_frame(Frame(True, Opcode.TEXT, b"Hello", rsv1=True))
broken = await RudeServer(rsv1_frame).start()
panels = []
for ending, then in [
    (Ending("client: ws.close(1000, 'Closing normally!')", echo.url, close=BYE), None),
    (Ending("server shuts down", shutdown.url), shutdown.stop),
    (Ending("server cuts TCP (closer ?code=1006)", f"{closer.url}/?code=1006"), None),
    (Ending("server sends a frame with RSV1 set", broken.url), None),
]:
    seen = await closings.in_python(ending, then=then, tap=True)
    panels.append((ending.name, closings.arrows(seen.frames), seen.ws.events))
await broken.stop()
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
# Four registered codes are *never sent*: 1005, 1006 and 1015 exist so that an API can report a
# situation, and 1004 is reserved, with no meaning yet (RFC 6455 §7.4.1).

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
# checks happen before anything is sent (WHATWG "validate close code and reason"). Here they are
# in Chromium, each call wrapped in `attempt`, which records the name of the `DOMException` it
# throws; then a last `close()` that is allowed:

# %%
CALLS = {
    "close(1001)": [1001],
    "close(2999)": [2999],
    "close(1000, 'x' * 124)": [1000, "x" * 124],
    "close(4000, 'é' * 62)": [4000, "é" * 62],  # 62 characters, but 124 bytes
    "close(1001, 'x' * 124)": [1001, "x" * 124],
}
chromium = await browser.run(
    """
    const ws = watch(new WebSocket(url));
    await new Promise((resolve) => { ws.onopen = resolve; });
    for (const [what, call] of Object.entries(args.calls)) attempt(what, () => ws.close(...call));
    log("still", {readyState: ws.readyState});
    ws.close(4000, "é".repeat(61));   // 122 bytes: fine
    """,
    url=echo.url,
    calls=CALLS,
)
print(chromium)

# %% [markdown]
# wslearn's `WebSocket` throws the same `DOMException`s (the two logs side by side):

# %%
py = browser.Recorder()
ws = py.watch(WebSocket(echo.url))
await ws.wait_for("open")
for what, call in CALLS.items():
    py.attempt(what, ws.close, *call)
py.log("still", readyState=ws.readyState)
ws.close(4000, "é" * 61)
print(browser.side_by_side(chromium, await py.finish()))

# %% [markdown]
# The socket stayed OPEN through every refusal: nothing was sent. Note the last refusal:
# `close(1001, 'x' * 124)` breaks both rules, and the code is checked first, so it is an
# `InvalidAccessError`.
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
shutdown = await servers.echo().start()
rude = {
    "rsv1": RudeServer(rsv1_frame),
    "utf8": RudeServer(encode_frame(Frame(True, Opcode.TEXT, b"caf\xc3"))),
    "1005": RudeServer(encode_frame(Frame(True, Opcode.CLOSE, b"\x03\xed"), check=False)),
    "silent": RudeServer(),
}
for server in rude.values():
    await server.start()
ENDINGS = [
    Ending("client ws.close(1000, 'Closing normally!')", echo.url, close=BYE),
    Ending("client ws.close() with no code", echo.url, close=()),
    Ending("server shuts down", shutdown.url),
    Ending("server closes with 4000 'bye'", f"{closer.url}/?code=4000&reason=bye"),
    Ending("client sends 2000 B to a 1 KiB server", small.url, send="x" * 2000),
    Ending("server: close frame, no status", f"{closer.url}/?code=1005"),
    Ending("server cuts TCP", f"{closer.url}/?code=1006"),
    Ending("server hangs up on client's close", rude["silent"].url, close=(1000, "done")),
    Ending("server: frame with RSV1 set", rude["rsv1"].url),
    Ending("server: invalid UTF-8 text", rude["utf8"].url),
    Ending("server: close code 1005 on the wire", rude["1005"].url),
]
THEN = {"server shuts down": shutdown.stop}  # what the server does once the socket is open
results = {}
for ending in ENDINGS:
    then = THEN.get(ending.name)
    results[ending.name] = await closings.in_python(ending, then=then, tap=True)

for name, seen in results.items():
    print(f"{name}\n  events: {closings.outcome(seen.log)}")
    closes = [(d, f) for _, d, f in seen.frames if f.opcode == Opcode.CLOSE]
    for direction, frame in closes:
        sign = "→" if direction == wire.CLIENT else "←"
        on_wire, payload = closings.frame_bytes(frame, limit=10), closings.decoded(frame)
        print(f"  {sign} {on_wire:46} decode_close: {payload}")
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
# ## The same endings in Chromium
#
# Every ending above that a page can take part in runs in headless Chromium too (all but the
# server shutdown, which needs the server's cooperation at the right moment), plus two more rude
# servers: one that closes with code **999**, which no endpoint may send (0-999 are not used,
# §7.4.2), and one that never answers the client's close frame and keeps TCP open, so the
# client's own patience decides. wslearn's `WebSocket` gets a 1-second `close_timeout` for that
# one; Chromium is watched for 1.5 seconds. Chromium's table on the left, wslearn's on the right:

# %%
rude["999"] = await RudeServer(
    encode_frame(Frame(True, Opcode.CLOSE, (999).to_bytes(2, "big")), check=False)
).start()
rude["mute"] = await RudeServer(on_close="ignore").start()
in_browser = [e for e in ENDINGS if e.name not in THEN] + [
    Ending("server: close code 999", rude["999"].url),
    Ending("server never answers close()", rude["mute"].url, close=(1000, "done")),
]
chromium_logs = await asyncio.gather(*(closings.in_chromium(e, timeout=1.5) for e in in_browser))
python_logs = await asyncio.gather(
    *(closings.in_python(e, close_timeout=1, timeout=3) for e in in_browser)
)
print(closings.compare([e.name for e in in_browser], chromium_logs, python_logs))
print(f"\nChromium's own close timeout: {closings.CHROMIUM_CLOSE_TIMEOUT:.0f} s (measured once)")
for server in rude.values():
    await server.stop()

# %% [markdown]
# The rows marked `≠` are the two places where the browser and the course's `WebSocket` part ways:
#
# - **Close code 999.** Chromium accepts it and reports a clean close with code 999. wslearn's
#   `WebSocket` follows the RFC: a code no endpoint may send is a protocol error, so it fails the
#   connection (`error`, then 1006), as it does for 1005 on the wire, where Chromium agrees.
# - **A server that never answers.** After `close()`, Chromium waits a full minute for the
#   server's close frame before it drops TCP and reports 1006; after 1.5 s it was still CLOSING.
#   wslearn's `WebSocket` waits `close_timeout` seconds (5 by default, 1 here), then reports the
#   same 1006, unclean.
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


# `closings.client_frame` builds a masked client frame without checking any rule, and
# `closings.server_answer` opens a connection by hand (notebook 01's handshake), sends the bytes
# and returns the close frame the server answers with.

# %%
client_frame = closings.client_frame
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
    answer = await closings.server_answer(small.url, data)
    print(f"{name:24} ← {closings.frame_bytes(answer, limit=6):30} {closings.decoded(answer)}")

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
for name, seen in results.items():
    both = len({d for _, d, f in seen.frames if f.opcode == Opcode.CLOSE}) == 2
    failed = any(e["type"] == "error" for e in seen.log.events)
    clean = seen.log.events[-1]["wasClean"]
    print(f"{name:42} close frame each way: {both!s:5}  failed: {failed!s:5}  → wasClean {clean}")

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
