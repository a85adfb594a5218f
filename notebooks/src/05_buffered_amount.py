# %% [markdown]
# # 05 · `bufferedAmount`: when the network is slower than your code
#
# **What you will learn**
#
# - what `bufferedAmount` counts, and why a browser needs it at all: `send()` never waits;
# - where sent data waits on its way, and why `bufferedAmount` shows only the first stop;
# - how `bufferedAmount` grows against a real slow receiver, and falls back to 0 when it catches up;
# - the seed's throttle ("send only while `bufferedAmount < maxData`"), an event-driven
#   alternative, and the `websockets` library's `await ws.send()`;
# - the trade-off between throughput and freshness, and how to choose `max_data`.
#
# The library is `wslearn.buffering`; every number below is measured on `127.0.0.1`.

# %% [markdown]
# ## `send()` never waits
#
# JavaScript in a page runs on one thread. If `ws.send(data)` waited until the network had taken
# `data`, a slow connection would freeze the whole page. So `send()` copies the data into a queue
# and returns at once, and the browser feeds the network from that queue in the background.
# `bufferedAmount` is the size of that queue: the bytes of application data (text counted in
# UTF-8) that `send()` has accepted and that have not been handed to the network yet. Frame
# headers do not count.
#
# On its way to the other program, a message waits in several places:
#
# 1. the socket's own queue in the browser: **this is `bufferedAmount`**;
# 2. the operating system's send buffer for the TCP connection;
# 3. the network itself (on `127.0.0.1`: nothing worth mentioning);
# 4. the receiver's TCP receive buffer, until the receiving program reads it.
#
# TCP's flow control ties them together. A receiver that does not read lets its receive buffer
# fill up; then it tells the sender to stop (a zero window), the sender's OS buffer fills up in
# turn, and only then does data stay in the first queue. From that moment every `send()` makes
# `bufferedAmount` grow, and nothing in the API stops a page from sending forever. The seed's
# advice is to look at the number before sending:
#
# > `bufferedAmount` can be used to check how much data has been queued but not yet sent.

# %%
import asyncio
import inspect
import math
import re

from wslearn import buffering, plots, servers, websocket
from wslearn.dom import DOMException
from wslearn.exercises import check
from wslearn.websocket import WebSocket

# %% [markdown]
# ## Counting bytes
#
# First the rules, on the course's echo server. `wslearn.websocket.WebSocket` is the course's
# port of the browser interface, so it counts exactly as a browser does: `send()` is refused while
# CONNECTING, text counts its UTF-8 bytes, and the number only falls between tasks, once the event
# loop has handed the data to the network.

# %%
echo = await servers.start("echo")
ws = WebSocket(echo.url)
try:
    ws.send("too early")
except DOMException as error:
    print("while CONNECTING:", error.name)
await ws.wait_for("open")
ws.send("héllo 😀")  # 8 characters, 11 bytes of UTF-8
print("after a text message:   ", ws.bufferedAmount)
ws.send(bytes(1000))
print("after 1000 more bytes:  ", ws.bufferedAmount)
await asyncio.sleep(0.05)  # let the event loop hand the data to the network
print("a moment later:         ", ws.bufferedAmount)

# %% [markdown]
# After `close()` the standard says `send()` throws the data away, but still adds its size to
# `bufferedAmount`, so that a page that keeps sending sees the number grow instead of silently
# losing data. That data never drains:

# %%
ws.close()
ws.send("gone")
closed = await ws.closed()
print("closed with code", closed.code, "and bufferedAmount", ws.bufferedAmount)

# %% [markdown]
# ## A receiver that reads slowly
#
# On a fast loopback connection the number above is 0 again almost at once. To see it grow we need
# a receiver that is slower than the sender. `buffering.SlowConsumer` is a WebSocket server written
# with raw asyncio sockets and the course's own `handshake` and `framing` modules, so it controls
# exactly how fast it reads:
#
# - it reads at most `rate` bytes per second from TCP (a token bucket), and can be paused, resumed
#   or given a new `rate` at any time;
# - its sockets get a small receive buffer (`SO_RCVBUF`, set on the listening socket before
#   `listen()`, so accepted sockets inherit it), so TCP tells the sender to stop after a few
#   kilobytes, not a few megabytes;
# - it accepts no extension, so the random bytes our senders use cross the wire uncompressed
#   (compressed zeros would hide the effect);
# - every message starts with a 16-byte stamp, a sequence number and the time it was sent, and
#   the consumer records when each one arrived: order and delay are measured, not assumed.
#
# The sending side has a hidden buffer too: Linux lets a TCP send buffer grow by itself, up to
# several megabytes, while the receiver's window is closed. The port can fix that buffer's size:
# `WebSocket(url, send_buffer=...)` sets the socket's `SO_SNDBUF` before the handshake (a Python
# extra; a page cannot). One second of the same fast sender, once with the kernel's default and
# once with a small fixed send buffer, shows what that does to `bufferedAmount`:

# %%
RATE = 400_000  # bytes per second the consumer reads
SIZE = 8192  # bytes per message
INTERVAL = 0.005  # a tick every 5 ms: 1.6 MB/s offered, four times what is read
MAX_DATA = 32 * 1024  # the throttle's limit
common = {"rate": RATE, "size": SIZE, "interval": INTERVAL, "max_data": MAX_DATA}

autotuned, fixed = await asyncio.gather(
    buffering.experiment("unthrottled", duration=1.0, send_buffer=None, **common),
    buffering.experiment("unthrottled", duration=1.0, **common),
)
for label, run in (("kernel default", autotuned), ("small SO_SNDBUF", fixed)):
    print(
        f"{label:16} sent {run.log.bytes_sent:>9,} B   read {run.read_at_stop:>9,} B   "
        f"bufferedAmount {run.buffered_at_stop:>9,} B   in between {run.in_flight:>9,} B"
    )

# %% [markdown]
# "In between" is what had left `bufferedAmount` but not reached the receiver: the port's
# transport buffer and the two kernels' socket buffers. With the kernel's default, most of what the
# receiver had not read sat in the sender's kernel, where no API shows it. A browser is no
# different: in the course's browser test, megabytes that the slow consumer had not read had
# already left Chromium's `bufferedAmount`, into the browser's network process and the kernel.
# From here on the senders use the small fixed buffer, so that `bufferedAmount` tells most of the
# story within a second.

# %% [markdown]
# ## Four senders, side by side
#
# Each sender gets its own slow consumer (400 kB/s) and a new message every 5 ms, four times more
# than can be read:
#
# - **unthrottled**: calls `send()` at every tick, whatever `bufferedAmount` says;
# - **throttled**: the seed's pattern, `send()` only while `bufferedAmount < max_data`;
# - **event-driven**: no timer; fills the buffer up to `max_data`, waits until it has fallen below
#   a low-water mark (half of it), fills it again;
# - **latest value wins**: the same test as the seed's, for real-time data (a position, a price):
#   a value that cannot go now is dropped, the next tick brings a fresher one.
#
# They run for 2 seconds. Then the senders stop and each consumer may read ten times faster, to
# show what happens to `bufferedAmount` when the receiver catches up.

# %%
catch_up = {"catch_up": 10.0, "catch_up_rate": 10 * RATE}
runs = await asyncio.gather(
    *(
        buffering.experiment(name, duration=2.0, **catch_up, **common)
        for name in ("unthrottled", "throttled", "drained", "latest")
    )
)
by_name = {run.name: run for run in runs}
for run in runs:
    print(run.summary())

# %%
fig = plots.buffered_amount([by_name[n] for n in ("unthrottled", "throttled", "drained")])

# %% [markdown]
# Read the left panel first. The unthrottled sender's `bufferedAmount` climbs for as long as it
# sends: every byte the receiver cannot take yet waits there, in the page's memory. When the
# senders stop (dotted line) and the consumer reads faster, it falls step by step back to 0: the
# queue was only ever waiting for the receiver. (It drains more slowly than "ten times" would
# suggest: the small socket buffers that make the demo quick also limit how much each read can
# take.)
#
# The right panel zooms in on the bottom. The throttled and event-driven senders never let the
# queue grow beyond `max_data` plus one message, because they only send while there is room; and
# the receiver still reads at full speed, as the throughput column above shows. The queue a page
# needs to keep a slow link busy is small.

# %% [markdown]
# ## How late does each message arrive?
#
# Every byte in a queue waits for the bytes ahead of it. At `rate` bytes per second, a message
# sent when `q` bytes are already queued arrives about `q / rate` seconds later. For the throttled
# senders `q` is bounded: at most `max_data - 1` bytes in `bufferedAmount` plus the message itself,
# plus the buffers underneath (the port's transport buffer, up to its high-water mark plus one
# chunk, and the two kernel buffers, which Linux makes twice the size asked for):

# %%
queued = MAX_DATA - 1 + SIZE
hidden = websocket.WRITE_HIGH + websocket.WRITE_CHUNK + 2 * buffering.SNDBUF + 2 * buffering.RCVBUF
bound = (queued + hidden) / RATE
print(f"at most {queued:,} + {hidden:,} bytes ahead: {1000 * bound:.0f} ms at {RATE:,} B/s")
for run in runs:
    print(f"{run.name:12} slowest message {1000 * run.max_delay:6.0f} ms")

# %%
fig = plots.delivery_latency(
    [by_name[n] for n in ("unthrottled", "throttled", "drained")], bound=bound
)

# %% [markdown]
# The unthrottled sender's messages arrive later and later: each one queues behind everything sent
# before it. The throttled ones stay under the bound for as long as the run lasts, however long
# that is.
#
# For the **latest-value** sender this is the whole point. It made a value at every tick and sent
# only those it could send at once; the rest were dropped and replaced by fresher ones. What the
# receiver gets is never older than the bound:

# %%
latest = by_name["latest"]
print(
    f"values made {latest.log.ticks}, sent {len(latest.log.sent)}, dropped {latest.log.dropped}; "
    f"oldest on arrival {1000 * latest.max_delay:.0f} ms (bound {1000 * bound:.0f} ms)"
)

# %% [markdown]
# Keeping the values that could not go, in a list of our own, and sending them later would not
# have helped: they would have aged exactly like the unthrottled sender's, the queue would only
# have moved from `bufferedAmount` into our list. With real-time data, dropping stale values is
# what keeps the receiver up to date.

# %% [markdown]
# ## The seed's pattern, in JavaScript and in Python
#
# The seed's snippet calls `ws.send()` with no argument, which throws a `TypeError` in a browser;
# here it is with real data (random bytes, which no extension can compress), pointed at a local
# server:
#
# ```js
# const ws = new WebSocket("ws://127.0.0.1:PORT");   // a SlowConsumer's url
# const maxData = 10240;
# ws.onopen = () => {
#   setInterval(() => {
#     if (ws.bufferedAmount < maxData) {              // room for one more?
#       const chunk = new Uint8Array(4096);
#       crypto.getRandomValues(chunk);                 // at most 65536 bytes per call
#       ws.send(chunk);
#     }
#   }, 1000);
# };
# ```
#
# `buffering.send_throttled` is the same loop; `_every` plays `setInterval`, bounded by
# `duration`, and `_send` stamps and sends the next message:

# %%
source = inspect.getsource(buffering.send_throttled)
print(re.sub(r'\n    """.*?"""', "", source, flags=re.DOTALL))  # without its docstring

# %% [markdown]
# ## Without a timer: waiting for the buffer, or awaiting `send()`
#
# The timer has two costs. It sends at most one message per tick, so throughput can never exceed
# `size / interval` (the seed's numbers allow 4 KB per second, whatever the link could do), and it
# reacts to a drained buffer only at the next tick. The browser's `WebSocket` offers no event for
# "the buffer has drained" (WebRTC's `RTCDataChannel` has one, `bufferedamountlow`), so a page has
# to keep looking at the number. The port adds such an event, another Python extra:
# `await ws.buffered_below(mark)` returns as soon as `bufferedAmount <= mark`, because the socket
# wakes its waiters each time it hands bytes to the network. The event-driven sender uses it: fill
# up to `max_data`, sleep until the low-water mark, fill again; no timer, and no CPU spent looking.
#
# Python's `websockets` library takes a third way: its `send()` is a coroutine. `await
# ws.send(msg)` writes the frame and then, if its write buffer is above `write_limit`, waits until
# the transport has drained below it. A plain loop of `await ws.send(...)` is therefore paced by the
# receiver, with no number to watch and no timer. The same run with `write_limit` set to our
# `max_data` (its "bufferedAmount" is the transport's buffer size):

# %%
library = await buffering.experiment("websockets", duration=1.0, **common)
print(library.summary())

# %% [markdown]
# Which to use? In Python, the library's `await ws.send()`: backpressure is built in, and
# a sender cannot forget it. A browser's `send()` cannot wait, so a page has to watch
# `bufferedAmount`, either on a timer (the seed's pattern: simple, but capped at one message per
# tick and slow to react) or by refilling whenever the buffer falls below a low-water mark (keeps
# the link busy; with no `buffered_below` in the browser, a `setTimeout(check, 0)` loop or
# `requestAnimationFrame` polls in its place). Chromium also has `WebSocketStream`, whose writer's
# `write()` returns a promise that waits like `await ws.send()`; the course's browser tests check
# that it stops accepting data while the slow consumer is behind.

# %% [markdown]
# ## Throughput or freshness?
#
# Put the runs side by side, with the seed's own numbers (at most one 4 KB message per tick,
# `maxData` of 10 KB) on a faster tick of 250 ms:

# %%
seed = await buffering.experiment(
    "throttled", duration=2.0, rate=RATE, size=4096, interval=0.25, max_data=10240
)
seed.name = "seed, 250 ms"
print(f"{'sender':14} {'throughput':>12} {'peak bufferedAmount':>20} {'newest delivered':>17}")
for run in (*runs, library, seed):
    print(
        f"{run.name:14} {run.throughput / 1000:8.1f} kB/s {run.peak:>18,} B "
        f"{1000 * run.newest_age:12.0f} ms old"
    )

# %% [markdown]
# - **Unthrottled** uses the link fully but pays in memory (everything unread waits in the page)
#   and in freshness (the newest message the receiver has is older and older).
# - **Throttled, event-driven, latest, websockets** use the link just as fully, with a small queue
#   and fresh data.
# - **The seed's numbers** keep the queue tiny and the data fresh, and leave most of the link
#   unused: the timer sends too little.
#
# The knob is the amount of data allowed to wait. Each queued byte adds `1 / rate` seconds of
# delay, so a queue of `max_data` bytes costs up to `max_data / rate` seconds. Too little queued,
# and the link idles whenever the sender is not looking; too much, and every message waits behind
# the others. Choose `max_data` from the delay you can accept at the link's rate, and look often
# enough that the queue never runs dry.

# %% [markdown]
# ## Exercises
#
# **Exercise 1 · should_send.** Write the decision inside the throttle's `setInterval` callback:
# given the current `bufferedAmount` and the limit `max_data`, may the page send one more message?
# The check also drives a real throttled socket with your function.

# %% exercise=should_send
def should_send(buffered_amount: int, max_data: int) -> bool:
    ### BEGIN SOLUTION
    return buffered_amount < max_data
    ### END SOLUTION


# %% check=should_send
check("should_send", should_send)

# %% [markdown]
# **Exercise 2 · predict_buffered.** Predict `bufferedAmount` after a list of steps on one socket,
# which starts CONNECTING:
#
# - `("open",)`: the connection opened;
# - `("send", data)`: `ws.send(data)`; while CONNECTING it throws and adds nothing; otherwise it
#   adds the UTF-8 byte length of a `str`, or `len(data)` for bytes;
# - `("drain", n)`: the network took up to `n` bytes of queued data (never more than there is);
# - `("close",)`: `ws.close()`; data sent afterwards is discarded but still counted, and never
#   drains.
#
# The check replays one of the lists on a real socket, too.

# %% exercise=predict_buffered
def predict_buffered(steps: list[tuple]) -> int:
    ### BEGIN SOLUTION
    state, queued, stuck = "CONNECTING", 0, 0
    for step in steps:
        if step[0] == "open":
            state = "OPEN"
        elif step[0] == "close":
            state = "CLOSING"
        elif step[0] == "send" and state != "CONNECTING":
            data = step[1]
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            if state == "OPEN":
                queued += size
            else:
                stuck += size
        elif step[0] == "drain":
            queued -= min(step[1], queued)
    return queued + stuck
    ### END SOLUTION


# %% check=predict_buffered
check("predict_buffered", predict_buffered)

# %% [markdown]
# **Exercise 3 · max_data_for.** The throttle of exercise 1 sends one message of `message_size`
# bytes whenever `bufferedAmount < max_data`, and the link carries `rate_bytes_per_s`, so a queue
# of `q` bytes takes `q / rate_bytes_per_s` seconds to drain. What is the largest whole
# `max_data` for which no byte ever waits longer than `latency_s` seconds in the queue? Think about
# how full the queue can get just after a send. Return 0 if no `max_data` can keep the promise.

# %% exercise=max_data_for
def max_data_for(latency_s: float, rate_bytes_per_s: float, message_size: int) -> int:
    ### BEGIN SOLUTION
    budget = math.floor(latency_s * rate_bytes_per_s)  # the most bytes that may wait
    # the fullest queue: bufferedAmount was max_data - 1, and one more message went in
    return max(budget - message_size + 1, 0)
    ### END SOLUTION


# %% check=max_data_for
check("max_data_for", max_data_for)

# %% [markdown]
# ## Summary
#
# - `send()` never waits: it queues, and `bufferedAmount` is the size of that queue in bytes of
#   application data (UTF-8 for text), not yet handed to the network.
# - Below it sit buffers no API shows (the OS's send buffer can hold megabytes); once they are
#   full, every `send()` a page makes to a slow receiver stays in `bufferedAmount`.
# - It falls back to 0 as soon as the receiver catches up; a closed socket keeps whatever was sent
#   after `close()`.
# - The seed's throttle, `send only while bufferedAmount < maxData`, bounds the queue to `maxData`
#   plus one message and the delay to about `(maxData + buffers below) / rate`; for real-time data,
#   drop what cannot go now and send the latest value instead.
# - Without a timer: refill when the buffer falls below a low-water mark, or in Python let
#   `websockets`' `await ws.send()` do the waiting.

# %%
await servers.stop()
