"""Checks for notebook 08 (security).

The expected values come from the rules the notebook teaches: an ``Origin``
is compared whole (scheme, host and port: RFC 6454's serialization), a ticket
is checked signature first, then expiry, then single use, a token bucket never
holds more than its burst. Each likely slip is modelled (``mistakes``), so a
failure names the learner's mistake, never the answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

from wslearn.exercises import Result, case, exercise
from wslearn.exercises.mistakes import known, same_as, slips

NOTEBOOK = "08_security"

__all__ = [
    "AUTH_CASES",
    "BUCKET_CASES",
    "BUCKET_SLIPS",
    "HACK",
    "LEAKS",
    "ORIGIN_CASES",
    "ORIGIN_MODELS",
    "TICKET_SECRET",
    "TICKET_SLIPS",
    "make_ticket",
    "model_allowed",
    "model_redeem",
    "ticket_scenarios",
]


def _is_bool(got: Any, want: Any) -> bool:
    return isinstance(got, bool) and got == want


# --- origin_allowed ---------------------------------------------------------------------------

ALLOWED = ["https://bank.example", "https://app.bank.example:8443"]

#: (origin header or None, expected, hint)
ORIGIN_CASES: list[tuple[str | None, bool, str]] = [
    ("https://bank.example", True, "the bank's own page must get in"),
    ("https://app.bank.example:8443", True, "every origin in the list is allowed, port included"),
    ("https://bank.example.evil.net", False, "a name that only begins like the bank's is not it"),
    ("https://evilbank.example", False, "a name that only ends like the bank's is not it"),
    ("http://bank.example", False, "the scheme is part of the origin: http is not https"),
    ("https://bank.example:8443", False, "an origin includes its port"),
    ("https://app.bank.example", False, "an origin includes its port: :8443 was allowed"),
    (None, False, "no Origin header (a non-browser client): not on the list, so refuse"),
    ("null", False, "'null' (a sandboxed or file: page) is no allowed origin"),
    ("", False, "an empty Origin is no allowed origin"),
]


def _host(origin: str) -> str:
    return origin.split("://", 1)[-1].split(":", 1)[0]


ORIGIN_MODELS: dict[str, Callable[[str | None, list[str]], bool]] = {
    "you accept an Origin that merely begins with an allowed one (startswith): "
    "https://bank.example.evil.net gets in; compare the whole string": (
        lambda o, a: o is not None and any(o.startswith(x) for x in a)
    ),
    "you accept an Origin that merely contains or ends with an allowed name; "
    "compare the whole string": (lambda o, a: o is not None and any(_host(x) in o for x in a)),
    "you compare host names only: an origin includes its scheme and port": (
        lambda o, a: o is not None and _host(o) in {_host(x) for x in a}
    ),
    "a missing Origin (None) is let through: refuse it unless None is on the list": (
        lambda o, a: o is None or o in a
    ),
}


@exercise("origin_allowed", notebook=NOTEBOOK, shortcuts=["wslearn.handshake.check_request"])
def check_origin_allowed(origin_allowed: Callable[..., bool]) -> Iterator[Result]:
    """May a handshake with this ``Origin`` header (None: none sent) open a socket?"""
    inputs = [(origin, list(ALLOWED)) for origin, _, _ in ORIGIN_CASES]
    misreading = same_as(origin_allowed, inputs, ORIGIN_MODELS)
    for origin, expected, hint in ORIGIN_CASES:
        yield case(
            repr(origin),
            lambda origin=origin: origin_allowed(origin, list(ALLOWED)),
            expected,
            hint=hint,
            compare=_is_bool,
            diagnose=lambda got: (
                "return True or False (a bool)" if not isinstance(got, bool) else misreading
            ),
        )


# --- choose_auth ------------------------------------------------------------------------------

LEAKS = (
    "a token in the URL is written to access logs, proxies' logs and the browser's history; "
    "use something that does not outlive its first use"
)
HACK = (
    "Sec-WebSocket-Protocol names subprotocols; a token there is logged and echoed as one, "
    "and the server must answer it back: a hack"
)
#: situation (as notebook 08 describes it) -> (expected, {wrong answer: hint})
AUTH_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "same-site page, logged in with a session cookie": (
        "cookie",
        {
            "ticket": "a ticket works, but the browser already sends the session cookie: "
            "check Origin and use it",
            "first-message": "the page cannot read an HttpOnly session cookie to send it",
            "header": "a browser's WebSocket cannot set headers",
        },
    ),
    "a service calling a service, no browser": (
        "header",
        {
            "cookie": "a service has no browser session: it can send its credential "
            "in a header, which only a browser cannot",
            "ticket": "a ticket is for browsers, which cannot set headers; a service can",
            "first-message": "a service can authenticate in the handshake itself, with a header",
        },
    ),
    "SPA calling an API on another site; URLs are logged; refuse before the upgrade": (
        "ticket",
        {
            "cookie": "another site: a third-party cookie may be blocked, and cookies "
            "invite Cross-Site WebSocket Hijacking",
            "first-message": "the server must refuse before the upgrade: the credential has "
            "to be in the handshake",
            "header": "a browser's WebSocket cannot set headers",
        },
    ),
    "browser game on another site; the server has no HTTP endpoint; a second unauthenticated "
    "is fine": (
        "first-message",
        {
            "cookie": "another site: a third-party cookie may be blocked, and cookies "
            "invite Cross-Site WebSocket Hijacking",
            "ticket": "a ticket is fetched over HTTP first, and this server has no HTTP endpoint",
            "header": "a browser's WebSocket cannot set headers",
        },
    ),
}
AUTH_CHOICES = ("cookie", "header", "ticket", "first-message")


def _auth_hint(choices: dict[str, str]) -> Callable[[Any], str | None]:
    def diagnose(got: Any) -> str | None:
        if got == "query":
            return LEAKS
        if got == "protocol":
            return HACK
        if got not in AUTH_CHOICES:
            return f"answer one of {', '.join(AUTH_CHOICES)}"
        return choices.get(got)

    return diagnose


@exercise("choose_auth", notebook=NOTEBOOK)
def check_choose_auth(choose_auth: Callable[[str], str]) -> Iterator[Result]:
    """How should this client prove who it is? One of cookie, header, ticket, first-message."""
    for situation, (expected, choices) in AUTH_CASES.items():
        yield case(
            situation,
            lambda situation=situation: choose_auth(situation),
            expected,
            hint="read the situation again: who is the client, and can it set headers?",
            diagnose=_auth_hint(choices),
        )


# --- redeem_ticket ----------------------------------------------------------------------------

TICKET_SECRET = b"course-secret-for-the-ticket-exercise"


def _sign(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_ticket(user: str, expires: int, nonce: str, secret: bytes = TICKET_SECRET) -> str:
    """A ticket as ``wslearn.security.TicketBook`` writes it: ``user.expires.nonce.sig``."""
    body = f"{user}.{expires}.{nonce}"
    return f"{body}.{_sign(secret, body)}"


def model_redeem(
    ticket: str,
    secret: bytes,
    now: int,
    used: set[str],
    *,
    no_signature: bool = False,
    no_expiry: bool = False,
    no_single_use: bool = False,
    expiry_inclusive: bool = False,
) -> str | None:
    """The user of a valid ticket, else None; each flag is a slip.

    ``used`` holds the nonces of the tickets accepted so far; the caller (the
    server, the check) adds a ticket's nonce once it is accepted, so the
    function itself changes nothing (a grader calls it across a process boundary).
    """
    parts = ticket.rsplit(".", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    user, expires, nonce, signature = parts
    if not no_signature and not hmac.compare_digest(
        signature, _sign(secret, f"{user}.{expires}.{nonce}")
    ):
        return None
    if not no_expiry and (now > int(expires) if expiry_inclusive else now >= int(expires)):
        return None
    if nonce in used and not no_single_use:
        return None
    return user


TICKET_SLIPS = {
    "no_signature": "a ticket with a made-up signature got in: check the HMAC before "
    "trusting anything in the ticket",
    "no_expiry": "an expired ticket got in: compare now with the expiry",
    "no_single_use": "a ticket worked twice: remember each nonce that was used",
    "expiry_inclusive": "a ticket still worked at its expiry time: at now == expires it "
    "has expired",
}


def ticket_scenarios() -> dict[str, list[tuple[str, int]]]:
    """Named sequences of (ticket, now) redeemed in order, sharing one ``used`` set."""
    good = make_ticket("alice", 1_000_000, "n1")
    forged_same_nonce = make_ticket("mallory", 1_000_000, "n1", secret=b"guessed")
    return {
        "a fresh ticket": [(good, 990_000)],
        "the same ticket twice": [(good, 990_000), (good, 990_500)],
        "a ticket after its expiry": [(good, 1_000_001)],
        "a ticket exactly at its expiry": [(good, 1_000_000)],
        "a signature made with another secret": [(forged_same_nonce, 990_000)],
        "a user name changed after signing": [(good.replace("alice", "admin", 1), 990_000)],
        "a forged ticket, then the real one with the same nonce": [
            (forged_same_nonce, 990_000),
            (good, 990_100),
        ],
        "a user name with a dot in it": [(make_ticket("a.lice", 1_000_000, "n2"), 990_000)],
        "not a ticket at all": [("hello", 990_000), ("a.b.c", 990_000)],
    }


def _replay(redeem: Callable[..., Any], steps: list[tuple[str, int]]) -> list[Any]:
    """Redeem each ticket in turn, as a server would: an accepted ticket's nonce is used up."""
    used: set[str] = set()
    answers = []
    for ticket, now in steps:
        answers.append(redeem(ticket, TICKET_SECRET, now, set(used)))
        if answers[-1] is not None:
            used.add(ticket.rsplit(".", 3)[2])
    return answers


@exercise("redeem_ticket", notebook=NOTEBOOK, shortcuts=["wslearn.security.TicketBook.redeem"])
def check_redeem_ticket(redeem_ticket: Callable[..., str | None]) -> Iterator[Result]:
    """A ticket's user if its signature holds, it has not expired and its nonce is unused."""

    def slipped(steps: list[tuple[str, int]]) -> list[tuple[str, Any]]:
        def model(**flags: bool) -> list[Any]:
            return _replay(lambda *a: model_redeem(*a, **flags), steps)

        return slips(lambda **flags: model(**flags), TICKET_SLIPS)

    for description, steps in ticket_scenarios().items():
        yield case(
            description,
            lambda steps=steps: _replay(redeem_ticket, steps),
            _replay(model_redeem, steps),
            hint="check the form, then the signature, then the expiry, then whether the "
            "nonce is in used; return None for any failure",
            diagnose=known(slipped(steps)),
            vacuous=not any(_replay(model_redeem, steps)),  # every redeem refused: None passes
            calls=True,  # each redeem is one answer
        )


# --- allowed (token bucket) -------------------------------------------------------------------


def model_allowed(
    times: list[float],
    rate: float,
    burst: int,
    *,
    no_cap: bool = False,
    starts_empty: bool = False,
    refusal_costs: bool = False,
    fixed_window: bool = False,
) -> list[bool]:
    """Which messages (arrival times, in order) a token bucket lets through; flags are slips."""
    if fixed_window:  # at most `rate` messages in each whole second
        counts: dict[int, int] = {}
        result = []
        for t in times:
            second = int(t)
            counts[second] = counts.get(second, 0) + 1
            result.append(counts[second] <= rate)
        return result
    tokens = 0.0 if starts_empty else float(burst)
    last = times[0] if times else 0.0
    result = []
    for t in times:
        tokens += (t - last) * rate
        if not no_cap:
            tokens = min(float(burst), tokens)
        last = t
        ok = tokens >= 1
        if ok or refusal_costs:
            tokens -= 1
        result.append(ok)
    return result


BUCKET_SLIPS = {
    "no_cap": "after a quiet spell your bucket let a long burst through: it never holds "
    "more than burst tokens",
    "starts_empty": "the first messages were refused: the bucket starts full (burst tokens)",
    "refusal_costs": "a refused message took a token too: only messages let through spend one",
    "fixed_window": "you count messages per whole second: a bucket refills continuously, "
    "rate tokens per second",
}

#: (description, times, rate, burst)
BUCKET_CASES = [
    ("a burst of 8 at once, rate 2/s, burst 5", [0.0] * 8, 2.0, 5),
    ("one message every 0.25 s, rate 2/s, burst 2", [i * 0.25 for i in range(12)], 2.0, 2),
    ("10 s of silence, then 6 at once, rate 1/s, burst 3", [0.0, *[10.0] * 6], 1.0, 3),
    ("a flood that keeps going, rate 1/s, burst 1", [i * 0.3 for i in range(10)], 1.0, 1),
    ("across a second boundary, rate 3/s, burst 3", [0.9, 0.95, 0.99, 1.0, 1.05, 1.1], 3.0, 3),
    ("no messages", [], 5.0, 5),
]


@exercise("allowed", notebook=NOTEBOOK, shortcuts=["wslearn.security.TokenBucket"])
def check_allowed(allowed: Callable[..., list[bool]]) -> Iterator[Result]:
    """For each arrival time, is the message let through by a token bucket?"""
    for description, times, rate, burst in BUCKET_CASES:
        yield case(
            description,
            lambda times=times, rate=rate, burst=burst: allowed(list(times), rate, burst),
            model_allowed(times, rate, burst),
            hint="tokens grow by rate per second since the last message, never above burst; "
            "a message passes if a whole token is there, and spends it",
            compare=lambda got, want: (
                isinstance(got, list) and all(isinstance(g, bool) for g in got) and got == want
            ),
            diagnose=known(slips(model_allowed, BUCKET_SLIPS, times, rate, burst)),
        )
