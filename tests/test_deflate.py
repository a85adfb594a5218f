"""wslearn.deflate: RFC 7692 negotiation and compression, against websockets and Chromium.

- Negotiation: the offer and response rules of RFC 7692 §7 (valid and invalid
  parameters, window bits 8..15, duplicates, unknown names, grammar errors).
- Compression: the RFC's own example bytes (§7.2.3), round trips against
  ``websockets``' own permessage-deflate in both directions (hypothesis), with
  and without context takeover, in fragments; the decompression limit (1009).
- Live: a ``websockets`` server with compression on and a client made of
  wslearn's framing + deflate, and the reverse; a bomb over a real connection.
- Chromium: its offer, and its compressed frames (captured with ``wire.Tap``)
  decoded by wslearn.deflate; frames compressed by wslearn.deflate read by Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import zlib
from urllib.parse import quote, unquote

import pytest
from conftest import async_test, failures, not_written, reference
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosedError
from websockets.exceptions import NegotiationError as WsNegotiationError
from websockets.extensions import permessage_deflate as ws_pmd
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode

from wslearn import browser, deflate, handshake, scratch, wire
from wslearn.close import decode_close, encode_close
from wslearn.deflate import (
    Compressor,
    Decompressor,
    NegotiationError,
    Params,
    PerMessageDeflate,
    accept,
    offer,
    parse_extensions,
    parse_response,
)
from wslearn.exercises import run_checker
from wslearn.framing import Assembler, Frame, FrameReader, Opcode, ProtocolError, decode_frame
from wslearn.framing import encode_frame as wire_bytes
from wslearn.raw import RawWebSocket, listen, read_head, tcp
from wslearn.websocket import WebSocket

CHROMIUM_OFFER = "permessage-deflate; client_max_window_bits"
WEBSOCKETS_ANSWER = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"

# --- negotiation: the client's offer -------------------------------------------------------


def test_default_offer_is_chromiums():
    assert offer() == CHROMIUM_OFFER


def test_offer_with_every_parameter_in_websockets_order():
    assert offer(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=10,
        client_max_window_bits=11,
    ) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11"
    )


@pytest.mark.parametrize("bits", [7, 16, 0])
def test_offer_rejects_window_bits_outside_8_to_15(bits):
    with pytest.raises(ValueError, match=r"8\.\.15"):
        offer(server_max_window_bits=bits)


# --- negotiation: the server's answer (RFC 7692 §7) ------------------------------------------

WS_DEFAULTS = {"server_max_window_bits": 12, "client_max_window_bits": 12}

ACCEPTED = [
    # (offer, server's settings, response value)
    (CHROMIUM_OFFER, {}, "permessage-deflate"),
    (CHROMIUM_OFFER, WS_DEFAULTS, WEBSOCKETS_ANSWER),
    # §7.1.2.2: no client_max_window_bits in the offer -> none in the response.
    ("permessage-deflate", WS_DEFAULTS, "permessage-deflate; server_max_window_bits=12"),
    # §7.1.2.1: "the same or smaller value as the offer".
    (
        "permessage-deflate; server_max_window_bits=10",
        WS_DEFAULTS,
        "permessage-deflate; server_max_window_bits=10",
    ),
    (
        "permessage-deflate; server_max_window_bits=15",
        {},
        "permessage-deflate; server_max_window_bits=15",
    ),
    (
        "permessage-deflate; server_max_window_bits=8",
        {},
        "permessage-deflate; server_max_window_bits=8",
    ),
    # The client's own hint is kept when it is below the server's wish.
    (
        "permessage-deflate; client_max_window_bits=9",
        WS_DEFAULTS,
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
    ),
    # §7.1.1.1: asked for, so it must be in the response.
    (
        "permessage-deflate; server_no_context_takeover",
        {},
        "permessage-deflate; server_no_context_takeover",
    ),
    (
        "permessage-deflate; client_no_context_takeover",
        {},
        "permessage-deflate; client_no_context_takeover",
    ),
    # §7.1.1.1: the server may add server_no_context_takeover unasked.
    (
        CHROMIUM_OFFER,
        {"server_no_context_takeover": True},
        "permessage-deflate; server_no_context_takeover",
    ),
    # A quoted value is the same token once unquoted (RFC 6455 §9.1).
    (
        'permessage-deflate; server_max_window_bits="10"',
        {},
        "permessage-deflate; server_max_window_bits=10",
    ),
    # Spaces around ';' and '=' do not matter.
    (
        "permessage-deflate ;server_max_window_bits = 11",
        {},
        "permessage-deflate; server_max_window_bits=11",
    ),
    # Other extensions are not selected; the first acceptable offer wins (§5).
    ("x-webkit-deflate-frame, " + CHROMIUM_OFFER, {}, "permessage-deflate"),
    (
        "permessage-deflate; foo, permessage-deflate; server_max_window_bits=9",
        {},
        "permessage-deflate; server_max_window_bits=9",
    ),
]


@pytest.mark.parametrize(("value", "settings_", "response"), ACCEPTED)
def test_server_accepts_valid_offer(value, settings_, response):
    answer = accept(value, **settings_)
    assert answer is not None
    assert answer[0] == response
    if "," not in value:  # a one-offer client agrees with the server's reading
        assert parse_response(response, value) == answer[1]


DECLINED = [
    "permessage-deflate; foo",  # "not defined for use in an offer"
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  # duplicate
    "permessage-deflate; client_max_window_bits; client_max_window_bits=10",  # duplicate
    "permessage-deflate; server_max_window_bits=16",  # invalid value
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=08",  # "without leading zeroes"
    "permessage-deflate; server_max_window_bits=abc",
    "permessage-deflate; server_max_window_bits",  # needs a value
    "permessage-deflate; client_max_window_bits=0",
    "permessage-deflate; server_no_context_takeover=1",  # "has no value"
    "x-webkit-deflate-frame",  # not ours
]


@pytest.mark.parametrize("value", DECLINED)
def test_server_declines_invalid_offer(value):
    assert accept(value, **WS_DEFAULTS) is None


@pytest.mark.parametrize("value", DECLINED[:-1])
def test_websockets_declines_the_same_offers(value):
    """The same offers, given to websockets' own server side, are declined too."""
    factory = ws_pmd.ServerPerMessageDeflateFactory(**WS_DEFAULTS)
    params = parse_extensions(value)[0].params
    with pytest.raises(WsNegotiationError):  # InvalidParameterName/Value, DuplicateParameter
        factory.process_request_params(params, [])


@pytest.mark.parametrize(
    "value",
    [
        "permessage deflate",  # a space inside the name
        "permessage-deflate; =10",
        'permessage-deflate; server_max_window_bits="10',  # unterminated quote
        'permessage-deflate; server_max_window_bits="1 0"',  # unquoted, not a token
        "permessage-deflate; server_max_window_bits=1/0",
    ],
)
def test_offer_that_breaks_the_grammar_gets_400(value):
    with pytest.raises(NegotiationError) as info:
        accept(value)
    assert info.value.status == 400
    assert info.value.code is None


def test_no_offer_no_extension():
    assert accept(None) is None
    assert accept([]) is None


@pytest.mark.parametrize("value", ["", " ", ", ,"])
def test_empty_extensions_header_gets_400(value):
    """§9.1: ``1#extension``, at least one; websockets answers 400 too."""
    with pytest.raises(NegotiationError) as info:
        accept(value)
    assert info.value.status == 400


@pytest.mark.parametrize(
    "value",
    [
        CHROMIUM_OFFER,
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ],
)
def test_accept_agrees_with_websockets_server(value):
    """Where both can do an offer, wslearn's answer is websockets' answer, byte for byte."""
    factory = ws_pmd.ServerPerMessageDeflateFactory(**WS_DEFAULTS)
    params, _ = factory.process_request_params(parse_extensions(value)[0].params, [])
    answer = accept(value, **WS_DEFAULTS)
    assert answer is not None
    assert answer[0] == deflate.serialize_extension("permessage-deflate", params)


# --- negotiation: the client checks the response -------------------------------------------


def test_client_reads_websockets_default_answer():
    assert parse_response(WEBSOCKETS_ANSWER) == Params(False, False, 12, 12)


def test_client_without_answer_runs_uncompressed():
    assert parse_response(None) is None
    assert parse_response([]) is None


def test_client_that_requires_the_extension_closes_with_1010():
    with pytest.raises(NegotiationError) as info:
        parse_response(None, required=True)
    assert info.value.code == 1010


FAILED = [
    # (offer, response): the client must _Fail the WebSocket Connection_ (§7)
    (CHROMIUM_OFFER, "permessage-deflate; foo"),
    (CHROMIUM_OFFER, "permessage-deflate; server_max_window_bits=12; server_max_window_bits=12"),
    (CHROMIUM_OFFER, "permessage-deflate; server_max_window_bits=16"),
    (CHROMIUM_OFFER, "permessage-deflate; client_max_window_bits"),  # no value in a response
    (CHROMIUM_OFFER, "permessage-deflate; server_no_context_takeover=yes"),
    ("permessage-deflate", "permessage-deflate; client_max_window_bits=10"),  # not offered
    ("permessage-deflate; server_max_window_bits=10", "permessage-deflate"),  # must answer it
    (
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=11",
    ),
    ("permessage-deflate; server_no_context_takeover", "permessage-deflate"),
    (CHROMIUM_OFFER, "x-webkit-deflate-frame"),  # RFC 6455 §4.1: not offered
    (CHROMIUM_OFFER, "permessage-deflate, permessage-deflate"),  # accepted twice
    (CHROMIUM_OFFER, "permessage-deflate; =1"),  # grammar
    (CHROMIUM_OFFER, ""),  # an empty header (Chromium fails too)
]


@pytest.mark.parametrize(("sent", "response"), FAILED)
def test_client_fails_on_a_bad_response(sent, response):
    with pytest.raises(NegotiationError) as info:
        parse_response(response, sent)
    assert info.value.status == 101
    assert info.value.code is None  # no close frame: the handshake never finished


def test_client_keeps_its_own_hints():
    """§7.1.1.2, §7.1.2.2: a hint the client offered binds the client even if not echoed."""
    sent = offer(client_no_context_takeover=True, client_max_window_bits=10)
    assert parse_response("permessage-deflate", sent) == Params(False, True, None, 10)


# --- compression: the RFC's examples (§7.2.3) -----------------------------------------------


def _decode_all(data: bytes, pmd: PerMessageDeflate) -> list[bytes | str]:
    assembler = Assembler()
    out = []
    while data:
        frame, used = decode_frame(data, allow_rsv1=True)
        data = data[used:]
        if (message := assembler.feed(pmd.decode(frame))) is not None:
            out.append(message.data)
    return out


@pytest.mark.parametrize(
    ("hex_bytes", "messages"),
    [
        ("c107f248cdc9c90700", ["Hello"]),  # §7.2.3.1 one frame
        ("4103f248cd 8004c9c90700", ["Hello"]),  # §7.2.3.1 two fragments
        ("c107f248cdc9c90700 c105f200110000", ["Hello", "Hello"]),  # §7.2.3.2 shared window
        ("c10b000500faff48656c6c6f00", ["Hello"]),  # §7.2.3.3 stored block
        ("c108f348cdc9c9070000", ["Hello"]),  # §7.2.3.4 BFINAL set
        ("c10df248050000 00ffff cac9c90700", ["Hello"]),  # §7.2.3.5 two blocks
    ],
)
def test_rfc_7692_examples_decode(hex_bytes, messages):
    pmd = PerMessageDeflate(Params(), client=True)
    assert _decode_all(bytes.fromhex(hex_bytes.replace(" ", "")), pmd) == messages


def test_compressor_reproduces_the_rfc_example_bytes():
    pmd = PerMessageDeflate(Params(), client=False)
    assert [wire_bytes(f) for f in pmd.encode("Hello")] == [bytes.fromhex("c107f248cdc9c90700")]
    assert [wire_bytes(f) for f in pmd.encode("Hello")] == [bytes.fromhex("c105f200110000")]


def test_without_context_takeover_the_same_message_compresses_the_same():
    pmd = PerMessageDeflate(Params(server_no_context_takeover=True), client=False)
    assert pmd.encode("Hello") == pmd.encode("Hello")
    assert pmd.encode("Hello")[0].payload == bytes.fromhex("f248cdc9c90700")


def test_rsv1_on_the_first_fragment_only():
    pmd = PerMessageDeflate(Params(), client=True)
    frames = pmd.encode(os.urandom(300), fragment_size=100)
    assert [(f.opcode, f.rsv1, f.fin) for f in frames] == [
        (Opcode.BINARY, True, False),
        (Opcode.CONTINUATION, False, False),
        (Opcode.CONTINUATION, False, False),
        (Opcode.CONTINUATION, False, True),
    ]


def test_control_frames_pass_uncompressed_between_fragments():
    sender, receiver = (
        PerMessageDeflate(Params(), client=True),
        PerMessageDeflate(Params(), client=False),
    )
    first, second = sender.encode(os.urandom(100).hex(), fragment_size=40)[:2]
    ping = Frame(True, Opcode.PING, b"still there?")
    assert receiver.decode(ping) is ping
    receiver.decode(first)
    assert receiver.decode(ping) is ping  # §5.4: control frames may come between fragments
    assert receiver.decode(second).rsv1 is False


@pytest.mark.parametrize(
    "frame",
    [
        Frame(True, Opcode.PING, b"", rsv1=True),
        Frame(True, Opcode.CLOSE, encode_close(1000), rsv1=True),
    ],
)
def test_rsv1_on_a_control_frame_is_a_protocol_error(frame):
    with pytest.raises(ProtocolError) as info:
        PerMessageDeflate(Params(), client=True).decode(frame)
    assert info.value.code == 1002


def test_rsv1_on_a_continuation_frame_is_a_protocol_error():
    pmd = PerMessageDeflate(Params(), client=True)
    pmd.decode(Frame(False, Opcode.TEXT, bytes.fromhex("f248cd"), rsv1=True))
    with pytest.raises(ProtocolError, match="continuation") as info:
        pmd.decode(Frame(True, Opcode.CONTINUATION, bytes.fromhex("c9c90700"), rsv1=True))
    assert info.value.code == 1002


def test_uncompressed_message_on_a_deflate_connection_passes_through():
    pmd = PerMessageDeflate(Params(), client=True)
    frame = Frame(True, Opcode.TEXT, b"plain")
    assert pmd.decode(frame) is frame
    assert pmd.encode("plain", compress=False) == [frame]


def test_data_that_is_not_deflate_fails_with_1007():
    with pytest.raises(ProtocolError) as info:
        Decompressor().decompress(b"\xff\xff\xff\xff")
    assert info.value.code == 1007


# --- the decompression limit ----------------------------------------------------------------

MiB = 1 << 20


def test_bomb_stops_at_max_size_with_1009():
    bomb = Compressor().compress(bytes(64 * MiB))
    assert len(bomb) < 70_000  # 64 MiB of zeros in under 70 kB
    with pytest.raises(ProtocolError) as info:
        Decompressor(max_size=MiB).decompress(bomb)
    assert info.value.code == 1009


def test_limit_is_exact_and_per_message():
    for size, fails in ((MiB, False), (MiB + 1, True)):
        d = Decompressor(max_size=MiB)
        payload = Compressor().compress(bytes(size))
        if fails:
            with pytest.raises(ProtocolError):
                d.decompress(payload)
        else:
            assert d.decompress(payload) == bytes(size)
            # the count starts again with the next message
            assert d.decompress(Compressor().compress(bytes(size))) == bytes(size)


def test_limit_counts_every_fragment_of_a_message():
    c, d = Compressor(), Decompressor(max_size=1000)
    d.decompress(c.compress(bytes(600), fin=False), fin=False)
    with pytest.raises(ProtocolError) as info:
        d.decompress(c.compress(bytes(600)), fin=True)
    assert info.value.code == 1009


# --- round trips against websockets' own permessage-deflate ---------------------------------

messages = st.lists(
    st.one_of(
        st.text(max_size=3000),
        st.binary(max_size=3000),
        st.sampled_from([json.dumps({"user": "ada", "text": "hello " * n}) for n in range(5)]),
    ),
    min_size=1,
    max_size=6,
)
configs = st.builds(
    Params,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.sampled_from([None, 9, 10, 12, 15]),
    client_max_window_bits=st.sampled_from([None, 9, 11, 15]),
)
fragment_sizes = st.sampled_from([None, 1, 7, 100])


def _websockets_side(params: Params, *, client: bool) -> ws_pmd.PerMessageDeflate:
    me, peer = ("client", "server") if client else ("server", "client")
    return ws_pmd.PerMessageDeflate(
        params.no_context_takeover(peer),  # remote_no_context_takeover
        params.no_context_takeover(me),  # local_no_context_takeover
        params.window_bits(peer),
        params.window_bits(me),
    )


def _to_ws(frame: Frame) -> WsFrame:
    return WsFrame(WsOpcode(int(frame.opcode)), frame.payload, frame.fin, frame.rsv1)


def _from_ws(frame: WsFrame) -> Frame:
    return Frame(frame.fin, Opcode(frame.opcode.value), bytes(frame.data), rsv1=frame.rsv1)


@settings(max_examples=60, deadline=None)
@given(messages, configs, fragment_sizes, st.booleans())
def test_wslearn_compresses_websockets_decompresses(batch, params, size, client):
    mine = PerMessageDeflate(params, client=client)
    theirs = _websockets_side(params, client=not client)
    for message in batch:
        frames = [theirs.decode(_to_ws(f)) for f in mine.encode(message, fragment_size=size)]
        data = b"".join(bytes(f.data) for f in frames)
        assert data == (message.encode() if isinstance(message, str) else message)
        assert not any(f.rsv1 for f in frames)


@settings(max_examples=60, deadline=None)
@given(messages, configs, fragment_sizes, st.booleans())
def test_websockets_compresses_wslearn_decompresses(batch, params, size, client):
    theirs = _websockets_side(params, client=not client)
    mine = PerMessageDeflate(params, client=client, max_size=10_000)
    assembler = Assembler()
    for message in batch:
        opcode = WsOpcode.TEXT if isinstance(message, str) else WsOpcode.BINARY
        data = message.encode() if isinstance(message, str) else message
        # websockets compresses frame by frame: split the message first, as it does.
        pieces = [data[i : i + size] for i in range(0, len(data), size)] if size else [data]
        pieces = pieces or [b""]
        got = None
        for i, piece in enumerate(pieces):
            ws_frame = WsFrame(opcode if i == 0 else WsOpcode.CONT, piece, i == len(pieces) - 1)
            got = assembler.feed(mine.decode(_from_ws(theirs.encode(ws_frame)))) or got
        assert got is not None and got.data == message


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=2000))
def test_window_bits_8_output_fits_a_256_byte_window(data):
    """zlib cannot compress with 8 bits; the 9-bit stream it makes instead inflates with 8.

    Within one call zlib's inflate may look back into its whole output, so the
    window only bites across messages: the second copy must not reach into the first
    further than 256 bytes (a 15-bit compressor does, and this check then fails).
    """
    compressor, inflater = Compressor(8), zlib.decompressobj(-8)
    for _ in range(2):
        payload = compressor.compress(data)
        assert inflater.decompress(payload + deflate.TAIL) == data


def test_an_8_bit_reader_fails_on_a_15_bit_stream():
    """The check above can fail: the same stream made with 15 bits breaks an 8-bit reader."""
    data = os.urandom(150).hex().encode()
    compressor, inflater = Compressor(15), zlib.decompressobj(-8)
    inflater.decompress(compressor.compress(data) + deflate.TAIL)
    with pytest.raises(zlib.error, match="too far back"):
        inflater.decompress(compressor.compress(data) + deflate.TAIL)


# --- over real connections ------------------------------------------------------------------


async def _echo(ws):
    async for message in ws:
        await ws.send(message)


def _without_extensions(response: handshake.Response) -> handshake.Response:
    """The response minus Sec-WebSocket-Extensions, for handshake.check_response (no extensions)."""
    headers = handshake.Headers(
        [(k, v) for k, v in response.headers if k.lower() != "sec-websocket-extensions"]
    )
    return handshake.Response(response.version, response.status, response.reason, headers)


@contextlib.asynccontextmanager
async def deflate_client(port: int, sent: str = CHROMIUM_OFFER):
    """A client made of wslearn.handshake + framing + deflate; yields (reader, writer, pmd)."""
    async with tcp("127.0.0.1", port) as (reader, writer):
        request, key = handshake.build_request(
            f"127.0.0.1:{port}", extra_headers=[("Sec-WebSocket-Extensions", sent)]
        )
        writer.write(request)
        response, rest = await read_head(reader, handshake.parse_response)
        handshake.check_response(_without_extensions(response), key)
        params = parse_response(response.headers.get_all("Sec-WebSocket-Extensions"), sent)
        frames = FrameReader(expect_masked=False, allow_rsv1=True)
        frames.receive(rest)
        yield reader, writer, frames, params


async def _next_frame(reader, frames: FrameReader) -> Frame:
    async with asyncio.timeout(5):
        while (frame := frames.next_frame()) is None:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError("the peer hung up")
            frames.receive(chunk)
        return frame


@async_test
async def test_wslearn_client_against_websockets_server_with_compression():
    sent_messages = ["hello", "hello", json.dumps({"n": list(range(200))}), os.urandom(5000)]
    async with ws_serve(_echo, "127.0.0.1", 0) as server:  # compression="deflate" by default
        port = server.sockets[0].getsockname()[1]
        async with deflate_client(port) as (reader, writer, frames, params):
            assert params == Params(False, False, 12, 12)
            pmd = PerMessageDeflate(params, client=True, max_size=MiB)
            assembler, received, compressed = Assembler(), [], []
            for message in sent_messages:
                for frame in pmd.encode(message, fragment_size=1000):
                    writer.write(wire_bytes(frame, mask=True))
                while True:
                    frame = await _next_frame(reader, frames)
                    compressed.append(frame.rsv1)
                    if (done := assembler.feed(pmd.decode(frame))) is not None:
                        received.append(done.data)
                        break
            writer.write(wire_bytes(Frame(True, Opcode.CLOSE, encode_close(1000)), mask=True))
            close = await _next_frame(reader, frames)
    assert received == sent_messages
    assert all(compressed)  # websockets compressed every echo, random bytes included
    assert decode_close(close.payload) == (1000, "")


async def _serve_deflate(reader, writer, *, max_size: int = MiB, **settings_):
    """A raw server: wslearn.handshake + deflate.accept + PerMessageDeflate, echoing."""
    request, rest = await read_head(reader, handshake.parse_request)
    key = handshake.check_request(request)
    answer = accept(request.headers.get_all("Sec-WebSocket-Extensions"), **settings_)
    extra = [("Sec-WebSocket-Extensions", answer[0])] if answer else []
    writer.write(handshake.build_response(key, extra_headers=extra))
    pmd = PerMessageDeflate(answer[1] if answer else Params(), client=False, max_size=max_size)
    frames = FrameReader(expect_masked=True, allow_rsv1=answer is not None)
    frames.receive(rest)
    assembler = Assembler()
    try:
        while True:
            frame = await _next_frame(reader, frames)
            message = assembler.feed(pmd.decode(frame))
            if isinstance(message, Frame) and message.opcode is Opcode.CLOSE:
                writer.write(wire_bytes(Frame(True, Opcode.CLOSE, message.payload)))
                break
            if message is not None and not isinstance(message, Frame):
                for out in pmd.encode(message.data):
                    writer.write(wire_bytes(out))
    except ProtocolError as exc:
        writer.write(wire_bytes(Frame(True, Opcode.CLOSE, encode_close(exc.code, str(exc)[:100]))))
    except ConnectionError:
        pass
    with contextlib.suppress(OSError):
        await writer.drain()  # wslearn.raw.listen closes the connection


def raw_deflate_server(**settings_):
    """A wslearn.raw server running :func:`_serve_deflate`; ``async with`` gives its port."""
    return listen(lambda reader, writer: _serve_deflate(reader, writer, **settings_))


@pytest.mark.parametrize("nct", [False, True])
@async_test
async def test_websockets_client_against_wslearn_deflate_server(nct):
    sent_messages = ["hello"] * 3 + [os.urandom(3000), "é" * 2000]
    async with raw_deflate_server(server_no_context_takeover=nct, **WS_DEFAULTS) as port:
        async with ws_connect(f"ws://127.0.0.1:{port}", close_timeout=2) as ws:
            (extension,) = ws.protocol.extensions
            assert (extension.local_max_window_bits, extension.remote_no_context_takeover) == (
                12,
                nct,
            )
            received = []
            for message in sent_messages:
                await ws.send(message)
                received.append(await ws.recv())
    assert received == sent_messages


@async_test
async def test_bomb_over_a_real_connection_is_closed_with_1009():
    async with raw_deflate_server(max_size=MiB) as port:
        async with ws_connect(f"ws://127.0.0.1:{port}", max_size=None, close_timeout=2) as ws:
            await ws.send(bytes(32 * MiB))  # about 32 kB on the wire
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


# --- notebook 10's exercises: the reference passes, the usual mistakes fail with their hint ---


@pytest.fixture(scope="module")
def nb10():
    return reference("10_compression")


@pytest.mark.parametrize(
    "name", ["parse_offer", "answer_offer", "inflate_messages", "server_settings"]
)
def test_nb10_reference_passes_and_stub_fails(nb10, name):
    assert run_checker(name, nb10[name]).passed
    report = run_checker(name, not_written)
    assert report.results and not any(r.passed for r in report.results)


def test_parse_offer_empty_string_for_no_value_is_named(nb10):
    def empty_values(value):
        return [
            (n, {k: "" if v is None else v for k, v in p.items()})
            for n, p in nb10["parse_offer"](value)
        ]

    assert "use None, not ''" in failures("parse_offer", empty_values)["Chromium's offer"]


def test_parse_offer_splitting_only_on_semicolons_is_named(nb10):
    def one_offer(value):
        name, *params = [part.strip() for part in value.split(";")]
        return [
            (
                name,
                {p.partition("=")[0].strip(): p.partition("=")[2].strip() or None for p in params},
            )
        ]

    assert (
        "split the list on ','"
        in failures("parse_offer", one_offer)["two offers, the client's favourite first"]
    )


def test_parse_offer_keeping_quotes_is_named():
    def quoted(value):
        offers = []
        for element in value.split(","):
            name, *params = [part.strip() for part in element.split(";")]
            pairs = [[p.strip() for p in param.split("=")] + [None] for param in params]
            offers.append((name, {pair[0]: pair[1] for pair in pairs}))
        return offers

    assert "without its quotes" in failures("parse_offer", quoted)["a quoted value"]


@pytest.mark.parametrize(
    ("mistake", "words"),
    [
        ("no_tail", "00 00 ff ff"),
        ("fresh_each_time", "keep ONE decompressobj"),
        ("zlib_header", "wbits=-15 (negative)"),
        ("one_shot", "zlib.decompress() wants a finished stream"),
    ],
)
def test_inflate_messages_mistakes_get_their_diagnosis(mistake, words):
    def no_tail(payloads, takeover):
        z = zlib.decompressobj(-15)
        return [z.decompress(p).decode() for p in payloads]

    def fresh_each_time(payloads, takeover):
        return [zlib.decompressobj(-15).decompress(p + deflate.TAIL).decode() for p in payloads]

    def zlib_header(payloads, takeover):
        z = zlib.decompressobj(15)
        return [z.decompress(p + deflate.TAIL).decode() for p in payloads]

    def one_shot(payloads, takeover):
        return [zlib.decompress(p, -15).decode() for p in payloads]

    solution = locals()[mistake]
    messages = failures("inflate_messages", solution)
    assert any(words in m for m in messages.values()), messages


@pytest.mark.parametrize(
    ("settings_", "words"),
    [
        ({"server_max_window_bits": 9, "client_max_window_bits": 9}, "hash tables"),
        ({"server_no_context_takeover": True}, "decompressor for what clients send"),
        ({"client_no_context_takeover": True}, "server_no_context_takeover frees it"),
        ({"server_max_window_bits": 16}, "window bits"),
    ],
)
def test_server_settings_that_do_not_fit_are_explained(settings_, words):
    messages = failures("server_settings", lambda: settings_)
    assert any(words in m for m in messages.values()), messages


def test_server_settings_small_client_window_also_fits():
    """Another good answer passes: the check measures instead of comparing with one answer."""
    good = {"server_no_context_takeover": True, "client_max_window_bits": 9}
    assert run_checker("server_settings", lambda: good).passed


def test_nb10_calling_the_library_is_not_a_solution():
    def via_library(value):
        return [(n, dict(p)) for n, p in deflate.parse_extensions(value)]

    def via_decompressor(payloads, takeover):
        d = deflate.Decompressor(no_context_takeover=not takeover)
        return [d.decompress(p).decode() for p in payloads]

    for name, solution in (("parse_offer", via_library), ("inflate_messages", via_decompressor)):
        messages = failures(name, solution)
        assert all("write it yourself" in m for m in messages.values()), messages


# --- the scratch server accepts permessage-deflate (a parameter) -----------------------------


@pytest.mark.parametrize(
    ("compression", "extensions"),
    [
        (None, []),
        ({}, ["permessage-deflate"]),
        (
            {"server_no_context_takeover": True, "client_max_window_bits": 10},
            ["permessage-deflate"],
        ),
    ],
)
@async_test
async def test_scratch_server_compression_parameter_with_websockets_client(compression, extensions):
    sent_messages = ["hello"] * 3 + [os.urandom(3000), "é" * 3000]
    async with scratch.serve(scratch.echo, compression=compression, ping_interval=None) as server:
        async with wire.Tap(("127.0.0.1", server.port)) as tap:
            async with ws_connect(tap.url, close_timeout=2) as ws:
                assert [e.name for e in ws.protocol.extensions] == extensions
                received = []
                for message in sent_messages:
                    await ws.send(message)
                    received.append(await ws.recv())
    assert received == sent_messages
    from_server = [f for _, direction, f in tap.timeline() if direction == wire.SERVER]
    data = [f for f in from_server if f.opcode.is_data]
    assert all(f.rsv1 for f in data) is bool(extensions)
    if compression and compression.get("server_no_context_takeover"):
        # Each "hello" was compressed on its own: three identical payloads.
        assert len({f.payload for f in data[:3]}) == 1


@async_test
async def test_scratch_server_with_compression_closes_a_bomb_with_1009():
    async with scratch.serve(
        scratch.echo, compression={}, max_size=MiB, ping_interval=None
    ) as server:
        async with ws_connect(f"ws://127.0.0.1:{server.port}", close_timeout=2) as ws:
            await ws.send(bytes(32 * MiB))
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


@async_test
async def test_scratch_server_without_compression_rejects_rsv1():
    async with scratch.serve(scratch.echo, ping_interval=None) as server:
        async with deflate_client(server.port) as (reader, writer, frames, params):
            assert params is None  # declined
            compressed = PerMessageDeflate(Params(), client=True).encode("hello")[0]
            writer.write(wire_bytes(compressed, mask=True))
            close = await _next_frame(reader, frames)
    assert decode_close(close.payload)[0] == 1002


# --- Chromium ---------------------------------------------------------------------------------

CHAT = [json.dumps({"type": "chat", "user": "ada", "text": f"message {i}"}) for i in range(5)]

#: Chromium (and, below, wslearn's WebSocket): send every message, close after the last echo.
SEND_ALL = """
const ws = watch(new WebSocket(url), "extensions");
let echoes = 0;
ws.onopen = () => {
  for (const m of args.messages) ws.send(m);
  if (args.messages.length === 0) ws.close(1000);
};
ws.onmessage = () => { if (++echoes === args.messages.length) ws.close(1000); };
"""


def _opened_with(log: browser.EventLog) -> dict:
    """What a run shows about the extension: the events, ws.extensions, the echoes."""
    return {
        "types": log.types(),
        "extensions": log.events[0].get("extensions"),
        "echoes": [e["data"] for e in log.events if e["type"] == "message"],
    }


async def _wslearn_log(url: str, messages: list) -> browser.EventLog:
    """SEND_ALL, line for line, with wslearn's WebSocket."""
    py = browser.Recorder()
    ws = py.watch(WebSocket(url), "extensions")
    echoes = 0

    def onopen(event):
        for message in messages:
            ws.send(message)
        if not messages:
            ws.close(1000)

    def onmessage(event):
        nonlocal echoes
        echoes += 1
        if echoes == len(messages):
            ws.close(1000)

    ws.onopen, ws.onmessage = onopen, onmessage
    return await py.finish()


@async_test
async def test_chromium_frames_captured_on_the_wire_decode_with_wslearn():
    sent = [*CHAT, "x" * 100_000]
    async with ws_serve(_echo, "127.0.0.1", 0) as server:  # websockets: compression on
        async with wire.Tap(("127.0.0.1", server.sockets[0].getsockname()[1])) as tap:
            log = await browser.run(SEND_ALL, url=tap.url, messages=sent)
    assert _opened_with(log) == {
        "types": ["open", *["message"] * len(sent), "close 1000"],
        "extensions": WEBSOCKETS_ANSWER,
        "echoes": sent,
    }
    assert f"Sec-WebSocket-Extensions: {CHROMIUM_OFFER}\r\n" in tap.head(wire.CLIENT).decode()
    assert f"Sec-WebSocket-Extensions: {WEBSOCKETS_ANSWER}\r\n" in tap.head(wire.SERVER).decode()
    # The server's side of the connection reads what Chromium compressed.
    server_side = PerMessageDeflate(parse_response(WEBSOCKETS_ANSWER), client=False)
    body = wire.split_head(tap.data(wire.CLIENT, 0))[1]
    frames = FrameReader(expect_masked=True, allow_rsv1=True).feed(body)
    data = [f for f in frames if f.opcode.is_data]
    assert all(f.rsv1 for f in data)  # Chromium compressed every message
    assembler = Assembler()
    decoded = [assembler.feed(server_side.decode(f)) for f in data]
    assert [m.data for m in decoded if m is not None] == sent
    # Context takeover: Chromium's later chat messages are smaller than the first.
    sizes = [len(f.payload) for f in data[: len(CHAT)]]
    assert sizes[-1] < sizes[0]


@async_test
async def test_chromium_reads_messages_compressed_by_wslearn():
    sent = [*CHAT, "é" * 5000, "x" * 70_000]
    async with raw_deflate_server(**WS_DEFAULTS) as port:
        log = await browser.run(SEND_ALL, url=f"ws://127.0.0.1:{port}", messages=sent)
    assert _opened_with(log)["echoes"] == sent
    assert _opened_with(log)["extensions"] == WEBSOCKETS_ANSWER


@async_test
async def test_chromium_inflates_wslearns_8_bit_window_made_with_9_bits():
    """Chromium takes server_max_window_bits=8 and reads what wslearn compresses for it.

    (Chromium inflates with a bigger window, so it would also read a stream that
    breaks the limit; test_window_bits_8_output_fits_a_256_byte_window is the strict check.)
    """
    sent = [os.urandom(150).hex()] * 3  # each message repeats the one 300 bytes back
    async with raw_deflate_server(server_max_window_bits=8) as port:
        log = await browser.run(SEND_ALL, url=f"ws://127.0.0.1:{port}", messages=sent)
    assert _opened_with(log)["extensions"] == "permessage-deflate; server_max_window_bits=8"
    assert _opened_with(log)["echoes"] == sent


@async_test
async def test_chromium_against_the_scratch_server_with_compression():
    sent = [*CHAT, "é" * 5000, "x" * 70_000]
    async with scratch.serve(scratch.echo, compression=WS_DEFAULTS, ping_interval=None) as server:
        log = await browser.run(SEND_ALL, url=f"ws://127.0.0.1:{server.port}", messages=sent)
    assert _opened_with(log)["echoes"] == sent
    assert _opened_with(log)["extensions"] == WEBSOCKETS_ANSWER


RESPONSES = [
    WEBSOCKETS_ANSWER,
    "permessage-deflate",
    "permessage-deflate;server_no_context_takeover",  # no space: kept as sent
    "permessage-deflate ;  client_max_window_bits=10",
    'permessage-deflate; server_max_window_bits="10"',
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; client_max_window_bits=8",
    "permessage-deflate; client_no_context_takeover",
    "Permessage-Deflate",  # extension names are case-sensitive tokens
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; foo",
    "permessage-deflate, permessage-deflate",
    "x-webkit-deflate-frame",
    "",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=08",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
]


async def _answer_then_close(reader, writer):
    """101 with the Sec-WebSocket-Extensions named in the query, then a clean close."""
    request, rest = await read_head(reader, handshake.parse_request)
    answer = unquote(request.target.partition("?answer=")[2])
    key = handshake.check_request(request)
    extensions = [("Sec-WebSocket-Extensions", answer)]
    writer.write(handshake.build_response(key, extra_headers=extensions))
    with contextlib.suppress(ConnectionError, TimeoutError, ProtocolError):
        await RawWebSocket(reader, writer, rest, client=False).answer_close(3)


@pytest.mark.parametrize("answer", RESPONSES)
@async_test
async def test_chromium_accepts_exactly_the_responses_parse_response_accepts(answer):
    """Chromium's verdict on each response equals wslearn.deflate's, and wslearn's
    WebSocket (which asks parse_response) logs the same events; ws.extensions is verbatim."""
    async with listen(_answer_then_close) as port:
        url = f"ws://127.0.0.1:{port}/?answer={quote(answer)}"
        log = await browser.run(SEND_ALL, url=url, messages=[])
        python = await _wslearn_log(url, [])
    assert python.events == log.events
    try:
        parse_response([answer])
    except NegotiationError:
        assert log.types() == ["error", "close 1006"]
    else:
        assert log.types() == ["open", "close 1000"]
        assert log.events[0]["extensions"] == answer


@pytest.mark.parametrize(
    "settings_", [{"server_max_window_bits": 16}, {"client_max_window_bits": 7}]
)
def test_server_settings_outside_8_to_15_are_a_value_error(settings_):
    with pytest.raises(ValueError, match=r"8\.\.15"):
        accept(CHROMIUM_OFFER, **settings_)


# --- wslearn's WebSocket offers permessage-deflate as Chromium does ---------------------------


PARITY_SERVERS = {
    "websockets, compression on (its defaults)": {"compression": "deflate"},
    "websockets, compression off": {"compression": None},
    "websockets, no context takeover, 10-bit server window": {
        "compression": None,
        "extensions": [
            ws_pmd.ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=10,
            )
        ],
    },
}


@pytest.mark.parametrize("name", list(PARITY_SERVERS))
@async_test
async def test_wslearn_websocket_has_chromiums_extensions_against_the_same_server(name):
    sent = [*CHAT, "x" * 70_000]
    async with ws_serve(_echo, "127.0.0.1", 0, **PARITY_SERVERS[name]) as server:
        async with wire.Tap(("127.0.0.1", server.sockets[0].getsockname()[1])) as tap:
            chromium = await browser.run(SEND_ALL, url=tap.url, messages=sent)
            python = await _wslearn_log(tap.url, sent)
    assert python.events == chromium.events
    assert _opened_with(python)["echoes"] == sent
    # Both offered the same thing, and the server compressed for both alike.
    offers = [
        line
        for connection in (0, 1)
        for line in tap.head(wire.CLIENT, connection).decode().split("\r\n")
        if line.startswith("Sec-WebSocket-Extensions")
    ]
    assert offers == [f"Sec-WebSocket-Extensions: {CHROMIUM_OFFER}"] * 2
    compressed = [
        [f.rsv1 for _, d, f in tap.timeline(connection) if d == wire.CLIENT and f.opcode.is_data]
        for connection in (0, 1)
    ]
    assert compressed[0] == compressed[1] == [bool(_opened_with(python)["extensions"])] * len(sent)


@async_test
async def test_buffered_amount_counts_the_messages_bytes_not_the_compressed_ones():
    async with ws_serve(_echo, "127.0.0.1", 0) as server:
        async with WebSocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}") as ws:
            ws.send("x" * 100_000)  # about 100 compressed bytes on the wire
            assert ws.bufferedAmount == 100_000
            assert await ws.buffered_below(0, timeout=5) == 0
            assert (await ws.wait_for("message", timeout=5)).data == "x" * 100_000


@pytest.mark.parametrize(
    ("mistake", "case", "words"),
    [
        ("always_client_bits", "Firefox's offer: no parameters", "MUST NOT include it"),
        ("ignores_the_limit", "the client limits the server to 10 bits", "must not be bigger"),
        ("never_declines", "server_max_window_bits=16", "MUST decline"),
        ("drops_the_flag", "the client asks for no context takeover", "§7.1.1.1"),
        ("int_check_only", "server_max_window_bits=08 (a leading zero)", "MUST decline"),
    ],
)
def test_answer_offer_mistakes_name_the_rule(nb10, mistake, case, words):
    answer_offer = nb10["answer_offer"]

    def always_client_bits(params):
        return answer_offer({"client_max_window_bits": None, **params})

    def ignores_the_limit(params):
        return answer_offer({k: v for k, v in params.items() if k != "server_max_window_bits"})

    def never_declines(params):
        return answer_offer({}) if answer_offer(params) is None else answer_offer(params)

    def drops_the_flag(params):
        return answer_offer({k: v for k, v in params.items() if "context" not in k})

    def int_check_only(params):
        value = params.get("server_max_window_bits")
        if value is not None and value.isdigit() and 8 <= int(value) <= 15:
            return f"permessage-deflate; server_max_window_bits={min(12, int(value))}"
        return answer_offer(params)

    messages = failures("answer_offer", locals()[mistake])
    assert words in messages[case], messages
