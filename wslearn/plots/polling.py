"""Notebook 00: polling vs push."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


from wslearn.plots.style import CLIENT, NETWORK, figure


def polling_vs_push(
    latencies: dict[str, Sequence[float]], bytes_per_update: dict[str, float]
) -> Figure:
    """Notebook 00: event→client latency (ms) and bytes on the wire per update."""
    import numpy as np

    fig, (left, right) = figure(9, 4.2, ncols=2)
    names = list(latencies)
    colours = [NETWORK if "poll" in name.lower() else CLIENT for name in names]
    samples = [np.asarray(latencies[n]) * 1000 for n in names]
    parts = left.boxplot(samples, vert=False, patch_artist=True, medianprops={"color": "black"})
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
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    key = [
        Patch(facecolor=NETWORK, alpha=0.5, label="HTTP polling"),
        Patch(facecolor=CLIENT, alpha=0.5, label="WebSocket push"),
        Patch(facecolor="white", edgecolor="black", label="box: middle half of the updates"),
        Line2D([], [], color="black", label="median"),
        Line2D([], [], color="black", marker="|", label="whiskers: the rest (up to 1.5 boxes)"),
        Line2D([], [], color="black", marker="o", markerfacecolor="none", linestyle="none",
               label="outliers"),
    ]
    fig.legend(handles=key, loc="outside lower center", ncol=3, frameon=False)
    return fig
