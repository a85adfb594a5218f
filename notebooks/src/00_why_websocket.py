# %% [markdown]
# # 00 · Why WebSocket?
#
# **What you will learn**
#
# - why plain HTTP is awkward for real-time updates, measured rather than asserted;
# - what "full duplex over one TCP connection" means in practice;
# - what the first bytes of a real WebSocket connection look like;
# - how this course is organised, and how its exercises check themselves.
#
# Everything runs on this machine: the servers live on `127.0.0.1`, and no cell needs the internet.

# %% [markdown]
# ## HTTP asks, WebSocket listens
#
# HTTP is request/response: the client asks, the server answers, and the server can never speak
# first. A page that wants to know when something changes on the server (a chat message, a price, a
# finished job) has to *poll*: ask again and again, most of the time getting "nothing new".
# Polling costs a full HTTP request and response per question, and an event that happens just
# after a poll waits for the next one.
#
# A WebSocket starts as an ordinary HTTP request that asks the server to *upgrade* the connection.
# Once the server agrees (status `101 Switching Protocols`) the same TCP connection stops speaking
# HTTP and carries small **frames** in both directions, at any time, independently: it is
# **full duplex**. The server can push an update the moment it exists, and each update costs a few
# bytes of framing instead of a full set of HTTP headers.
#
# Let's measure the difference instead of believing it.

# %%
import websockets

from wslearn import plots, polling, servers, wire
from wslearn.exercises import check

# %% [markdown]
# ## An experiment on this machine
#
# `wslearn.polling` runs the same little story three times: a server produces 20 updates, about
# one every 50 ms, and a client wants each one as soon as possible.
#
# 1. the client polls over HTTP/1.1 (keep-alive) every 250 ms;
# 2. the client polls every 50 ms;
# 3. the client opens one WebSocket and the server pushes each update.
#
# A recording proxy (`wslearn.wire.Tap`) sits between client and server and counts every byte in
# both directions, and the client notes how long after its creation each update arrived.

# %%
trials = [
    await polling.poll(interval=0.25),
    await polling.poll(interval=0.05),
    await polling.push(),
]
for t in trials:
    print(
        f"{t.name:24}  {t.updates} updates  {t.requests:3} requests/messages  "
        f"mean delay {t.mean_latency * 1000:6.1f} ms  {t.bytes_per_update:5.0f} B/update"
    )

# %%
fig = plots.polling_vs_push(
    {t.name: t.latencies for t in trials}, {t.name: t.bytes_per_update for t in trials}
)

# %% [markdown]
# Read the two panels together (each box holds the middle half of the 20 delays, the line in it
# is the median, the whiskers reach the rest):
#
# - **Delay.** With polling, an update waits for the next poll: an update that happens just
#   before a poll is picked up at once, one just after it waits a whole interval. Polling faster
#   shortens the wait but multiplies the requests. With push, the delay is only the time to write
#   a frame on loopback: a fraction of a millisecond.
# - **Bytes.** Every poll costs a request and a response with headers, even when it brings
#   nothing. Push pays for one handshake, then a couple of bytes of frame header per update.
#   (A real browser sends far bigger HTTP headers than our polling client does, cookies
#   included, so real polling costs even more.)
#
# The numbers change a little from run to run; the shape does not.

# %% [markdown]
# ## The first real handshake
#
# Now look at the bytes. We start the course's echo server (it sends every message back), put the
# tap in front of it, and let the `websockets` library connect through the tap and send `"Hello"`.

# %%
echo = await servers.start("echo")
async with wire.Tap(echo) as tap:
    async with websockets.connect(tap.url, compression=None) as ws:
        await ws.send("Hello")
        reply = await ws.recv()
print("reply:", reply)
print(tap.head(wire.CLIENT).decode())
print(tap.head(wire.SERVER).decode())

# %% [markdown]
# The request is plain HTTP/1.1 with `Upgrade: websocket` and `Connection: Upgrade`, plus a random
# `Sec-WebSocket-Key`; the server proves it understood by answering `101 Switching Protocols` with a
# `Sec-WebSocket-Accept` computed from that key. Notebook 01 takes this apart line by line.
#
# After the blank line that ends each head, the connection carries frames. Here is every chunk the
# tap saw, with its time and direction:

# %%
print(tap.transcript(limit=24))

# %% [markdown]
# The client's `"Hello"` crossed as 11 bytes (2 of header, 4 of masking key, 5 of masked payload),
# the server's echo as 7, and the closing handshake as two tiny close frames. Notebook 02 decodes
# every bit.
#
# In a browser the same conversation is three lines of JavaScript, pointed at our local server:
#
# ```js
# const ws = new WebSocket("ws://127.0.0.1:PORT");   // PORT: echo.url shows it
# ws.onopen = () => ws.send("Hello");
# ws.onmessage = (e) => console.log(e.data);           // "Hello"
# ```
#
# A WebSocket URL starts with `ws://` or `wss://`, as a web address starts with `http://` or
# `https://`: `ws://` is the protocol straight over TCP, `wss://` the same protocol inside TLS
# (encrypted, and the only kind a page loaded over `https://` may open). The handshake and the
# frames are the same in both; this course uses `ws://` because everything stays on `127.0.0.1`.
#
# Want the echo server outside Jupyter? In a terminal: `python -m wslearn serve echo --port 8765`.

# %%
print("the echo server of this notebook:", echo.url)

# %% [markdown]
# ## Exercises
#
# Each exercise is a cell to complete, followed by a check cell that tells you at once which cases
# pass, and for a case that fails, what your code returned and which mistake gives that value.
# Replace the `raise NotImplementedError` line with your code and run both cells.
#
# **Exercise 1 · poll_delay.** The polling client above asks, gets its answer, waits `interval`
# seconds, and asks again. A request takes `rtt / 2` seconds to reach the server and the answer
# `rtt / 2` to come back (`rtt`: the round-trip time; ignore the server's own work). An update
# happens at a random moment, all moments equally likely. How long, on average, from the update
# until the client has it?

# %% exercise=poll_delay
def poll_delay(interval: float, rtt: float) -> float:
    ### BEGIN SOLUTION
    cycle = interval + rtt  # the server sees one request per cycle
    return cycle / 2 + rtt / 2  # wait for the next request, then the answer's way back
    ### END SOLUTION


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% [markdown]
# **Exercise 2 · frame_overhead.** How many header bytes does the frame carrying the text
# `message` need? The rules (RFC 6455 §5.2): 2 bytes always; a payload of up to 125 bytes has its
# length in them; 126 to 65535 bytes take 2 more length bytes; anything longer 8 more; and a frame
# sent by a client carries a 4-byte masking key (`masked=True`). A text travels as UTF-8.

# %% exercise=frame_overhead
def frame_overhead(message: str, masked: bool) -> int:
    ### BEGIN SOLUTION
    length = len(message.encode("utf-8"))
    size = 2
    if length > 65535:
        size += 8
    elif length > 125:
        size += 2
    return size + (4 if masked else 0)
    ### END SOLUTION


# %% check=frame_overhead
check("frame_overhead", frame_overhead)

# %% [markdown]
# **Exercise 3 · text_frame.** Build a frame yourself. The tap above shows the echo server's
# answer to `"Hello"` as 7 bytes: the first, `0x81`, says "one whole text message"; the second is
# the payload's length in bytes (for a server's frame of up to 125 bytes, that is the whole byte);
# then come the payload's bytes, the text in UTF-8. Write `text_frame(text)`, which returns the
# bytes of the server's frame for any `text` of at most 125 UTF-8 bytes. The last check sends your
# bytes to a real `websockets` client.

# %% exercise=text_frame
def text_frame(text: str) -> bytes:
    ### BEGIN SOLUTION
    payload = text.encode("utf-8")
    return bytes([0x81, len(payload)]) + payload
    ### END SOLUTION


# %% check=text_frame
check("text_frame", text_frame)

# %% [markdown]
# ## Summary
#
# - HTTP cannot let the server speak first; polling trades delay against wasted requests: an
#   update waits on average half a polling cycle, plus the answer's way back.
# - A WebSocket is an HTTP request upgraded into a full-duplex stream of small frames on the same
#   TCP connection.
# - On this machine, push delivered each update in well under a millisecond for a few bytes each.
#
# ## The course map
#
# | notebook | what it covers | module |
# | --- | --- | --- |
# | 00 why_websocket | polling vs push, measured; the first bytes | `wslearn.polling`, `wslearn.wire` |
# | 01 handshake | the HTTP Upgrade, the key and the accept value, subprotocols | `wslearn.handshake` |
# | 02 framing | opcodes, lengths, masking, fragments, control frames | `wslearn.framing` |
# | 03 lifecycle_events | `onopen`, `onmessage`, `onerror`, `onclose`, `readyState` | `wslearn.websocket` |
# | 04 close_codes | the closing handshake, close codes, `wasClean` | `wslearn.close` |
# | 05 buffered_amount | `bufferedAmount` and throttling a fast sender | `wslearn.buffering` |
# | 06 build_a_server | a server from the course's parts, and a real browser | `wslearn.scratch` |

# %%
await servers.stop()
