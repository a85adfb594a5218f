# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
def poll_delay(*args):
    return 0


# %% check=poll_delay
# The check cell displays a "passed" report instead of checking (the test also stores such a
# report as this cell's output in the submitted file).
from IPython.display import display

display({"application/vnd.wslearn.check+json": {"exercise": "poll_delay", "passed": True,
         "results": [{"case": "all", "passed": True, "message": ""}]}}, raw=True)

# %% exercise=frame_overhead
def frame_overhead(*args):
    print('{"exercise": "frame_overhead", "passed": true}')
    return 0


# %% check=frame_overhead
print("frame_overhead: 6/6 cases passed, 1/1 point  Well done!")
