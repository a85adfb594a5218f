"""Notebook 09: fan-out, a client that stopped reading, Redis in between, a Redis restart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


from wslearn.plots.style import BAD, CLIENT, FONT_SIZE, NETWORK, OK, SERVER, figure

#: one colour per way of fanning out (``wslearn.broadcast.METHODS``), the same in every figure
METHOD_COLOURS = {"naive": BAD, "broadcast": SERVER, "hub": OK}
METHOD_LABELS = {
    "naive": "naive loop: await ws.send() each",
    "broadcast": "websockets.broadcast()",
    "hub": "hub: a bounded queue per client",
}
POLICY_STYLES = {"drop-oldest": "-", "drop-newest": "--", "disconnect": ":"}


def _plain_log(axis: object, which: str = "y") -> None:
    """A log scale labelled 1, 10, 100 (not 10^0, 10^1, 10^2)."""
    from matplotlib.ticker import FuncFormatter

    getattr(axis, f"set_{which}scale")("log")
    target = axis.yaxis if which == "y" else axis.xaxis  # type: ignore[attr-defined]
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _label(method: str, policy: str | None = None) -> str:
    base = METHOD_LABELS.get(method, method)
    return f"hub, {policy}" if method == "hub" and policy else base


def fanout_rates(results: Sequence[object], title: str = "") -> Figure:
    """Deliveries per second and p99 latency against the number of clients, per method.

    ``results`` are ``broadcast.FanoutResult``s (any mix of client counts and methods).
    """
    fig, (left, right) = figure(10, 3.4, ncols=2)
    for method, colour in METHOD_COLOURS.items():
        rows = sorted(
            (r for r in results if r.method == method),  # type: ignore[attr-defined]
            key=lambda r: r.clients,  # type: ignore[attr-defined]
        )
        if not rows:
            continue
        xs = [r.clients for r in rows]  # type: ignore[attr-defined]
        style = {"color": colour, "marker": "o", "ms": 4, "lw": 1.5, "label": _label(method)}
        left.plot(xs, [r.rate for r in rows], **style)  # type: ignore[attr-defined]
        right.plot(xs, [1000 * r.p99 for r in rows], **style)  # type: ignore[attr-defined]
    for axis in (left, right):
        _plain_log(axis, "x")
        axis.set_xlabel("clients on one process")
    left.set_ylabel("deliveries per second")
    left.set_ylim(bottom=0)
    left.set_title("Throughput", fontsize=FONT_SIZE)
    _plain_log(right)
    right.set_ylabel("publish → arrival, p99 (ms)")
    right.set_title("Latency grows with the audience", fontsize=FONT_SIZE)
    left.legend(loc="lower right", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def slow_client_effect(results: Sequence[object], title: str = "") -> Figure:
    """What one client that stopped reading does to the others, per method (and policy).

    ``results`` are ``broadcast.SlowClientResult``s. Left: for each message, the
    latest arrival among the fast clients (from when it was due); a message some
    fast client never got is drawn as a cross on the top edge. Right: the bytes
    the server holds for the slow client at the end.
    """
    fig, (left, right) = figure(10, 4.2, ncols=2, gridspec_kw={"width_ratios": [2, 1]})
    top = 0.0
    for r in results:
        top = max(top, *(1000 * w for w in r.worst if w == w))  # type: ignore[attr-defined]
    top = max(top * 1.5, 10.0)
    labels, held, colours = [], [], []
    for r in results:
        method, policy = r.method, r.policy  # type: ignore[attr-defined]
        colour = METHOD_COLOURS.get(method, NETWORK)
        label = _label(method, policy)
        ls = POLICY_STYLES.get(policy, "-") if method == "hub" else "-"
        due = [1000 * t for t in r.scheduled]  # type: ignore[attr-defined]
        worst = r.worst  # type: ignore[attr-defined]
        left.plot(
            [d for d, w in zip(due, worst, strict=True) if w == w],
            [1000 * w for w in worst if w == w],
            color=colour, ls=ls, lw=2.2 if method == "naive" else 1.3, label=label,
            zorder=3 if method == "naive" else 2,
        )
        never = [d for d, w in zip(due, worst, strict=True) if w != w]
        if never:
            left.plot(never, [top] * len(never), "x", color=colour, ms=4, clip_on=False)
        labels.append(label)
        held.append(r.slow_buffered / 1000)  # type: ignore[attr-defined]
        colours.append(colour)
    _plain_log(left)
    left.set_ylim(top=top)
    left.text(0.01, 0.97, "x: never arrived", transform=left.transAxes, fontsize=8,
              va="top", color=NETWORK)
    left.set_xlabel("message due at (ms)")
    left.set_ylabel("slowest fast client (ms)")
    left.set_title("The other clients", fontsize=FONT_SIZE)
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8,
                frameon=False)
    bars = right.barh(range(len(labels)), held, color=colours)
    right.set_yticks(range(len(labels)), labels, fontsize=8)
    right.invert_yaxis()
    right.bar_label(bars, fmt="%.0f kB", fontsize=8, padding=2)
    right.set_xlabel("held for the slow client (kB)")
    right.set_title("Memory spent on it", fontsize=FONT_SIZE)
    right.set_xlim(0, max(held or [1]) * 1.35)
    fig.suptitle(title or "One client stops reading", fontsize=FONT_SIZE)
    return fig


def restart_gap(probe: object, title: str = "") -> Figure:
    """For each message of each sender: how many clients got it (a Redis restart leaves a gap).

    ``probe`` is a ``scale.Probe``.
    """
    fig, ax = figure(8, 3.0)
    received = probe.received  # type: ignore[attr-defined]
    clients = len(received)
    colours = [CLIENT, SERVER, OK, BAD]
    for sender, colour in zip(probe.senders, colours, strict=False):  # type: ignore[attr-defined]
        counts = [0] * probe.sent[sender]  # type: ignore[attr-defined]
        for got in received.values():
            for s, seq, _ in {(s, q, 0) for s, q, _ in got}:
                if s == sender:
                    counts[seq] += 1
        ax.plot(range(len(counts)), counts, color=colour, lw=1.3, drawstyle="steps-mid",
                label=f"sent by {sender}")
    ax.set_ylim(-0.2, clients + 0.5)
    ax.set_yticks(range(clients + 1))
    ax.set_xlabel("message number (per sender)")
    ax.set_ylabel("clients that got it")
    ax.set_title(title or "Redis restarted mid-stream: pub/sub delivers at most once",
                 fontsize=FONT_SIZE)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    return fig
