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
