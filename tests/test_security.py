"""wslearn.security: wss with the course CA, Cross-Site WebSocket Hijacking in Chromium,
the bank's four ways to authenticate, tickets, and the limits that close with 1008/1009/429/431.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl

import pytest
from helpers import async_test, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslearn import browser, raw, servers, wire
from wslearn.browser import Recorder
from wslearn.exercises import nb08_security as nb08
from wslearn.exercises import run_checker
from wslearn.security import (
    ALLOW_THIRD_PARTY_COOKIES,
    PLAIN_HOST,
    TICKET_JS,
    AddressLimit,
    AuthError,
    Bank,
    TicketBook,
    TokenBucket,
    chromium_args,
    course_ca,
    hijack,
    hijack_all,
    stranger_ca,
)
from wslearn.websocket import WebSocket

SECRET = "attack at dawn"


def browser_test(fn):
    """An async test with a browser in it: bounded by 40 s (a launch on a busy machine)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        run(fn(*args, **kwargs), timeout=40.0)

    return wrapper


# --- TLS ----------------------------------------------------------------------------------------


@async_test
async def test_wss_echo_answers_a_client_that_trusts_the_course_ca():
    async with servers.echo(tls=True) as echo:
        assert echo.url.startswith("wss://127.0.0.1:")
        async with connect(echo.url, ssl=course_ca().client_context()) as ws:
            await ws.send(SECRET)
            assert await ws.recv() == SECRET
        py = Recorder()
        ws = py.watch(WebSocket(echo.url, ssl=course_ca().client_context()))
        ws.onopen = lambda event: ws.send(SECRET)
        ws.onmessage = lambda event: ws.close(1000)
        log = await py.finish(5)
    assert log.types() == ["open", "message", "close 1000"]
    assert log.events[1]["data"] == SECRET


@async_test
async def test_a_certificate_from_another_ca_is_refused_and_so_is_the_system_store():
    stranger = stranger_ca()
    async with servers.echo(tls=True, ssl=stranger.server_context()) as other:
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(other.url, ssl=course_ca().client_context()):
                pass
        py = Recorder()
        py.watch(WebSocket(other.url, ssl=course_ca().client_context()))
        log = await py.finish(5)
    assert log.types() == ["error", "close 1006"]
    async with servers.echo(tls=True) as echo:  # the course's certificate, default trust
        py = Recorder()
        ws = py.watch(WebSocket(echo.url))
        log = await py.finish(5)
    assert log.types() == ["error", "close 1006"]
    assert any("CERTIFICATE_VERIFY_FAILED" in str(e.details) for e in ws.events)


@async_test
async def test_the_tap_sees_the_message_over_ws_and_only_tls_records_over_wss():
    seen = {}
    for tls in (False, True):
        async with servers.echo(tls=tls) as echo, wire.Tap(echo) as tap:
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{tap.bound_port}"
            context = course_ca().client_context() if tls else None
            async with connect(url, ssl=context) as ws:
                await ws.send(SECRET)
                assert await ws.recv() == SECRET
            seen[tls] = (tap.data(wire.CLIENT), tap.data(wire.SERVER))
            if tls:
                with pytest.raises(ValueError, match="TLS"):
                    tap.frames(wire.SERVER)
            else:
                assert tap.frames(wire.SERVER)[0].payload == SECRET.encode()
    plain_up, plain_down = seen[False]
    assert plain_up.startswith(b"GET / HTTP/1.1\r\n")
    assert SECRET.encode() in plain_down  # server frames are not masked
    up, down = seen[True]
    assert up[0] == 0x16 and down[0] == 0x16  # TLS records: handshake first
    assert b"GET" not in up and b"Upgrade" not in up and b"HTTP/1.1" not in down
    assert SECRET.encode() not in up + down
    records = wire.tls_records(up)
    assert records[0][0] == "handshake" and "application_data" in {kind for kind, _ in records}
    assert sum(5 + length for _, length in records) == len(up)  # the whole stream is records
    assert wire.tls_records(plain_up) == []


# --- Cross-Site WebSocket Hijacking in Chromium -----------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    instance = browser.Chromium(args=chromium_args())
    yield instance
    instance.close_sync()


@browser_test
async def test_same_site_page_on_another_port_reads_the_account_without_origin_check(chromium):
    async with Bank() as bank:  # default cookie (Lax), bank on 127.0.0.1: same site
        attempt = await hijack(chromium, bank, "127.0.0.1")
        bank_origin = f"http://127.0.0.1:{bank.bound_port}"
    assert attempt.account == {"owner": "alice", "balance": 1234.56, "iban": "XX00 0000 0000 4242"}
    assert attempt.log.types() == ["open", "message", "close 1000"]
    handshake = attempt.handshake
    assert attempt.outcome == (True, True, True)
    assert handshake["cookie"] and handshake["cookie"].startswith("session=")
    assert handshake["origin"].startswith("http://127.0.0.1:")
    assert handshake["origin"] != bank_origin  # the same site, another origin (port)


@browser_test
async def test_cross_site_page_gets_no_lax_cookie_and_is_refused_with_1008(chromium):
    async with Bank(cookie="; SameSite=Lax") as bank:
        attempt = await hijack(chromium, bank, "localhost")  # harness page is 127.0.0.1: cross-site
    assert attempt.account is None
    assert attempt.log.types() == ["open", "close 1008"]
    assert attempt.log.events[-1]["reason"] == "not logged in"
    assert attempt.handshake["cookie"] is None


@browser_test
async def test_samesite_none_secure_cookie_is_withheld_while_third_party_cookies_are_blocked(
    chromium,
):
    async with Bank(cookie="; SameSite=None; Secure", tls=True) as bank:
        attempt = await hijack(chromium, bank, "localhost")
    assert attempt.log.types() == ["open", "close 1008"]
    assert attempt.handshake["cookie"] is None


@browser_test
async def test_samesite_none_secure_cookie_goes_cross_site_when_third_party_cookies_are_allowed():
    permissive = browser.Chromium(args=chromium_args(), preferences=ALLOW_THIRD_PARTY_COOKIES)
    try:
        async with Bank(cookie="; SameSite=None; Secure", tls=True) as bank:
            attempt = await hijack(permissive, bank, "localhost")
    finally:
        await permissive.close()
    assert attempt.account is not None and attempt.account["owner"] == "alice"
    assert attempt.handshake["origin"].startswith("http://127.0.0.1:")


@browser_test
async def test_origin_allow_list_answers_403_and_the_browser_sees_error_then_1006(chromium):
    async with Bank(origins=["https://bank.example"]) as bank:
        attempt = await hijack(chromium, bank, "127.0.0.1")
    assert attempt.log.types() == ["error", "close 1006"]
    assert attempt.handshake["cookie"]  # the browser did send the cookie: the check stopped it
    assert bank.access_log[-1].endswith('"GET / HTTP/1.1" 403')


@browser_test
async def test_the_banks_own_page_fetches_a_ticket_and_opens_the_socket_with_it(chromium):
    async with Bank(auth="ticket") as bank:
        log = await chromium.run(
            TICKET_JS,
            bank.url + "/",
            page=f"{bank.http_url}/login",
            bank=bank.http_url,
        )
    assert log.types() == ["open", "message", "close 1000"]
    assert json.loads(log.events[1]["data"])["owner"] == "alice"
    assert any(line.endswith('"GET /ticket HTTP/1.1" 200') for line in bank.access_log)
    assert "?ticket=" in bank.access_log[-1] and bank.access_log[-1].endswith(" 101")
    assert len(bank.tickets.used) == 1


@browser_test
async def test_an_https_page_cannot_open_ws_in_chromium(chromium):
    async with Bank(tls=True) as bank:
        log = await chromium.run(
            "const ws = attempt('new WebSocket', () => new WebSocket(url)); if (ws) watch(ws);",
            f"ws://{PLAIN_HOST}:{bank.bound_port}/",  # ws://127.0.0.1 would count as secure
            page=f"https://localhost:{bank.bound_port}/",
        )
    assert log.types() == ["throw SecurityError"], log.types()
    assert "insecure WebSocket" in log.errors[0]


# --- authentication -----------------------------------------------------------------------------


async def close_of(
    url: str, *messages: str, enough: int = 1, **options
) -> tuple[int, str, list[str]]:
    """Connect, send ``messages``, read until the server closes or ``enough`` messages came
    (then close with 1000): (close code, reason, messages received)."""
    received = []
    async with connect(url, **options) as ws:
        for message in messages:
            await ws.send(message)
        try:
            async with asyncio.timeout(5):
                async for message in ws:
                    received.append(message)
                    if len(received) >= enough:
                        await ws.close(1000)
        except ConnectionClosed:
            pass
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason, received


@async_test
async def test_cookie_auth_accepts_a_live_session_and_refuses_a_made_up_one():
    async with Bank() as bank:
        session = bank.login("alice")
        code, _, got = await close_of(bank.url, additional_headers={"Cookie": f"session={session}"})
        assert code == 1000 and json.loads(got[0])["owner"] == "alice"
        code, reason, got = await close_of(bank.url, additional_headers={"Cookie": "session=x"})
        assert (code, reason, got) == (1008, "not logged in", [])


@async_test
async def test_query_token_auth_works_and_the_token_lands_in_the_access_log():
    async with Bank(auth="query") as bank:
        code, _, got = await close_of(f"{bank.url}/?token={bank.token}")
        assert code == 1000 and json.loads(got[0])["owner"] == "alice"
        assert await close_of(f"{bank.url}/?token=guess") == (1008, "bad token", [])
        assert f"token={bank.token}" in bank.access_log[0]


@async_test
async def test_ticket_auth_accepts_a_fresh_ticket_once_and_refuses_forged_expired_reused():
    async with Bank(auth="ticket") as bank:
        ticket = bank.tickets.issue("alice")
        code, _, got = await close_of(f"{bank.url}/?ticket={ticket}")
        assert code == 1000 and json.loads(got[0])["owner"] == "alice"
        assert await close_of(f"{bank.url}/?ticket={ticket}") == (1008, "ticket already used", [])
        forged = bank.tickets.issue("alice")[:-2] + "AA"
        assert await close_of(f"{bank.url}/?ticket={forged}") == (
            1008,
            "bad ticket signature",
            [],
        )
        bank.tickets.ttl = -1.0
        old = bank.tickets.issue("alice")
        assert await close_of(f"{bank.url}/?ticket={old}") == (1008, "ticket expired", [])


@async_test
async def test_ticket_endpoint_needs_the_session_cookie():
    async with Bank(auth="ticket") as bank:
        session = bank.login()
        async with raw.tcp("127.0.0.1", bank.bound_port) as (reader, writer):
            writer.write(b"GET /ticket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await raw.read_to_eof(reader)).startswith(b"HTTP/1.1 401")
        async with raw.tcp("127.0.0.1", bank.bound_port) as (reader, writer):
            writer.write(
                b"GET /ticket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + f"Cookie: session={session}\r\n\r\n".encode()
            )
            answer = await raw.read_to_eof(reader)
        ticket = answer.split(b"\r\n\r\n", 1)[1].decode()
        assert bank.tickets.redeem(ticket) == "alice"


@async_test
async def test_first_message_auth_accepts_the_token_refuses_a_wrong_one_and_times_out():
    async with Bank(auth="first-message", auth_timeout=0.3) as bank:
        code, _, got = await close_of(bank.url, json.dumps({"token": bank.token}))
        assert code == 1000 and json.loads(got[0])["owner"] == "alice"
        assert await close_of(bank.url, json.dumps({"token": "guess"})) == (1008, "bad token", [])
        assert await close_of(bank.url, "hello") == (
            1008,
            'first message must be {"token": ...}',
            [],
        )
        assert await close_of(bank.url) == (1008, "authentication timeout", [])


def test_ticket_book_checks_signature_expiry_and_single_use_in_that_order():
    now = [1000.0]
    book = TicketBook(b"k" * 32, ttl=30, clock=lambda: now[0])
    ticket = book.issue("al.ice")  # a dot in the user name is fine
    with pytest.raises(AuthError, match="bad ticket signature"):
        TicketBook(b"x" * 32, clock=lambda: now[0]).redeem(ticket)
    with pytest.raises(AuthError, match="malformed"):
        book.redeem("nonsense")
    now[0] = 1030.0
    with pytest.raises(AuthError, match="expired"):
        book.redeem(ticket)
    now[0] = 1029.0
    assert book.redeem(ticket) == "al.ice"
    with pytest.raises(AuthError, match="already used"):
        book.redeem(ticket)


# --- limits -------------------------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert [bucket.allow(), bucket.allow()] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert sum(bucket.allow() for _ in range(10)) == 3


@async_test
async def test_flooding_the_bank_closes_the_connection_with_1008():
    async with Bank(rate=1, burst=3) as bank:
        session = bank.login()
        code, reason, got = await close_of(
            bank.url,
            *["balance?"] * 50,
            enough=99,
            additional_headers={"Cookie": f"session={session}"},
        )
    assert (code, reason) == (1008, "rate limit exceeded")
    # the account, then one answer per token: the burst, and at most a few refilled meanwhile
    assert 1 + 3 <= len(got) < 1 + 50


@async_test
async def test_a_message_over_max_size_closes_with_1009():
    async with Bank() as bank:
        session = bank.login()
        code, _, _ = await close_of(
            bank.url, "x" * 5000, additional_headers={"Cookie": f"session={session}"}
        )
    assert code == 1009


@async_test
async def test_a_huge_handshake_head_gets_431_and_extra_connections_get_429():
    async with Bank(per_address=AddressLimit(2)) as bank:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(bank.url, additional_headers={"X-Big": "a" * 10000}):
                pass
        assert caught.value.response.status_code == 431
        session = bank.login()
        cookie = {"Cookie": f"session={session}"}
        async with (
            connect(bank.url, additional_headers=cookie),
            connect(bank.url, additional_headers=cookie),
        ):
            with pytest.raises(InvalidStatus) as caught:
                async with connect(bank.url, additional_headers=cookie):
                    pass
            assert caught.value.response.status_code == 429


# --- notebook 08's exercises: each modelled slip is named -----------------------------------------


def _slipped(model, flag):
    def solution(*args):  # the learner's code with one slip
        return model(*args, **{flag: True})

    return solution


@pytest.mark.parametrize(
    ("exercise", "model", "flag", "sentence"),
    [("redeem_ticket", nb08.model_redeem, flag, says) for flag, says in nb08.TICKET_SLIPS.items()]
    + [("allowed", nb08.model_allowed, flag, says) for flag, says in nb08.BUCKET_SLIPS.items()],
)
def test_each_modelled_slip_in_notebook_08_is_named(exercise, model, flag, sentence):
    report = run_checker(exercise, _slipped(model, flag))
    assert not report.passed
    assert any(sentence in r.message for r in report.results if not r.passed), str(report)


@pytest.mark.parametrize("sentence", list(nb08.ORIGIN_MODELS))
def test_each_misreading_of_the_origin_rule_is_named(sentence):
    report = run_checker("origin_allowed", nb08.ORIGIN_MODELS[sentence])
    assert any(sentence in r.message for r in report.results if not r.passed), str(report)


def test_a_token_in_the_url_as_the_auth_choice_is_told_where_it_leaks():
    report = run_checker("choose_auth", lambda situation: "query")
    assert all(nb08.LEAKS in r.message for r in report.results), str(report)


def test_using_the_library_bucket_as_the_answer_fails_with_its_reason():
    def allowed(times, rate, burst):
        bucket = TokenBucket(rate, burst)
        return [bucket.allow() for _ in times]

    report = run_checker("allowed", allowed)
    assert not report.passed
    assert "write it yourself" in report.results[0].message, str(report)


@async_test
async def test_stopping_the_bank_cuts_a_connection_that_never_sent_a_request_at_once():
    bank = await Bank(name="stop test").start()
    reader, writer = await asyncio.open_connection("127.0.0.1", bank.bound_port)
    await asyncio.sleep(0.05)  # the server has accepted it and waits for a request
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bank.stop(timeout=5.0)
    assert loop.time() - started < 0.5  # not the 5 s a silent client could hold it
    assert await asyncio.wait_for(reader.read(), 1.0) == b""  # cut: EOF for the client
    writer.close()


@browser_test
async def test_hijack_all_keeps_each_variants_own_cookie_while_hosts_run_at_once(chromium):
    # Two variants on 127.0.0.1 share a cookie jar entry (cookies ignore ports), so they
    # run in turn; the one on localhost runs beside them. Each reads only its own bank.
    attempts = await hijack_all(
        {
            "lax, same site": (chromium, {}, "127.0.0.1"),
            "lax, another site": (chromium, {}, "localhost"),
            "strict, same site": (chromium, {"cookie": "; SameSite=Strict"}, "127.0.0.1"),
        }
    )
    try:
        assert list(attempts) == ["lax, same site", "lax, another site", "strict, same site"]
        assert [a.outcome for a in attempts.values()] == [
            (True, True, True),
            (False, True, False),
            (True, True, True),
        ]
        assert [a.log.types()[-1] for a in attempts.values()] == [
            "close 1000",
            "close 1008",
            "close 1000",
        ]
    finally:
        for number in (1, 2, 3):
            await servers.stop(f"bank {number}")
