"""A real browser as the reference: Chromium's bufferedAmount rises against the slow consumer.

Headless Chromium loads a page served by ``wslearn.buffering.SlowConsumer``
itself (same origin, 127.0.0.1), opens a WebSocket back to it and sends
random-byte ArrayBuffers (``crypto.getRandomValues``, at most 65 536 bytes per
call) much faster than the consumer reads, sampling ``ws.bufferedAmount`` as
it goes.  Chromium offers permessage-deflate; the consumer declines it, so
the random bytes cross the wire uncompressed.
"""

from __future__ import annotations

from typing import Any

import pytest
from browser import ServerThread, chromium, open_page, run_js

from wslearn.buffering import SlowConsumer

RATE = 100_000  # bytes/s the consumer reads
SECONDS = 2.0  # how long the page sends
CHUNK = 65_536  # bytes per send(): the most crypto.getRandomValues fills in one call
PER_TICK = 2  # sends per 10 ms tick: about 13 MB/s offered, 100x what is read

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>slow consumer</title></head>
<body><p>wslearn: bufferedAmount against a slow consumer</p></body></html>
"""

SEND_JS = """
async ({url, seconds, chunk, perTick}) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("could not connect"));
  });
  let noArgument = "no error";
  try { ws.send(); } catch (error) { noArgument = error.name; }   // the seed's ws.send()
  const samples = [];
  let sent = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < perTick; i++) {
      const data = new Uint8Array(chunk);
      crypto.getRandomValues(data);   // random: nothing to compress
      ws.send(data.buffer);
      sent += chunk;
    }
    samples.push([(performance.now() - start) / 1000, ws.bufferedAmount]);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {samples, sent, noArgument, extensions: ws.extensions, buffered: ws.bufferedAmount};
}
"""


@pytest.fixture(scope="module")
def env() -> Any:
    """One server thread and one headless Chromium for the module."""
    with ServerThread() as thread, chromium() as context:
        yield thread, context


def run_in_chromium(env: Any, script: str, arg: dict[str, Any]) -> dict[str, Any]:
    """Run ``script`` in a page served by a fresh slow consumer; add what it read."""
    thread, context = env
    consumer = thread.enter(lambda: SlowConsumer(RATE, page=PAGE))
    page = open_page(context, consumer.http_url + "/")
    try:
        result = run_js(page, script, {"url": consumer.url, **arg})
        result["read"] = thread.run(_read_so_far(consumer))
    finally:
        page.close()
    return result


@pytest.fixture(scope="module")
def chromium_run(env: Any) -> Any:
    return run_in_chromium(env, SEND_JS, {"seconds": SECONDS, "chunk": CHUNK, "perTick": PER_TICK})


async def _read_so_far(consumer: SlowConsumer) -> int:
    return consumer.bytes_read


def test_chromium_bufferedamount_rises_far_above_what_was_read(chromium_run: Any) -> None:
    read, buffered = chromium_run["read"], chromium_run["buffered"]
    assert read < 1.5 * RATE * SECONDS  # the consumer really was slow
    assert buffered > 10 * read, f"bufferedAmount {buffered:,} B, read {read:,} B"
    # Everything sent is either still in bufferedAmount, somewhere in between, or read.
    assert buffered <= chromium_run["sent"]


def test_chromium_bufferedamount_keeps_rising_while_the_page_sends(chromium_run: Any) -> None:
    values = [value for _, value in chromium_run["samples"]]
    third = len(values) // 3
    assert max(values[:third]) < min(values[-third:]), "bufferedAmount did not grow"
    assert values[-1] > values[third]


def test_consumer_declined_permessage_deflate(chromium_run: Any) -> None:
    assert chromium_run["extensions"] == ""


def test_the_seeds_send_without_an_argument_throws_a_type_error(chromium_run: Any) -> None:
    assert chromium_run["noArgument"] == "TypeError"


STREAM_JS = """
async ({url, seconds, chunk}) => {
  // WebSocketStream: write() returns a promise, the browser's `await ws.send()`
  const wss = new WebSocketStream(url);
  const {writable} = await wss.opened;
  const writer = writable.getWriter();
  const start = performance.now();
  const left = () => seconds * 1000 - (performance.now() - start);
  let sent = 0;
  let stalled = false;
  while (left() > 0) {
    const data = new Uint8Array(chunk);
    crypto.getRandomValues(data);
    const timer = new Promise((resolve) => setTimeout(() => resolve(false), left()));
    const done = await Promise.race([writer.write(data).then(() => true), timer]);
    if (!done) { stalled = true; break; }   // the write is still waiting: backpressure
    sent += chunk;
  }
  return {sent, stalled};
}
"""


def test_chromium_websocketstream_write_waits_for_the_slow_consumer(
    env: Any, chromium_run: Any
) -> None:
    result = run_in_chromium(env, STREAM_JS, {"seconds": SECONDS, "chunk": CHUNK})
    # The plain WebSocket's send() took everything it was given; the stream's
    # write() stops resolving once the browser's own buffers are full.
    assert result["stalled"] is True
    assert result["sent"] < chromium_run["sent"] / 2
    assert result["read"] < 1.5 * RATE * SECONDS
