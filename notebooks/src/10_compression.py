# %% [markdown]
# # 10 · Compression: permessage-deflate
#
# **What you will learn**
#
# - how a browser and a server agree on compression in the handshake (`Sec-WebSocket-Extensions`);
# - how to inflate a compressed frame by hand with `zlib`: the RSV1 bit and the missing 4 bytes;
# - what *context takeover* buys on a stream of similar messages, and what it costs in memory;
# - how a tiny frame can expand into gigabytes, and how a size limit stops it;
# - when to turn compression off.

# %% [markdown]
# ## The idea
#
# RFC 6455 leaves room for *extensions*: features both ends agree on in the handshake. The one every
# browser offers is **permessage-deflate** (RFC 7692). Once it is agreed, a sender may compress each
# message with DEFLATE (the algorithm inside zip and gzip) and marks the first frame of a compressed
# message with the **RSV1** bit, which plain WebSocket leaves at 0.
#
# Two things make it more than "gzip the payload":
#
# - **The tail.** The sender ends each message with a *sync flush*, which always ends with the same
#   4 bytes `00 00 ff ff`, and then cuts them off: the receiver knows they are there and puts them
#   back.
# - **Context takeover.** DEFLATE replaces repeated text with "copy N bytes from D bytes back". With
#   context takeover, "back" may reach into *earlier messages*: the sender and receiver each keep a
#   window (up to 32 KiB) of what went before. Similar messages then shrink to a few bytes, and every
#   connection keeps that memory alive between messages.
#
# The handshake agrees on four parameters, two per direction: `server_max_window_bits` and
# `client_max_window_bits` (8 to 15: the window is 2**bits bytes) and `server_no_context_takeover`
# and `client_no_context_takeover` (start every message from an empty window). `server_` settings
# are about what the *server* compresses, `client_` about what the *client* compresses.

# %%
import zlib

import websockets

from wslearn import browser, deflate, framing, plots, servers, wire
from wslearn.exercises import check
from wslearn.websocket import WebSocket

# %% [markdown]
# ## What Chromium offers, what the server answers
#
# A `websockets` echo server with its default settings (compression on), a wire tap in front of it,
# and headless Chromium running this JavaScript against the tap. It sends five chat messages in
# JSON, each much like the one before, and closes once the echoes are back:

# %%
SEND_ALL = """
const ws = watch(new WebSocket(url), "extensions");
let echoes = 0;
ws.onopen = () => { for (const m of args.messages) ws.send(m); };
ws.onmessage = () => { if (++echoes === args.messages.length) ws.close(1000); };
"""
chat = [m.decode() for m in deflate.sample_messages("chat", 5)]
echo = await servers.start("echo", compression="deflate")
async with wire.Tap(echo) as tap:
    chromium = await browser.run(SEND_ALL, url=tap.url, messages=chat)
await browser.close()  # all we need from Chromium is in `chromium` and `tap` now
print(chromium.version, chromium.types())
print("ws.extensions:", chromium.events[0]["extensions"])
for line in (tap.head(wire.CLIENT) + tap.head(wire.SERVER)).decode().splitlines():
    if line.startswith(("GET", "HTTP", "Sec-WebSocket-Extensions")):
        print(line)

# %% [markdown]
# Chromium offers permessage-deflate with `client_max_window_bits` and no value: "you may limit
# the window I compress with". The server accepts and answers with its own settings: it will
# compress with a 4 KiB window (12 bits), and asks Chromium to do the same. Chromium's
# `ws.extensions` is simply the server's answer. wslearn's `WebSocket` makes the same offer, so
# against the same server it ends up with the same `extensions`:

# %%
async with WebSocket(echo.url) as ws:
    print("wslearn's WebSocket:", ws.extensions)
print("same as Chromium's: ", ws.extensions == chromium.events[0]["extensions"])

# %% [markdown]
# `wslearn.deflate` holds both sides of this negotiation. `parse_extensions` reads the header,
# `accept` is the server's choice, `parse_response` the client's check of the answer:

# %%
offer = deflate.parse_extensions("permessage-deflate; client_max_window_bits")
print(offer)
answer, agreed = deflate.accept(deflate.offer(), server_max_window_bits=12, client_max_window_bits=12)
print(answer)
print(agreed)

# %% [markdown]
# The RFC's rules are strict in one direction and forgiving in the other. A **server** that finds a
# parameter it does not know, a repeated one or a bad value (`server_max_window_bits=16`) must
# simply *decline* that offer: no compression, but the connection goes ahead. A **client** that
# gets such an answer must fail the connection: the server would be compressing in a way the client
# cannot read.

# %%
print(deflate.accept("permessage-deflate; server_max_window_bits=16"))
try:
    deflate.parse_response("permessage-deflate; server_max_window_bits=16")
except deflate.NegotiationError as exc:
    print("client fails the connection:", exc)

# %% [markdown]
# ## A compressed frame from Chromium, by hand
#
# Here is the first frame Chromium sent, as the tap recorded it.

# %%
body = wire.split_head(tap.data(wire.CLIENT))[1]
frame, used = framing.decode_frame(body, allow_rsv1=True)
print(wire.hexdump(body[:used]))
print(f"FIN={int(frame.fin)} RSV1={int(frame.rsv1)} opcode={frame.opcode.name}")
print(f"mask={frame.mask.hex(' ')}  payload: {len(frame.payload)} bytes for a "
      f"{len(chat[0])}-character message")

# %% [markdown]
# RSV1 is 1: this message is compressed. The payload (already unmasked by `decode_frame`) is raw
# DEFLATE, with no zlib or gzip header, so we ask zlib for a *raw* stream with negative window bits.
# Then we give back the 4 bytes the sender cut off (RFC 7692 §7.2.2):

# %%
inflater = zlib.decompressobj(wbits=-15)
text = inflater.decompress(frame.payload + b"\x00\x00\xff\xff").decode()
print(text)
print(text == chat[0])

# %% [markdown]
# Why `wbits=-15` when Chromium was asked to use 12 bits? A bigger window can always read a stream
# made with a smaller one; the limit only tells the *sender* how far back it may point.
#
# The next message may point back into this one (context takeover), so a receiver inflates a whole
# connection with one decompressor that remembers. `deflate.Decompressor` is that receiver, with
# the agreed window and a size limit; here it reads all five of Chromium's messages:

# %%
receiver = deflate.Decompressor(agreed.window_bits("client"), max_size=2**20)
frames = framing.FrameReader(allow_rsv1=True).feed(body)
for f in frames:
    if f.opcode is framing.Opcode.TEXT:
        out = receiver.decompress(f.payload).decode()
        print(f"{len(f.payload):3} bytes on the wire -> {len(out)} characters  {out[:44]}…")

# %% [markdown]
# The later messages are a fraction of the first: most of each chat line repeats the previous
# ones, and with context takeover Chromium replaces those parts by "copy N bytes from D bytes
# back", reaching into the earlier messages.
#
# ## Context takeover on a longer stream
#
# `deflate.Compressor` is one direction's DEFLATE stream. We feed the same 40 chat messages to two
# of them, with and without context takeover, and plot the bytes each message costs on the wire.

# %%
stream = deflate.sample_messages("chat", 40)
keep = deflate.Compressor(12)
fresh = deflate.Compressor(12, no_context_takeover=True)
sizes = {
    "uncompressed": [len(m) for m in stream],
    "no context takeover": [len(fresh.compress(m)) for m in stream],
    "context takeover": [len(keep.compress(m)) for m in stream],
}
for label, values in sizes.items():
    print(f"{label:20} {sum(values):6} bytes in total, {sum(values) / len(values):6.1f} per message")
fig = plots.context_takeover(sizes)

# %% [markdown]
# Without context takeover each message is compressed on its own: a short JSON line has little
# repetition inside it, so it shrinks only a little. With context takeover the first message costs
# as much as before, and the rest cost a fraction.
#
# ## What it costs
#
# `deflate.measure` compresses and inflates a stream of realistic messages and reports the ratio,
# the CPU time per message and the memory one connection keeps between messages (a compressor for
# what it sends and a decompressor for what it receives, measured with `tracemalloc`, which sees
# zlib's own allocations). Three kinds of messages: short chat lines, much alike; random bytes
# (what encrypted or already-compressed data looks like); and a large JSON document. memLevel is
# zlib's hash-table size: 8 is zlib's default, 5 is what `websockets` uses.

# %%
for kind in ("chat", "random", "document"):
    sample = deflate.sample_messages(kind, 1)[0]
    print(f"{kind:9} {len(sample):7,} bytes  {sample[:32]!r}…")

# %%
costs = [
    deflate.measure(kind, bits, takeover)
    for kind in ("chat", "random", "document")
    for bits in range(9, 16)
    for takeover in (True, False)
]
costs += [deflate.measure("chat", bits, True, mem_level=5) for bits in range(9, 16)]
fig = plots.compression_costs(costs)

# %%
print(f"{'kind':9} {'bits':>4} {'takeover':>8} {'ratio':>6} {'µs/msg':>8} {'KiB idle':>9} {'KiB peak':>9}")
for c in costs:
    if c.window_bits in (9, 12, 15) and c.mem_level == 8:
        takeover = "yes" if c.context_takeover else "no"
        print(f"{c.kind:9} {c.window_bits:4} {takeover:>8} {c.ratio:6.2f} "
              f"{c.compress_us:8.1f} {c.idle_bytes / 1024:9.1f} {c.peak_bytes / 1024:9.1f}")

# %% [markdown]
# zlib documents its memory use: a compressor needs `2**(windowBits+2) + 2**(memLevel+9)` bytes,
# a decompressor `2**windowBits` plus about 7 KiB of state. Side by side with what `tracemalloc`
# measured for one connection with context takeover:

# %%
for bits in (9, 12, 15):
    formula = (2 ** (bits + 2) + 2 ** (8 + 9)) + (2**bits + 7 * 1024)
    measured = next(c.idle_bytes for c in costs
                    if (c.kind, c.window_bits, c.context_takeover, c.mem_level) == ("chat", bits, True, 8))
    print(f"{bits} bits: formula {formula / 1024:6.1f} KiB, measured {measured / 1024:6.1f} KiB")

# %% [markdown]
# Read the figure from left to right:
#
# - **Memory.** With context takeover every connection keeps both streams alive, idle or not. The
#   window matters less than you might think: the compressor's hash table (`2**(memLevel+9)`
#   bytes) is there whatever the window. Without context takeover nothing is kept between
#   messages: an idle connection costs nothing, a busy one only while it works (the "peak"
#   column, which also holds the message itself).
# - **Ratio.** Chat lines shrink a lot only with context takeover. Random bytes do not shrink at
#   all; they grow a little. The JSON document shrinks well in both cases, since it repeats itself.
# - **CPU.** Compression costs microseconds for a chat line and milliseconds for a large document,
#   every time it is sent, and the server pays it once per client unless it compresses once for all.
#
# ## A decompression bomb
#
# DEFLATE can describe a long run of identical bytes in very few bytes. An attacker sends one
# small frame that inflates to gigabytes; a receiver that inflates first and checks the size
# afterwards has already run out of memory. The limit must apply *while* inflating: zlib's
# `max_length` stops after a given number of output bytes, and `deflate.Decompressor` uses it.

# %%
bomb = deflate.Compressor().compress(bytes(16 * 2**20))
print(f"16 MiB of zeros compress to {len(bomb):,} bytes")
guarded = deflate.Decompressor(max_size=2**20)
try:
    guarded.decompress(bomb)
except framing.ProtocolError as exc:
    print(f"stopped: close code {exc.code}: {exc}")

# %% [markdown]
# A real server does the same: `websockets` applies its `max_size` (1 MiB by default) to the
# inflated message and closes with 1009 ("message too big").

# %%
async with websockets.connect(echo.url, max_size=None) as ws:
    await ws.send(bytes(16 * 2**20))
    try:
        await ws.recv()
    except websockets.ConnectionClosedError as exc:
        print(f"the server closed with {exc.rcvd.code} {exc.rcvd.reason!r}")

# %% [markdown]
# ## When to turn compression off
#
# Compression is a trade: bandwidth against CPU and memory. From the measurements above:
#
# - **Incompressible data** (images, video, encrypted or already-compressed payloads): the ratio
#   is above 1, so every byte of CPU is wasted. Send such messages uncompressed (a sender may leave
#   RSV1 clear per message) or turn the extension off.
# - **Many idle connections**: with context takeover each one keeps its windows and hash tables.
#   Multiply the "KiB idle" column by your number of connections. That is why the Node.js `ws`
#   library and engine.io turned compression off by default. `*_no_context_takeover` and smaller
#   windows cut it.
# - **Tiny messages** cost CPU per message and gain a few bytes; a server broadcasting one message
#   to thousands of clients compresses it once per client.
# - **Secrets next to attacker-chosen text** in one compressed stream leak through the compressed
#   size (the CRIME and BREACH attacks on HTTPS): do not compress tokens together with data an
#   attacker controls.
#
# A page cannot turn compression off: the browser always offers it. The server decides, by
# declining the offer (`compression=None` in `websockets`, no `compression=` for the course's
# `scratch` server) or by accepting it with the parameters it can afford. And whoever inflates
# keeps a size limit on it, always.

# %% [markdown]
# ## Exercises
#
# **Exercise 1 · parse an offer.** Write `parse_offer(value)` that turns a
# `Sec-WebSocket-Extensions` value into a list of `(name, {parameter: value})` pairs, one per
# offer, in order. Offers are separated by `,`, parameters by `;`; a parameter without `=` has the
# value `None`; a value may be quoted (`"10"` means `10`) and stays a string. Raise `ValueError` if
# an offer repeats a parameter (RFC 7692 §7 makes the server decline such an offer).

# %% exercise=parse_offer
def parse_offer(value: str) -> list[tuple[str, dict]]:
    ### BEGIN SOLUTION
    offers = []
    for element in value.split(","):
        name, *params = [part.strip() for part in element.split(";")]
        parsed = {}
        for param in params:
            key, equals, raw = (p.strip() for p in param.partition("="))
            if key in parsed:
                raise ValueError(f"duplicate parameter {key}")
            parsed[key] = raw.strip('"') if equals else None
        offers.append((name, parsed))
    return offers
    ### END SOLUTION


# %% check=parse_offer
check("parse_offer", parse_offer)

# %% [markdown]
# **Exercise 2 · answer an offer.** You write the server's side of the negotiation for a server
# that wants 12-bit windows in both directions (as `websockets` does). `params` is one offer's
# parameters, as `parse_offer` gives them. Return the `Sec-WebSocket-Extensions` value of the
# response, or `None` to decline. The rules (RFC 7692 §7): decline an unknown parameter or an
# invalid value (window bits are `8` to `15`, no leading zero; the two `*_no_context_takeover`
# take no value); keep a `*_no_context_takeover` the client asked for; never answer a bigger
# window than the offer allows; and send `client_max_window_bits` only if the offer had it.

# %% exercise=answer_offer
def answer_offer(params: dict) -> str | None:
    ### BEGIN SOLUTION
    bits = {str(n): n for n in range(8, 16)}
    flags = ("server_no_context_takeover", "client_no_context_takeover")
    for name, value in params.items():
        if name in flags:
            valid = value is None
        elif name == "server_max_window_bits":
            valid = value in bits
        elif name == "client_max_window_bits":
            valid = value is None or value in bits
        else:
            valid = False
        if not valid:
            return None
    response = ["permessage-deflate"] + [name for name in flags if name in params]
    server_bits = min(12, bits.get(params.get("server_max_window_bits"), 15))
    response.append(f"server_max_window_bits={server_bits}")
    if "client_max_window_bits" in params:
        client_bits = min(12, bits.get(params["client_max_window_bits"], 15))
        response.append(f"client_max_window_bits={client_bits}")
    return "; ".join(response)
    ### END SOLUTION


# %% check=answer_offer
check("answer_offer", answer_offer)

# %% [markdown]
# **Exercise 3 · inflate a connection.** `payloads` are the payloads of compressed text messages
# from one connection, in order (unmasked, fragments already joined). Return the messages as
# strings. `context_takeover` says whether the sender kept its window from message to message.

# %% exercise=inflate_messages
def inflate_messages(payloads: list[bytes], context_takeover: bool) -> list[str]:
    ### BEGIN SOLUTION
    inflater = zlib.decompressobj(wbits=-15)
    messages = []
    for payload in payloads:
        if not context_takeover:
            inflater = zlib.decompressobj(wbits=-15)
        messages.append(inflater.decompress(payload + b"\x00\x00\xff\xff").decode())
    return messages
    ### END SOLUTION


# %% check=inflate_messages
check("inflate_messages", inflate_messages)

# %% [markdown]
# **Exercise 4 · a server with many idle connections.** A notification server keeps 50,000
# browser connections open; most are idle for minutes and then receive a small JSON message.
# Compression must stay on (the messages are JSON), but the compression state of all idle
# connections together must fit in 1 GiB. Return the keyword arguments you would pass to
# `deflate.accept()` (any of `server_no_context_takeover`, `client_no_context_takeover`,
# `server_max_window_bits`, `client_max_window_bits`). The check negotiates them against Chromium's
# offer and *measures* what an idle connection keeps.

# %% exercise=server_settings
def server_settings() -> dict:
    ### BEGIN SOLUTION
    return {"server_no_context_takeover": True, "client_no_context_takeover": True}
    ### END SOLUTION


# %% check=server_settings
check("server_settings", server_settings)

# %% [markdown]
# ## Summary
#
# - permessage-deflate is agreed in the handshake: the client offers
#   (`Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits` from Chromium), the
#   server accepts with its parameters or declines; a bad answer makes the client fail the
#   connection.
# - A compressed message has RSV1 set on its first frame; its payload is raw DEFLATE ending in a
#   sync flush whose last 4 bytes `00 00 ff ff` are cut off and must be put back.
# - Context takeover makes similar messages tiny, and costs each connection its compressor and
#   decompressor between messages; `*_no_context_takeover` frees them, smaller windows shrink them.
# - Always limit what you inflate, while inflating (1009 "message too big").
# - Turn compression off for incompressible data, for huge numbers of idle connections you cannot
#   afford, and where secrets share a stream with attacker-controlled text.

# %%
await servers.stop()
