"""Notebook 08: what Chromium did in each Cross-Site WebSocket Hijacking variant; a token bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from wslearn.plots.style import BAD, CLIENT, FONT_SIZE, NETWORK, OK, figure

#: the columns of ``cswsh_outcomes``: what each variant's run recorded
OUTCOME_COLUMNS = ("cookie sent", "socket opened", "account read")


def cswsh_outcomes(variants: Sequence[tuple[str, Sequence[bool]]]) -> Figure:
    """Notebook 08: one row per variant, one cell per ``OUTCOME_COLUMNS`` entry.

    ``variants`` are ``(label, (cookie sent, socket opened, account read))``
    as measured: red where the attacker got something, green where not.
    """
    fig, ax = figure(8.5, 0.55 * len(variants) + 1.1)
    for row, (_, outcomes) in enumerate(variants):
        for col, happened in enumerate(outcomes):
            ax.add_patch(
                _cell(col, row, BAD if happened else OK),
            )
            ax.text(
                col + 0.5,
                row + 0.5,
                "yes" if happened else "no",
                ha="center",
                va="center",
                color="white",
                fontsize=FONT_SIZE,
                fontweight="bold",
            )
    ax.set_xlim(0, len(OUTCOME_COLUMNS))
    ax.set_ylim(len(variants), 0)
    ax.set_xticks([c + 0.5 for c in range(len(OUTCOME_COLUMNS))], OUTCOME_COLUMNS)
    ax.xaxis.tick_top()
    ax.set_yticks([r + 0.5 for r in range(len(variants))], [label for label, _ in variants])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("what the attacker's page got (red: the attack worked that far)")
    ax.set_title("Cross-Site WebSocket Hijacking in Chromium, measured", pad=28)
    return fig


def _cell(col: int, row: int, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((col + 0.04, row + 0.06), 0.92, 0.88, color=colour)


def token_bucket(
    times: Sequence[float], allowed: Sequence[bool], rate: float, burst: float
) -> Figure:
    """Notebook 08: messages of a flood over time, passed or refused, and the bucket's level.

    ``times`` are arrival times (s) and ``allowed`` the limiter's answers, as
    recorded; the level is recomputed from them (``rate`` tokens per second,
    at most ``burst``).
    """
    fig, ax = figure(8.5, 3.0)
    level, last, xs, ys = float(burst), times[0] if times else 0.0, [], []
    for t, ok in zip(times, allowed, strict=True):
        level = min(burst, level + (t - last) * rate)
        last = t
        xs.append(t)
        ys.append(level)
        if ok:
            level -= 1
        xs.append(t)
        ys.append(level)
    ax.plot(xs, ys, color=NETWORK, lw=1.2, label="tokens in the bucket")
    passed = [t for t, ok in zip(times, allowed, strict=True) if ok]
    refused = [t for t, ok in zip(times, allowed, strict=True) if not ok]
    ax.scatter(passed, [-0.4] * len(passed), marker="|", s=120, color=CLIENT, label="let through")
    ax.scatter(refused, [-0.8] * len(refused), marker="x", s=30, color=BAD, label="refused")
    ax.axhline(burst, color=NETWORK, lw=0.6, ls=":")
    ax.set_ylim(-1.2, burst + 0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("tokens")
    ax.set_title(f"A token bucket: {rate:g} messages/s, bursts of {burst:g}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig
