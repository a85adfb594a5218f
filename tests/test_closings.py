"""wslearn.closings: endings staged on 127.0.0.1, run in Chromium and in wslearn's WebSocket."""

from __future__ import annotations

import pytest
from conftest import run

from wslearn import browser, closings, servers
from wslearn.closings import Ending, RudeServer
from wslearn.framing import Frame, Opcode, encode_frame

CLOSE_999 = encode_frame(Frame(True, Opcode.CLOSE, (999).to_bytes(2, "big")), check=False)


@pytest.fixture(scope="module", autouse=True)
def shared_browser():
    yield
    browser.shared().close_sync()


def test_endings_agree_in_chromium_and_python_and_the_tap_sees_both_close_frames():
    async def main():
        async with servers.closer() as closer:
            endings = [
                Ending("client closes", closer.url, close=(4000, "bye")),
                Ending("server closes", f"{closer.url}/?code=4001&reason=done"),
                Ending("close() while CONNECTING", closer.url, close_at_once=True),
                Ending("refused", f"ws://127.0.0.1:{closings.free_port()}/"),
            ]
            chromium = [await closings.in_chromium(e) for e in endings]
            python = [await closings.in_python(e, tap=True) for e in endings[:2]]
            python += [await closings.in_python(e) for e in endings[2:]]
            return endings, chromium, python

    endings, chromium, python = run(main())
    assert [closings.outcome(log) for log in chromium] == [
        "open → close 4000 'bye' clean",
        "open → close 4001 'done' clean",
        "error → close 1006 '' unclean",
        "error → close 1006 '' unclean",
    ]
    assert [seen.log.events for seen in python] == [log.events for log in chromium]
    for seen in python[:2]:
        closes = [f for _, _, f in seen.frames if f.opcode is Opcode.CLOSE]
        assert len(closes) == 2  # one each way
    table = closings.compare([e.name for e in endings], chromium, python)
    assert "≠" not in table and table.count("\n") == 4


def test_close_code_999_chromium_accepts_it_wslearn_fails_the_connection():
    async def main():
        async with RudeServer(CLOSE_999) as server:
            ending = Ending("999", server.url)
            return await closings.in_chromium(ending), await closings.in_python(ending, tap=True)

    chromium, seen = run(main())
    assert closings.outcome(chromium) == "open → close 999 '' clean"
    assert closings.outcome(seen.log) == "open → error → close 1006 '' unclean"
    client_close = [f for _, d, f in seen.frames if f.opcode is Opcode.CLOSE][-1]
    assert closings.decoded(client_close).startswith("1002")
    row = closings.compare(["999"], [chromium], [seen]).splitlines()[1]
    assert row.startswith("≠ 999")


def test_silent_server_leaves_chromium_closing_while_close_timeout_ends_wslearn():
    async def main():
        async with RudeServer(on_close="ignore") as server:
            ending = Ending("mute", server.url, close=(1000,))
            chromium = await closings.in_chromium(ending, timeout=1.5)
            seen = await closings.in_python(ending, close_timeout=0.5, timeout=3)
            return chromium, seen

    chromium, seen = run(main())
    assert chromium.timed_out and chromium.types() == ["open"]
    assert closings.outcome(chromium) == "open → (still CLOSING)"
    assert not seen.log.timed_out
    assert closings.outcome(seen.log) == "open → close 1006 '' unclean"
    assert 0.4 < seen.log.times[-1] - seen.log.times[0] < 2.0


def test_rude_server_hangs_up_on_the_close_frame_without_answering():
    async def main():
        async with RudeServer() as server:
            return await closings.in_python(Ending("x", server.url, close=(1000,)), tap=True)

    seen = run(main())
    assert [closings.frame_label(f) for _, _, f in seen.frames] == ["CLOSE 1000"]
    assert closings.outcome(seen.log) == "open → close 1006 '' unclean"


def test_server_answer_reports_the_servers_close_frame():
    async def main():
        async with servers.echo(max_size=1024) as small:
            rsv1 = closings.client_frame(Opcode.TEXT, b"Hello", rsv1=True)
            big = closings.client_frame(Opcode.BINARY, bytes(2000))
            return [await closings.server_answer(small.url, data) for data in (rsv1, big)]

    rsv1_answer, big_answer = run(main())
    assert closings.decoded(rsv1_answer).startswith("1002")
    assert closings.decoded(big_answer).startswith("1009")
    assert closings.frame_bytes(big_answer, limit=4).startswith("88 ")


def test_rude_server_rejects_an_unknown_behaviour():
    with pytest.raises(ValueError, match="on_close"):
        RudeServer(on_close="shout")
