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


# -- notebook 01: the opening handshake ----------------------------------------------


def _head_lines(head: bytes) -> list[str]:
    """The lines of an HTTP head as text, without the empty line that ends it."""
    return head.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")


def handshake_sequence(
    request_head: bytes, response_head: bytes, frames: Sequence[Arrow] = (), title: str = ""
) -> Figure:
    """Notebook 01: the opening handshake as a sequence diagram, from captured heads.

    Each head is drawn under its arrow, line by line as it crossed the wire;
    the key and accept lines are in bold, linked by the rule that turns one
    into the other. ``frames`` (optional) are drawn after the handshake, below
    a line marking where HTTP ends.
    """
    from matplotlib.patches import FancyBboxPatch

    line = 0.36  # height of one text line, in data units (an arrow row is about 1)
    heads = [
        ("client", _head_lines(request_head), len(request_head)),
        ("server", _head_lines(response_head), len(response_head)),
    ]
    total = sum(0.95 + line * (len(lines) + 1.4) for _, lines, _ in heads)
    total += 0.55 + 0.9 * len(frames) if frames else 0.0
    fig, ax = figure(9, 0.62 * total + 1.1)
    left, right = 0.8, 9.2
    ax.set_xlim(0, 10)
    ax.set_ylim(total + 0.6, -0.9)
    ax.axis("off")
    for x, name, colour in ((left, "client", CLIENT), (right, "server", SERVER)):
        ax.plot([x, x], [-0.4, total + 0.4], color=colour, lw=2)
        ax.text(x, -0.55, name, ha="center", va="bottom", color=colour, weight="bold")

    def arrow(sender: str, y: float, label: str, detail: str = "", bold: bool = False) -> None:
        start, end = (left, right) if sender == "client" else (right, left)
        colour = CLIENT if sender == "client" else SERVER
        ax.annotate(
            "",
            xy=(end, y + 0.45),
            xytext=(start, y),
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.8 if bold else 1.5},
        )
        ax.text(
            5,
            y + 0.12,
            label,
            ha="center",
            va="bottom",
            color=colour if bold else "black",
            weight="bold" if bold else "normal",
        )
        if detail:
            ax.text(5, y + 0.35, detail, ha="center", va="top", fontsize=8, color=NETWORK)

    y = 0.0
    marks: dict[str, float] = {}
    for sender, lines, size in heads:
        colour = CLIENT if sender == "client" else SERVER
        what = "request" if sender == "client" else "response"
        arrow(sender, y, f"HTTP {what} head: {size} bytes", bold=True)
        top, height = y + 0.6, line * (len(lines) + 1.4)
        box = FancyBboxPatch(
            (1.3, top),
            4.9,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=colour,
            alpha=0.08,
            edgecolor=colour,
            lw=1,
        )
        ax.add_patch(box)
        for i, text in enumerate(lines):
            ty = top + line * (i + 0.7)
            name = text.split(":", 1)[0].lower()
            strong = i == 0 or name in ("sec-websocket-key", "sec-websocket-accept")
            if name in ("sec-websocket-key", "sec-websocket-accept"):
                marks[name] = ty
            ax.text(
                1.45,
                ty,
                text,
                ha="left",
                va="center",
                family="monospace",
                fontsize=8,
                weight="bold" if strong else "normal",
                color="black" if strong else "#2d3748",
            )
        ax.text(
            1.45,
            top + line * (len(lines) + 0.7),
            "(empty line: end of the head)",
            ha="left",
            va="center",
            fontsize=8,
            style="italic",
            color=NETWORK,
        )
        y = top + height + 0.35
    if len(marks) == 2:
        key_y, accept_y = marks["sec-websocket-key"], marks["sec-websocket-accept"]
        ax.annotate(
            "",
            xy=(6.35, accept_y),
            xytext=(6.35, key_y),
            arrowprops={
                "arrowstyle": "-|>",
                "color": OK,
                "lw": 1.3,
                "connectionstyle": "arc3,rad=-0.35",
            },
        )
        ax.text(
            6.75,
            accept_y - 2 * line,
            "accept =\nbase64(SHA-1(key + GUID))",
            ha="left",
            va="center",
            fontsize=8,
            color=OK,
        )
    if frames:
        ax.plot([left, right], [y - 0.1, y - 0.1], color=NETWORK, lw=0.8, ls=(0, (4, 3)))
        ax.text(
            5,
            y,
            "from here on: WebSocket frames, both ways, same TCP connection",
            ha="center",
            va="top",
            fontsize=8,
            color=NETWORK,
            style="italic",
        )
        y += 0.55
        for frame in frames:
            arrow(frame.sender, y, frame.label, frame.detail)
            y += 0.9
    if title:
        ax.set_title(title)
    return fig
