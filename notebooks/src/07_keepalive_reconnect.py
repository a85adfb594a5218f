# %% [markdown]
# # 07 · Keepalive and reconnection
#
# **What you will learn**
#
# - why a WebSocket can die without either side noticing, and what close code 1006 does (and does
#   not) tell you;
# - protocol pings and pongs: who sends them, who answers, and why a web page cannot send one;
# - how a server and a client notice a dead peer within a second, and how long they do not
#   without keepalive;
# - why a restarted server needs its clients to wait a *random* time before they come back,
#   measured with 200 clients;
# - how to resume a stream after a reconnection without losing or repeating a message.
#
# Everything runs on `127.0.0.1`; the library is `wslearn.reconnect`.

# %% [markdown]
# ## How connections die silently
#
# An open TCP connection that carries no data sends nothing at all. Both ends keep a little state
# and trust that the other end is still there. Many things break that trust without a word:
#
# - a NAT router, firewall or load balancer forgets a connection that has been idle for a while,
#   and silently drops its next packets;
# - a laptop goes to sleep, or a phone moves from Wi-Fi to mobile data and gets a new address;
# - a server machine loses power, or a cable is pulled somewhere in between.
#
# No FIN and no RST arrive, so the socket still looks open. Only when one side *sends* does TCP
# find out, by retransmitting until it gives up. How long that takes is a kernel setting; on this
# machine:

# %%
import asyncio
import json
import random
from itertools import islice
from pathlib import Path

from wslearn import browser, plots, reconnect, servers, wire
from wslearn.exercises import check
from wslearn.framing import Opcode
from wslearn.reconnect import ReconnectingWebSocket, backoff
from wslearn.websocket import WebSocket

browser.warm_up()  # headless Chromium starts in the background; we need it further down
plots.load_in_background()  # matplotlib too, for the figures

retries = int(Path("/proc/sys/net/ipv4/tcp_retries2").read_text())
# Linux doubles the retransmission timeout from 200 ms up to 120 s (tcp(7))
waits = [min(0.2 * 2**n, 120) for n in range(retries + 1)]
total = sum(waits)
print(f"tcp_retries2 = {retries}: about {total / 60:.0f} minutes before TCP gives up on a peer")
idle = int(Path("/proc/sys/net/ipv4/tcp_keepalive_time").read_text())
print(f"TCP keepalive (when a program turns it on) probes after {idle / 3600:.0f} hours idle")

# %% [markdown]
# Minutes to hours: far too slow for a chat or a price feed. So a WebSocket application checks for
# itself, with small messages sent on purpose: **keepalive**.
#
# ## What 1006 means, and what it does not
#
# When a connection ends without a close frame, the browser reports `CloseEvent.code` **1006**
# (notebook 04). It is a name for an absence, made up on the spot: nobody sent 1006. It does *not*
# say what happened. For a connection that never opened, the WHATWG standard even forbids the
# browser from telling the page why (a refused port, a failed TLS handshake and a rejected
# upgrade must look alike, and the `error` event carries no details), so that a page cannot use
# WebSocket to probe a network; for a connection that was open, there is simply nothing to tell.
# Four very different failures, one answer:

# %%
echo = await servers.start("echo")
closer = await servers.start("closer")
reject = await servers.start("reject", status=403)
doomed = await servers.start(servers.LocalServer("doomed", servers.echo_handler))
gone = await servers.start(servers.LocalServer("gone", servers.echo_handler))
nowhere = gone.url
await servers.stop("gone")  # now nothing listens on that port

cases = {
    "nothing listens on that port": WebSocket(nowhere),
    "the server refuses the handshake (403)": WebSocket(reject.url),
    "the server cuts TCP": WebSocket(f"{closer.url}/?code=1006"),
    "the server process dies": WebSocket(doomed.url),
}
await cases["the server process dies"].wait_for("open")
await doomed.kill()  # as a crash would: no close frame
for what, ws in cases.items():
    event = await ws.closed(timeout=5)
    error = "error, then " if any(e.type == "error" for e in ws.events) else ""
    print(f"{what:40} {error}close {event.code}, wasClean {event.wasClean}")

# %% [markdown]
# The page cannot tell them apart, and it does not need to: after a 1006 the right move is the
# same, **wait a little and try again**. What 1006 does not mean is just as important: it is not
# "the server crashed" (a proxy may have dropped the connection), and a connection that still
# looks OPEN is not a proof of life.
#
# ## Protocol ping and pong
#
# RFC 6455 has two control frames for keepalive (§5.5.2, §5.5.3): either endpoint may send a
# **Ping** (opcode `0x9`, up to 125 bytes of payload), and the other must answer with a **Pong**
# (opcode `0xA`) carrying the same payload "as soon as is practical". No answer within a timeout:
# the peer is gone. `websockets` servers ping every 20 s and give up after 20 s more by default;
# the course servers take the same `ping_interval` and `ping_timeout` options. Here an echo server
# pings every 0.05 s while wslearn's `WebSocket` sits idle for 0.15 s behind a wire tap:

# %%
pinging = await servers.start(
    servers.LocalServer("pinging", servers.echo_handler, options={"ping_interval": 0.05})
)


def show_wire(tap):
    """Every frame the tap forwarded, in order, one line each."""
    for ms, direction, frame in tap.timeline():
        who = "server → client" if direction == wire.SERVER else "client → server"
        print(f"  {ms:7.1f} ms  {who}  {frame.opcode.name:5} payload {frame.payload.hex(' ')}")


async with wire.Tap(pinging) as tap:
    ws = WebSocket(tap.url)
    await ws.wait_for("open")
    await asyncio.sleep(0.15)
    ws.close()
    await ws.closed(timeout=5)
show_wire(tap)
print("events wslearn's WebSocket fired:", [e.type for e in ws.events if e.type != "closing"])

# %% [markdown]
# The client answered every ping by itself, with the same 4 bytes (masked on the wire, as every
# client frame is), and fired no event for it: pings are the library's business, not the
# application's. A web page cannot even send one: **the browser API has no `ping()` method** and
# no event for a ping or a pong (we check that in Chromium below). Keepalive is the server's job,
# and a page that wants to know for itself must send small messages of its own: an
# *application-level heartbeat*. The course's servers answer the text `reconnect.HEARTBEAT` with
# the same text.
#
# ## A dead peer
#
# To see who notices a dead peer, and when, we need a dead peer. `Tap.blackhole()` makes one: the
# tap keeps both TCP connections open but stops forwarding anything in either direction, exactly
# what a pulled cable or a router that forgot the connection does. Two set-ups run side by side,
# each through its own tap:
#
# - **with keepalive**: the server pings every 0.5 s and gives up after 0.5 s without a pong; the
#   client is a `ReconnectingWebSocket` that sends a heartbeat message every 0.25 s and gives up
#   when nothing at all has arrived for 0.75 s (every course server answers the heartbeat);
# - **without keepalive**: the same echo server with pings turned off, a plain `WebSocket`.
#
# Both cables are pulled at the same moment; we watch until both sides with keepalive have given
# up (at most 3 s), and a tenth of a second more. Each server notes when its handler saw the
# connection end.

# %%
loop = asyncio.get_running_loop()
ended = {}  # server name -> loop time at which its handler saw the connection end


def watched(name, **options):
    async def handler(ws):
        await servers.echo_handler(ws)  # returns once the connection is over
        ended[name] = loop.time()

    return servers.LocalServer(name, handler, options=options)


# close_timeout: how long a server waits for the answer to its close frame before it drops
# TCP (websockets' default is 10 s; nobody will answer through a pulled cable)
keepalive = await servers.start(
    watched("keepalive", ping_interval=0.5, ping_timeout=0.5, close_timeout=0.1)
)
quiet = await servers.start(watched("no keepalive", ping_interval=None))
async with wire.Tap(keepalive) as tap_k, wire.Tap(quiet) as tap_q:
    client_k = ReconnectingWebSocket(tap_k.url, heartbeat=0.25, heartbeat_timeout=0.75)
    client_q = WebSocket(tap_q.url)
    await client_k.wait_for("open")
    await client_q.wait_for("open")
    await asyncio.sleep(0.6)  # a ping and a few heartbeats go through
    tap_k.blackhole()
    tap_q.blackhole()
    cut, cut_on_tap = loop.time(), tap_k.elapsed()  # the moment, on both clocks
    async with asyncio.timeout(3):  # until both sides with keepalive have given up
        await client_k.wait_for("reconnect")
        while "keepalive" not in ended:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    watched = loop.time() - cut
    still_open = client_q.readyState
    quiet_server_serving = "no keepalive" not in ended
    client_k.close()
    client_q.close()
    tap_k.reset()  # end what is left, with a reset (RST) on both sides
    tap_q.reset()
    await asyncio.gather(client_k.closed(timeout=5), client_q.closed(timeout=5))

# %%
origin = client_k.created_at  # below: seconds since the keepalive client was created


def client_log(kind):
    return [e.time for e in client_k.events if e.type == kind]


def on_the_wire(opcode, direction):
    """When the tap forwarded each `opcode` frame going in `direction`, on the same clock."""
    return [
        cut - origin + ms / 1000 - cut_on_tap
        for ms, d, frame in tap_k.timeline()
        if d == direction and frame.opcode == opcode
    ]


server_gave_up = ended["keepalive"] - cut
client_gave_up = client_log("dead")[0] + origin - cut
print(f"server with pings dropped the connection {server_gave_up:.2f} s after the cut")
print(f"client with heartbeat gave up {client_gave_up:.2f} s after the cut, then tried again:")
again = next(e.details for e in client_k.events if e.type == "reconnect")
print(
    f"    reconnect event: attempt {again['attempt']}, code {again['code']}, "
    f"reason {again['reason']!r}, delay {again['delay'] * 1000:.0f} ms"
)
print(
    f"without keepalive, {watched:.2f} s after the cut: the server's handler still running: "
    f"{quiet_server_serving}; the client's readyState: {still_open} (OPEN)"
)
lanes = [
    plots.Lane(
        "server: ping every 0.5 s",
        "server",
        sent=on_the_wire(Opcode.PING, wire.SERVER),
        heard=on_the_wire(Opcode.PONG, wire.CLIENT),
        dead_at=ended["keepalive"] - origin,
    ),
    plots.Lane(
        "client: heartbeat every 0.25 s",
        "client",
        sent=client_log("heartbeat"),
        heard=client_log("heartbeat-reply"),
        dead_at=client_log("dead")[0],
    ),
    plots.Lane("server: no pings", "server", note="still serving a dead connection"),
    plots.Lane("client: no heartbeat", "client", note="readyState still OPEN"),
]
fig = plots.dead_peer(lanes, cut=cut - origin, until=cut - origin + watched)

# %% [markdown]
# The server pings every 0.5 s; the first ping after the cut got no pong within 0.5 s, so the
# server failed the connection (its close frame went nowhere, of course) and dropped TCP
# `close_timeout` later. The client's heartbeat answers stopped at the cut, and 0.75 s after the
# last one it gave the connection up and, being a `ReconnectingWebSocket`, started to reconnect
# (through the same dead tap, so its new attempt will get no answer either). The tap draws only
# what it forwarded: the server's ping after the cut never got through. Without keepalive, *both*
# sides still thought they were connected when we stopped watching, and they would for minutes
# more or, with nothing to send, forever. The first side to send something finds out only when TCP
# gives up retransmitting it; on this machine (`tcp_retries2` above):

# %%
fig = plots.tcp_give_up(waits)

# %% [markdown]
# Each retransmission waits twice as long as the one before (exponential backoff, which we meet
# again below for reconnecting), so the last few waits take almost all the time.
#
# Choose the two keepalive timeouts for your network: shorter detects sooner but costs more
# messages and risks giving up on a connection that was only slow. Production values are seconds
# to tens of seconds (`websockets`: 20 s and 20 s), short enough to beat a NAT's idle timeout.
#
# ## What a browser does with pings
#
# Back to the server that pings every 0.05 s, now with a real browser as its client (headless
# Chromium, through `wslearn.browser`), behind a wire tap. The page sits idle for 0.15 s and asks
# whether its socket has a `ping` method:

# %%
PAGE = """
const ws = watch(new WebSocket(url));
await sleep(150);
log("typeof ws.ping", {value: typeof ws.ping});
ws.close();
"""
async with wire.Tap(pinging) as tap_chromium:
    chromium = await browser.run(PAGE, url=tap_chromium.url)
print(chromium.version)
show_wire(tap_chromium)
print("events the page saw:       ", chromium.types())
print("typeof ws.ping in the page:", chromium.events[-2]["value"])

# %% [markdown]
# Chromium answered every ping by itself, like wslearn's `WebSocket`, and told the page nothing:
# no event, and `ws.ping` does not exist. A page cannot check that its server is alive with
# protocol pings; it needs a heartbeat, as the client in the dead-peer demo had (the JS for it
# comes with the resume demo below).
#
# ## Reconnecting: backoff and jitter
#
# Once a connection is gone, the client should come back, but not at once and not all together.
# `reconnect.backoff()` gives the delays: the n-th attempt (from 0) waits up to
# `min(cap, base * factor**n)`, exponentially longer each time, up to a cap. *Jitter* randomises
# that wait ("Exponential Backoff And Jitter", AWS Architecture Blog): `"none"` waits exactly that
# long, `"equal"` waits half of it plus a random part of the other half, `"full"` waits a random
# time between 0 and all of it. Here are the first seven delays of 200 clients, with the small
# values this notebook uses to stay fast (`base=0.05`, `cap=0.4`; the library's defaults are
# 0.5 s and 30 s):

# %%
rng = random.Random(7)
samples = {
    jitter: [list(islice(backoff(0.05, 0.4, jitter=jitter, rng=rng), 7)) for _ in range(200)]
    for jitter in reconnect.JITTERS
}
ceilings = [min(0.4, 0.05 * 2**n) for n in range(7)]
fig = plots.backoff_delays(samples, ceilings)

# %% [markdown]
# Without jitter every client has the same schedule, so clients that lost the server at the same
# moment come back at the same moment, again and again: a **thundering herd**. Let's measure it.
# `reconnect.storms()` opens 200 `ReconnectingWebSocket`s to a server. Then, once per jitter, it
# gives every client that jitter, kills the server (every client sees 1006 at once, as after a
# crash), starts it again on the same port 0.3 s later, and records every connection attempt and
# every connection the server accepted, until all 200 are back:

# %%
storms = await reconnect.storms(200, base=0.05, cap=0.4, down=0.3, rng=random.Random(1))
for s in storms:
    print(
        f"jitter={s.jitter!r:7}  {len(s.attempts):4} attempts; in the busiest 50 ms: "
        f"{s.peak_attempts():3} attempts, {s.peak_accepts():3} accepts; "
        f"all back after {s.all_back:.2f} s"
    )
for s in storms:
    firsts = [d[0] for d in s.delays]
    print(
        f"jitter={s.jitter!r:7}  first retry after {min(firsts) * 1000:2.0f} to "
        f"{max(firsts) * 1000:2.0f} ms, {len(set(firsts)):3} different delays among 200 clients"
    )
none, equal, full = storms
print(
    f"\nthe restarted server's peak accept rate, relative to no jitter: "
    f"equal {equal.peak_accepts() / none.peak_accepts():.0%}, "
    f"full {full.peak_accepts() / none.peak_accepts():.0%}"
)
fig = plots.reconnection_storm(storms)

# %% [markdown]
# Read the panels from top to bottom. Without jitter, every client waits exactly as long as every
# other (one delay among 200 clients, above), so each wave of attempts lands together, fails while
# the server is down, and comes back together after twice the delay: tall spikes. When the server
# is back the whole herd arrives at once, and the server has to accept it in one burst (the
# orange line). Equal jitter blurs the spikes; full jitter spreads each wave
# over a window that doubles every time, so the restarted server takes the clients a few at a
# time. Full jitter's first delays are tiny (anywhere from 0 to 50 ms here), so while the server
# is down a client may fail several times within 50 ms: its peak of *attempts* is no lower, and
# can even exceed the number of clients. Failed attempts against a closed port are cheap; what
# hurts a server is what it *accepts*: each new connection costs a TLS handshake, an
# authentication, a subscription, a replay. A herd that knocks a restarted server over makes every
# client back off and return together again: an outage that restarts itself.
#
# The price of jitter is time: some clients wait longer than they needed to (compare the "all
# back" times). With the library's defaults (`base=0.5`, `cap=30`) the waves are ten times wider
# and the same shapes take seconds instead of a fraction of one.
#
# A caveat about this measurement: one Python process plays all 200 clients *and* the server,
# and an event loop runs one callback at a time. On a busy machine the process itself spreads
# the herd out, so the spikes come out lower and the differences smaller than they would be for
# 200 separate machines, which all fire at the same instant.
#
# ## Resuming without loss
#
# A reconnection loses whatever was in flight when the connection died, and everything the server
# produced while the client was away. If the server numbers its messages, the client can ask for
# exactly what it missed. The course's `feed` server sends `{"seq": n, ...}` to every client every
# `interval` seconds, keeps the last 1000, and replays the ones after `N` to a client that
# connects with `?after=N`. Because `url` may be a function, called before every attempt, the
# client asks for the right `N` each time. Next to it, a client that just reconnects to the same
# URL. And a page in Chromium runs what a browser app would write for the same, about twenty
# lines of JS: full jitter, a heartbeat with a watchdog, resume by `seq`:

# %%
RECONNECTING_JS = """
function reconnecting(makeUrl, onmessage, {base = 50, cap = 1000, beat = 250, timeout = 750} = {}) {
  let ws, attempt = 0, heartbeat, watchdog, stopped = false;
  const worthRetrying = (code) => [1001, 1006, 1011, 1012, 1013, 1014].includes(code);
  function connect() {
    ws = new WebSocket(makeUrl());  // a new socket per attempt: a WebSocket never reopens
    ws.onopen = () => { attempt = 0; heartbeat = setInterval(() => ws.send("heartbeat"), beat); alive(); };
    ws.onmessage = (e) => { alive(); if (e.data !== "heartbeat") onmessage(e); };
    ws.onclose = (e) => dropped(e.code);
  }
  function alive() {  // (re)arm the watchdog: nothing for `timeout` ms means dead
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { ws.onclose = null; ws.close(); dropped(1006); }, timeout);
  }
  function dropped(code) {
    clearInterval(heartbeat); clearTimeout(watchdog);
    if (stopped || !worthRetrying(code)) return;
    const delay = Math.random() * Math.min(cap, base * 2 ** attempt++);  // full jitter
    log("reconnect", {attempt, code, delay: Math.round(delay)});
    setTimeout(connect, delay);
  }
  connect();
  return { close() { stopped = true; clearInterval(heartbeat); clearTimeout(watchdog); ws.close(); } };
}

let last = 0;
const seqs = [];
const feed = reconnecting(() => `${url}/?after=${last}`, (e) => {
  const message = JSON.parse(e.data);
  if (message.seq > last) { seqs.push(message.seq); last = message.seq; }
});
await sleep(args.ms);
feed.close();
return seqs;
"""

# %% [markdown]
# All three listen to one feed, which crashes twice (no close frame: whatever was in flight is
# lost) and comes back on the same port:

# %%
feed = await servers.start("feed", interval=0.01)
last, resumed, naive = 0, [], []


def on_resumed(event):
    global last
    message = json.loads(event.data)
    resumed.append(message["seq"])
    last = message["seq"]


client = ReconnectingWebSocket(lambda: f"{feed.url}/?after={last}", backoff=backoff(0.02, 1.0))
client.onmessage = on_resumed
plain = ReconnectingWebSocket(feed.url, backoff=backoff(0.02, 1.0))
plain.onmessage = lambda event: naive.append(json.loads(event.data)["seq"])
page = asyncio.create_task(browser.run(RECONNECTING_JS, url=feed.url, ms=600))
await client.wait_for("open")
await plain.wait_for("open")
port = feed.bound_port
for _ in range(2):
    await asyncio.sleep(0.15)  # the page is listening too by now
    await feed.kill()
    await asyncio.sleep(0.05)
    feed.port = port
    await feed.start()
    await client.wait_for("open", timeout=3)
await asyncio.sleep(0.15)
client.close()
plain.close()
await asyncio.gather(client.closed(timeout=5), plain.closed(timeout=5))
page = await page
print("the resuming client asked for:")
for entry in client.events:
    if entry.type == "connecting":
        print("   ", entry.details["url"])
print("the page's reconnections:", [(e["attempt"], e["code"]) for e in page.events])


# %%
def exactly_once(seqs):
    """Every number from the first to the last, in order, each once."""
    return seqs == list(range(seqs[0], seqs[-1] + 1))


missing = sorted(set(range(naive[0], naive[-1] + 1)) - set(naive))
print(
    f"Python, resuming:  {len(resumed):3} messages, every one exactly once: {exactly_once(resumed)}"
)
print(
    f"Chromium, resuming: {len(page.result):3} messages, every one exactly once: "
    f"{exactly_once(page.result)}"
)
print(f"Python, plain:     {len(naive):3} messages, {len(missing)} missing, e.g. {missing[:6]}")

# %% [markdown]
# The plain client lost the messages that were in flight when the server died and those produced
# before it was back; the resuming clients, in Python and in the browser, got every one, each
# once. Two details make it work: `last` is updated only after a message has been handled, and
# the server replays only `seq > after`, so nothing comes twice. (A server that cannot promise
# that, say after a failover to another replica, may replay some twice: then the client must also
# drop any `seq <= last`, as the page does, and as the last exercise asks.)
#
# Compare the JS with `ReconnectingWebSocket`: the same pieces, by hand. The page resets its
# backoff as soon as a connection opens; `ReconnectingWebSocket` waits until a connection has
# stayed open for `stable_after` seconds, so that a server that accepts and then drops every
# connection at once is not hammered at the first step's pace.
#
# ## Exercises
#
# Replace each `raise NotImplementedError` with your code, then run the check cell below it.
#
# **Exercise 1 · backoff_schedule.** Return the first `attempts` delays of an exponential backoff
# *before jitter*: the n-th delay (n from 0) is `base * factor**n`, but never more than `cap`.
# Write it yourself (`reconnect.backoff` is the answer, not a solution). A client may retry all
# night: make sure attempt 2000 works too.


# %% exercise=backoff_schedule
def backoff_schedule(base, cap, attempts, factor=2.0):
    ### BEGIN SOLUTION
    delays, delay = [], base
    for _ in range(attempts):
        delays.append(min(cap, delay))
        delay = min(cap, delay * factor)  # stop growing at the cap: no float overflow
    return delays
    ### END SOLUTION


# %% check=backoff_schedule
check("backoff_schedule", backoff_schedule)

# %% [markdown]
# **Exercise 2 · should_reconnect.** A connection ended with close code `code` (not by your own
# `close()`). Return `True` if the client should reconnect, `False` if it should stop. Reconnect
# after a drop or a temporary problem on the server's side; stop when the same attempt would end
# the same way again.
#
# *Hint:* notebook 04's table of codes gives each one's meaning. Ask "would trying again help?".


# %% exercise=should_reconnect
def should_reconnect(code):
    ### BEGIN SOLUTION
    return code in (1001, 1006, 1011, 1012, 1013, 1014)
    ### END SOLUTION


# %% check=should_reconnect
check("should_reconnect", should_reconnect)

# %% [markdown]
# **Exercise 3 · dead_at.** A watchdog's verdict from a log of activity. `activity` is a list of
# `(time, kind)` pairs in time order, `kind` being `"sent"` or `"received"`; the connection opened
# at time 0. Return the first moment at which nothing had been *received* for `timeout` seconds,
# or `None` if that has not happened by `now`.


# %% exercise=dead_at
def dead_at(activity, timeout, now):
    ### BEGIN SOLUTION
    last = 0.0  # the open counts as hearing from the peer
    for time, kind in activity:
        if time > now:
            break
        if kind != "received":
            continue  # our own messages prove nothing about the peer
        if time - last >= timeout:
            return last + timeout  # the watchdog fired during this silence
        last = time
    return last + timeout if now - last >= timeout else None
    ### END SOLUTION


# %% check=dead_at
check("dead_at", dead_at)

# %% [markdown]
# **Exercise 4 · resume.** After a reconnection, a batch of messages `{"seq": n, ...}` arrives,
# possibly with repeats, possibly out of order. `last` is the highest `seq` already handled.
# Return `(messages, last)`: the messages to handle now (each `seq` once, in `seq` order, none
# already handled) and the new `last`.


# %% exercise=resume
def resume(batch, last):
    ### BEGIN SOLUTION
    fresh = {}
    for message in batch:
        if message["seq"] > last:
            fresh.setdefault(message["seq"], message)
    messages = [fresh[seq] for seq in sorted(fresh)]
    return messages, messages[-1]["seq"] if messages else last
    ### END SOLUTION


# %% check=resume
check("resume", resume)

# %% [markdown]
# ## Summary
#
# - Idle connections die silently (NAT and proxy timeouts, sleep, network changes); TCP alone
#   takes minutes to notice. **1006** only says "no close frame came", never why.
# - **Ping/pong** is the protocol's keepalive. Servers send pings; browsers answer them by
#   themselves, but a page can neither send a ping nor see one: a client that wants to detect a
#   dead server sends an **application-level heartbeat** and watches for *anything* arriving.
# - Reconnect after drops and temporary server trouble (1001, 1006, 1011-1014), not after a
#   normal end, a policy violation or an application's own code; never after your own `close()`.
# - Wait before reconnecting: **exponential backoff with a cap**, and **jitter** so that a crowd of
#   clients does not come back in the same instant.
# - Number the messages on the server; reconnect with `?after=<last seq>` and drop repeats: every
#   message exactly once.

# %%
await servers.stop()
await browser.close()
