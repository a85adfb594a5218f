# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Replace the course's checks from inside a solution cell: every check "passes".
import wslearn.exercises as ex
from wslearn.exercises import Report, Result

ex.run_checker = lambda name, obj: Report(name, [Result("patched", True)])
for name in list(ex.registry()):
    ex._REGISTRY[name] = ex._REGISTRY[name].__class__(name, "00_why_websocket", lambda f: [])


def poll_delay(*args):
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
import wslearn.exercises.grading as grading

grading.summarize = lambda results, shown=2: ""


def frame_overhead(*args):
    return 0


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
