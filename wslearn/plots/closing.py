"""Notebook 04: closing handshakes and the close code ranges."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from wslearn.websocket import LogEntry

from wslearn.plots.style import (
    BAD,
    CLIENT,
    FONT_SIZE,
    NETWORK,
    OK,
    SERVER,
    STATE_NAMES,
    STATES,
    Arrow,
    figure,
)


def closing_handshakes(
    panels: Sequence[tuple[str, Sequence[Arrow], Sequence[LogEntry]]], ncols: int = 2
) -> Figure:
    """Notebook 04: several closing handshakes side by side, one small sequence each.

    Each panel is ``(title, arrows, events)``: the frames that crossed the wire,
    in order (``Arrow("client" | "server", label, detail)``; a label starting
    with ``CLOSE`` is a close frame), and the client's ``WebSocket.events`` log.
    The log gives the result box (``error`` if it fired, the ``close`` event's
    code, reason and ``wasClean``) and the readyState bar beside the client:
    OPEN, then CLOSING from the first close frame if the log has a ``closing``
    entry, then CLOSED once TCP has closed.
    """

    rows = max((len(arrows) for _, arrows, _ in panels), default=0)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = figure(5.2 * ncols, nrows * (0.75 * rows + 2.3), nrows=nrows, ncols=ncols)
    flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
    left, right, bar = 1.5, 8.7, 1.05
    for ax, (title, arrows, events) in zip(flat, panels, strict=False):
        tcp = rows + 0.8  # where TCP closes
        ax.set_xlim(0, 10)
        ax.set_ylim(tcp + 1.75, -0.8)
        ax.axis("off")
        ax.set_title(title, loc="left", fontsize=FONT_SIZE, weight="bold")
        for x, name, colour in ((left, "client", CLIENT), (right, "server", SERVER)):
            ax.plot([x, x], [-0.3, tcp], color=colour, lw=2)
            ax.text(x, -0.45, name, ha="center", va="bottom", color=colour, weight="bold")
        # the client's readyState, from its own log
        types = [entry.type for entry in events]
        first_close = next(
            (row for row, a in enumerate(arrows, start=1) if a.label.startswith("CLOSE")), None
        )
        closing_at = first_close - 0.35 if "closing" in types and first_close else tcp
        spans = ((1, -0.3, closing_at), (2, closing_at, tcp), (3, tcp, tcp + 1.6))
        for state, y0, y1 in spans:
            if y1 <= y0:
                continue
            ax.plot([bar, bar], [y0, y1], color=STATES[state], lw=6, solid_capstyle="butt")
            ax.text(
                bar - 0.2,
                (y0 + y1) / 2,
                f"{state} {STATE_NAMES[state]}",
                ha="right",
                va="center",
                rotation=90,
                fontsize=7,
                color=STATES[state],
            )
        for row, arrow in enumerate(arrows, start=1):
            start, end = (left, right) if arrow.sender == "client" else (right, left)
            colour = CLIENT if arrow.sender == "client" else SERVER
            ax.annotate(
                "",
                xy=(end, row),
                xytext=(start, row - 0.3),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.5},
            )
            ax.text(5.1, row - 0.36, arrow.label, ha="center", va="bottom", fontsize=8.5)
            if arrow.detail:
                ax.text(
                    5.1,
                    row - 0.02,
                    arrow.detail,
                    ha="center",
                    va="top",
                    fontsize=7,
                    color=NETWORK,
                    family="monospace",
                )
        if not arrows:
            ax.text(
                5.1,
                tcp / 2,
                "no close frame either way",
                ha="center",
                va="center",
                fontsize=8.5,
                style="italic",
                color=NETWORK,
            )
        ax.plot([left, right], [tcp, tcp], color=NETWORK, lw=1.2, ls=(0, (4, 2)))
        ax.text(
            5.1,
            tcp - 0.06,
            "TCP connection closed",
            ha="center",
            va="bottom",
            fontsize=8,
            color=NETWORK,
        )
        close = next((e for e in events if e.type == "close"), None)
        if close is None:
            continue
        clean = bool(close.details.get("wasClean"))
        reason = close.details.get("reason", "")
        text = ("error event, then " if "error" in types else "") + (
            f"close event: code {close.details.get('code')}"
        )
        text += (f", reason {reason!r}" if reason else "") + f"\nwasClean {str(clean).lower()}"
        ax.text(
            left + 0.15,
            tcp + 0.45,
            text,
            ha="left",
            va="top",
            fontsize=8.5,
            color=OK if clean else BAD,
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": "white",
                "edgecolor": OK if clean else BAD,
                "lw": 1,
            },
        )
    for ax in flat[len(panels) :]:
        ax.axis("off")
    return fig


def close_code_ranges() -> Figure:
    """Notebook 04: the close code space (RFC 6455 §7.4, IANA), and the registered codes.

    Top: 0-4999 to scale, one band per range. Bottom: 1000-1015 one by one,
    green if an endpoint may send it, red if it is only ever reported to the
    application (1005, 1006, 1015), grey if reserved (1004, RFC 6455 §7.4.1); a dot
    marks the codes a web page may pass to ``close()``. Colours and dots are
    computed with ``wslearn.close``.
    """

    from matplotlib.patches import ConnectionPatch, Rectangle

    from wslearn.close import CloseCode, is_sendable
    from wslearn.dom import check_close_args

    def page_may_send(code: int) -> bool:
        try:
            check_close_args(code)
        except Exception:
            return False
        return True

    fig, (top, bottom) = figure(10, 4.4, nrows=2, height_ratios=[1, 1.5])
    bands = [
        (0, 999, "#e2e8f0", "0-999\nnot used"),
        (
            1000,
            2999,
            "#fbd38d",
            "1000-2999: the protocol's own codes\n(IANA registry; 1016-2999 unassigned)",
        ),
        (3000, 3999, "#c6f6d5", "3000-3999\nlibraries, frameworks\n(registered with IANA)"),
        (4000, 4999, "#bee3f8", "4000-4999\nprivate use\n(your application)"),
    ]
    for low, high, colour, label in bands:
        top.add_patch(
            Rectangle((low, 0), high - low + 1, 1, facecolor=colour, edgecolor="#4a5568", lw=1)
        )
        top.text((low + high + 1) / 2, 0.5, label, ha="center", va="center", fontsize=8)
    # what a web page's close() accepts (WHATWG): 1000, and 3000-4999
    page = [c for c in range(0, 5000) if page_may_send(c)]
    top.plot([1000], [1.18], marker="v", color=CLIENT, ms=7, clip_on=False)
    top.plot([3000, 4999], [1.18, 1.18], color=CLIENT, lw=3, solid_capstyle="butt", clip_on=False)
    top.text(
        5000,
        1.32,
        f"▼ and blue bar: what a page's ws.close(code) accepts ({len(page)} codes)",
        ha="right",
        va="bottom",
        fontsize=8,
        color=CLIENT,
    )
    top.set_xlim(0, 5000)
    top.set_ylim(0, 1.6)
    top.set_yticks([])
    top.spines["left"].set_visible(False)
    top.set_xticks([0, 1000, 2000, 3000, 4000, 5000])
    top.tick_params(axis="x", labelsize=8)

    codes = list(CloseCode)
    for i, code in enumerate(codes):
        ok = is_sendable(code)
        reserved = code == CloseCode.RESERVED  # never sent, and not reported either
        bottom.add_patch(
            Rectangle(
                (i, 0),
                1,
                1,
                facecolor=OK if ok else NETWORK if reserved else BAD,
                alpha=0.22 if ok else 0.3,
                edgecolor="#4a5568",
                lw=1,
            )
        )
        bottom.text(
            i + 0.5, 0.82, str(int(code)), ha="center", va="center", fontsize=8.5, weight="bold"
        )
        name = code.name.replace("_", " ").lower().replace("tls", "TLS")
        name = textwrap.fill(name, 10, break_long_words=False)
        bottom.text(i + 0.5, 0.4, name, ha="center", va="center", fontsize=6.2, linespacing=1.0)
        if page_may_send(code):
            bottom.plot([i + 0.5], [1.12], marker="v", color=CLIENT, ms=7, clip_on=False)
    bottom.text(
        len(codes),
        1.1,
        "the registered codes, one by one",
        ha="right",
        va="bottom",
        fontsize=8,
        color=NETWORK,
        style="italic",
    )
    bottom.set_xlim(0, len(codes))
    bottom.set_ylim(-0.45, 1.25)
    bottom.axis("off")
    bottom.text(0, -0.2, "green: may be sent in a close frame", color=OK, fontsize=8, va="center")
    bottom.text(
        len(codes) / 2 - 1.5,
        -0.2,
        "grey: reserved, unused",
        color=NETWORK,
        fontsize=8,
        va="center",
        ha="center",
    )
    bottom.text(
        len(codes),
        -0.2,
        "red: never on the wire, only reported to the application",
        color=BAD,
        fontsize=8,
        va="center",
        ha="right",
    )
    for x_top, x_bottom in ((1000, 0), (1016, len(codes))):
        fig.add_artist(
            ConnectionPatch(
                (x_top, 0),
                (x_bottom, 1.0),
                coordsA=top.transData,
                coordsB=bottom.transData,
                color=NETWORK,
                lw=0.8,
                ls=":",
            )
        )
    top.set_title("Close codes: who may use which number", loc="left", fontsize=FONT_SIZE)
    return fig
