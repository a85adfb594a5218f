# %% [markdown]
# # 02 · Frames
#
# **What you will learn**
#
# - how a WebSocket frame is laid out, bit by bit, from a frame captured on the wire;
# - how to build `"Hello"` by hand, unmasked as a server sends it and masked as a client must;
# - why clients mask their frames, and how masking works;
# - the three ways a payload length is written, and what each costs;
# - how a message is split into fragments, with a ping in between, and put back together;
# - what a browser-style `send()` puts on the wire, and how a server answers a broken frame.
#
# Everything runs on `127.0.0.1`; the library is `wslearn.framing` (RFC 6455 §5).

# %% [markdown]
# ## Frames, not bytes
#
# After the `101 Switching Protocols` of notebook 01, each direction of the TCP connection is a
# stream of **frames**. TCP only delivers bytes; the frame header tells the receiver where each
# frame ends and what it is. The header is small:
#
# - **byte 0**: `FIN` (is this the last frame of the message?), three reserved bits `RSV1-3`
#   (zero unless an extension gives them a meaning), and a 4-bit **opcode**: `0x1` text,
#   `0x2` binary, `0x0` continuation, `0x8` close, `0x9` ping, `0xA` pong;
# - **byte 1**: `MASK` (is the payload masked?) and a 7-bit **payload length**;
# - then, only for long payloads, an **extended length** of 2 or 8 bytes;
# - then, only if `MASK` is 1, a 4-byte **masking key**;
# - then the payload.
#
# A **message** (what `onmessage` delivers) is one frame, or several *fragments* whose last one
# has `FIN` set. Close, ping and pong are *control frames*: short, never fragmented, and allowed
# between the fragments of a message.

# %%
import asyncio

import websockets

from wslearn import close, framing, handshake, plots, servers, wire
from wslearn.exercises import check
from wslearn.framing import Frame, Opcode

# %% [markdown]
# ## One real frame
#
# As in notebook 00, the `websockets` library sends `"Hello"` to the course's echo server through
# the wire tap. This time we keep the bytes that follow the HTTP heads: the frames.
# `framing.decode_frame(data)` decodes the frame at the start of `data` and says how many bytes it
# used, which is all we need to cut the stream into frames.


# %%
def split_frames(data: bytes) -> list[bytes]:
    """Cut a stream of frames into the raw bytes of each frame."""
    raw = []
    while data:
        _, used = framing.decode_frame(data)
        raw.append(data[:used])
        data = data[used:]
    return raw


echo = await servers.start("echo")
async with wire.Tap(echo) as tap:
    async with websockets.connect(tap.url, compression=None) as ws:
        await ws.send("Hello")
        reply = await ws.recv()

client_raw = split_frames(wire.split_head(tap.data(wire.CLIENT))[1])
server_raw = split_frames(wire.split_head(tap.data(wire.SERVER))[1])
print("client → server:", *[raw.hex(" ") for raw in client_raw], sep="\n  ")
print("server → client:", *[raw.hex(" ") for raw in server_raw], sep="\n  ")

# %% [markdown]
# Each side sent the message and then, when the `async with` block ended, a close frame
# (notebook 04 is about those). Here is the client's `"Hello"`, every bit of it, laid out as in
# the diagram of RFC 6455 §5.2 (32 bits per row):

# %%
hello_raw = client_raw[0]
fig = plots.frame_layout(hello_raw, title='The client\'s "Hello", as captured on the wire')

# %% [markdown]
# Read it row by row:
#
# - `FIN` is 1: the whole message is in this frame. `RSV1-3` are 0: no extension is in use.
# - The opcode is `0001`, text.
# - `MASK` is 1: this frame comes from a client. The 7-bit length is `0000101`, 5 bytes.
# - The next 4 bytes are the masking key, chosen at random for this frame.
# - The payload bytes on the wire are not `H e l l o`: each is XOR-ed with one byte of the key.
#
# `decode_frame` reads the same fields and undoes the mask:

# %%
frame, used = framing.decode_frame(hello_raw)
print(frame)
print("header + key:", used - len(frame.payload), "bytes; payload:", len(frame.payload), "bytes")

# %% [markdown]
# ## "Hello" by hand
#
# `framing.encode_frame` goes the other way. A server sends its frames unmasked, so the echo
# should be exactly the unmasked `"Hello"`: `0x81` (FIN + text), `0x05` (no mask, length 5),
# then the five ASCII bytes.

# %%
by_hand = framing.encode_frame(Frame(fin=True, opcode=Opcode.TEXT, payload=b"Hello"))
print("by hand:      ", by_hand.hex(" "))
print("server echoed:", server_raw[0].hex(" "))
print("identical:", by_hand == server_raw[0])

# %% [markdown]
# RFC 6455 §5.7 gives the masked version of the same frame, with the key `37 fa 21 3d`. The length
# byte becomes `0x85` (`MASK` set, length 5), the key follows, then the masked payload:

# %%
rfc_key = bytes.fromhex("37fa213d")
masked_by_hand = framing.encode_frame(Frame(True, Opcode.TEXT, b"Hello"), mask=rfc_key)
print("by hand:", masked_by_hand.hex(" "))
print("RFC 5.7:", "81 85 37 fa 21 3d 7f 9f 4d 51 58")
print("identical:", masked_by_hand == bytes.fromhex("818537fa213d7f9f4d5158"))

# %% [markdown]
# The captured client frame used another key, so its bytes differ. Encode with *its* key and the
# result is the captured frame, byte for byte:

# %%
captured_key = frame.mask
print("captured key:", captured_key.hex(" "))
again = framing.encode_frame(Frame(True, Opcode.TEXT, b"Hello"), mask=captured_key)
print("by hand: ", again.hex(" "))
print("captured:", hello_raw.hex(" "))
print("identical:", again == hello_raw)

# %% [markdown]
# ## Why clients mask
#
# Masking is not encryption: the key travels right in front of the payload. It exists for the
# sake of *other* machines on the path. A script on a web page chooses what its WebSocket sends;
# without masking it could write bytes that look like an HTTP request to a transparent proxy that
# does not understand WebSocket, and make that proxy cache a forged response for a real URL:
# **cache poisoning** (RFC 6455 §10.3). Because every client frame is XOR-ed with a fresh,
# unpredictable key chosen by the browser, not by the script, the script cannot control the
# bytes on the wire. Servers do not mask (§5.1): their frames are not written by page scripts.
#
# Masking is a byte-wise XOR: payload byte `i` is XOR-ed with key byte `i % 4`. XOR twice with
# the same key and you get the original back, so masking and unmasking are the same function,
# `framing.apply_mask`:

# %%
masked = framing.apply_mask(b"Hello", rfc_key)
print("masked:  ", masked.hex(" "))
print("unmasked:", framing.apply_mask(masked, rfc_key))
for i, plain in enumerate(b"Hello"):
    k = rfc_key[i % 4]
    print(f"byte {i}: {plain:02x} '{chr(plain)}'  XOR key[{i % 4}] {k:02x}  →  {plain ^ k:02x}")

# %% [markdown]
# A real client picks a new key for every frame. The captured `"Hello"` and the close frame after
# it:

# %%
for raw in client_raw:
    decoded, _ = framing.decode_frame(raw)
    print(f"{decoded.opcode.name:5}  key {decoded.mask.hex(' ')}")

# %% [markdown]
# ## Three ways to write a length
#
# The 7-bit length field holds 0 to 125. Two of its values are escapes (§5.2):
#
# - **126**: the real length follows in the next **2 bytes** (up to 65 535);
# - **127**: the real length follows in the next **8 bytes** (up to 2⁶³ - 1).
#
# All numbers are big-endian ("network byte order"), and the shortest form must be used. Here are
# the headers `encode_frame` writes at each boundary (a server's frame, unmasked):

# %%
print(f"{'payload':>9}  {'header bytes (hex)':32} {'header':>6} {'+ key (client)':>15}")
for n in (125, 126, 65535, 65536):
    encoded = framing.encode_frame(Frame(True, Opcode.BINARY, bytes(n)))
    header = encoded[: len(encoded) - n]
    client_header = len(framing.encode_frame(Frame(True, Opcode.BINARY, bytes(n)), mask=True)) - n
    print(f"{n:9,}  {header.hex(' '):32} {len(header):4} B {client_header:13} B")

# %% [markdown]
# So a header costs 2, 4 or 10 bytes, plus 4 for a client's key. Measured over many payload sizes
# with `encode_frame` itself:

# %%
sizes = sorted({round(10 ** (k / 8)) for k in range(0, 49)} | {0, 125, 126, 65535, 65536})
client_header = [
    len(framing.encode_frame(Frame(True, Opcode.BINARY, bytes(n)), mask=True)) - n for n in sizes
]
server_header = [len(framing.encode_frame(Frame(True, Opcode.BINARY, bytes(n)))) - n for n in sizes]
fig = plots.header_sizes(sizes, client_header, server_header)

# %% [markdown]
# The header is a big share of a tiny message and a negligible one of a big message. (A payload
# of 0 bytes is drawn at 1 on the log scale.)

# %% [markdown]
# ## Fragments, and a ping in between
#
# A sender may split one message into several frames (§5.4): the first carries the opcode (text or
# binary) with `FIN=0`, the following ones are **continuation** frames (opcode 0), and the last
# has `FIN=1`. A sender that does not know the final size yet (a stream) can start sending at
# once. Control frames may come between fragments, so a ping need not wait for a long message.
#
# `framing.fragment` splits a message; here, 8 bytes per frame, with a ping slipped in:

# %%
fragments = framing.fragment("Hello, fragmented world!", size=8)
ping = Frame(True, Opcode.PING, b"still there?")
outgoing = [fragments[0], ping, *fragments[1:]]
for f in outgoing:
    print(f)

# %% [markdown]
# The receiver's side is `framing.Assembler`: it absorbs fragments (returns `None`), hands control
# frames straight back so they can be answered at once, and returns a `Message` when the last
# fragment arrives.

# %%
assembler = framing.Assembler()
for f in outgoing:
    print(f"{f.opcode.name:12} FIN={f.fin:d}  →  {assembler.feed(f)}")

# %% [markdown]
# Now the real thing. Over a plain TCP socket we do the opening handshake with `wslearn.handshake`
# (as in notebook 01), send these four frames masked, as a client must, and read what the
# `websockets` echo server answers.


# %%
async def open_raw(server):
    """A TCP connection to `server`, then the opening handshake by hand."""
    reader, writer = await asyncio.open_connection(server.host, server.bound_port)
    request, key = handshake.build_request(f"{server.host}:{server.bound_port}")
    writer.write(request)
    response, _ = handshake.parse_response(await reader.readuntil(b"\r\n\r\n"))
    handshake.check_response(response, key)  # raises unless it is a valid 101
    return reader, writer


async def read_frames(reader, count):
    """Read from the socket until `count` frames from the server have arrived."""
    incoming = framing.FrameReader(expect_masked=False)  # a server never masks
    frames = []
    async with asyncio.timeout(5):
        while len(frames) < count and (data := await reader.read(65536)):
            frames += incoming.feed(data)
    return frames


reader, writer = await open_raw(echo)
for f in outgoing:
    writer.write(framing.encode_frame(f, mask=True))
answers = await read_frames(reader, 2)
for f in answers:
    print(f)

# %% [markdown]
# The server answered the ping with a **pong** carrying the same payload, without waiting for the
# message to finish; then, once the last fragment arrived, it echoed the **whole message in one
# frame**. Applications never see fragments: `websockets` (like a browser) reassembles them, and
# `onmessage` fires once per message. To end politely we send a close frame and read the
# server's answer:

# %%
writer.write(framing.encode_frame(Frame(True, Opcode.CLOSE, close.encode_close(1000)), mask=True))
(goodbye,) = await read_frames(reader, 1)
print(goodbye, "→", close.decode_close(goodbye.payload))
writer.close()

# %% [markdown]
# ## What `send()` puts on the wire
#
# In a browser, each `send()` call becomes one message, and in practice one frame. Pings are not
# part of the browser API at all: a browser answers a server's ping by itself, and a script cannot
# send one. The `websockets` client can, so we add one.
#
# ```js
# ws.send("Hello");                        // a TEXT frame
# ws.send(new Uint8Array([0, 1, 2]));      // a BINARY frame (ArrayBuffer, Blob, typed array)
# ws.send("x".repeat(70000));              // one TEXT frame with a 64-bit length
# ```
#
# The same three sends from Python, through the tap, plus a ping, which only Python can send:

# %%
async with wire.Tap(echo) as tap:
    async with websockets.connect(tap.url, compression=None) as ws:
        await ws.send("Hello")
        await ws.recv()
        await ws.send(bytes([0, 1, 2]))
        await ws.recv()
        pong_waiter = await ws.ping(b"are you there?")
        await pong_waiter
        await ws.send("x" * 70_000)
        await ws.recv()

for direction in (wire.CLIENT, wire.SERVER):
    raws = split_frames(wire.split_head(tap.data(direction))[1])
    print(direction)
    for raw, f in zip(raws, tap.frames(direction), strict=True):
        header = len(raw) - len(f.payload)
        print(
            f"  {f.opcode.name:6} FIN={f.fin:d} MASK={f.mask is not None:d} "
            f"payload {len(f.payload):6,} B  header {header:2} B  {raw[:header].hex(' ')}"
        )

# %% [markdown]
# Every client frame has `MASK=1` and a 4-byte key; no server frame has. The big message went as
# one frame whose length took the 8-byte form. Its first bytes:

# %%
big_raw = next(r for r in split_frames(wire.split_head(tap.data(wire.CLIENT))[1]) if len(r) > 65536)
fig = plots.frame_layout(big_raw[:32], max_payload=4, title="The client's 70 000-byte message")

# %% [markdown]
# And `encode_frame` re-creates every captured frame from its decoded fields (the key included),
# byte for byte:

# %%
for direction in (wire.CLIENT, wire.SERVER):
    stream = wire.split_head(tap.data(direction))[1]
    rebuilt = b"".join(framing.encode_frame(f) for f in tap.frames(direction))
    print(direction, f"{len(stream):,} bytes, rebuilt identical:", rebuilt == stream)

# %% [markdown]
# ## Breaking a rule on purpose
#
# A receiver that finds a broken frame must *fail the connection* (§7.1.7): close it. If the
# connection was already open, as here, it SHOULD first send a close frame with an appropriate
# code, **1002** ("protocol error") for a broken frame; the RFC lets it skip the close frame when
# the other side is unlikely to read it. Two classic mistakes:
#
# - `RSV1` set, although no extension was agreed in the handshake;
# - a client frame without a mask.
#
# `encode_frame(..., check=False)` builds them anyway. Each goes to the echo server on a fresh
# connection:

# %%
broken = {
    "RSV1 set": framing.encode_frame(Frame(True, Opcode.TEXT, b"Hello", rsv1=True), mask=True),
    "not masked": framing.encode_frame(Frame(True, Opcode.TEXT, b"Hello"), mask=False),
}
for name, raw in broken.items():
    reader, writer = await open_raw(echo)
    writer.write(raw)
    (answer,) = await read_frames(reader, 1)
    code, reason = close.decode_close(answer.payload)
    print(f"{name:10}  sent {raw.hex(' ')}")
    print(f"{'':10}  got  {answer.opcode.name} {code} {reason!r}  ({close.describe(code)})")
    print(f"{'':10}  then the server hung up: {await reader.read() == b''}")
    writer.close()

# %% [markdown]
# Our own decoder, in the server's seat (`expect_masked=True`), rejects the same bytes with the
# same code:

# %%
for name, raw in broken.items():
    try:
        framing.decode_frame(raw, expect_masked=True)
    except framing.ProtocolError as error:
        print(f"{name:10}  ProtocolError({str(error)!r}), close code {error.code}")

# %% [markdown]
# ## Exercises
#
# **Exercise 1 · parse_header.** Read the header at the start of `data` and return a dict with
# four keys: `"fin"` (bool), `"opcode"` (int), `"masked"` (bool) and `"length"` (int, the payload
# length, read from the extended length when the 7-bit field says 126 or 127). `data` holds at
# least the whole header. Hint: `data[0] & 0x80` is the top bit of byte 0.


# %% exercise=parse_header
def parse_header(data: bytes) -> dict:
    ### BEGIN SOLUTION
    length = data[1] & 0x7F
    if length == 126:
        length = int.from_bytes(data[2:4], "big")
    elif length == 127:
        length = int.from_bytes(data[2:10], "big")
    return {
        "fin": bool(data[0] & 0x80),
        "opcode": data[0] & 0x0F,
        "masked": bool(data[1] & 0x80),
        "length": length,
    }
    ### END SOLUTION


# %% check=parse_header
check("parse_header", parse_header)

# %% [markdown]
# **Exercise 2 · apply_mask.** TCP hands a receiver the payload of a big frame in pieces, and a
# good receiver unmasks each piece as it arrives instead of waiting for the whole frame. Write
# `apply_mask(data, mask, offset)`: mask (or unmask) `data`, a piece that starts at byte `offset`
# of the payload, with the 4-byte key `mask`, and return bytes. Masking is defined on the whole
# payload: payload byte `j` is XOR-ed (`^`) with `mask[j % 4]`. The last check masks a message in
# three pieces with your function and sends the frame to a real `websockets` server.


# %% exercise=apply_mask
def apply_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    ### BEGIN SOLUTION
    return bytes(b ^ mask[(offset + i) % 4] for i, b in enumerate(data))
    ### END SOLUTION


# %% check=apply_mask
check("apply_mask", apply_mask)

# %% [markdown]
# **Exercise 3 · encode_length.** Return the second header byte (`MASK` bit and 7-bit length)
# followed by the extended length, if any, for a payload of `n` bytes. The last check sends a
# frame with your header to a real server. Hint: `n.to_bytes(2, "big")` writes a 16-bit length.


# %% exercise=encode_length
def encode_length(n: int, masked: bool) -> bytes:
    ### BEGIN SOLUTION
    mask_bit = 0x80 if masked else 0
    if n <= 125:
        return bytes([mask_bit | n])
    if n <= 0xFFFF:
        return bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    return bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    ### END SOLUTION


# %% check=encode_length
check("encode_length", encode_length)

# %% [markdown]
# ## Summary
#
# - Each direction of a WebSocket is a stream of frames: 2 header bytes (`FIN`, `RSV1-3`, opcode;
#   `MASK`, 7-bit length), an optional 2- or 8-byte extended length, a 4-byte masking key on
#   client frames, then the payload.
# - Lengths up to 125 fit in 7 bits; 126 announces a 16-bit length, 127 a 64-bit one, always
#   big-endian and in the shortest form.
# - Clients mask every frame with a fresh random key (XOR, byte `i` with key byte `i % 4`) so
#   that page scripts cannot choose the bytes on the wire; servers never mask.
# - A message may be split into fragments (`FIN=0`, then continuations); control frames such as
#   ping may come in between; receivers reassemble, and `onmessage` sees whole messages only.
# - A frame that breaks a rule fails the connection, after a close frame with code 1002 where the
#   receiver can still send one.
#
# Next, notebook 03 uses all this from the browser's side: `onopen`, `onmessage`, `onerror`,
# `onclose` and `readyState`.

# %%
await servers.stop()
