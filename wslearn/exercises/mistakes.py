"""Which known mistake produced this value? One place for the checks' diagnoses.

A check that fails should name the learner's actual mistake, not repeat a
fixed hint. The way to know the mistake is to *model* it: a small function
that computes what a solution with that slip returns for the same input. If
the learner's result equals a model's, that is the diagnosis; two slips at
once are recognised the same way (``slips`` tries every pair), so "no GUID
*and* hex digest" is named as both. The fixed hint is only the fallback::

    mistakes = slips(model_accept, {"no_guid": "append the GUID ...", "hex": "..."}, key)
    case("RFC key", lambda: accept_key(key), want, hint="base64(SHA-1(key + GUID))",
         diagnose=known(mistakes))
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["known", "same_as", "slips", "which"]

Known = Iterable[tuple[str, Any]]
PAIR = "2 mistakes: "  # how a pair of slips is introduced (``slips``)


def which(got: Any, mistakes: Known, same: Callable[[Any, Any], bool] | None = None) -> str | None:
    """The sentence of the mistake whose value equals ``got``, else None.

    When two single slips give the same value here, both are named ("... ; or
    perhaps: ..."): the learner knows which one they made. A pair of slips is
    named only when no single slip explains the value.
    """
    matches: list[str] = []
    for says, value in mistakes:
        try:
            if (same or _same)(got, value) and says not in matches:
                matches.append(says)
        except Exception:  # a learner's odd object must not break the check
            continue
    singles = [says for says in matches if not says.startswith(PAIR)]
    named = (singles or matches)[:2]
    return "; or perhaps: ".join(named) if named else None


def _same(got: Any, value: Any) -> bool:
    """Equal values; numbers within 1e-9 (a float slip still matches), bools only bools."""
    if isinstance(got, bool) or isinstance(value, bool):
        return type(got) is type(value) and got == value
    if isinstance(got, int | float) and isinstance(value, int | float):
        return abs(got - value) < 1e-9
    return got == value


def known(mistakes: Known, same: Callable[[Any, Any], bool] | None = None):
    """``which`` as a one-argument function, for ``case(..., diagnose=known(...))``."""
    table = list(mistakes)
    return lambda got: which(got, table, same)


def slips(
    model: Callable[..., Any], named: Mapping[str, str], *args: Any, most: int = 2
) -> list[tuple[str, Any]]:
    """What ``model(*args)`` returns with each slip on, then each pair of slips.

    ``model`` takes the slips as keyword flags (``model(key, no_guid=True)``);
    ``named`` maps each flag to the sentence that names it. A combination the
    model cannot compute (it raises) is left out. Single slips come first, so
    the simplest explanation wins.
    """
    found: list[tuple[str, Any]] = []
    for count in range(1, min(most, 2) + 1):
        for combo in itertools.combinations(named, count):
            try:
                value = model(*args, **dict.fromkeys(combo, True))
            except Exception:
                continue
            if count == 1:
                says = named[combo[0]]
            else:
                says = PAIR + "; and ".join(named[flag] for flag in combo)
            found.append((says, value))
    return found


def same_as(
    learner: Callable[..., Any], inputs: Iterable[tuple[Any, ...]], models: Mapping[str, Callable]
) -> str | None:
    """The sentence of the first model that answers every input as ``learner`` does, else None.

    For answers too small to tell mistakes apart one by one (a bool, a status):
    the learner's whole table of answers is compared with each model's table.
    """
    cases = list(inputs)
    try:
        answers = [learner(*args) for args in cases]
    except Exception:
        return None
    for says, model in models.items():
        try:
            if all(_same(got, model(*args)) for got, args in zip(answers, cases, strict=True)):
                return says
        except Exception:
            continue
    return None
