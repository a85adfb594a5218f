"""The course's visual language: colours, fonts, a figure factory, sequence diagrams."""

from __future__ import annotations

import threading
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
STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")  # readyState 0..3
STATES = {0: "#d69e2e", 1: "#2f855a", 2: "#dd6b20", 3: "#718096"}  # readyState colours
FONT_SIZE = 10


def load_in_background() -> threading.Thread:
    """Start importing matplotlib (half a second or more) on a thread, and return at once.

    A notebook calls it first thing when its first figure needs measurements
    from later cells (browsers starting, a dead peer being watched), so the
    figure need not wait for the import. Python's import lock makes a figure
    drawn meanwhile wait for the import to finish.
    """

    def load() -> None:
        import matplotlib.pyplot  # noqa: F401

    thread = threading.Thread(target=load, name="wslearn-matplotlib", daemon=True)
    thread.start()
    return thread


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
