"""Notebook 01: the opening handshake as a sequence of real heads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


from wslearn.plots.style import CLIENT, NETWORK, OK, SERVER, Arrow, figure


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
