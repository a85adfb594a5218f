"""Checks for notebook 00 (why WebSocket).

Each failure names the learner's mistake when a known slip explains the value
(``wslearn.exercises.mistakes``); ``text_frame``'s last case hands the
learner's bytes to a real ``websockets`` client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from wslearn.exercises import Result, case, describe_error, exercise
from wslearn.exercises.mistakes import known, slips

NOTEBOOK = "00_why_websocket"


# --- poll_delay -------------------------------------------------------------------------------

POLL_HINT = (
    "the server sees a request every interval + rtt seconds; an update waits for the next one, "
    "then the answer still has to travel back"
)


def poll_mistakes(interval: float, rtt: float) -> list[tuple[str, float]]:
    """What the usual slips give for one case, each with the sentence that names it."""
    return [
        (
            "you left out the network: the polls reach the server every interval + rtt seconds, "
            "and the answer takes rtt / 2 to come back",
            interval / 2,
        ),
        (
            "the wait for the next poll is right (half a cycle), but the answer still travels "
            "rtt / 2 back to the client",
            (interval + rtt) / 2,
        ),
        ("that is the worst case; an update at a random moment waits half of it on average",
         interval + rtt + rtt / 2),
        ("that is the worst case (an update just after a poll); the question is the average",
         interval),
        ("that is the worst case; an update at a random moment waits half of it on average",
         interval + rtt),
    ]


@exercise("poll_delay", notebook=NOTEBOOK)
def check_poll_delay(poll_delay: Callable[[float, float], float]) -> Iterator[Result]:
    """Average delay of an update when the client polls ``interval`` s after each answer."""
    for interval, rtt in ((1.0, 0.0), (0.25, 0.01), (0.05, 0.002), (0.2, 0.1)):
        yield case(
            f"interval {interval} s, round trip {rtt} s",
            lambda interval=interval, rtt=rtt: poll_delay(interval, rtt),
            interval / 2 + rtt,
            hint=POLL_HINT,
            compare=lambda got, want: isinstance(got, int | float) and abs(got - want) < 1e-9,
            diagnose=known(poll_mistakes(interval, rtt)),
            vacuous=interval / 2 + rtt == interval,  # 0.2, 0.1: returning `interval` passes
        )


# --- frame_overhead ---------------------------------------------------------------------------

OVERHEAD_SLIPS = {
    "chars": "the length field counts UTF-8 bytes, not characters: len(message.encode())",
    "no_key": "a client's frame also carries the 4-byte masking key",
    "key_always": "only a client masks: a server's frame has no masking key",
    "edge_125": "125 still fits in the 7-bit field (126 and 127 are the escapes): use <= 125",
    "edge_126": "126 no longer fits in 7 bits: 126 to 65535 take 2 more length bytes",
    "edge_65535": "65535 is the largest 16-bit length: 65536 on needs the 8-byte form",
    "payload": "count the header only, not the payload bytes",
}


def model_overhead(message: str, masked: bool, **slip: bool) -> int:
    """``frame_overhead`` with some of ``OVERHEAD_SLIPS`` made."""
    n = len(message) if slip.get("chars") else len(message.encode())
    small = n < 125 if slip.get("edge_125") else n <= (126 if slip.get("edge_126") else 125)
    medium = n < 65535 if slip.get("edge_65535") else n <= 65535
    size = 2 if small else 4 if medium else 10
    if (masked and not slip.get("no_key")) or slip.get("key_always"):
        size += 4
    return size + (n if slip.get("payload") else 0)


OVERHEAD_CASES = [
    ("'Hello' from the server", "Hello", False),
    ("'Hello' from a client", "Hello", True),
    ("an empty message from a client", "", True),
    ("125 times 'x' from the server", "x" * 125, False),
    ("126 times 'x' from the server", "x" * 126, False),
    ("64 times 'é' from the server", "é" * 64, False),
    ("50 times '€' from a client", "€" * 50, True),
    ("65 535 times 'x' from a client", "x" * 65535, True),
    ("65 536 times 'x' from the server", "x" * 65536, False),
    ("40 000 times 'ü' from a client", "ü" * 40000, True),
]


@exercise("frame_overhead", notebook=NOTEBOOK, shortcuts=["wslearn.framing.encode_frame"])
def check_frame_overhead(frame_overhead: Callable[[str, bool], int]) -> Iterator[Result]:
    """Header bytes of the one frame that carries text ``message`` (masked: from a client)."""
    for description, message, masked in OVERHEAD_CASES:
        yield case(
            description,
            lambda message=message, masked=masked: frame_overhead(message, masked),
            model_overhead(message, masked),
            hint="2 bytes; 2 more for 126-65535 payload bytes, 8 more beyond; 4 for a client's key",
            diagnose=known(slips(model_overhead, OVERHEAD_SLIPS, message, masked)),
        )


# --- text_frame -------------------------------------------------------------------------------

FRAME_SLIPS = {
    "chars": "the length byte counts UTF-8 bytes, not characters: len(text.encode())",
    "no_fin": "0x01 says 'text, more frames follow': set the top bit too, 0x81",
    "binary": "0x82 is a binary frame; text is opcode 1: 0x81",
    "mask_bit": "the top bit of the second byte says 'masked': a server's frame leaves it 0",
    "no_header": "start with the two header bytes, then the payload",
    "str_length": "the length is one byte with that value (bytes([n])), not its digits as text",
}


def model_frame(text: str, **slip: bool) -> bytes:
    """``text_frame`` with some of ``FRAME_SLIPS`` made."""
    payload = text.encode()
    n = len(text) if slip.get("chars") else len(payload)
    first = 0x01 if slip.get("no_fin") else 0x82 if slip.get("binary") else 0x81
    mask_bit = 0x80 if slip.get("mask_bit") else 0
    length = str(n).encode() if slip.get("str_length") else bytes([mask_bit | n])
    return payload if slip.get("no_header") else bytes([first]) + length + payload


FRAME_HINT = "0x81 (FIN + text), one byte with the payload's length, then the UTF-8 bytes"


def _same_bytes(got: Any, want: bytes) -> bool:
    return isinstance(got, bytes | bytearray) and bytes(got) == want


async def _client_reads(frame: bytes) -> str:
    """A server answers the handshake, then sends ``frame``: what does a real client read?"""
    from websockets.asyncio.client import connect

    from wslearn.raw import RawWebSocket, listen

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = await RawWebSocket.accept(reader, writer)
        await raw.send(frame)
        await raw.recv_frames(timeout=3)  # until the client closes

    from websockets.exceptions import ConnectionClosed

    async with listen(serve) as port:
        try:
            async with connect(f"ws://127.0.0.1:{port}", open_timeout=3, compression=None) as ws:
                async with asyncio.timeout(2):
                    message = await ws.recv()
        except TimeoutError:
            return "the client was still waiting for the rest of the message after 2 s"
        except ConnectionClosed as closed:
            return f"the client refused your bytes and closed the connection ({closed})"
    return f"the client read {message!r}"


@exercise("text_frame", notebook=NOTEBOOK, shortcuts=["wslearn.framing.encode_frame"])
async def check_text_frame(text_frame: Callable[[str], bytes]) -> list[Result]:
    """The bytes of a server's frame carrying ``text`` (at most 125 UTF-8 bytes)."""
    texts = [("'Hello'", "Hello"), ("an empty text", ""), ("'héllo wörld'", "héllo wörld"),
             ("an emoji and a euro sign", "😀 €"), ("125 bytes", "x" * 125)]
    results = [
        case(
            description,
            lambda text=text: text_frame(text),
            model_frame(text),
            hint=FRAME_HINT,
            compare=_same_bytes,
            diagnose=known(slips(model_frame, FRAME_SLIPS, text), _same_bytes),
        )
        for description, text in texts
    ]
    text = "Grüße from your own frame ✓"
    description = "a real websockets client reads your frame"
    try:
        frame = bytes(text_frame(text))
        got = await _client_reads(frame)
    except Exception as exc:
        results.append(Result(description, False, describe_error(exc)))
        return results
    want = f"the client read {text!r}"
    if got == want:
        results.append(Result(description, True))
    else:
        diagnosis = known(slips(model_frame, FRAME_SLIPS, text), _same_bytes)(frame)
        results.append(Result(description, False, f"{got}; {diagnosis or FRAME_HINT}"))
    return results
