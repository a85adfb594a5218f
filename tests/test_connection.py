"""wslearn.connection: one sans-I/O endpoint, checked with bytes alone and against real peers.

RFC 6455's examples, every row of the closing-handshake table, the limits and
their close codes, the pluggable pieces, and conversations with websockets'
and wsproto's own sans-I/O endpoints, then hypothesis over messages and chunkings.
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close as WsClose
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.events import Ping as WsprotoPing
from wsproto.events import Pong as WsprotoPong

from wslearn import connection
from wslearn.close import decode_close, encode_close
from wslearn.connection import (
    TRANSITIONS,
    Close,
    Connection,
    Input,
    InvalidState,
    Ping,
    Pong,
    State,
)
from wslearn.framing import Frame, FrameReader, Message, Opcode, ProtocolError, encode_frame

RFC_KEY = bytes.fromhex("37fa213d")


def client_frame(fin: bool, opcode: Opcode, payload: bytes = b"") -> bytes:
    return encode_frame(Frame(fin, opcode, payload), mask=True, check=False)


def frames_out(endpoint: Connection) -> list[Frame]:
    """What ``endpoint`` wants to write, decoded (server frames unmasked, client masked)."""
    return FrameReader(expect_masked=endpoint.client).feed(endpoint.data_to_send())


def close_code_sent(endpoint: Connection) -> int:
    (frame,) = [f for f in frames_out(endpoint) if f.opcode is Opcode.CLOSE]
    return decode_close(frame.payload)[0]


# --- RFC 6455 §5.7 examples -------------------------------------------------------------------


def test_rfc_masked_hello_reaches_a_server_as_a_text_message():
    server = Connection(client=False)
    events = server.receive_data(bytes.fromhex("818537fa213d7f9f4d5158"))
    assert events == [Message(Opcode.TEXT, "Hello")]


def test_rfc_fragmented_unmasked_hello_reaches_a_client_as_one_message():
    client = Connection(client=True)
    assert client.receive_data(bytes.fromhex("010348656c")) == []
    assert client.receive_data(bytes.fromhex("80026c6f")) == [Message(Opcode.TEXT, "Hello")]


def test_rfc_ping_to_a_client_is_answered_with_a_masked_pong_of_the_same_payload():
    client = Connection(client=True)
    assert client.receive_data(bytes.fromhex("890548656c6c6f")) == [Ping(b"Hello")]
    wire = client.data_to_send()
    assert wire[:2] == bytes.fromhex("8a85")  # PONG, masked, 5 bytes (§5.7)
    assert FrameReader(expect_masked=True).feed(wire) == [
        Frame(True, Opcode.PONG, b"Hello", mask=wire[2:6])
    ]


def test_server_frames_are_unmasked_and_client_frames_masked():
    server, client = Connection(client=False), Connection(client=True)
    server.send_binary(bytes(256))
    assert server.data_to_send()[:4] == bytes.fromhex("827e0100")  # §5.7: 256 bytes, unmasked
    client.send_text("Hello")
    assert client.data_to_send()[1] == 0x85


# --- the closing handshake, row by row ---------------------------------------------------------


def test_the_table_has_a_row_for_every_state_and_input():
    assert set(TRANSITIONS) == {(s, i) for s in State for i in Input}
    assert all(TRANSITIONS[State.CLOSED, i] is State.CLOSED for i in Input)


def test_send_close_then_receive_the_answer_goes_open_closing_closed():
    client = Connection(client=True)
    client.send_close(1000, "bye")
    assert client.state is State.CLOSING and client.close_sent == (1000, "bye")
    assert close_code_sent(client) == 1000
    events = client.receive_data(encode_frame(Frame(True, Opcode.CLOSE, encode_close(1000))))
    assert events == [Close(1000, "")]
    assert client.state is State.CLOSED and client.close_tcp


def test_receiving_a_close_first_answers_it_at_once_and_completes_the_handshake():
    server = Connection(client=False)
    events = server.receive_data(client_frame(True, Opcode.CLOSE, encode_close(4000, "done")))
    assert events == [Close(4000, "done")]
    assert server.state is State.CLOSED and server.close_tcp
    assert [f.payload for f in frames_out(server)] == [encode_close(4000, "done")]


def test_an_empty_close_frame_is_answered_with_an_empty_one_and_reads_as_1005():
    server = Connection(client=False)
    assert server.receive_data(client_frame(True, Opcode.CLOSE)) == [Close(1005, "")]
    assert [f.payload for f in frames_out(server)] == [b""]
    assert server.close_code == 1005


def test_a_broken_rule_fails_the_connection_and_later_bytes_are_ignored():
    server = Connection(client=False)
    events = server.receive_data(encode_frame(Frame(True, Opcode.TEXT, b"unmasked")))
    assert events == [] and server.state is State.CLOSING and server.failed
    assert isinstance(server.error, ProtocolError) and server.close_tcp
    assert close_code_sent(server) == 1002
    assert server.receive_data(client_frame(True, Opcode.TEXT, b"late")) == []  # §7.1.7


def test_tcp_ending_without_a_close_frame_is_1006():
    server = Connection(client=False)
    server.receive_eof()
    assert server.state is State.CLOSED and server.close_code == 1006


def test_only_one_close_frame_is_ever_sent():
    client = Connection(client=True)
    client.send_close(1000)
    client.send_close(4000)
    assert client.state is State.CLOSING and client.close_sent == (1000, "")
    assert len(frames_out(client)) == 1


def test_messages_still_arrive_while_closing_but_pings_get_no_pong():
    client = Connection(client=True)
    client.send_close()
    client.data_to_send()
    events = client.receive_data(
        encode_frame(Frame(True, Opcode.TEXT, b"last"))
        + encode_frame(Frame(True, Opcode.PING, b""))
    )
    assert events == [Message(Opcode.TEXT, "last"), Ping(b"")]
    assert client.data_to_send() == b""


def test_sending_after_the_close_frame_raises_invalid_state():
    client = Connection(client=True)
    client.send_close()
    for send in (lambda: client.send_text("x"), lambda: client.send_ping(b"")):
        with pytest.raises(InvalidState):
            send()


def test_a_code_that_may_not_be_sent_is_refused_before_anything_is_queued():
    client = Connection(client=True)
    with pytest.raises(ValueError, match="1006"):
        client.send_close(1006)
    assert client.state is State.OPEN and client.data_to_send() == b""


def test_pongs_are_reported_and_unsolicited_pongs_can_be_sent():
    client = Connection(client=True)
    assert client.receive_data(encode_frame(Frame(True, Opcode.PONG, b"hb"))) == [Pong(b"hb")]
    client.send_pong(b"heartbeat")
    assert frames_out(client)[0].opcode is Opcode.PONG


# --- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client_frame(True, Opcode.TEXT, b"12345"), 1009),  # one frame over max_size
        (
            client_frame(False, Opcode.TEXT, b"123")
            + client_frame(True, Opcode.CONTINUATION, b"45"),
            1009,
        ),
        (client_frame(True, Opcode.TEXT, b"\xff"), 1007),  # not UTF-8
        (
            client_frame(False, Opcode.TEXT, b"\xc3")
            + client_frame(True, Opcode.CONTINUATION, b"("),
            1007,
        ),
        (client_frame(True, Opcode.PING, bytes(126)), 1002),  # control payload over 125
        (client_frame(False, Opcode.PING, b""), 1002),  # fragmented control frame
        (client_frame(True, Opcode.CONTINUATION, b"lost"), 1002),
        (client_frame(True, Opcode.CLOSE, b"\x03"), 1002),  # a 1-byte close payload
        (client_frame(True, Opcode.CLOSE, encode_close(1000)[:0] + b"\x03\xed"), 1002),  # 1005
        (client_frame(True, Opcode.CLOSE, b"\x03\xe8\xff"), 1007),  # reason not UTF-8
    ],
    ids=[
        "frame 1009",
        "fragments 1009",
        "utf-8",
        "split utf-8",
        "ping 126",
        "fragmented ping",
        "lone continuation",
        "1-byte close",
        "1005 on the wire",
        "close reason utf-8",
    ],
)
def test_each_broken_rule_gets_its_close_code(data, code):
    server = Connection(client=False, max_size=4)
    server.receive_data(data)
    assert close_code_sent(server) == code


def test_4096_fragments_are_a_message_and_4097_are_too_many():
    body = client_frame(False, Opcode.CONTINUATION, b"x")
    fine = Connection(client=False)
    events = fine.receive_data(
        client_frame(False, Opcode.BINARY, b"x")
        + body * 4094
        + client_frame(True, Opcode.CONTINUATION, b"x")
    )
    assert events == [Message(Opcode.BINARY, b"x" * 4096)]
    too_many = Connection(client=False)
    too_many.receive_data(client_frame(False, Opcode.BINARY, b"x") + body * 4096)
    assert close_code_sent(too_many) == 1009
    assert str(too_many.error) == "message of more than 4096 fragments"


def test_an_endless_message_of_empty_fragments_holds_bounded_memory():
    server = Connection(client=False)
    chunk = client_frame(False, Opcode.CONTINUATION) * 1000
    server.receive_data(client_frame(False, Opcode.TEXT))
    tracemalloc.start()
    try:
        for _ in range(100):  # 100,000 fragments in chunks, as they would arrive
            server.receive_data(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert server.failed and close_code_sent(server) == 1009
    assert peak < 200_000  # without the limit: about 800 kB, growing with every fragment


def test_limits_can_be_lifted():
    server = Connection(client=False, max_size=None, max_fragments=None)
    data = client_frame(False, Opcode.BINARY, b"") + client_frame(False, Opcode.CONTINUATION) * 5000
    assert server.receive_data(data + client_frame(True, Opcode.CONTINUATION, b"!")) == [
        Message(Opcode.BINARY, b"!")
    ]


def test_a_ping_payload_over_125_bytes_is_refused_on_sending():
    with pytest.raises(ValueError, match="125"):
        Connection(client=True).send_ping(bytes(126))


# --- the pluggable pieces ---------------------------------------------------------------------


def test_library_pieces_have_the_notebooks_signatures_and_answers():
    assert connection.pong_for(b"abc") == b"abc"
    assert (
        connection.reassemble(
            [
                Frame(False, Opcode.TEXT, b"caf\xc3"),
                Frame(True, Opcode.PING, b""),
                Frame(True, Opcode.CONTINUATION, b"\xa9"),
            ]
        )
        == "café"
    )
    assert connection.close_reply(encode_close(4000, "bye")) == encode_close(4000, "bye")
    assert connection.close_reply(b"") == b""
    assert connection.close_reply(b"\x03") == encode_close(1002)
    assert connection.close_reply(b"\x03\xe8\xff") == encode_close(1007)
    with pytest.raises(ProtocolError):
        connection.reassemble([Frame(False, Opcode.TEXT, b"no end")])


def test_plugged_pieces_replace_the_librarys():
    server = Connection(
        client=False,
        pong_for=lambda payload: payload.upper(),
        reassemble=lambda frames: f"{len(frames)} frames",
        close_reply=lambda payload: encode_close(4001),
    )
    events = server.receive_data(
        client_frame(True, Opcode.PING, b"hi")
        + client_frame(False, Opcode.TEXT, b"a")
        + client_frame(True, Opcode.CONTINUATION, b"b")
        + client_frame(True, Opcode.CLOSE, encode_close(1000))
    )
    assert events == [Ping(b"hi"), Message(Opcode.TEXT, "2 frames"), Close(1000, "")]
    assert [(f.opcode, f.payload) for f in frames_out(server)] == [
        (Opcode.PONG, b"HI"),
        (Opcode.CLOSE, encode_close(4001)),
    ]


@pytest.mark.parametrize(
    "pieces",
    [
        {"pong_for": lambda payload: 1 / 0},
        {"pong_for": lambda payload: Frame(True, Opcode.PONG, payload)},
        {"reassemble": lambda frames: None},
    ],
    ids=["raises", "returns a Frame", "returns None"],
)
def test_a_broken_piece_fails_the_connection_with_1011_and_keeps_the_error(pieces):
    server = Connection(client=False, **pieces)
    server.receive_data(
        client_frame(True, Opcode.PING, b"x") + client_frame(True, Opcode.TEXT, b"y")
    )
    assert close_code_sent(server) == 1011
    assert isinstance(server.error, ZeroDivisionError | TypeError)


def test_a_plugged_reassemble_raising_protocol_error_closes_with_its_code():
    def strict(frames):
        raise ProtocolError("no thanks", 1003)

    server = Connection(client=False, reassemble=strict)
    server.receive_data(client_frame(True, Opcode.BINARY, b"x"))
    assert close_code_sent(server) == 1003


# --- real peers: websockets' and wsproto's sans-I/O endpoints ---------------------------------


def test_a_conversation_with_websockets_protocol_both_ways():
    ours = Connection(client=True)
    theirs = WsProtocol(WsSide.SERVER)
    ours.send_text("héllo")
    ours.send_binary(b"\x00\xff" * 3000, fragment_size=1000)
    ours.send_ping(b"p")
    theirs.receive_data(ours.data_to_send())
    got = [(e.opcode.name, e.data) for e in theirs.events_received()]
    chunks = [("BINARY", b"\x00\xff" * 500)] + [("CONT", b"\x00\xff" * 500)] * 5
    assert got == [("TEXT", "héllo".encode()), *chunks, ("PING", b"p")]
    theirs.send_text("ünïcode".encode(), fin=False)
    theirs.send_continuation(b"!", fin=True)
    events = ours.receive_data(b"".join(theirs.data_to_send()))
    assert events == [Pong(b"p"), Message(Opcode.TEXT, "ünïcode!")]
    ours.send_close(4321, "over")
    theirs.receive_data(ours.data_to_send())
    theirs.events_received()
    assert theirs.close_rcvd == WsClose(4321, "over")
    answer = b"".join(d for d in theirs.data_to_send() if d)
    assert ours.receive_data(answer) == [Close(4321, "over")]
    assert ours.state is State.CLOSED


def test_websockets_client_closing_first_gets_our_echo():
    ours = Connection(client=False)
    theirs = WsProtocol(WsSide.CLIENT)
    theirs.send_close(1001, "going")
    assert ours.receive_data(b"".join(theirs.data_to_send())) == [Close(1001, "going")]
    theirs.receive_data(ours.data_to_send())
    theirs.events_received()
    assert theirs.close_rcvd == WsClose(1001, "going")


def test_a_conversation_with_wsproto_both_ways():
    ours = Connection(client=False)
    theirs = WsprotoConnection(ConnectionType.CLIENT)
    data = theirs.send(TextMessage("from wsproto", message_finished=False))
    data += theirs.send(TextMessage(" ✓"))
    data += theirs.send(WsprotoPing(b"ok?"))
    assert ours.receive_data(data) == [Message(Opcode.TEXT, "from wsproto ✓"), Ping(b"ok?")]
    ours.send_binary(b"\x01\x02")
    theirs.receive_data(ours.data_to_send())
    events = list(theirs.events())
    assert isinstance(events[0], WsprotoPong) and events[0].payload == b"ok?"
    assert isinstance(events[1], BytesMessage) and events[1].data == b"\x01\x02"
    ours.send_close(1000, "bye")
    theirs.receive_data(ours.data_to_send())
    (closing,) = theirs.events()
    assert isinstance(closing, CloseConnection) and (closing.code, closing.reason) == (1000, "bye")
    assert ours.receive_data(theirs.send(closing.response())) == [Close(1000, "bye")]
    assert ours.state is State.CLOSED


# --- properties -------------------------------------------------------------------------------

messages = st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(messages, st.integers(1, 50), st.integers(1, 400))
def test_any_messages_in_any_fragments_and_chunks_arrive_whole(sent, chunk, fragment):
    client, server = Connection(client=True), Connection(client=False)
    for message in sent:
        if isinstance(message, str):
            client.send_text(message, fragment_size=fragment)
        else:
            client.send_binary(message, fragment_size=fragment)
    wire = client.data_to_send()
    events = []
    for i in range(0, len(wire), chunk):
        events += server.receive_data(wire[i : i + chunk])
    assert [e.data for e in events] == sent
    assert not server.failed


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_events_or_a_failure_with_a_sendable_code_never_an_exception(data):
    server = Connection(client=False, max_size=64)
    server.receive_data(data)
    if server.failed:
        assert close_code_sent(server) in {1002, 1007, 1009}
