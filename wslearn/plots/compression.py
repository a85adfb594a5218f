"""Notebook 10: permessage-deflate, what context takeover saves and what compression costs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from wslearn.plots.style import BAD, CLIENT, FONT_SIZE, NETWORK, OK, SERVER, figure

#: one colour per kind of message of ``wslearn.deflate.sample_messages``
KIND_COLOURS = {"chat": CLIENT, "document": OK, "random": BAD}


def context_takeover(sizes: Mapping[str, Sequence[int]], title: str = "") -> Figure:
    """Bytes on the wire per message, one line per configuration.

    ``sizes`` maps a label (``"uncompressed"``, ``"no context takeover"``,
    ``"context takeover"``) to the payload size of each message of one stream.
    """
    fig, ax = figure(8, 3.2)
    styles = {
        "uncompressed": (NETWORK, ":"),
        "no context takeover": (SERVER, "--"),
        "context takeover": (CLIENT, "-"),
    }
    for label, values in sizes.items():
        colour, line = styles.get(label, (NETWORK, "-"))
        ax.plot(range(1, len(values) + 1), values, color=colour, ls=line, lw=1.6, label=label)
    ax.set_xlabel("message number in the stream")
    ax.set_ylabel("payload bytes on the wire")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=FONT_SIZE - 1)
    ax.set_title(title or "Similar JSON messages: what each one costs on the wire")
    return fig


def compression_costs(costs: Sequence[object], title: str = "") -> Figure:
    """Three panels over window bits: memory per connection, ratio, CPU per message.

    ``costs`` are ``wslearn.deflate.Cost`` records (``kind``, ``window_bits``,
    ``context_takeover``, ``mem_level``, ``ratio``, ``compress_us``,
    ``idle_bytes``). Solid lines: context takeover; dashed: without.
    """
    fig, axes = figure(12, 3.6, ncols=3)
    memory, ratio, cpu = axes

    def series(select) -> tuple[list[int], list[object]]:
        chosen = sorted((c for c in costs if select(c)), key=lambda c: c.window_bits)  # type: ignore[attr-defined]
        return [c.window_bits for c in chosen], chosen  # type: ignore[attr-defined]

    # Memory does not depend on the messages, only on the settings: one kind is enough.
    kind = next(iter(c.kind for c in costs))  # type: ignore[attr-defined]
    levels = sorted({c.mem_level for c in costs}, reverse=True)  # type: ignore[attr-defined]
    lines = [(True, level) for level in levels] + [(False, levels[0])]
    for takeover, level in lines:
        bits, chosen = series(
            lambda c, t=takeover, m=level: (c.kind, c.context_takeover, c.mem_level) == (kind, t, m)
        )
        memory.plot(
            bits,
            [c.idle_bytes / 1024 for c in chosen],  # type: ignore[attr-defined]
            marker="o",
            ms=3,
            color=CLIENT if takeover else SERVER,
            ls="-" if level == levels[0] else "-.",
            label=f"context takeover, memLevel {level}" if takeover else "no context takeover",
        )
    memory.set_ylabel("kept per idle connection (KiB)")
    memory.set_title("Memory (both directions)", fontsize=FONT_SIZE)
    memory.legend(frameon=False, fontsize=FONT_SIZE - 2)

    for kind_name, colour in KIND_COLOURS.items():
        for takeover in (True, False):
            bits, chosen = series(
                lambda c, k=kind_name, t=takeover: (
                    (c.kind, c.context_takeover, c.mem_level) == (k, t, levels[0])
                )
            )
            if not chosen:
                continue
            style = {"color": colour, "ls": "-" if takeover else "--", "marker": "o", "ms": 3}
            label = kind_name if takeover else None
            ratio.plot(bits, [c.ratio for c in chosen], label=label, **style)  # type: ignore[attr-defined]
            cpu.plot(bits, [c.compress_us for c in chosen], label=label, **style)  # type: ignore[attr-defined]
    ratio.axhline(1, color=NETWORK, lw=0.8, ls=":")
    ratio.set_ylabel("compressed / original bytes")
    ratio.set_ylim(bottom=0)
    ratio.set_title("Ratio (lower is better)", fontsize=FONT_SIZE)
    ratio.legend(frameon=False, fontsize=FONT_SIZE - 2, title="solid: takeover", title_fontsize=8)
    cpu.set_yscale("log")
    cpu.set_ylabel("µs to compress one message")
    cpu.set_title("CPU per message", fontsize=FONT_SIZE)
    for axis in axes:
        axis.set_xlabel("window bits")
        axis.set_xticks(range(9, 16))
    memory.set_ylim(bottom=0)
    fig.suptitle(title or "What permessage-deflate costs, by window bits")
    return fig
