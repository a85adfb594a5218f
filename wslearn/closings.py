"""Ways a WebSocket connection ends, staged on 127.0.0.1, in Chromium and in Python.

Notebooks 03 and 04 end connections in every way they can end (the page
closes, the server closes, TCP is cut, the server breaks the protocol, the
server never answers) and compare what headless Chromium reports with what
wslearn's ``WebSocket`` reports. This module is their stage, so that the
notebooks show only what a learner should read:

- :func:`free_port`: a port on 127.0.0.1 where nothing listens;
- :class:`RudeServer`: completes the opening handshake, sends raw bytes of
  your choice (a broken frame, a forbidden close code), then, when the
  client's close frame comes, hangs up without answering, or stays silent;
- :class:`Ending`: one scenario as data (a URL and what the page does), run
  by :func:`in_chromium` and :func:`in_python` into two
  :class:`~wslearn.browser.EventLog` s, and :func:`compare` prints a table;
- frame helpers for the wire: :func:`frame_bytes`, :func:`frame_label`,
  :func:`arrows` (for ``plots.closing_handshakes``), :func:`decoded`,
  :func:`client_frame` and :func:`server_answer` (what a server says to a
  broken frame from a hand-made client).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wslearn import browser, plots, wire
from wslearn.close import decode_close
from wslearn.framing import Frame, Opcode, ProtocolError, encode_frame
from wslearn.net import LOOPBACK
from wslearn.raw import RawWebSocket, listen
from wslearn.websocket import CLOSE_TIMEOUT, WebSocket

__all__ = [
    "CHROMIUM_CLOSE_TIMEOUT",
    "ENDING_JS",
    "Ending",
    "Observed",
    "RudeServer",
    "arrows",
    "client_frame",
    "compare",
    "decoded",
    "frame_bytes",
    "frame_label",
    "free_port",
    "in_chromium",
    "in_python",
    "outcome",
    "server_answer",
]

#: Seconds Chromium 156 waits for the server's side of the closing handshake
#: before it drops TCP and reports 1006 (measured here: 60.0 s after close()).
CHROMIUM_CLOSE_TIMEOUT = 60.0

HOLD = 30.0  # longest a silent RudeServer keeps a connection open


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens: the OS picks a free one, we let it go."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class RudeServer:
    """A server that misbehaves on purpose, one way per instance.

    It completes the opening handshake, sends ``first`` (raw frame bytes, as
    given), then waits for the client's close frame and either hangs up at
    once without answering (``on_close="hang up"``) or stays silent with TCP
    open (``"ignore"``, for at most :data:`HOLD` s), so the client's own
    close timeout decides. Use as ``async with RudeServer(...) as server``,
    or ``await start()`` / ``await stop()``.
    """

    def __init__(self, first: bytes = b"", *, on_close: str = "hang up") -> None:
        if on_close not in ("hang up", "ignore"):
            raise ValueError(f"on_close must be 'hang up' or 'ignore', not {on_close!r}")
        self.first = first
        self.on_close = on_close
        self._stack: contextlib.AsyncExitStack | None = None
        self._port = 0

    @property
    def url(self) -> str:
        if self._stack is None:
            raise RuntimeError("the rude server is not running")
        return f"ws://{LOOPBACK}:{self._port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = await RawWebSocket.accept(reader, writer)
        await peer.send(self.first)
        try:
            with contextlib.suppress(ConnectionError, ProtocolError, TimeoutError):
                await peer.recv_close(timeout=HOLD)
                if self.on_close == "ignore":  # TCP stays open until the client gives up
                    async with asyncio.timeout(HOLD):
                        await reader.read()
        except asyncio.CancelledError:
            pass  # stop() while a client still waits: it just goes, as below
        writer.transport.abort()  # no close frame back, just gone

    async def start(self) -> RudeServer:
        if self._stack is None:
            stack = contextlib.AsyncExitStack()
            self._port = await stack.enter_async_context(listen(self._handle, timeout=0.5))
            self._stack = stack
        return self

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> RudeServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


# --- one ending, in both clients ----------------------------------------------------------


@dataclass
class Ending:
    """One way for a connection to end: a URL, and what the page does.

    ``close``: arguments of ``ws.close(...)`` once open (``()`` for none);
    ``send``: a text to send once open; ``close_at_once``: ``ws.close()``
    right after ``new WebSocket(url)``.
    """

    name: str
    url: str
    close: tuple[Any, ...] | None = None
    send: str | None = None
    close_at_once: bool = False


#: What the page does in :func:`in_chromium`, driven by the ``Ending``'s fields.
ENDING_JS = """
const ws = watch(new WebSocket(url));
if (args.closeAtOnce) ws.close();
ws.onopen = () => {
  if (args.send !== null) ws.send(args.send);
  if (args.close !== null) ws.close(...args.close);
};
"""


async def in_chromium(ending: Ending, *, timeout: float = browser.TIMEOUT) -> browser.EventLog:
    """Run ``ending`` in headless Chromium (:data:`ENDING_JS`); its event log."""
    return await browser.run(
        ENDING_JS,
        url=ending.url,
        timeout=timeout,
        closeAtOnce=ending.close_at_once,
        send=ending.send,
        close=None if ending.close is None else list(ending.close),
    )


@dataclass
class Observed:
    """What :func:`in_python` saw: the event log, the socket, the frames on the wire."""

    log: browser.EventLog
    ws: WebSocket
    frames: list[tuple[float, wire.Direction, Frame]]


async def in_python(
    ending: Ending,
    *,
    then: Callable[[], Awaitable[Any]] | None = None,
    close_timeout: float = CLOSE_TIMEOUT,
    timeout: float = browser.TIMEOUT,
    tap: bool = False,
) -> Observed:
    """Run ``ending`` with wslearn's ``WebSocket``; with ``tap``, through a ``wire.Tap``.

    ``then``, if given, is awaited once the socket is open (a server-side
    action, such as stopping the server). ``frames`` are the tap's (or empty).
    """
    recorder = browser.Recorder()
    path = ending.url.split("/", 3)[3] if ending.url.count("/") >= 3 else ""
    recording: wire.Tap | None = None
    async with contextlib.AsyncExitStack() as stack:
        url = ending.url
        if tap:
            recording = await stack.enter_async_context(wire.Tap(ending.url))
            url = f"{recording.url}/{path}"
        ws = recorder.watch(WebSocket(url, close_timeout=close_timeout))
        if ending.close_at_once:
            ws.close()

        def on_open(event: Any) -> None:
            if ending.send is not None:
                ws.send(ending.send)
            if ending.close is not None:
                ws.close(*ending.close)

        ws.onopen = on_open
        if then is not None:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await ws.wait_for("open", timeout=timeout)
                await then()
        log = await recorder.finish(timeout)
    return Observed(log, ws, recording.timeline() if recording is not None else [])


def outcome(log: browser.EventLog) -> str:
    """A log in a few words: ``"open → error → close 1006 '' unclean"``."""
    words = []
    for event in log.events:
        if event["type"] == "close":
            clean = "clean" if event["wasClean"] else "unclean"
            reason = event["reason"] if len(event["reason"]) <= 20 else event["reason"][:19] + "…"
            words.append(f"close {event['code']} {reason!r} {clean}")
        elif event["type"] != "message":
            words.append(event["type"])
    if log.timed_out:
        words.append("(still CLOSING)" if log.events else "(nothing yet)")
    return " → ".join(words)


def compare(
    names: Iterable[str],
    chromium: Iterable[browser.EventLog],
    python: Iterable[browser.EventLog | Observed],
) -> str:
    """A table: one row per scenario, Chromium's outcome, wslearn's, ``≠`` where they differ."""
    chromium = list(chromium)
    python = [p.log if isinstance(p, Observed) else p for p in python]
    names = list(names)
    width = max(len(n) for n in names)
    left = max(len(outcome(log)) for log in chromium)
    head = f"  {'':{width}}  {chromium[0].version:{left}}  {python[0].version}"
    rows = [head]
    for name, a, b in zip(names, chromium, python, strict=True):
        mark = " " if a.events == b.events and a.timed_out == b.timed_out else "≠"
        rows.append(f"{mark} {name:{width}}  {outcome(a):{left}}  {outcome(b)}")
    return "\n".join(rows)


# --- frames on the wire ---------------------------------------------------------------------


def frame_bytes(frame: Frame, limit: int = 12) -> str:
    """The frame's bytes as they were on the wire (its own mask included), in hex."""
    data = encode_frame(frame, check=False)
    shown = data[:limit].hex(" ") + (" …" if len(data) > limit else "")
    return f"{shown} ({len(data)} B{', masked' if frame.mask else ''})"


def frame_label(frame: Frame) -> str:
    """``"CLOSE 1000 'bye'"``, ``"TEXT b'Hello' with RSV1 set"``."""
    if frame.opcode != Opcode.CLOSE:
        what = f"{frame.opcode.name} {frame.payload[:12]!r}"
        return what + (" with RSV1 set" if frame.rsv1 else "")
    return f"CLOSE {decoded(frame)}"


def decoded(frame: Frame) -> str:
    """A close frame's payload as ``decode_close`` reads it, or the error it raises."""
    try:
        code, reason = decode_close(frame.payload)
    except ProtocolError as error:
        return f"ProtocolError {error.code}"
    return f"{code}" + (f" {reason!r}" if reason else "")


def arrows(frames: Iterable[tuple[float, wire.Direction, Frame]]) -> list[plots.Arrow]:
    """The frames of ``Tap.timeline()`` as arrows for ``plots.closing_handshakes``."""
    return [
        plots.Arrow(
            "client" if d == wire.CLIENT else "server", frame_label(f), frame_bytes(f, limit=8)
        )
        for _, d, f in frames
    ]


def client_frame(opcode: Opcode, payload: bytes, **flags: Any) -> bytes:
    """A masked client frame, no rule checked (so broken ones can be made)."""
    return encode_frame(Frame(True, opcode, payload, **flags), mask=True, check=False)


async def server_answer(url: str, data: bytes, timeout: float = 5.0) -> Frame | None:
    """Connect by hand, send ``data`` (raw frame bytes); the server's close frame, if any."""
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    async with RawWebSocket.connect(host, int(port), timeout=timeout) as peer:
        await peer.send(data)
        frames = await peer.recv_frames(timeout)
    return frames[-1] if frames and frames[-1].opcode is Opcode.CLOSE else None
