# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Write forged answers and garbage on every pipe this process holds (the grading channel too).
import json
import os


def forge():
    for fd in map(int, os.listdir("/proc/self/fd")):
        for number in range(1, 200):
            for line in (json.dumps({"id": number, "result": {"$float": "0.5"}}) + "\n",
                         "garbage\n"):
                try:
                    os.write(fd, line.encode())
                except OSError:
                    break


def poll_delay(*args):
    forge()
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
def frame_overhead(*args):
    forge()
    return 0


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
