# %% [markdown]
# # 09 · Broadcast and scale-out: many clients, many processes, one proxy
#
# **What you will learn**
#
# - three ways to send one message to many clients from one process, measured: the naive loop,
#   `websockets.broadcast()` and a hub with a bounded queue per client;
# - what one client that stops reading does to everyone else under each, and the policies a hub
#   can apply to it (drop the oldest, drop the newest, disconnect with 1013);
# - how several server processes share their clients through Redis pub/sub, what that hop costs,
#   and what is lost when Redis restarts;
# - the nginx lines a WebSocket needs, the idle timeout that cuts quiet connections, and when
#   sticky balancing matters;
# - how many clients one core serves, from a measured cost.
#
# Everything runs on this machine: a private `redis-server`, a private `nginx` and real server
# processes, all on `127.0.0.1` and all stopped at the end. The library is `wslearn.broadcast` and
# `wslearn.scale`.

# %% [markdown]
# ## The idea
#
# A chat room, a live scoreboard, a price feed: one message goes to many clients. On one process
# that is a loop over connections. Two things make it hard:
#
# 1. **Clients are not equally fast.** A phone on a bad network reads slowly; a laptop that went to
#    sleep does not read at all. Whatever the server sends to it piles up somewhere: in the
#    server's memory, or in the way of everybody else.
# 2. **One process is not enough.** More clients than a core can serve, or a second machine for
#    safety, means several processes, each with its own clients. A message that a client of
#    process A sends must reach the clients of process B. The usual answer is a message bus
#    between the processes, most often Redis pub/sub, and a proxy (nginx) in front that spreads
#    the connections over the processes.
#
# This notebook needs Debian's `redis-server` and `nginx` (the course starts its own private copies
# and never their system services). If one is missing, the line below says the one command to run:

# %%
import asyncio
import inspect
import time

from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslearn import broadcast, browser, plots, scale, servers
from wslearn.exercises import check
from wslearn.websocket import WebSocket

for name, path in scale.tools().items():
    print(f"{name:13} {path or 'missing: run `' + scale.install_command() + '`'}")

# %% [markdown]
# ## Three ways to fan out
#
# The **naive loop** awaits each `send()` in turn. With the `websockets` library `await
# ws.send(m)` returns at once while that connection's write buffer has room, and waits while it is
# full. One client that stops reading fills its buffer, and from then on the loop waits for it,
# and so does every client after it in the loop, and every later message:

# %%
print(inspect.getsource(broadcast.send_naive))

# %% [markdown]
# **`websockets.broadcast(clients, m)`** writes the frame into every connection's buffer without
# waiting for any of them. Nobody waits for the slow client, but its buffer grows without a limit:
# it costs memory instead of time.
#
# A **hub** gives every client a queue of its own, with a fixed size, and a writer task that
# sends from that queue at the client's own pace. Publishing only appends to the queues, so it
# never waits. When a client's queue is full, the hub applies a *policy*, chosen in advance:
#
# - **drop the oldest**: the client skips old messages, and what it gets is fresh (prices, positions);
# - **drop the newest**: the client keeps the history it has, and misses what comes while it is full;
# - **disconnect**: close the client with **1013 Try Again Later** (the server is overloaded, come
#   back later) or **1008 Policy Violation**, and let it reconnect and catch up (notebook 07).
#
# First the three on fast clients only. `broadcast.fanout()` starts a `websockets` server and N
# `websockets` clients in this kernel and publishes small messages one after the other, each once
# the previous one reached every client; the three methods take turns on the same connections.
# Clients and server share this process, so the numbers include the work of both ends. This is a
# small live run (this notebook has a time budget); `benchmarks/bench_broadcast.py` runs the same
# measurement from 1 to 2,000 clients (`make bench`).

# %%
sweep = []
for clients in (1, 10, 100):
    results = await broadcast.fanout(clients, messages=max(4, 200 // clients))
    sweep += results.values()
for result in sweep:
    print(result.row())

# %%
fig = plots.fanout_rates(sweep, title="Fan-out on one process (live run)")

# %% [markdown]
# With healthy clients the three do the same work: frame the message and write it once per
# client, whichever loop does it, so their rates are of the same order (on a shared machine they
# also move from run to run; the benchmark interleaves many rounds for a steadier comparison). The
# latency of one message grows with the audience, because the last client in line waits for all
# the writes before its own. The difference between the three is in what happens when a client
# does not keep up.

# %% [markdown]
# ## One client stops reading
#
# Now the same server with fast clients and one more client that reads nothing at all (its socket
# is paused; its kernel buffers are small, so they fill within a few messages). A message is due
# every 20 ms. For each message we note when the *slowest of the fast* clients got it, counted from
# when it was due: a publisher that is stuck delays every later message as well.

# %%
slow_runs = await asyncio.gather(
    *(
        broadcast.slow_client(method, policy=policy, clients=10, messages=30, interval=0.02,
                              size=8192, queue_size=8)
        for method, policy in [
            ("naive", "drop-oldest"),
            ("broadcast", "drop-oldest"),
            ("hub", "drop-oldest"),
            ("hub", "drop-newest"),
            ("hub", "disconnect"),
        ]
    )
)
for run in slow_runs:
    print(run.row())

# %%
fig = plots.slow_client_effect(slow_runs)

# %% [markdown]
# Read the figure from left to right:
#
# - the **naive loop** stops as soon as the slow client's buffers are full: the crosses on the top
#   edge are messages the fast clients never got, because the loop was still waiting;
# - **`websockets.broadcast()`** keeps the fast clients on time, and keeps everything for the slow
#   one: the bar on the right is memory the server holds for a client that may never read again,
#   and it grows with every message (run it longer and see);
# - the **hub** keeps the fast clients on time *and* bounds what it holds for the slow one: its
#   queue (8 messages here) plus the connection's own buffer, however long the run. With
#   `disconnect` the hub drops the queue and closes the client with 1013; what is left in the
#   socket's buffer goes when the closing handshake times out and the connection is dropped.

# %% [markdown]
# **Exercise 1 · keep_latest.** Write the drop-oldest policy. A policy gets the client's queue (a
# `collections.deque` that the hub keeps), the new message and the queue's `limit`; it must leave
# at most `limit` messages in the queue, change that deque in place, and return how many messages
# it dropped. `keep_latest` keeps the newest messages. The check also plugs your function into a
# real hub beside a client that stopped reading.

# %% exercise=keep_latest
def keep_latest(queue, message, limit: int) -> int:
    ### BEGIN SOLUTION
    queue.append(message)
    dropped = 0
    while len(queue) > limit:
        queue.popleft()
        dropped += 1
    return dropped
    ### END SOLUTION


# %% check=keep_latest
check("keep_latest", keep_latest)

# %% [markdown]
# ## Many processes through Redis
#
# Redis pub/sub is a switchboard: `PUBLISH channel message` hands the message to every connection
# that has `SUBSCRIBE`d to that channel *at that moment*, and returns how many there were. Nothing
# is stored. `scale.redis()` starts a private `redis-server` on a unix socket in a temporary folder
# (no TCP port, no files written); redis-py's asyncio client talks to it:

# %%
redis = await scale.redis()
client = Redis.from_url(redis.url)
subscriber = client.pubsub()
await subscriber.subscribe("news")
print("PUBLISH reached", await client.publish("news", "hello"), "subscriber")
print(await subscriber.get_message(timeout=1))  # Redis confirms the SUBSCRIBE first
print(await subscriber.get_message(timeout=1))
await subscriber.aclose()
print("PUBLISH reached", await client.publish("news", "anyone?"), "subscribers")
await client.aclose()

# %% [markdown]
# `scale.cluster(n, redis.url)` starts `n` server processes (`python -m wslearn.scale`). Each one
# serves WebSocket clients on its own port; every text message a client sends is PUBLISHed to the
# channel of its room (the URL path), and every process fans out what it receives on that channel
# to its own clients in the room, with a hub, the sender included. The processes know nothing of
# each other: Redis is all they share.
#
# `scale.probe()` connects two clients to each process; one client of process 0 sends 30
# numbered messages, one every 10 ms, and every client records what it receives and how long it
# took. For comparison, the same probe runs against `broadcast.relay()`, the same chat server in
# one process without Redis.

# %%
local = await servers.start(broadcast.relay())
PROBE = {"clients_per_url": 2, "messages": 30, "interval": 0.01, "senders": 1}
baseline = await scale.probe([local.url, local.url], **PROBE)

two = await scale.cluster(2, redis.url)
print("processes:", two.pids, "at", two.urls)
probe2 = await scale.probe(two.urls, **PROBE)
print(
    f"2 processes: {probe2.delivered} of {probe2.expected} deliveries, lost {probe2.lost}, "
    f"duplicates {probe2.duplicates}, each sender's order kept: {probe2.in_order}"
)

# %%
four = await scale.cluster(4, redis.url)  # the same name: the 2-process cluster is stopped first
probe4 = await scale.probe(four.urls, **PROBE)
print(f"4 processes: {probe4.delivered} of {probe4.expected} deliveries, lost {probe4.lost}")
for label, p in (("1 process, no Redis", baseline), ("2 processes", probe2), ("4 processes", probe4)):
    print(f"{label:20} p50 {1000 * p.p(50):6.2f} ms   p99 {1000 * p.p(99):6.2f} ms")
print(f"Redis adds about {1000 * (probe2.p(50) - baseline.p(50)):.2f} ms at the median (2 processes)")

# %% [markdown]
# A message from a client of process 0 reached the clients of every process, once each and in the
# order its sender sent them. The hop through Redis is one more write, one more read and one more
# process to wake up; on a busy machine the tail (p99) grows more than the median.

# %% [markdown]
# ## Redis restarts mid-stream
#
# Pub/sub delivers **at most once**. While Redis is down, a process cannot publish, and what it
# cannot publish is gone; while a process has not subscribed again, what others publish does not
# reach it. Here each of the four processes has one client sending a message every 10 ms, and
# Redis is restarted in the middle:

# %%
stream = asyncio.create_task(scale.probe(four.urls, clients_per_url=1, messages=60, interval=0.01))
await asyncio.sleep(0.2)
began = time.perf_counter()
await redis.restart()
print(f"Redis was down for {1000 * (time.perf_counter() - began):.0f} ms")
restarted = await stream
print(
    f"lost {restarted.lost} of {restarted.expected} deliveries "
    f"({100 * restarted.lost / restarted.expected:.0f}%), duplicates {restarted.duplicates}"
)

# %%
fig = plots.restart_gap(restarted)

# %% [markdown]
# No error reached any client: the messages are simply missing. Two fixes are common:
#
# - **Redis Streams** instead of pub/sub: `XADD` stores each message under an increasing ID, and
#   a reader asks for "everything after ID n" (`XREAD`), so a process that was cut off asks again
#   from the last ID it saw (with persistence on, even a restarted Redis still has them);
# - **sequence numbers with replay**, end to end: the sender numbers its messages and keeps the
#   recent ones; a receiver that sees a gap, or reconnects, asks for "everything after n", as the
#   feed server of notebook 07 does with `?after=N`.

# %% [markdown]
# ## nginx in front
#
# Clients should not need to know how many processes there are. A reverse proxy listens on one
# address and hands each new connection to one of the processes. The opening handshake is an
# HTTP/1.1 `GET` with `Upgrade: websocket` and `Connection: Upgrade` (RFC 6455 §4.1), and a proxy
# does not pass those two on by default: they are *hop-by-hop* headers, meant for the next hop
# only (RFC 9110 §7.6.1). `scale.nginx(upstreams, upgrade=False)` is that classic mistake. First
# what a `websockets` client sees:

# %%
browser.warm_up()  # Chromium starts in the background; the next cell uses it
broken = await scale.nginx(four.urls, upgrade=False, name="broken")
try:
    async with connect(broken.url):
        pass
except InvalidStatus as error:
    response = error.response
    print("websockets client:", response.status_code, response.reason_phrase)
    print("  body:", response.body.decode().splitlines()[0])

# %% [markdown]
# Then what a page sees, in Chromium and in wslearn's `WebSocket`, side by side:

# %%
chromium = await browser.run("watch(new WebSocket(url));", url=broken.url)
py = browser.Recorder()
py.watch(WebSocket(broken.url))
python = await py.finish()
print(browser.side_by_side(chromium, python))
print("Chromium's console:", *chromium.console)
await broken.stop()

# %% [markdown]
# The upstream answered **426 Upgrade Required**: nginx forwarded a plain request with
# `Connection: close`, so the server never saw an upgrade. A page only gets `error` then `close`
# with code 1006; the status is in the browser's console, never in JavaScript.
#
# **Exercise 2 · nginx_lines.** Write the lines for nginx's `location` block (after its
# `proxy_pass`) that make it pass a WebSocket handshake on, and let a connection stay silent for
# up to `read_timeout` seconds before nginx cuts it. The check starts a real nginx with your lines
# in front of a real server and tries them.

# %% exercise=nginx_lines
def nginx_lines(read_timeout: int) -> str:
    ### BEGIN SOLUTION
    return f"""
proxy_http_version 1.1;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection "upgrade";
proxy_read_timeout {read_timeout}s;
"""
    ### END SOLUTION


# %% check=nginx_lines
check("nginx_lines", nginx_lines)

# %% [markdown]
# The course's own configuration (the part inside `location`), and the same proxy working. The
# `Server` header comes from nginx, `X-Wslearn-Node` from the process that took the connection:

# %%
proxy = await scale.nginx(four.urls, read_timeout=0.5)
print(proxy.config[proxy.config.index("location") :].strip())
async with connect(proxy.url + "/lobby") as ws:
    await ws.send("through nginx")
    print(await ws.recv(), "| Server:", ws.response.headers["Server"],
          "| node", ws.response.headers[scale.NODE_HEADER])

# %% [markdown]
# ### The idle timeout
#
# `proxy_read_timeout` (60 s unless set) is how long nginx waits for the upstream to send
# something; after that it closes the connection, with no close frame: the client sees 1006. A
# chat where nobody speaks for a minute is cut every minute. The cure is the keepalive of notebook
# 07, with an interval shorter than the proxy's timeout: a ping every so often is traffic, and
# the pong is traffic too. With a timeout of half a second, one silent client and one that pings
# every 0.2 s:

# %%
silent = await connect(proxy.url, ping_interval=None)
pinging = await connect(proxy.url, ping_interval=0.2, ping_timeout=1)
start = time.monotonic()
try:
    await asyncio.wait_for(silent.recv(), 5)
except ConnectionClosed as cut:
    print(f"silent client: cut after {time.monotonic() - start:.2f} s, close frame: {cut.rcvd}")
await pinging.send("still here?")
print(f"pinging client after {time.monotonic() - start:.2f} s:", await pinging.recv())
await pinging.close()

# %% [markdown]
# ### Sticky or round-robin?
#
# By default nginx hands connections out in turn (round-robin). `hash $arg_user consistent` sends
# everything with the same `?user=` to the same process (`ip_hash` does it by client address,
# which on one machine would send everybody to one process):

# %%
for balance in ("", "hash $arg_user consistent"):
    balancer = await scale.nginx(four.urls, balance=balance, name="balancer")
    nodes = []
    for user in ("ada", "bob", "cy", "dee", "ada", "bob", "cy", "dee"):
        async with connect(f"{balancer.url}/?user={user}") as ws:
            nodes.append(f"{user}→{ws.response.headers[scale.NODE_HEADER]}")
    print(f"{balance or 'round-robin':26}", " ".join(nodes))
await balancer.stop()

# %% [markdown]
# For pub/sub it does not matter where a client lands: every process hears every message. It
# matters as soon as a process keeps something *per connection* in its memory: the replay buffer
# of a client that may reconnect, a half-finished upload, a game's state. Then a reconnecting
# client must come back to the same process (sticky), or, better, that state moves out of the
# process (into Redis) so that any process can serve it.

# %% [markdown]
# **Exercise 3 · recipients.** Rooms: a chat message `{"from": ..., "room": ..., "text": ...}` goes
# to every member of its room, the sender included (so that the sender sees it went out). Only a
# member may post to a room; a room nobody created has no members. `rooms` maps a room's name to
# the set of its members' names. Return the set of names the message goes to, without changing
# `rooms`.

# %% exercise=recipients
def recipients(message: dict, rooms: dict) -> set:
    ### BEGIN SOLUTION
    members = rooms.get(message["room"], set())
    if message["from"] not in members:
        return set()
    return set(members)
    ### END SOLUTION


# %% check=recipients
check("recipients", recipients)

# %% [markdown]
# The relay processes route the same way, with the URL path as the room: a client of
# `ws://.../lobby` talks on Redis channel `wslearn:room:/lobby` and hears only that channel.

# %% [markdown]
# ## How many clients does one core serve?
#
# The fan-out runs above also measured how much CPU time this process spent per delivery (one
# message to one client), server and clients together. A core has one second of CPU per second. If every client gets
# `messages_per_second` messages, each client costs `cost * messages_per_second` seconds per
# second, and you want to leave room for everything else the server does (`headroom` is the share
# of the core you allow yourself).
#
# **Exercise 4 · clients_per_core.** Return the largest whole number of clients one core serves.

# %% exercise=clients_per_core
def clients_per_core(cost_per_delivery: float, messages_per_second: float,
                     headroom: float = 0.5) -> int:
    ### BEGIN SOLUTION
    return int(headroom / (cost_per_delivery * messages_per_second))
    ### END SOLUTION


# %% check=clients_per_core
check("clients_per_core", clients_per_core)

# %% [markdown]
# With the cost this machine measured above (the hub, with the most clients of the live run):

# %%
measured = max((r for r in sweep if r.method == "hub"), key=lambda r: r.clients)
cost = measured.cost_per_delivery
print(f"measured: {1e6 * cost:.0f} µs of CPU per delivery with {measured.clients} clients")
for rate in (1, 10, 30):
    print(f"{rate:3} msg/s per client → {clients_per_core(cost, rate):7,} clients per core")

# %% [markdown]
# That cost includes the clients' own work (they ran in the same process), so a real server does
# better; the benchmark's sweep shows how the cost per delivery changes with thousands of clients.
# The arithmetic is the point: measure the cost per delivery, multiply by the rate, and keep room
# for bursts. When one core is not enough, add processes behind Redis and nginx, and remember what
# that hop costs and that pub/sub may lose messages.

# %% [markdown]
# ## Summary
#
# - Fanning out from one process: the naive loop waits for the slowest client;
#   `websockets.broadcast()` waits for nobody but buffers without a limit; a hub with a bounded
#   queue per client and an explicit policy (drop oldest, drop newest, disconnect with 1013)
#   bounds both the delay and the memory.
# - Several processes share their clients through Redis pub/sub: every process publishes what its
#   clients send and fans out what it hears. It adds a hop (measured above) and is at-most-once:
#   a restart loses messages silently. Streams or sequence numbers with replay fix that.
# - Behind nginx a WebSocket needs `proxy_http_version 1.1` and the `Upgrade` / `Connection`
#   headers set again; without them the handshake fails (426 here). `proxy_read_timeout` cuts
#   silent connections, so keep the keepalive interval shorter.
# - Round-robin is fine for pub/sub; per-connection state needs sticky balancing or, better, to
#   live outside the process.
# - Capacity: clients per core = headroom / (cost per delivery * messages per second).

# %%
await proxy.stop()
await scale.stop()
await servers.stop()
await browser.close()
