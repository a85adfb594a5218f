"""Notebook 07: backoff schedules, a dead peer's timelines, reconnection storms."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from wslearn.reconnect import Storm

from wslearn.plots.style import BAD, CLIENT, FONT_SIZE, NETWORK, OK, SERVER, STATES, figure

#: one colour per jitter, the same in every figure of notebook 07
JITTER_COLOURS = {"none": BAD, "equal": STATES[0], "full": OK}


def backoff_delays(
    samples: Mapping[str, Sequence[Sequence[float]]], ceilings: Sequence[float]
) -> Figure:
    """Notebook 07: the delays of many clients, attempt by attempt, one panel per jitter.

    ``samples[jitter]`` holds one schedule per client (its first delays, in
    seconds). Each dot is one client's delay before one attempt; the dashed
    line is ``ceilings``, ``min(cap, base * factor**n)``: the delay without jitter.
    """
    cap = max(ceilings)
    fig, axes = figure(10, 3.0, ncols=len(samples), sharey=True)
    axes = list(axes) if len(samples) > 1 else [axes]
    for ax, (jitter, schedules) in zip(axes, samples.items(), strict=True):
        colour = JITTER_COLOURS.get(jitter, NETWORK)
        steps = max(len(s) for s in schedules)
        xs, ys = [], []
        for i, schedule in enumerate(schedules):
            # spread the dots sideways a little, so a crowd shows as a crowd
            offset = 0.3 * ((i * 0.618) % 1 - 0.5)
            xs += [n + 1 + offset for n in range(len(schedule))]
            ys += schedule
        # one call, with arrays (a list of thousands is converted point by point): fast
        ax.scatter(np.array(xs), np.array(ys), s=4, color=colour, alpha=0.35, linewidths=0)
        ax.plot(range(1, len(ceilings) + 1), ceilings, color=NETWORK, lw=0.8, ls="--", zorder=0)
        ax.axhline(cap, color=NETWORK, lw=0.6, ls=":")
        ax.text(steps + 0.4, cap, "cap", fontsize=8, color=NETWORK, va="bottom", ha="right")
        ax.set_title(f'jitter="{jitter}"', fontsize=FONT_SIZE)
        ax.set_xlabel("attempt")
        ax.set_xticks(range(1, steps + 1))
    axes[0].set_ylabel("delay before the attempt (s)")
    fig.suptitle(f"{len(next(iter(samples.values())))} clients, one dot per client and attempt")
    _fixed_layout(fig, wspace=0.06, top=0.8)
    return fig


def tcp_give_up(waits: Sequence[float]) -> Figure:
    """Notebook 07: when TCP retransmits to a silent peer, and when it gives up.

    ``waits[n]`` is the retransmission timeout after the n-th transmission (the
    first one is the original send, at 0 s); TCP gives up ``waits[-1]`` after its
    last retransmission. A logarithmic time axis, so the first tenths of a
    second and the last minutes both show.
    """
    sends = [sum(waits[:n]) for n in range(len(waits))]
    given_up = sum(waits)
    fig, ax = figure(9, 1.9)
    ax.scatter(sends[1:], [0] * (len(sends) - 1), marker="|", s=160, color=CLIENT)
    ax.scatter([given_up], [0], marker="X", s=80, color=BAD, zorder=3)
    ax.text(
        given_up,
        0.25,
        f"gives up after {given_up / 60:.1f} min",
        color=BAD,
        fontsize=8,
        ha="right",
        va="bottom",
    )
    for seconds, label in ((1, "1 s"), (60, "1 min"), (600, "10 min")):
        ax.axvline(seconds, color=NETWORK, lw=0.6, ls=":")
        ax.text(seconds, -0.45, f" {label}", fontsize=8, color=NETWORK, va="bottom")
    ax.set_xscale("log")
    ax.minorticks_off()  # the dotted lines mark 1 s, 1 min and 10 min
    ax.set_xlim(0.1, given_up * 1.6)
    ax.set_ylim(-0.5, 0.6)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_xlabel("seconds after the first unanswered send (log scale)   | a retransmission")
    ax.set_title(
        f"A silent peer: TCP retransmits {len(waits) - 1} times, "
        f"each wait twice the last (up to {max(waits):.0f} s)"
    )
    _fixed_layout(fig)
    return fig


@dataclass
class Lane:
    """One row of ``dead_peer``: what one endpoint sent, what it heard back, when it gave up."""

    label: str
    side: str  # "client" or "server": the colour
    sent: Sequence[float] = field(default_factory=list)
    heard: Sequence[float] = field(default_factory=list)
    dead_at: float | None = None
    note: str = ""


def dead_peer(lanes: Sequence[Lane], cut: float, until: float, title: str = "") -> Figure:
    """Notebook 07: after the cable is pulled at ``cut``, who notices, and when?

    One lane per endpoint: a tick for each keepalive it sent (a ping, or a
    heartbeat message), a dot for each answer it heard, a cross where it gave
    the connection up. Times in seconds; the grey band is the blackhole.
    """
    fig, ax = figure(9, 0.75 * len(lanes) + 1.4)
    ax.axvspan(cut, until, color=NETWORK, alpha=0.12, lw=0)
    ax.text(
        cut,
        len(lanes) - 0.35,
        " cable pulled: nothing gets through",
        fontsize=8,
        color=NETWORK,
        va="bottom",
    )
    for row, lane in enumerate(reversed(lanes)):
        colour = CLIENT if lane.side == "client" else SERVER
        end = lane.dead_at if lane.dead_at is not None else until
        ax.plot([0, end], [row, row], color=colour, lw=1.2, alpha=0.6)
        ax.scatter(
            lane.sent, [row + 0.12] * len(lane.sent), marker="|", s=90, color=colour, label=None
        )
        ax.scatter(
            lane.heard,
            [row - 0.12] * len(lane.heard),
            marker="o",
            s=14,
            color=colour,
            facecolors="white",
        )
        if lane.dead_at is not None:
            ax.scatter([lane.dead_at], [row], marker="X", s=80, color=BAD, zorder=3)
            text = f" dead after {lane.dead_at - cut:.2f} s"
            ax.text(lane.dead_at, row + 0.18, text, fontsize=8, color=BAD, va="bottom")
        elif lane.note:
            ax.text(
                until, row + 0.18, lane.note, fontsize=8, color=NETWORK, va="bottom", ha="right"
            )
    ax.set_yticks(range(len(lanes)), [lane.label for lane in reversed(lanes)])
    ax.set_ylim(-0.6, len(lanes) - 0.1)
    ax.set_xlim(0, until)
    ax.set_xlabel("time (s)   | keepalive sent    o answer heard    X connection given up")
    ax.set_title(title or "A dead peer: who notices, and when")
    _fixed_layout(fig)
    return fig


def reconnection_storm(storms: Sequence[Storm], width: float = 0.05) -> Figure:
    """Notebook 07: connection attempts and accepted connections per ``width`` seconds.

    One panel per ``reconnect.storm()`` result, on one time axis from the
    moment the server went down: bars for every attempt (failed ones while
    the server is down included), a line for the connections the restarted
    server accepted, a dotted line where it was listening again, a dashed one
    where the last client was back. The title's peaks are over any window of
    ``width`` seconds (``Storm.peak``), so a burst split by a bin edge counts whole.
    """
    fig, axes = figure(9, 1.9 * len(storms) + 0.6, nrows=len(storms), sharex=True, sharey=True)
    axes = list(axes) if len(storms) > 1 else [axes]
    last = max(s.all_back for s in storms)
    bins = [i * width for i in range(math.ceil(last / width) + 2)]
    for ax, storm in zip(axes, storms, strict=True):
        colour = JITTER_COLOURS.get(storm.jitter, NETWORK)
        ax.hist(storm.attempts, bins=bins, color=colour, alpha=0.75, label="attempts")
        per_bin = storm.per_bin(storm.accepts, width)
        accepted = [per_bin.get(round(b, 6), 0) for b in bins[:-1]]
        ax.step(bins[:-1], accepted, where="post", color=SERVER, lw=1.4, label="accepted")
        ax.axvline(storm.restarted_at, color=NETWORK, lw=0.8, ls=":")
        ax.axvline(storm.all_back, color=colour, lw=0.8, ls="--")
        ax.set_title(
            f'jitter="{storm.jitter}": busiest {width * 1000:.0f} ms window '
            f"{storm.peak_attempts(width)} attempts, {storm.peak_accepts(width)} accepts; "
            f"all {storm.clients} back after {storm.all_back:.2f} s",
            fontsize=FONT_SIZE,
            loc="left",
        )
        ax.set_ylabel(f"per {width * 1000:.0f} ms bin")
    axes[0].legend(loc="upper right", fontsize=8, frameon=False)
    axes[-1].text(
        storms[-1].restarted_at,
        0.9,
        " server listening again",
        fontsize=8,
        color=NETWORK,
        transform=axes[-1].get_xaxis_transform(),
    )
    axes[-1].set_xlabel("time since the server went down (s)")
    _fixed_layout(fig, hspace=0.35, top=0.95, bottom=0.08)
    return fig


def _fixed_layout(fig: Figure, **spacing: float) -> None:
    """Fixed gaps between panels instead of a constrained layout.

    A constrained layout measures every label on every draw: up to a third of
    the render time of a figure with three panels. The notebook crops the
    outer margin anyway (``bbox_inches="tight"``); only the gaps need setting.
    """
    fig.set_layout_engine("none")
    fig.subplotpars.update(**spacing)
    for ax in fig.axes:
        ax.set_position(ax.get_subplotspec().get_position(fig))
