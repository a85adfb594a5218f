"""Notebook 00's experiment: learning about server events by HTTP polling vs WebSocket push.

A server produces ``events`` updates, one every ``period`` seconds (with a
little jitter so they do not line up with the polls). A client learns about
them in one of two ways, on loopback, through a ``wslearn.wire.Tap`` that
counts every byte in both directions:

- **HTTP polling**: every ``interval`` seconds the client sends
  ``GET /events?after=N`` on a keep-alive HTTP/1.1 connection and gets back
  the events it has not seen (often none).
- **WebSocket push**: one handshake, then the server sends each event as a
  text frame the moment it happens.

For every event we record the delay from its creation to the moment the
client has it, and the bytes the whole trial put on the wire per update.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

from wslearn.servers import LOOPBACK, LocalServer
from wslearn.wire import Tap


@dataclass
class Trial:
    """What one way of staying up to date cost."""

    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, one per event
    wire_bytes: int = 0  # both directions, handshake included
    requests: int = 0  # HTTP requests (polling) or messages (push)

    @property
    def updates(self) -> int:
        return len(self.latencies)

    @property
    def bytes_per_update(self) -> float:
        return self.wire_bytes / max(self.updates, 1)

    @property
    def mean_latency(self) -> float:
        return sum(self.latencies) / max(self.updates, 1)


@dataclass
class EventSource:
    """Produces numbered events at roughly regular times; remembers when."""

    events: int = 20
    period: float = 0.05
    random_state: int = 0  # the jitter is random but repeatable
    created: list[float] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        rng = random.Random(self.random_state)
        for _ in range(self.events):
            await asyncio.sleep(self.period * rng.uniform(0.5, 1.5))
            self.created.append(time.perf_counter())
            self.changed.set()
            self.changed = asyncio.Event()

    def payload(self, seq: int) -> dict[str, object]:
        return {"seq": seq, "price": round(100 + seq * 0.25, 2)}


async def _http_server(source: EventSource) -> asyncio.Server:
    """A tiny keep-alive HTTP/1.1 server answering ``GET /events?after=N`` with JSON."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                target = head.split(b" ", 2)[1].decode()
                after = int(target.rpartition("after=")[2] or 0)
                body = json.dumps(
                    [source.payload(n) for n in range(after, len(source.created))]
                ).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Cache-Control: no-store\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, LOOPBACK, 0)


async def poll(events: int = 20, period: float = 0.05, interval: float = 0.2) -> Trial:
    """HTTP polling every ``interval`` seconds; returns the measured trial."""
    source = EventSource(events, period)
    trial = Trial(f"HTTP poll every {interval * 1000:.0f} ms")
    server = await _http_server(source)
    port = server.sockets[0].getsockname()[1]
    async with Tap((LOOPBACK, port)) as tap:
        producer = asyncio.create_task(source.run())
        reader, writer = await asyncio.open_connection(LOOPBACK, tap.bound_port)
        seen = 0
        async with asyncio.timeout(events * period * 2 + 10 * interval + 5):
            while seen < events:
                writer.write(
                    f"GET /events?after={seen} HTTP/1.1\r\nHost: {LOOPBACK}\r\n"
                    "Accept: application/json\r\nConnection: keep-alive\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                news = json.loads(await reader.readexactly(length))
                now = time.perf_counter()
                trial.requests += 1
                trial.latencies += [now - source.created[e["seq"]] for e in news]
                seen += len(news)
                if seen < events:
                    await asyncio.sleep(interval)
        writer.close()
        await producer
        await asyncio.sleep(0.01)  # let the tap record the last chunks
        trial.wire_bytes = sum(len(c.data) for c in tap.chunks)
    server.close()
    await server.wait_closed()
    return trial


async def push(events: int = 20, period: float = 0.05) -> Trial:
    """WebSocket push: the server sends each event as it happens."""
    source = EventSource(events, period)
    trial = Trial("WebSocket push")

    async def handler(ws: ServerConnection) -> None:
        for seq in range(events):
            while len(source.created) <= seq:
                await source.changed.wait()
            await ws.send(json.dumps(source.payload(seq)))
        await ws.wait_closed()

    async with LocalServer("push", handler) as server, Tap(server) as tap:
        async with connect(tap.url, compression=None) as ws:
            producer = asyncio.create_task(source.run())
            async with asyncio.timeout(events * period * 2 + 5):
                for _ in range(events):
                    event = json.loads(await ws.recv())
                    trial.latencies.append(time.perf_counter() - source.created[event["seq"]])
                    trial.requests += 1
            await producer
        await asyncio.sleep(0.01)
        trial.wire_bytes = sum(len(c.data) for c in tap.chunks)
    return trial
