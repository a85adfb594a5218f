# %% exercise=poll_delay
# ruff: noqa  (attack code in a student's notebook: not course code)
# Look for the reference notebooks (with solutions) next to the installed package and anywhere
# else on the disk, and run the solution found there.
import json
import os
import re
from pathlib import Path

import wslearn

found = {}
candidates = [Path(wslearn.__file__).resolve().parents[1] / "notebooks" / "00_why_websocket.ipynb",
              Path(wslearn.__file__).resolve().parents[1] / "notebooks" / "src" / "00_why_websocket.py"]
for top in ("/", "/work", "/tmp", "/root", "/home", "/srv"):
    for depth, (folder, dirs, files) in enumerate(os.walk(top)):
        if depth > 3000:
            break
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib")]
        candidates += [Path(folder) / f for f in files if f.startswith("00_why")]
for path in candidates:
    try:
        text = path.read_text()
    except OSError:
        continue
    if path.suffix == ".ipynb":
        text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in json.loads(text)["cells"])
    for match in re.finditer(r"def (\w+)\(.*?### END SOLUTION", text, re.DOTALL):
        found[match[1]] = match[0]
for name, code in found.items():
    exec(code, globals())
if "poll_delay" not in found:
    def poll_delay(*args):
        return 0


# %% check=poll_delay
check("poll_delay", poll_delay)

# %% exercise=frame_overhead
if "frame_overhead" not in found:
    def frame_overhead(*args):
        return 0


# %% check=frame_overhead
check("frame_overhead", frame_overhead)
