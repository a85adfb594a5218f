# %% [markdown]
# # 05 · `bufferedAmount`: when the network is slower than your code
#
# **What you will learn**
#
# - what `bufferedAmount` counts, and why a browser needs it at all: `send()` never waits;
# - how `bufferedAmount` grows against a real slow receiver, and falls back to 0 when it catches up;
# - the 2016 article's throttle, which looks at `bufferedAmount` before each send, a timer-free
#   (drained) alternative, a latest-value sender, and the `websockets` library's `await ws.send()`;
# - the trade-off between throughput and freshness, and how to choose the limit;
# - what Chromium's `bufferedAmount` does not show, and its newer `WebSocketStream`, whose
#   `write()` can wait.
#
# The libraries are `wslearn.buffering` (senders and a slow receiver) and `wslearn.browser`
# (the same in headless Chromium); every number below is measured on `127.0.0.1`.

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
# When the receiver reads more slowly than the page sends, TCP's flow control stops the sender,
# data stays in the queue, and every further `send()` makes `bufferedAmount` grow. Nothing in the
# API stops a page from sending forever. The 2016 article's advice is to look at the number:
#
# > `bufferedAmount` can be used to check how much data has been queued but not yet sent.

# %%
import asyncio
import math

from wslearn import backpressure, browser, buffering, plots, servers, websocket
from wslearn.exercises import check
from wslearn.websocket import WebSocket

browser.warm_up()  # headless Chromium starts in the background; used further down
plots.load_in_background()  # matplotlib too, for the figures

# %% [markdown]
# ## Counting bytes
#
# First the rules, on the course's echo server, in Chromium and in wslearn's `WebSocket`:
# `send()` is refused while CONNECTING, text counts its UTF-8 bytes, the number falls once the
# data has been handed to the network, and after `close()` the data is thrown away but still
# counted, so that a page that keeps sending sees the number grow instead of silently losing data.
# (`attempt` records the name of a thrown `DOMException`; `log` notes a value.)

# %%
echo = await servers.start("echo")
chromium = await browser.run(
    """
    const ws = new WebSocket(url);
    attempt("send", () => ws.send("too early"));
    await new Promise((resolve) => { ws.onopen = resolve; });
    ws.send("héllo 😀");                          // 8 characters, 11 bytes of UTF-8
    log("after a text message", {bufferedAmount: ws.bufferedAmount});
    ws.send(new Uint8Array(1000));
    log("after 1000 more bytes", {bufferedAmount: ws.bufferedAmount});
    await sleep(50);
    log("a moment later", {bufferedAmount: ws.bufferedAmount});
    ws.close();
    ws.send("gone");
    await closed(ws);
    log("closed", {bufferedAmount: ws.bufferedAmount});
    """,
    url=echo.url,
)
py = browser.Recorder()
ws = WebSocket(echo.url)
py.attempt("send", ws.send, "too early")
await ws.wait_for("open")
ws.send("héllo 😀")
py.log("after a text message", bufferedAmount=ws.bufferedAmount)
ws.send(bytes(1000))
py.log("after 1000 more bytes", bufferedAmount=ws.bufferedAmount)
await asyncio.sleep(0.05)
py.log("a moment later", bufferedAmount=ws.bufferedAmount)
ws.close()
ws.send("gone")
await ws.closed()
py.log("closed", bufferedAmount=ws.bufferedAmount)
print(browser.side_by_side(chromium, await py.finish()))

# %% [markdown]
# ## A receiver that reads slowly
#
# On a fast loopback connection the number is 0 again almost at once. To see it grow we need a
# receiver that is slower than the sender: `buffering.SlowConsumer` is a WebSocket server that
# reads at most `rate` bytes per second. Every message our senders send starts with a 16-byte
# stamp (a sequence number and the time it was sent) and the consumer notes when each one
# arrived, so order and delay are measured, not assumed. (How it manages to be slow, and the
# buffers between the two programs, are in the optional section "Deeper" near the end.)
#
# The 2016 article's answer is a *throttle*: on a timer (`setInterval`), compare
# `bufferedAmount` with a limit `maxData` of your choice, and either send the next message now or
# skip this tick; the next tick will look again.

# %% [markdown]
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
# ## Four senders, side by side
#
# `buffering.send_throttled` is the article's loop in Python: `_every` plays `setInterval`,
# bounded by `duration`, `should_send` is the test of Exercise 1, and `_send` stamps and sends the
# next message:

# %%
print(backpressure.source(buffering.send_throttled))

# %% [markdown]
# Two variations on it:
#
# - **latest value wins**, for real-time data (a position, a price): the same test at every tick,
#   but a value that cannot go now is dropped; the next tick brings a fresher one.
# - **drained** (event-driven, no timer): fill the queue up to `max_data`, then sleep until it has
#   fallen below a low-water mark (half of it), and fill it again. `await ws.buffered_below(mark)`
#   wakes it the moment the socket has handed enough bytes to the network. That is a Python extra:
#   a browser's `WebSocket` has no event for "the buffer has drained" (WebRTC's `RTCDataChannel`
#   has one, `bufferedamountlow`), so a page would poll instead.

# %%
print(backpressure.source(buffering.send_latest))
print()
print(backpressure.source(buffering.send_when_drained))

# %% [markdown]
# Each sender gets its own slow consumer (400 kB/s) and a new message every 5 ms, four times more
# than can be read, alongside an **unthrottled** sender that calls `send()` at every tick whatever
# `bufferedAmount` says. Two more runs join them: the `websockets` library's own way (its
# `send()` is a coroutine: `await ws.send(msg)` returns once its write buffer is below
# `write_limit`, here our `max_data`, so a plain loop is paced by the receiver), and the 2016
# article's own numbers, one tick per second and `maxData` 10240 (the article gives no message
# size; ours is used). All run at once, for 1 second. Then the senders stop and each consumer
# may read ten times faster, to show what happens to `bufferedAmount` when the receiver catches up.

# %%
RATE = 400_000  # bytes per second the consumer reads
SIZE = 8192  # bytes per message
INTERVAL = 0.005  # a tick every 5 ms: 1.6 MB/s offered, four times what is read
MAX_DATA = 32 * 1024  # the throttle's limit
common = {"rate": RATE, "size": SIZE, "interval": INTERVAL, "max_data": MAX_DATA}
catch_up = {"catch_up": 5.0, "catch_up_rate": 10 * RATE}

*runs, library, article = await asyncio.gather(
    *(
        buffering.experiment(name, duration=1.0, **catch_up, **common)
        for name in ("unthrottled", "throttled", "drained", "latest")
    ),
    buffering.experiment("websockets", duration=1.0, **common),
    buffering.experiment(
        "throttled", duration=1.0, rate=RATE, size=SIZE, interval=1.0, max_data=10240
    ),
)
article.name = "2016 article, 1 s tick"
by_name = {run.name: run for run in runs}
for run in runs:
    print(run.summary())

# %%
fig = plots.buffered_amount([by_name[n] for n in ("unthrottled", "throttled", "drained")])

# %% [markdown]
# Read the left panel first. The unthrottled sender's `bufferedAmount` climbs for as long as it
# sends: every byte the receiver cannot take yet waits there, in the page's memory. When the
# senders stop (dotted line) and the consumer reads faster, it falls back to 0: the queue was only
# ever waiting for the receiver.
#
# The right panel zooms in on the bottom. The throttled and drained senders never let the queue
# grow beyond `max_data` plus one message, because they only send while there is room; and the
# receiver still reads at full speed, as the throughput column above shows. The queue a page
# needs to keep a slow link busy is small.
#
# ## How late does each message arrive?
#
# Every byte in a queue waits for the bytes ahead of it. At `rate` bytes per second, a message
# sent when `q` bytes are already queued arrives about `q / rate` seconds later.

# %%
fig = plots.delivery_latency([by_name[n] for n in ("unthrottled", "throttled", "drained")])

# %% [markdown]
# The unthrottled sender's messages arrive later and later: each one queues behind everything sent
# before it. The throttled ones arrive within a bounded delay for as long as the run lasts, however
# long that is (the "Deeper" section computes the bound).
#
# For the **latest-value** sender this is the whole point. It made a value at every tick and sent
# only those it could send at once; the rest were dropped and replaced by fresher ones:

# %%
latest = by_name["latest"]
print(
    f"values made {latest.log.ticks}, sent {len(latest.log.sent)}, dropped {latest.log.dropped}; "
    f"oldest on arrival {1000 * latest.max_delay:.0f} ms"
)

# %% [markdown]
# Keeping the values that could not go, in a list of our own, and sending them later would not
# have helped: they would have aged exactly like the unthrottled sender's, the queue would only
# have moved from `bufferedAmount` into our list. With real-time data, dropping stale values is
# what keeps the receiver up to date.
#
# ## Throughput or freshness?
#
# All the runs side by side, with the library's `await ws.send()` and the article's numbers:

# %%
print(f"{'sender':24} {'throughput':>12} {'peak bufferedAmount':>20} {'newest delivered':>17}")
for run in (*runs, library, article):
    print(
        f"{run.name:24} {run.throughput / 1000:8.1f} kB/s {run.peak:>18,} B "
        f"{1000 * run.newest_age:12.0f} ms old"
    )

# %% [markdown]
# - **Unthrottled** uses the link fully but pays in memory (everything unread waits in the page)
#   and in freshness (the newest message the receiver has is older and older).
# - **Throttled, drained, latest, websockets** use the link just as fully, with a small queue and
#   fresh data.
# - **The article's numbers** keep the queue tiny and the data fresh, and leave most of the link
#   unused: a timer sends at most one message per tick, whatever the link could carry.
#
# The knob is the amount of data allowed to wait. Each queued byte adds `1 / rate` seconds of
# delay, so a queue of `max_data` bytes costs up to `max_data / rate` seconds. Too little queued,
# and the link idles whenever the sender is not looking; too much, and every message waits behind
# the others. Choose `max_data` from the delay you can accept at the link's rate, and look often
# enough that the queue never runs dry.
#
# Which to use? In Python, the library's `await ws.send()`: backpressure is built in, and a sender
# cannot forget it. A browser's `send()` cannot wait, so a page has to watch `bufferedAmount`,
# either on a timer (simple, but capped at one message per tick and slow to react) or by refilling
# whenever the queue falls below a low-water mark (keeps the link busy; a page polls with
# `setTimeout` in place of `buffered_below`).

# %% [markdown]
# ## More exercises
#
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
# ## Deeper (optional): the buffers below `bufferedAmount`
#
# On its way to the other program, a message waits in several places: the socket's own queue
# (**this is `bufferedAmount`**), the operating system's send buffer for the TCP connection, the
# network (on `127.0.0.1`, nothing worth mentioning), and the receiver's TCP receive buffer until
# the receiving program reads it. A receiver that does not read lets its receive buffer fill up;
# TCP then tells the sender to stop (a zero window), the sender's OS buffer fills up in turn, and
# only then does data stay in `bufferedAmount`.
#
# To make that happen within a second, the slow consumer reads through a token bucket and asks
# for a small receive buffer (`SO_RCVBUF`, set on the listening socket before `listen()`, so that
# accepted sockets inherit it and TCP's window scale is chosen from it), and it accepts no
# extension, so the random bytes cross the wire uncompressed. The sender's side has a hidden
# buffer too: Linux lets a TCP send buffer grow by itself, up to megabytes, while the receiver's
# window is closed. `WebSocket(url, send_buffer=...)` fixes its size (`SO_SNDBUF`, a Python extra;
# a page cannot), and the runs above used a small one. 0.4 seconds of the unthrottled sender,
# with the kernel's default and with the small buffer:

# %%
autotuned, fixed = await asyncio.gather(
    buffering.experiment("unthrottled", duration=0.4, send_buffer=None, **common),
    buffering.experiment("unthrottled", duration=0.4, **common),
)
for label, run in (("kernel default", autotuned), ("small SO_SNDBUF", fixed)):
    print(
        f"{label:16} sent {run.log.bytes_sent:>9,} B   read {run.read_at_stop:>9,} B   "
        f"bufferedAmount {run.buffered_at_stop:>9,} B   in between {run.in_flight:>9,} B"
    )

# %% [markdown]
# "In between" had left `bufferedAmount` but not reached the receiver: the transport buffer of
# wslearn's `WebSocket` and the two kernels' socket buffers. With the kernel's default, most of
# what the receiver had not read sat in the sender's kernel, where no API shows it.
#
# Those buffers also set the throttle's delay bound: at most `max_data - 1` bytes in
# `bufferedAmount` plus the message itself, plus the transport's buffer (up to its high-water mark
# plus one chunk) and the two kernel buffers, which Linux makes twice the size asked for. Divided
# by the rate the consumer really read at (on a busy machine, under `RATE`), that is about the
# longest a message of a throttled sender waits; the unthrottled sender's wait has no such bound
# and only grows with the length of the run. (The rate is an average: a read that comes late on
# a busy machine can push a message a little past the figure.)

# %%
queued = MAX_DATA - 1 + SIZE
hidden = websocket.WRITE_HIGH + websocket.WRITE_CHUNK + 2 * buffering.SNDBUF + 2 * buffering.RCVBUF
print(f"at most {queued:,} + {hidden:,} bytes ahead of a message")
for run in runs:
    bound = (queued + hidden) / run.throughput
    print(
        f"{run.name:12} slowest message {1000 * run.max_delay:5.0f} ms"
        f"   bound at the {run.throughput / 1000:.0f} kB/s it read: {1000 * bound:4.0f} ms"
    )

# %% [markdown]
# ## The browser's newer answer: `WebSocketStream`
#
# Last, the real browser against the same slow consumer. First the article's throttle in
# Chromium, then Chromium's `WebSocketStream`: the same protocol behind a streams API, whose
# writer's `write()` returns a promise, so a page can `await` it the way Python awaits
# `ws.send()`. Both send random bytes (`crypto.getRandomValues`), which nothing can compress, for
# 1 second; each snippet reports its peak of bytes waiting in the page and how much it handed
# over, and the consumer counts what it read.

# %%
THROTTLE_JS = """
const ws = new WebSocket(url);
await new Promise((resolve) => { ws.onopen = resolve; });
const end = performance.now() + args.seconds * 1000;
let peak = 0, sent = 0;
while (performance.now() < end) {
  if (ws.bufferedAmount < args.maxData) {
    ws.send(crypto.getRandomValues(new Uint8Array(args.size)));
    sent += args.size;
  }
  peak = Math.max(peak, ws.bufferedAmount);
  await sleep(5);                                      // the timer's tick
}
return {peak, sent};
"""
STREAM_JS = """
const wss = new WebSocketStream(url);
const {writable} = await wss.opened;
const writer = writable.getWriter();
const start = performance.now(), end = start + args.seconds * 1000;
let sent = 0, longest = 0;
while (performance.now() < end) {
  const chunk = crypto.getRandomValues(new Uint8Array(args.size));
  const before = performance.now();
  const written = writer.write(chunk).then(() => true);    // resolves when Chromium takes it
  const done = await Promise.race([written, sleep(end - before).then(() => false)]);
  longest = Math.max(longest, performance.now() - before);
  if (!done) break;                                        // still waiting at the end
  sent += chunk.length;
}
return {peak: args.size, sent, longest};
"""
in_chromium = await asyncio.gather(
    backpressure.in_chromium(
        "Chromium WebSocket, throttled",
        THROTTLE_JS,
        rate=RATE,
        duration=1.0,
        size=SIZE,
        maxData=MAX_DATA,
    ),
    backpressure.in_chromium(
        "Chromium WebSocketStream", STREAM_JS, rate=RATE, duration=1.0, size=SIZE
    ),
)
print(in_chromium[0].version)
print(backpressure.table([by_name["throttled"], library, *in_chromium]))
stream = in_chromium[1]
print(
    f"\nWebSocketStream: {stream.sent:,} B written, then one write() waited {stream.result['longest'] / 1000:.1f} s"
)

# %% [markdown]
# Read the Chromium rows against the Python ones. Chromium's `bufferedAmount` never held more
# than about one message, yet megabytes the consumer had not read had already left the page: they
# sit in Chromium's network process and the kernel, which `bufferedAmount` does not count. So in
# Chromium the article's throttle bounds the page's own queue, not the delay. `WebSocketStream`'s
# `write()` resolved at once for the first megabytes and then waited: backpressure does reach the
# page, once Chromium's own buffers are full.
#
# `WebSocketStream` ships in Chromium only (on by default since version 124) and is not part of the
# WHATWG WebSockets Standard yet; Firefox and Safari do not have it. The standard route to
# backpressure in every current browser is WebTransport, whose streams have the same `write()`.

# %% [markdown]
# ## Summary
#
# - `send()` never waits: it queues, and `bufferedAmount` is the size of that queue in bytes of
#   application data (UTF-8 for text), not yet handed to the network; Chromium and wslearn's
#   `WebSocket` count alike.
# - Against a slow receiver, every `send()` beyond what the buffers below can hold stays in
#   `bufferedAmount`; it falls back to 0 as soon as the receiver catches up, and a closed socket
#   keeps whatever was sent after `close()`.
# - The 2016 article's throttle bounds the queue to the limit plus one message and, where the
#   buffers below are small, the delay as well; for real-time data, drop what cannot go now and
#   send the latest value instead.
# - Without a timer: refill when the queue falls below a low-water mark, or in Python let
#   `websockets`' `await ws.send()` do the waiting.
# - Chromium keeps megabytes below `bufferedAmount`; its `WebSocketStream` (Chromium only, not yet
#   standard) has a `write()` that waits once they are full; WebTransport is the standard route.

# %%
await servers.stop()
