"""A real browser as the reference: Chromium against ``buffering.SlowConsumer``.

Headless Chromium (``wslearn.browser``, through ``wslearn.backpressure.in_chromium``)
opens a WebSocket to a slow consumer and sends random-byte ArrayBuffers
(``crypto.getRandomValues``, at most 65 536 bytes per call) much faster than the
consumer reads, sampling ``ws.bufferedAmount`` as it goes; and the same with
``WebSocketStream``, whose ``write()`` can wait. Chromium offers
permessage-deflate; the consumer declines it, so random bytes cross uncompressed.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import run

from wslearn import backpressure, browser, buffering

RATE = 100_000  # bytes/s the consumer reads
SECONDS = 2.0  # how long the page sends
CHUNK = 65_536  # bytes per send(): the most crypto.getRandomValues fills in one call
PER_TICK = 2  # sends per 10 ms tick: about 13 MB/s offered, 100x what is read

SEND_JS = """
const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
await new Promise((resolve) => { ws.onopen = resolve; });
const noArgument = attempt("send()", () => ws.send()) === undefined ? "threw" : "sent";
const samples = [];
let sent = 0, peak = 0;
const start = performance.now();
while (performance.now() - start < args.seconds * 1000) {
  for (let i = 0; i < args.perTick; i++) {
    ws.send(crypto.getRandomValues(new Uint8Array(args.chunk)));
    sent += args.chunk;
  }
  peak = Math.max(peak, ws.bufferedAmount);
  samples.push(ws.bufferedAmount);
  await sleep(10);
}
return {peak, sent, samples, noArgument, extensions: ws.extensions, buffered: ws.bufferedAmount};
"""

STREAM_JS = """
const wss = new WebSocketStream(url);
const {writable} = await wss.opened;
const writer = writable.getWriter();
const end = performance.now() + args.seconds * 1000;
let sent = 0, longest = 0;
while (performance.now() < end) {
  const chunk = crypto.getRandomValues(new Uint8Array(args.chunk));
  const before = performance.now();
  const written = writer.write(chunk).then(() => true);
  const done = await Promise.race([written, sleep(end - before).then(() => false)]);
  longest = Math.max(longest, performance.now() - before);
  if (!done) break;   // the write is still waiting: backpressure
  sent += chunk.length;
}
return {peak: args.chunk, sent, longest};
"""


@pytest.fixture(scope="module")
def runs() -> tuple[backpressure.BrowserRun, backpressure.BrowserRun]:
    """The plain WebSocket and the WebSocketStream, side by side, once for the module."""

    async def main():
        return await asyncio.gather(
            backpressure.in_chromium(
                "send", SEND_JS, rate=RATE, duration=SECONDS, chunk=CHUNK, perTick=PER_TICK
            ),
            backpressure.in_chromium("stream", STREAM_JS, rate=RATE, duration=SECONDS, chunk=CHUNK),
        )

    yield run(main(), timeout=30)
    browser.shared().close_sync()


def test_chromium_bufferedamount_rises_far_above_what_was_read(runs) -> None:
    plain, _ = runs
    buffered = plain.result["buffered"]
    assert plain.read < 1.5 * RATE * SECONDS  # the consumer really was slow
    assert buffered > 10 * plain.read, f"bufferedAmount {buffered:,} B, read {plain.read:,} B"
    # Everything sent is either still in bufferedAmount, somewhere in between, or read.
    assert buffered <= plain.sent
    assert plain.peak >= buffered


def test_chromium_bufferedamount_keeps_rising_while_the_page_sends(runs) -> None:
    values = runs[0].result["samples"]
    third = len(values) // 3
    assert max(values[:third]) < min(values[-third:]), "bufferedAmount did not grow"
    assert values[-1] > values[third]


def test_consumer_declined_permessage_deflate(runs) -> None:
    assert runs[0].result["extensions"] == ""


def test_the_2016_articles_send_without_an_argument_throws(runs) -> None:
    assert runs[0].result["noArgument"] == "threw"


def test_chromium_websocketstream_write_waits_for_the_slow_consumer(runs) -> None:
    plain, stream = runs
    # The plain WebSocket's send() took everything it was given; the stream's
    # write() stops resolving once the browser's own buffers are full.
    assert stream.sent < plain.sent / 2
    assert stream.result["longest"] > 500  # ms one write() waited
    assert stream.read < 1.5 * RATE * SECONDS
    assert stream.unread == stream.sent - stream.read


def test_a_snippet_that_returns_no_measurement_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="did not return"):
        run(backpressure.in_chromium("nothing", "return 1;", rate=RATE, duration=0.1))


def test_source_drops_the_docstring_and_keeps_the_code() -> None:
    code = backpressure.source(buffering.send_latest)
    assert code.startswith("async def send_latest(")
    assert '"""' not in code
    assert "ws.bufferedAmount < max_data" in code
    assert len(code.splitlines()) <= 15


def test_table_has_one_row_per_run(runs) -> None:
    rows = backpressure.table(runs).splitlines()
    assert len(rows) == 3
    assert rows[1].startswith("send ") and rows[2].startswith("stream ")
    assert f"{runs[1].peak:,} B" in rows[2]
