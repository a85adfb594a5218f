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


# --- notebook 02: frames ------------------------------------------------------------------------

# One pastel per field of RFC 6455 §5.2, so the same field has the same colour in every figure.
FRAME_FIELDS = {
    "flag": "#e2e8f0",  # FIN, RSV1-3
    "opcode": "#bee3f8",
    "mask": "#fefcbf",  # the MASK bit
    "length": "#c6f6d5",  # payload len and the extended payload length
    "key": "#fed7e2",  # masking key
    "payload": "#e9d8fd",
}
_OPCODE_NAMES = {0: "CONTINUATION", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


def _frame_fields(data: bytes, max_payload: int) -> tuple[list[tuple[str, str, int, str]], int]:
    """Split the start of a raw frame into (kind, label, bit count, detail) fields.

    Reads the header bits directly (the figure shows bits, so it parses bits);
    returns the fields and the number of payload bytes that were left out.
    """
    if len(data) < 2:
        raise ValueError("a frame has at least 2 bytes")
    b0, b1 = data[0], data[1]
    fields = [("flag", "FIN", 1, str(b0 >> 7))]
    fields += [("flag", f"RSV{i}", 1, str(b0 >> (7 - i) & 1)) for i in (1, 2, 3)]
    opcode = b0 & 0x0F
    fields.append(("opcode", "opcode", 4, f"{opcode:#x} {_OPCODE_NAMES.get(opcode, 'reserved')}"))
    masked = b1 >> 7
    fields.append(("mask", "MASK", 1, str(masked)))
    length, pos = b1 & 0x7F, 2
    if length < 126:
        fields.append(("length", "payload len", 7, f"{length} bytes"))
    else:
        extra = 2 if length == 126 else 8
        fields.append(("length", "payload len", 7, f"{length}: next {extra * 8} bits"))
        length = int.from_bytes(data[2 : 2 + extra], "big")
        fields.append(("length", "extended payload length", extra * 8, f"{length:,} bytes"))
        pos += extra
    key = data[pos : pos + 4] if masked else b""
    if masked:
        fields.append(("key", "masking key", 32, key.hex(" ")))
        pos += 4
    shown = min(length, max_payload, len(data) - pos)
    for i in range(shown):
        byte = data[pos + i]
        if masked:
            plain = byte ^ key[i % 4]
            detail = f"{byte:02x} ⊕ {key[i % 4]:02x} = {plain:02x}"
        else:
            plain = byte
            detail = f"{byte:02x}"
        char = chr(plain) if 32 <= plain < 127 else "·"
        fields.append(("payload", f"payload[{i}] = {char!r}", 8, detail))
    return fields, length - shown


def frame_layout(data: bytes, title: str | None = None, max_payload: int = 8) -> Figure:
    """Notebook 02: the RFC 6455 §5.2 diagram, filled in with the bits of a real frame.

    Rows of 32 bits as in the RFC; each field is a box holding its bit values
    and what they mean. Payload bytes are shown up to ``max_payload`` (and
    unmasked with the frame's own key when MASK is 1).
    """
    from matplotlib.patches import Rectangle

    fields, hidden = _frame_fields(bytes(data), max_payload)
    bits = "".join(f"{b:08b}" for b in bytes(data))
    total = sum(width for _, _, width, _ in fields)
    rows = -(-total // 32) + (1 if hidden and total % 32 == 0 else 0)
    fig, ax = figure(10, 0.78 * rows + 0.9)
    ax.set_xlim(-1.6, 32.1)
    ax.set_ylim(rows + 0.05, -0.5)
    ax.axis("off")
    for bit in range(32):
        ax.text(bit + 0.5, -0.12, str(bit), ha="center", va="bottom", fontsize=6.5, color=NETWORK)
    for row in range(rows):
        ax.text(
            -0.3, row + 0.5, f"byte {4 * row}", ha="right", va="center", fontsize=8, color=NETWORK
        )

    start = 0
    for kind, label, width, detail in fields:
        segments = []
        offset = start
        while offset < start + width:  # split a field at row ends, as the RFC does
            row, col = divmod(offset, 32)
            span = min(start + width - offset, 32 - col)
            segments.append((row, col, span, offset))
            offset += span
        for number, (row, col, span, offset) in enumerate(segments):
            ax.add_patch(
                Rectangle(
                    (col, row), span, 1, facecolor=FRAME_FIELDS[kind], edgecolor="#4a5568", lw=1
                )
            )
            for i in range(span):
                value = bits[offset + i] if offset + i < len(bits) else "?"
                ax.text(
                    col + i + 0.5,
                    row + 0.24,
                    value,
                    ha="center",
                    va="center",
                    fontsize=8,
                    family="monospace",
                    weight="bold" if value == "1" else "normal",
                )
                if i:
                    ax.plot([col + i, col + i], [row, row + 0.12], color="#4a5568", lw=0.5)
            name = label if number == 0 else f"{label} (continued)"
            if span == 1:
                ax.text(
                    col + 0.5,
                    row + 0.66,
                    label,
                    ha="center",
                    va="center",
                    rotation=90,
                    fontsize=6.5,
                )
            elif span < 8:
                ax.text(col + span / 2, row + 0.52, name, ha="center", va="center", fontsize=8)
                ax.text(col + span / 2, row + 0.8, detail, ha="center", va="center", fontsize=7.5)
            else:
                text = detail if number == 0 or kind == "key" else ""
                if kind == "key":  # each segment shows its own key bytes
                    first = (offset - start) // 8
                    text = " ".join(detail.split()[first : first + span // 8])
                ax.text(col + span / 2, row + 0.55, name, ha="center", va="center", fontsize=8.5)
                ax.text(
                    col + span / 2,
                    row + 0.8,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    family="monospace",
                )
        start += width
    if hidden:
        row, col = divmod(start, 32)
        span = 32 - col
        ax.add_patch(
            Rectangle((col, row), span, 1, facecolor="white", edgecolor="#4a5568", lw=1, ls="--")
        )
        ax.text(
            col + span / 2,
            row + 0.5,
            f"… {hidden:,} more payload bytes",
            ha="center",
            va="center",
            fontsize=8.5,
            color=NETWORK,
        )
    if title is None:
        shown = bytes(data[:16]).hex(" ") + (" …" if len(data) > 16 else "")
        title = f"a {total // 8 + hidden:,}-byte frame: {shown}"
    ax.set_title(title, fontsize=FONT_SIZE, loc="left")
    return fig


def header_sizes(sizes: Sequence[int], client: Sequence[int], server: Sequence[int]) -> Figure:
    """Notebook 02: frame header bytes against payload size, client (masked) and server.

    ``client`` and ``server`` are measured header sizes for each payload size in
    ``sizes`` (e.g. ``len(encode_frame(...)) - payload length``).
    """
    import numpy as np

    fig, (left, right) = figure(9, 3.2, ncols=2)
    x = np.maximum(np.asarray(sizes, dtype=float), 1)
    for values, colour, name in ((client, CLIENT, "client (masked)"), (server, SERVER, "server")):
        y = np.asarray(values, dtype=float)
        left.step(x, y, where="post", color=colour, lw=2, label=name)
        right.plot(x, 100 * y / (x + y), color=colour, lw=2, label=name)
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("payload bytes")
        for edge in (126, 65536):
            axis.axvline(edge, color=NETWORK, lw=0.8, ls=":")
    for edge, text in ((126, "126:\n2-byte length"), (65536, "65 536:\n8-byte length")):
        left.text(edge * 1.15, 1.2, text, fontsize=8, color=NETWORK, va="bottom")
    left.set_ylim(0, 16)
    left.set_ylabel("header bytes")
    left.set_title("Header size jumps twice")
    left.legend(loc="upper left", frameon=False)
    right.set_yscale("log")
    right.set_ylabel("header share of the frame (%)")
    right.set_title("…and soon stops mattering")
    return fig


# --- notebook 03: the lifecycle of a WebSocket ------------------------------------------------

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from matplotlib.text import Text

    from wslearn.websocket import LogEntry

STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")  # readyState 0..3


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


# --- notebook 04: close codes and the closing handshake ----------------------------------------


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
    import math

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
    green if an endpoint may send it, red if it is only ever reported; a dot
    marks the codes a web page may pass to ``close()``. Colours and dots are
    computed with ``wslearn.close``.
    """
    import textwrap

    from matplotlib.patches import ConnectionPatch, Rectangle

    from wslearn.close import CloseCode, check_close_args, is_sendable

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
        bottom.add_patch(
            Rectangle(
                (i, 0),
                1,
                1,
                facecolor=OK if ok else BAD,
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


# --- notebook 05: bufferedAmount and throttling ---------------------------------------------

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
    "throttled": "throttled (the seed's pattern)",
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


# -- notebook 06: the server's frame loop ----------------------------------------------------


def frame_loop(counts: dict[str, int] | None = None, title: str = "") -> Figure:
    """Notebook 06: what the scratch server's frame loop does with each kind of frame.

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
        (5.4, "data", "TEXT, BINARY,\nCONTINUATION", "Assembler.feed", "message → recv()"),
        (3.8, "ping", "PING", "pong_for", "write a PONG"),
        (2.2, "pong", "PONG", "match a ping()", "ping() returns"),
        (0.6, "close", "CLOSE", "close_reply", "write a CLOSE,\nclose TCP"),
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
    ax.set_title(title or "The server's frame loop: one frame at a time", fontsize=FONT_SIZE)
    return fig
