# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Never return: in the cell, then in every call.
def poll_delay(*args):
    while True:
        pass


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
import time

while True:
    time.sleep(1)


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
