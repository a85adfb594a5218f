"""Checks for notebook 10 (permessage-deflate).

- ``parse_offer``: the expected answers come from ``wslearn.deflate.parse_extensions``
  and from the RFC 6455 §9.1 grammar; hints name the usual slips (splitting on
  the wrong separator, keeping spaces or quotes, ``''`` for "no value").
- ``inflate_messages``: the compressed payloads are made at check time by
  ``websockets``' own permessage-deflate (a real peer's encoder); each zlib
  error a wrong solution runs into is translated into the mistake behind it.
- ``server_settings``: the learner's settings are negotiated against Chromium's
  offer with ``wslearn.deflate.accept`` and the memory an idle connection keeps
  is *measured* (tracemalloc around zlib), so any good answer passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode

from wslearn import deflate
from wslearn.exercises import Result, answered, case, describe_error, exercise, raises

NOTEBOOK = "10_compression"
CHROMIUM_OFFER = deflate.offer()

# --- parse_offer ------------------------------------------------------------------------------

OFFER_CASES = [
    # (description, header value, hint when wrong)
    ("Chromium's offer", CHROMIUM_OFFER, "parameters follow the name, each after a ';'"),
    ("Firefox's offer: no parameters", "permessage-deflate", "an offer may have no parameters: {}"),
    (
        "two offers, the client's favourite first",
        "permessage-deflate; server_max_window_bits=10, permessage-deflate",
        "offers are separated by ',' and parameters by ';': split on ',' first",
    ),
    (
        "spaces around ';' and '='",
        "permessage-deflate ;  server_no_context_takeover ; client_max_window_bits = 9",
        "strip the spaces around names and values",
    ),
    (
        "a quoted value",
        'permessage-deflate; server_max_window_bits="10"',
        'a quoted value means the same token without its quotes: "10" is 10',
    ),
    (
        "another extension beside it",
        "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
        "keep every offer, whatever its name; the server decides which it knows",
    ),
]


def _expected_offer(value: str) -> list[tuple[str, dict[str, str | None]]]:
    return [(name, dict(params)) for name, params in deflate.parse_extensions(value)]


def _as_offer_list(got: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(name, dict(params)) for name, params in got]


def _offer_hint(got: Any, want: list[tuple[str, dict[str, str | None]]], hint: str) -> str:
    """The learner's actual slip, recognised from the answer, else the case's hint."""
    try:
        answer = _as_offer_list(got)
    except (TypeError, ValueError):
        return "return a list of (name, {parameter: value}) pairs, one per offer"
    values = [v for _, params in answer for v in params.values()]
    names = [k for _, params in answer for k in params] + [n for n, _ in answer]
    if "" in values:
        return "a parameter without '=' has no value: use None, not ''"
    if any(isinstance(v, int) for v in values):
        return "keep values as text ('10'); the meaning of a value is the next step"
    if any(isinstance(v, str) and v.startswith('"') for v in values):
        return 'a quoted value means the same token without its quotes: "10" is 10'
    if any(n != n.strip() for n in names) or any(
        isinstance(v, str) and v != v.strip() for v in values
    ):
        return "strip the spaces around names and values"
    if len(answer) != len(want):
        return f"{len(want)} offer(s) expected, got {len(answer)}: split the list on ','"
    return hint


@exercise("parse_offer", notebook=NOTEBOOK, shortcuts=["wslearn.deflate.parse_extensions"])
def check_parse_offer(parse_offer: Callable[[str], Any]) -> Iterator[Result]:
    """Parse a Sec-WebSocket-Extensions value into (name, {param: value}) offers."""
    for description, value, hint in OFFER_CASES:
        want = _expected_offer(value)
        try:
            got = parse_offer(value)
        except Exception as exc:
            yield case(description, lambda exc=exc: _raise(exc), hint=hint)
            continue
        try:
            same = _as_offer_list(got) == want
        except (TypeError, ValueError):
            same = False
        yield Result(
            description,
            same,
            "" if same else f"for {value!r}: {_offer_hint(got, want, hint)}",
            seen=answered(got, want),
        )
    yield raises(
        "a parameter given twice",
        lambda: parse_offer(
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover"
        ),
        ValueError,
        hint="RFC 7692 §7: an offer that repeats a parameter is declined: raise ValueError",
    )


def _raise(exc: BaseException) -> Any:
    raise exc


# --- inflate_messages -------------------------------------------------------------------------

#: zlib's complaint -> the mistake that causes it
ZLIB_DIAGNOSES = {
    "invalid stored block lengths": (
        "put the 4 bytes 00 00 ff ff back at the end of every message before inflating "
        "(the sender removed them); without them zlib reads the next message as their lengths"
    ),
    "invalid distance too far back": (
        "with context takeover a message may point back into earlier ones: keep ONE "
        "decompressobj for the whole connection instead of a new one per message"
    ),
    "incorrect header check": (
        "permessage-deflate carries raw DEFLATE, no zlib header: use wbits=-15 (negative)"
    ),
    "incomplete or truncated stream": (
        "zlib.decompress() wants a finished stream, but a message ends with a sync flush: "
        "use zlib.decompressobj(wbits=-15) and its .decompress()"
    ),
}


def _compressed(messages: list[str], context_takeover: bool, window_bits: int = 15) -> list[bytes]:
    """Payloads of compressed TEXT messages, made by websockets' permessage-deflate."""
    nct = not context_takeover
    encoder = WsDeflate(nct, nct, window_bits, window_bits)
    return [bytes(encoder.encode(WsFrame(WsOpcode.TEXT, m.encode())).data) for m in messages]


def _inflate_hint(exc: BaseException | None) -> str:
    text = str(exc) if exc else ""
    for needle, hint in ZLIB_DIAGNOSES.items():
        if needle in text:
            return hint
    return "inflate each payload + 00 00 ff ff with one decompressobj(wbits=-15), decode UTF-8"


@exercise(
    "inflate_messages",
    notebook=NOTEBOOK,
    shortcuts=["wslearn.deflate.Decompressor", "wslearn.deflate.PerMessageDeflate"],
)
def check_inflate_messages(
    inflate_messages: Callable[[list[bytes], bool], list[str]],
) -> Iterator[Result]:
    """Inflate a connection's compressed text messages, with or without context takeover."""
    chat = [deflate.sample_messages("chat", 8)[i].decode() for i in range(8)]
    big = deflate.sample_messages("document", 1)[0].decode()
    cases = [
        ("RFC 7692 §7.2.3.1: 'Hello'", [bytes.fromhex("f248cdc9c90700")], False, ["Hello"]),
        ("one chat message", _compressed(chat[:1], True), True, chat[:1]),
        ("8 chat messages, no context takeover", _compressed(chat, False), False, chat),
        ("8 chat messages, context takeover", _compressed(chat, True), True, chat),
        (
            "an empty message, then 'Hello' twice",
            _compressed(["", "Hello", "Hello"], True),
            True,
            ["", "Hello", "Hello"],
        ),
        ("a 100 kB JSON document, window bits 10", _compressed([big], True, 10), True, [big]),
    ]
    for description, payloads, takeover, want in cases:
        try:
            got = inflate_messages(list(payloads), takeover)
        except NotImplementedError:
            yield case(description, lambda: _raise(NotImplementedError()))
            continue
        except Exception as exc:
            shortcut = type(exc).__name__ == "ShortcutUsed"  # its message says it all
            hint = "" if shortcut else f"; {_inflate_hint(exc)}"
            yield Result(description, False, describe_error(exc) + hint)
            continue
        seen = answered(got, want)
        if isinstance(got, list) and got == want:
            yield Result(description, True, seen=seen)
        elif isinstance(got, list) and got and isinstance(got[0], bytes):
            yield Result(
                description, False, "text messages are UTF-8: .decode() what you inflate", seen=seen
            )
        else:
            wrong = next(
                (i for i, (a, b) in enumerate(zip(got or [], want, strict=False)) if a != b), None
            )
            where = (
                f"message {wrong + 1} differs"
                if wrong is not None
                else f"got {len(got or [])} messages"
            )
            yield Result(description, False, f"{where}; {_inflate_hint(None)}", seen=seen)


# --- answer_offer -----------------------------------------------------------------------------

#: the server of exercise 4 wants 12-bit windows both ways, like websockets
SERVER_WISH = {"server_max_window_bits": 12, "client_max_window_bits": 12}

ANSWER_CASES = [
    # (description, the offer's parameters)
    ("Chromium's offer", {"client_max_window_bits": None}),
    ("Firefox's offer: no parameters", {}),
    ("the client limits the server to 10 bits", {"server_max_window_bits": "10"}),
    ("the client hints it will use 9 bits", {"client_max_window_bits": "9"}),
    (
        "the client asks for no context takeover",
        {"server_no_context_takeover": None, "client_max_window_bits": None},
    ),
    ("server_max_window_bits=16", {"server_max_window_bits": "16"}),
    ("server_max_window_bits=08 (a leading zero)", {"server_max_window_bits": "08"}),
    ("a parameter nobody defined", {"mystery_speedup": "1"}),
    ("server_no_context_takeover=1 (it takes no value)", {"server_no_context_takeover": "1"}),
]


def _offer_text(params: dict[str, str | None]) -> str:
    return deflate.serialize_extension(deflate.NAME, params.items())


def _response_params(value: Any) -> dict[str, str | None] | None:
    """A response value as {parameter: value}; raises ValueError when it is not one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"return a str (the header value) or None, not {type(value).__name__}")
    (element,) = deflate.parse_extensions(value)
    if element.name != deflate.NAME:
        raise ValueError(f"the response must name {deflate.NAME}")
    return dict(element.params)


def _answer_hint(offer: dict[str, str | None], got: dict | None, want: dict | None) -> str:
    """The rule of RFC 7692 §7 the answer broke, read from the answer itself."""
    if want is None:
        return (
            "RFC 7692 §7: a server MUST decline (return None) an offer with an unknown "
            "parameter, an invalid value or a repeated name"
        )
    if got is None:
        return "this offer is valid: accept it"
    if "client_max_window_bits" in got and "client_max_window_bits" not in offer:
        return (
            "§7.1.2.2: the offer had no client_max_window_bits, so the response MUST NOT "
            "include it (the client could not honour it)"
        )
    for name in ("server_max_window_bits", "client_max_window_bits"):
        if got.get(name) is not None and want.get(name) is not None:
            if int(got[name]) > int(want[name]):
                return f"{name} must not be bigger than what the offer asked for"
            if int(got[name]) < int(want[name]):
                return (
                    f"{name}: the server wants 12 bits; give it the offer's value only if smaller"
                )
    if "server_no_context_takeover" in offer and "server_no_context_takeover" not in got:
        return "§7.1.1.1: the client asked for server_no_context_takeover: include it"
    if "server_max_window_bits" not in got:
        return "the server wants a 12-bit window: say server_max_window_bits (it may always)"
    return "compare each parameter with the offer and the server's wish (12 bits each way)"


@exercise(
    "answer_offer",
    notebook=NOTEBOOK,
    shortcuts=["wslearn.deflate.accept", "wslearn.deflate.read_params"],
)
def check_answer_offer(answer_offer: Callable[[dict], Any]) -> Iterator[Result]:
    """The server's response to one offer (12-bit windows wanted), or None to decline."""
    for description, offer in ANSWER_CASES:
        answer = deflate.accept(_offer_text(offer), **SERVER_WISH)
        want = None if answer is None else dict(answer[1].items())
        try:
            got_text = answer_offer(dict(offer))
        except Exception as exc:
            yield case(description, lambda exc=exc: _raise(exc))
            continue
        seen = answered(got_text, want)
        try:
            got = _response_params(got_text)
        except (ValueError, deflate.NegotiationError) as exc:
            yield Result(description, False, f"got {got_text!r}: {exc}", seen=seen)
            continue
        if got == want:  # a refusal (want None) is vacuous: None passes it
            yield Result(description, True, vacuous=want is None, seen=seen)
        else:
            hint = _answer_hint(offer, got, want)
            yield Result(description, False, f"got {got_text!r}; {hint}", seen=seen)


# --- server_settings --------------------------------------------------------------------------

CONNECTIONS = 50_000
BUDGET = 1 << 30  # 1 GiB for the compression state of every idle connection
ACCEPT_KEYWORDS = {
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
}


def idle_cost(settings: dict[str, Any]) -> tuple[deflate.Params | None, int]:
    """The agreement with Chromium's offer and what one idle connection keeps (bytes)."""
    answer = deflate.accept(CHROMIUM_OFFER, **settings)
    if answer is None:
        return None, 0
    message = deflate.sample_messages("chat", 1)[0]
    return answer[1], deflate.connection_memory(answer[1], message)[0]


@exercise("server_settings", notebook=NOTEBOOK)
def check_server_settings(server_settings: Callable[[], dict[str, Any]]) -> Iterator[Result]:
    """Settings for deflate.accept() that fit 50,000 idle connections in 1 GiB."""
    yield case(
        "returns keyword arguments for deflate.accept()",
        lambda: _keywords(server_settings()),
        hint=f"return a dict whose keys are among {sorted(ACCEPT_KEYWORDS)}",
    )
    try:
        settings = _keywords(server_settings())
        params, idle = idle_cost(settings)
    except Exception as exc:
        yield Result("Chromium's offer is accepted", False, describe_error(exc))
        return
    yield Result(
        "Chromium's offer is accepted (compression stays on for the JSON messages)",
        params is not None,
        "" if params else "turning compression off fits too, but the task keeps it on",
        vacuous=True,  # {} (the defaults) is accepted too
    )
    if params is None:
        return
    total = idle * CONNECTIONS
    fits = total <= BUDGET
    hint = ""
    if not fits:
        if not params.server_no_context_takeover and not params.client_no_context_takeover:
            hint = (
                f"with context takeover every idle connection keeps {idle / 1024:.0f} KiB: the "
                "compressor's hash tables alone are 2**(memLevel+9) bytes whatever the window; "
                "what frees them between messages?"
            )
        elif not params.client_no_context_takeover:
            hint = (
                f"the decompressor for what clients send still keeps its window "
                f"({idle / 1024:.0f} KiB): limit client_max_window_bits, or set "
                "client_no_context_takeover"
            )
        else:
            hint = (
                f"the server's own compressor still keeps {idle / 1024:.0f} KiB: "
                "server_no_context_takeover frees it between messages"
            )
    yield Result(
        f"{CONNECTIONS:,} idle connections fit in 1 GiB (measured: {total / 2**20:,.0f} MiB)",
        fits,
        hint,
    )


def _keywords(settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict) or not set(settings) <= ACCEPT_KEYWORDS:
        raise TypeError(f"expected a dict with keys among {sorted(ACCEPT_KEYWORDS)}")
    return settings


__all__ = [
    "ANSWER_CASES",
    "BUDGET",
    "CONNECTIONS",
    "OFFER_CASES",
    "SERVER_WISH",
    "ZLIB_DIAGNOSES",
    "idle_cost",
]
