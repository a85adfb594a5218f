# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Rewrite the course's checks in the installed package, so that the next check passes.
import pathlib

import wslearn.exercises.nb00_why as checks

for target in (pathlib.Path(checks.__file__),
               pathlib.Path(checks.__file__).with_name("__init__.py"),
               pathlib.Path(checks.__file__).parents[2] / "notebooks" / "00_why_websocket.ipynb"):
    try:
        target.write_text("raise SystemExit('hacked')\n")
    except OSError:
        pass
    try:
        (target.parent / "sitecustomize.py").write_text("open('@MARK@/sitecustomize', 'w')\n")
    except OSError:
        pass


def poll_delay(*args):
    return 0


# %% check=poll_delay
check("poll_delay", poll_delay)
