# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Fill the process table with sleepers that outlive the notebook.
import os
import time

children = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    children += 1
print(f"{children} children started")


def poll_delay(*args):
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)
