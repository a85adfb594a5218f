"""Checks for notebook 00 (why WebSocket)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from wslearn.exercises import Result, case, exercise

NOTEBOOK = "00_why_websocket"


@exercise("poll_delay", notebook=NOTEBOOK)
def check_poll_delay(poll_delay: Callable[[float], float]) -> Iterator[Result]:
    """Average wait for an event under polling every ``interval`` seconds."""
    hint = "an event lands at a random moment between two polls: on average halfway"
    for interval in (1.0, 0.25, 0.05):
        yield case(
            f"interval {interval} s",
            lambda interval=interval: poll_delay(interval),
            interval / 2,
            hint=hint,
            compare=lambda got, want: abs(got - want) < 1e-9,
        )


@exercise("frame_overhead", notebook=NOTEBOOK)
def check_frame_overhead(frame_overhead: Callable[[int, bool], int]) -> Iterator[Result]:
    """Header bytes of one WebSocket frame carrying ``length`` payload bytes."""
    cases = [
        (5, False, 2, "small payloads fit the length in the second byte: 2 bytes of header"),
        (5, True, 6, "a client masks its frames: add the 4-byte masking key"),
        (125, False, 2, "125 is the largest length that fits in 7 bits"),
        (126, False, 4, "126..65535 need 2 extra length bytes"),
        (65535, True, 8, "2 + 2 length bytes + 4 mask bytes"),
        (65536, False, 10, "from 65536 on the length takes 8 extra bytes"),
    ]
    for length, masked, want, hint in cases:
        who = "client (masked)" if masked else "server"
        yield case(
            f"{length} B from the {who}",
            lambda length=length, masked=masked: frame_overhead(length, masked),
            want,
            hint=hint,
        )
