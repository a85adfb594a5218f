"""Notebook 06: the connection's frame handling and its closing handshake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


from wslearn.plots.style import BAD, CLIENT, FONT_SIZE, NETWORK, SERVER, figure


def frame_loop(counts: dict[str, int] | None = None, title: str = "") -> Figure:
    """Notebook 06: what ``wslearn.connection.Connection`` does with each kind of frame.

    ``counts`` (keys ``"data"``, ``"ping"``, ``"pong"``, ``"close"``) are how
    many frames of a recorded conversation took each branch; they label the arrows.
    """
    counts = counts or {}
    fig, ax = figure(10, 4.2)
    ax.set_xlim(0, 13)
    ax.set_ylim(-0.4, 6.2)
    ax.axis("off")

    def box(x: float, y: float, text: str, colour: str, mono: bool = True, ha: str = "center"):
        return ax.text(
            x,
            y,
            text,
            ha=ha,
            va="center",
            family="monospace" if mono else None,
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": colour, "lw": 1.5},
        )

    def arrow(x0: float, y0: float, x1: float, y1: float, colour: str = NETWORK) -> None:
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.3, "shrinkA": 0},
        )

    box(1.0, 3.0, "bytes from\nthe client", CLIENT, mono=False)
    arrow(1.85, 3.0, 2.75, 3.0, CLIENT)
    box(3.9, 3.0, "FrameReader\n(decode_frame)", SERVER)
    arrow(5.05, 3.0, 5.75, 3.0)
    box(6.4, 3.0, "opcode?", NETWORK, mono=False)
    branches = [
        (5.4, "data", "TEXT, BINARY,\nCONTINUATION", "reassemble", "Message event"),
        (3.8, "ping", "PING", "pong_for", "queue a PONG"),
        (2.2, "pong", "PONG", "(nothing)", "Pong event"),
        (0.6, "close", "CLOSE", "close_reply", "queue a CLOSE,\nthen close TCP"),
    ]
    bus = 7.4  # the vertical line the branches leave from
    ax.plot([7.05, bus], [3.0, 3.0], color=NETWORK, lw=1.3)
    ax.plot([bus, bus], [branches[-1][0], branches[0][0]], color=NETWORK, lw=1.3)
    for y, key, label, piece, outcome in branches:
        arrow(bus, y, 8.95, y)
        n = counts.get(key)
        shown = label if n is None else f"{label}: {n}"
        ax.text(8.15, y + 0.12, shown, fontsize=8, color=CLIENT, ha="center", va="bottom")
        piece_box = box(9.05, y, piece, SERVER, ha="left")
        ax.annotate(  # from the right edge of the box, however wide its text
            "",
            xy=(11.15, y),
            xytext=(1.0, 0.5),
            textcoords=piece_box,
            arrowprops={"arrowstyle": "-|>", "color": SERVER, "lw": 1.3, "shrinkA": 6},
        )
        ax.text(11.2, y, outcome, fontsize=8, va="center", color=SERVER)
    ax.text(
        3.9,
        1.2,
        "a broken rule anywhere: ProtocolError\n→ CLOSE 1002 / 1007 / 1009, stop reading",
        ha="center",
        va="center",
        fontsize=8,
        color=BAD,
    )
    ax.set_title(title or "receive_data(): one frame at a time", fontsize=FONT_SIZE)
    return fig


def closing_states(transitions: Mapping[tuple[Any, Any], Any], title: str = "") -> Figure:
    """Notebook 06: the closing handshake, drawn from ``wslearn.connection.TRANSITIONS``.

    One box per state, one arrow per pair of states the table links, labelled
    with every input that takes it; inputs that leave the state as it is are
    listed under the box.
    """
    from wslearn.plots.style import STATES

    fig, ax = figure(9, 3.6)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4.4)
    ax.axis("off")
    states = sorted({state for state, _ in transitions} | set(transitions.values()))
    spots = [(1.2, 1.3), (5.0, 3.4), (8.8, 1.3)]  # OPEN, CLOSING, CLOSED
    where = dict(zip(states, spots, strict=False))
    edges: dict[tuple[Any, Any], list[str]] = {}
    stays: dict[Any, list[str]] = {state: [] for state in states}
    for (state, event), new in transitions.items():
        if new == state:
            stays[state].append(event.value)
        else:
            edges.setdefault((state, new), []).append(event.value)
    for state, (x, y) in where.items():
        ax.text(
            x,
            y,
            state.name,
            ha="center",
            va="center",
            fontsize=11,
            weight="bold",
            bbox={"boxstyle": "round,pad=0.5", "fc": "white", "ec": STATES[int(state)], "lw": 2},
        )
        if stays[state]:
            ax.text(
                x,
                y - 0.6,
                "stays on: " + ", ".join(stays[state]),
                ha="center",
                va="top",
                fontsize=7,
                color=NETWORK,
                wrap=True,
            )
    for (state, new), events in edges.items():
        (x0, y0), (x1, y1) = where[state], where[new]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": SERVER,
                "lw": 1.4,
                "shrinkA": 28,
                "shrinkB": 28,
            },
        )
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2 + 0.18,
            "\n".join(events),
            ha="center",
            va="bottom",
            fontsize=8,
            color=SERVER,
        )
    ax.set_title(title or "The closing handshake: connection.TRANSITIONS", fontsize=FONT_SIZE)
    return fig
