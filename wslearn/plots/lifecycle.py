"""Notebook 03: readyState over time, events marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from wslearn.websocket import LogEntry

from wslearn.plots.style import BAD, NETWORK, STATE_NAMES, STATES, figure


def _event_label(entry: LogEntry) -> tuple[str, bool]:
    """The label of one ``WebSocket.events`` entry, and whether it is a fired event."""
    kind, details = entry.type, entry.details
    if kind == "connecting":
        return "new WebSocket()", False
    if kind == "closing":
        code = details.get("code")
        if details.get("by") == "server":
            return f"close frame\nfrom server ({code})", False
        return ("close()" if code is None else f"close({code})"), False
    if kind == "message":
        preview = details.get("preview", "")
        if isinstance(preview, bytes):
            return f"message\n{details.get('size', len(preview))} bytes", True
        text = preview if len(preview) <= 12 else preview[:11] + "…"
        return f"message\n{text!r}", True
    if kind == "close":
        clean = "clean" if details.get("wasClean") else "not clean"
        return f"close {details.get('code')}\n{clean}", True
    return kind, True  # open, error


def _event_colour(entry: LogEntry) -> str:
    """Red for what went wrong (error, a close that was not clean), black for the rest."""
    if entry.type == "error" or (entry.type == "close" and not entry.details.get("wasClean")):
        return BAD
    return "black"


def _spread(xs: Sequence[float], widths: Sequence[float], left: float, right: float) -> list[float]:
    """Label centres as near ``xs`` as possible, labels of ``widths`` not overlapping."""
    pos = list(xs)
    if not pos:
        return pos
    gap = [(widths[i] + widths[i + 1]) / 2 for i in range(len(widths) - 1)]
    for i in range(1, len(pos)):  # push right ...
        pos[i] = max(pos[i], pos[i - 1] + gap[i - 1])
    pos[-1] = min(pos[-1], right - widths[-1] / 2)
    for i in range(len(pos) - 2, -1, -1):  # ... then back from the right edge ...
        pos[i] = min(pos[i], pos[i + 1] - gap[i])
    pos[0] = max(pos[0], left + widths[0] / 2)
    for i in range(1, len(pos)):  # ... and right again from the left edge
        pos[i] = max(pos[i], pos[i - 1] + gap[i - 1])
    return pos


def readystate_timeline(
    lives: Sequence[LogEntry] | Mapping[str, Sequence[LogEntry]], title: str = ""
) -> Figure:
    """Notebook 03: readyState over time as coloured bands, with the events marked.

    ``lives`` is one socket's ``ws.events`` (or the socket), or ``{name: ws.events}``
    for one row per socket on a shared time axis (milliseconds since each socket was
    created). Bands take the ``STATES`` colours. A fired event (open, message,
    error, close) is a bold tick, red when something went wrong; a readyState
    change that fires no event (``new WebSocket()``, ``close()``, a close frame
    from the server) is a thin grey one. Labels that would overlap are moved
    sideways, with a thin line to their moment.
    """
    from matplotlib.patches import Patch, Rectangle

    def entries(life: Any) -> list[LogEntry]:  # ws.events, or the WebSocket itself
        return sorted(getattr(life, "events", life), key=lambda e: e.time)

    if hasattr(lives, "items"):
        rows = {name: entries(life) for name, life in lives.items()}
    else:
        rows = {"": entries(lives)}
    last = max((e.time for events in rows.values() for e in events), default=0.0) * 1000
    right = (last or 1.0) * 1.12  # room for the CLOSED band after the last event
    pitch, band = 2.3, 0.42  # row spacing and band height (data units)
    base = band / 2 + 0.08  # top of an event's tick, above the band's centre
    fig, ax = figure(9, 1.0 + 1.15 * len(rows))
    ax.set_xlim(-0.02 * right, right)
    ax.set_ylim(-(len(rows) - 1) * pitch - 0.5, 1.85)

    labels: list[list[tuple[float, float, str, Text]]] = []
    for row, events in enumerate(rows.values()):
        y = -row * pitch
        # each entry's readyState holds from its time until the next entry
        for entry, after in zip(events, [*events[1:], None], strict=True):
            start = entry.time * 1000
            stop = right if after is None else after.time * 1000
            alpha = 0.45 if entry.readyState == 3 else 0.85
            ax.add_patch(
                Rectangle(
                    (start, y - band / 2),
                    stop - start,
                    band,
                    facecolor=STATES[entry.readyState],
                    alpha=alpha,
                    lw=0,
                )
            )
        labels.append([])
        for entry in events:
            t = entry.time * 1000
            text, fired = _event_label(entry)
            colour = _event_colour(entry) if fired else NETWORK
            ax.plot([t, t], [y - base, y + base], color=colour, lw=1.8 if fired else 1.0)
            label = ax.text(
                t,
                y + base + 0.54,
                text,
                ha="center",
                va="bottom",
                fontsize=8.5,
                color=colour,
                weight="bold" if fired else "normal",
                linespacing=1.1,
            )
            labels[-1].append((t, y, colour, label))

    ax.set_yticks([-row * pitch for row in range(len(rows))], list(rows))
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel("time since the WebSocket was created (ms)")
    handles = [
        Patch(facecolor=STATES[s], alpha=0.45 if s == 3 else 0.85, label=f"{s} {name}")
        for s, name in enumerate(STATE_NAMES)
    ]
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncols=4,
        frameon=False,
        title="readyState",
        title_fontsize=8.5,
        fontsize=8.5,
    )
    if title:
        ax.set_title(title, loc="left")

    # Measure the labels in the final layout, then move them apart where they overlap.
    fig.canvas.draw()
    fig.set_layout_engine("none")  # keep the layout the widths were measured in
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    x0, x1 = ax.get_xlim()
    for row_labels in labels:
        widths = []
        for *_, label in row_labels:
            box = label.get_window_extent(renderer)
            (a, _), (b, _) = to_data.transform([(box.x0, 0), (box.x1, 0)])
            widths.append(b - a + 0.012 * (x1 - x0))
        xs = _spread([t for t, *_ in row_labels], widths, x0, x1)
        for (t, y, colour, label), x in zip(row_labels, xs, strict=True):
            label.set_x(x)
            ax.plot([t, t, x], [y + base, y + base + 0.22, y + base + 0.5], color=colour, lw=0.6)
    return fig
