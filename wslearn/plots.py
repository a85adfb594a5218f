"""Figures for the notebooks, in one visual language.

Client is always blue, server always orange, the network grey; one font
size; no chart junk. Each function takes data recorded from real
connections and returns the matplotlib ``Figure`` (the notebook displays it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CLIENT = "#2b6cb0"
SERVER = "#dd6b20"
NETWORK = "#718096"
OK = "#2f855a"
BAD = "#c53030"
STATES = {0: "#d69e2e", 1: "#2f855a", 2: "#dd6b20", 3: "#718096"}  # readyState colours
FONT_SIZE = 10


def figure(width: float = 8, height: float = 3.2, **kwargs: object) -> tuple[Figure, Axes]:
    """A new figure and axes in the course style."""
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {"font.size": FONT_SIZE, "axes.spines.top": False, "axes.spines.right": False}
    )
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained", **kwargs)
    return fig, ax


@dataclass(frozen=True)
class Arrow:
    """One message in a sequence diagram."""

    sender: str  # "client" or "server"
    label: str
    detail: str = ""


def sequence(arrows: Sequence[Arrow], title: str = "", height: float | None = None) -> Figure:
    """A client/server sequence diagram: one arrow per message, time going down."""
    rows = len(arrows)
    fig, ax = figure(8, height or 0.55 * rows + 1.2)
    ax.set_xlim(0, 10)
    ax.set_ylim(rows + 0.5, -0.8)
    ax.axis("off")
    for x, name, colour in ((1.5, "client", CLIENT), (8.5, "server", SERVER)):
        ax.plot([x, x], [-0.3, rows + 0.3], color=colour, lw=2)
        ax.text(x, -0.55, name, ha="center", va="bottom", color=colour, weight="bold")
    for row, arrow in enumerate(arrows, start=1):
        start, end = (1.5, 8.5) if arrow.sender == "client" else (8.5, 1.5)
        colour = CLIENT if arrow.sender == "client" else SERVER
        ax.annotate(
            "",
            xy=(end, row),
            xytext=(start, row - 0.35),
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.5},
        )
        ax.text(5, row - 0.35, arrow.label, ha="center", va="bottom", fontsize=FONT_SIZE)
        if arrow.detail:
            ax.text(5, row - 0.05, arrow.detail, ha="center", va="top", fontsize=8, color=NETWORK)
    if title:
        ax.set_title(title)
    return fig


def polling_vs_push(
    latencies: dict[str, Sequence[float]], bytes_per_update: dict[str, float]
) -> Figure:
    """Notebook 00: event→client latency (ms) and bytes on the wire per update."""
    import numpy as np

    fig, (left, right) = figure(9, 3.4, ncols=2)
    names = list(latencies)
    colours = [NETWORK if "poll" in name.lower() else CLIENT for name in names]
    samples = [np.asarray(latencies[n]) * 1000 for n in names]
    parts = left.boxplot(samples, vert=False, patch_artist=True)
    for patch, colour in zip(parts["boxes"], colours, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.5)
    left.set_yticks(range(1, len(names) + 1), names)
    left.set_xlabel("delay from event to client (ms)")
    left.set_title("How late does the client learn?")
    right.barh(names, [bytes_per_update[n] for n in names], color=colours)
    for y, name in enumerate(names):
        right.text(bytes_per_update[name], y, f" {bytes_per_update[name]:.0f} B", va="center")
    right.set_xlabel("bytes on the wire per update (both directions)")
    right.set_title("What does each update cost?")
    right.set_yticks([])
    return fig
