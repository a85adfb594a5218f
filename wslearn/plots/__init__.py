"""Figures for the notebooks, in one visual language.

Client is always blue, server always orange, the network grey; one font
size; no chart junk. Each function takes data recorded from real
connections and returns the matplotlib ``Figure`` (the notebook displays it).
``style`` holds the shared pieces; each other module holds one notebook's
figures. Everything is importable from ``wslearn.plots`` directly.
"""

from wslearn.plots.buffering import SENDER_COLOURS, SENDER_LABELS, buffered_amount, delivery_latency
from wslearn.plots.closing import close_code_ranges, closing_handshakes
from wslearn.plots.compression import KIND_COLOURS, compression_costs, context_takeover
from wslearn.plots.frames import FRAME_FIELDS, frame_layout, header_sizes
from wslearn.plots.handshake import handshake_sequence
from wslearn.plots.keepalive import (
    JITTER_COLOURS,
    Lane,
    backoff_delays,
    dead_peer,
    reconnection_storm,
    tcp_give_up,
)
from wslearn.plots.lifecycle import readystate_timeline
from wslearn.plots.polling import polling_vs_push
from wslearn.plots.scale import (
    METHOD_COLOURS,
    METHOD_LABELS,
    fanout_rates,
    restart_gap,
    slow_client_effect,
)
from wslearn.plots.security import (
    OUTCOME_COLUMNS,
    cswsh_outcomes,
    token_bucket,
)
from wslearn.plots.server import closing_states, frame_loop
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
    load_in_background,
    sequence,
)

__all__ = [
    "BAD",
    "CLIENT",
    "FONT_SIZE",
    "FRAME_FIELDS",
    "JITTER_COLOURS",
    "KIND_COLOURS",
    "METHOD_COLOURS",
    "METHOD_LABELS",
    "NETWORK",
    "OK",
    "OUTCOME_COLUMNS",
    "SENDER_COLOURS",
    "SENDER_LABELS",
    "SERVER",
    "STATES",
    "STATE_NAMES",
    "Arrow",
    "Lane",
    "backoff_delays",
    "buffered_amount",
    "close_code_ranges",
    "closing_handshakes",
    "closing_states",
    "compression_costs",
    "context_takeover",
    "cswsh_outcomes",
    "dead_peer",
    "delivery_latency",
    "fanout_rates",
    "figure",
    "frame_layout",
    "frame_loop",
    "handshake_sequence",
    "header_sizes",
    "load_in_background",
    "polling_vs_push",
    "readystate_timeline",
    "reconnection_storm",
    "restart_gap",
    "sequence",
    "slow_client_effect",
    "tcp_give_up",
    "token_bucket",
]
