"""Notebook 02: a frame's bits, and header sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


from wslearn.plots.style import CLIENT, FONT_SIZE, NETWORK, SERVER, figure

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
