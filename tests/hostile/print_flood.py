# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# 400 MB of output, to take the grader's memory with it.
import os
import sys

chunk = "x" * 2**20
for _ in range(200):
    sys.stdout.write(chunk)


def poll_delay(*args):
    for _ in range(200):
        os.write(1, chunk.encode())
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
def frame_overhead(*args):
    return "y" * (15 * 2**20)  # a 15 MB answer


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
