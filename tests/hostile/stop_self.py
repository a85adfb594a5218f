# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Stop our own process (SIGSTOP): it neither answers nor reads the grader's messages.
import os
import signal


def poll_delay(*args):
    os.kill(os.getpid(), signal.SIGSTOP)
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
os.kill(os.getpid(), signal.SIGSTOP)


def frame_overhead(*args):
    return 0


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
