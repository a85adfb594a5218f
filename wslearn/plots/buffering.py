"""Notebook 05: bufferedAmount and delivery latency."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


from wslearn.plots.style import BAD, CLIENT, FONT_SIZE, NETWORK, OK, figure

#: one colour per sender of ``wslearn.buffering``, the same in every figure of notebook 05
SENDER_COLOURS = {
    "unthrottled": BAD,
    "throttled": CLIENT,
    "latest": "#805ad5",
    "drained": OK,
    "websockets": NETWORK,
}
SENDER_LABELS = {
    "unthrottled": "unthrottled",
    "throttled": "throttled (send while bufferedAmount < maxData)",
    "latest": "latest value wins",
    "drained": "event-driven (low-water mark)",
    "websockets": "websockets: await send()",
}


def _sender_style(name: str) -> tuple[str, str]:
    return SENDER_COLOURS.get(name, NETWORK), SENDER_LABELS.get(name, name)


def buffered_amount(runs: Sequence[object], title: str = "") -> Figure:
    """Notebook 05: ``bufferedAmount`` over time, one line per run of ``wslearn.buffering``.

    ``runs`` are ``buffering.Run``s (``name``, ``samples``, ``stopped``,
    ``max_data``, ``size``).  Left: every run on one scale.  Right: the same,
    zoomed on the throttled ones, with ``max_data`` and ``max_data`` plus one
    message drawn in.  A dotted line marks where the senders stopped and the
    consumer was left to catch up.
    """
    fig, (left, right) = figure(10, 3.6, ncols=2)
    limits = [run.max_data for run in runs if getattr(run, "max_data", None)]  # type: ignore[attr-defined]
    for run in runs:
        colour, label = _sender_style(run.name)  # type: ignore[attr-defined]
        times = [t for t, _ in run.samples]  # type: ignore[attr-defined]
        values = [v / 1000 for _, v in run.samples]  # type: ignore[attr-defined]
        for axis in (left, right):
            axis.plot(
                times, values, color=colour, lw=1.3, alpha=0.9, label=label, drawstyle="steps-post"
            )
    stopped = max(run.stopped for run in runs)  # type: ignore[attr-defined]
    for axis in (left, right):
        axis.axvline(stopped, color=NETWORK, lw=0.8, ls=":")
        axis.set_xlabel("time since the first send() (s)")
        axis.set_ylim(bottom=0)
    left.set_ylabel("bufferedAmount (kB)")
    left.set_title("All senders", fontsize=FONT_SIZE)
    left.text(
        stopped,
        left.get_ylim()[1] * 0.25,
        " senders stop,\n consumer reads faster",
        fontsize=8,
        color=NETWORK,
        va="center",
    )
    left.legend(loc="upper left", fontsize=8, frameon=False)
    if limits:
        max_data = max(limits)
        size = max(run.size for run in runs)  # type: ignore[attr-defined]
        right.set_ylim(0, (max_data + size) * 1.6 / 1000)
        for value, text in ((max_data, "max_data"), (max_data + size, "max_data + one message")):
            right.axhline(value / 1000, color="black", lw=0.8, ls="--")
            right.text(0, value / 1000, f" {text}", fontsize=8, va="bottom")
        right.set_title("Zoom on the bottom of the left panel", fontsize=FONT_SIZE)
    if title:
        fig.suptitle(title)
    return fig


def delivery_latency(runs: Sequence[object], bound: float | None = None, title: str = "") -> Figure:
    """Notebook 05: how long each message took from ``send()`` to the receiver, per run.

    One dot per message at the time it arrived (``Run.delays``), on a log scale;
    ``bound`` (seconds), if given, is drawn as the promised maximum.
    """
    fig, ax = figure(10, 3.4)
    for run in runs:
        colour, label = _sender_style(run.name)  # type: ignore[attr-defined]
        points = run.delays  # type: ignore[attr-defined]
        ax.plot(
            [t for t, _ in points],
            [1000 * d for _, d in points],
            ".",
            ms=3.5,
            color=colour,
            label=label,
        )
    if bound is not None:
        ax.axhline(1000 * bound, color="black", lw=0.8, ls="--")
        ax.text(
            0.99,
            1000 * bound,
            "bound: (max_data + buffers below) / rate",
            fontsize=8,
            va="bottom",
            ha="right",
            transform=ax.get_yaxis_transform(),
        )
    ax.set_yscale("log")
    ax.set_xlabel("arrival time (s)")
    ax.set_ylabel("send() → arrival (ms)")
    ax.set_title(title or "How old is each message when it arrives?", fontsize=FONT_SIZE)
    ax.legend(loc="upper left", fontsize=8, frameon=False, markerscale=3)
    return fig
