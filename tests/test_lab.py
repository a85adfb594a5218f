"""The learner's path: `make lab` opens blank copies in work/, never overwriting the learner's.

The end-to-end test copies the project as a fresh clone would have it (the
files git tracks or would track, no work/), runs `make lab` there with
`--no-browser`, and asks the running JupyterLab's contents API for every file
its file browser can reach: none may hold a reference solution. A second
`make lab` after the learner saved an edit through the same API keeps it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import NOTEBOOKS, ROOT

from wslearn import nbsource
from wslearn.exercises.release import BEGIN
from wslearn.exercises.workspace import MANIFEST, update_workspace

# --- the workspace itself (no JupyterLab) -------------------------------------------------------


SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)\n[ \t]*### END SOLUTION", re.S)


def _solution_lines() -> dict[str, set[str]]:
    """Per notebook, the lines found only in its reference solutions (not `return True`)."""
    lines: dict[str, set[str]] = {}
    for source in sorted((NOTEBOOKS / "src").glob("*.py")):
        notebook = nbsource.parse(source.read_text())
        found: set[str] = set()
        elsewhere = ""
        for cell in notebook.cells:
            found |= {
                line.strip()
                for block in SOLUTION.findall(cell.source)
                for line in block.splitlines()
                if len(line.strip()) > 24
            }
            elsewhere += SOLUTION.sub("", cell.source) + "\n"
        # a line the notebook also shows outside the solutions (a hint, a demo) is no secret
        lines[source.stem] = {line for line in found if line not in elsewhere}
    return lines


SOLUTIONS = _solution_lines()


def _solutions_in(name: str, notebook: dict) -> list[str]:
    """Reference-solution lines of notebook ``name`` that appear anywhere in ``notebook``."""
    text = "\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in notebook["cells"]
    )
    return sorted(line for line in SOLUTIONS.get(name, ()) if line in text)


def test_every_exercise_has_solution_lines_to_look_for():
    assert {name for name, lines in SOLUTIONS.items() if lines} == {
        p.stem for p in (NOTEBOOKS / "src").glob("*.py")
    }


def test_first_release_writes_blank_copies_of_every_notebook(tmp_path):
    update = update_workspace(NOTEBOOKS, tmp_path / "work")
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert update.added == names and not update.kept and update.backup is None
    for path in (tmp_path / "work").glob("*.ipynb"):
        notebook = json.loads(path.read_text())
        assert BEGIN not in path.read_text()
        assert _solutions_in(path.stem, notebook) == []
        assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")


def test_release_again_keeps_edits_adds_missing_and_refreshes_untouched(tmp_path):
    source, work = tmp_path / "notebooks", tmp_path / "work"
    shutil.copytree(NOTEBOOKS, source, ignore=shutil.ignore_patterns("src"))
    update_workspace(source, work)
    edited, deleted, untouched = (
        work / "00_why_websocket.ipynb",
        work / "01_handshake.ipynb",
        work / "02_framing.ipynb",
    )
    notebook = nbformat.read(edited, as_version=4)
    notebook.cells[0].source += "\n\nMy notes."
    nbformat.write(notebook, edited)
    mine = edited.read_bytes()
    deleted.unlink()
    course = nbformat.read(source / untouched.name, as_version=4)  # the course changes 02
    course.cells[0].source += "\n\nA correction."
    nbformat.write(course, source / untouched.name)

    update = update_workspace(source, work)

    assert update.kept == [edited.name]
    assert update.added == [deleted.name]
    assert update.refreshed == [untouched.name]
    assert edited.read_bytes() == mine
    assert "A correction." in untouched.read_text()
    assert deleted.exists() and BEGIN not in deleted.read_text()


def test_force_starts_over_and_keeps_a_backup(tmp_path):
    work = tmp_path / "work"
    update_workspace(NOTEBOOKS, work)
    edited = work / "00_why_websocket.ipynb"
    edited.write_text(edited.read_text().replace("poll_delay", "poll_delay_mine", 1))
    (work / "scratch.txt").write_text("my own file")

    update = update_workspace(NOTEBOOKS, work, force=True)

    assert update.backup is not None and update.backup.parent == tmp_path
    assert update.backup.name.startswith("work-backup-")
    assert "poll_delay_mine" in (update.backup / edited.name).read_text()
    assert (update.backup / "scratch.txt").read_text() == "my own file"
    assert "poll_delay_mine" not in edited.read_text()
    assert not (work / "scratch.txt").exists()
    assert (work / MANIFEST).exists()


def test_release_command_says_what_it_kept(tmp_path):
    work = tmp_path / "work"
    python = str(ROOT / ".venv" / "bin" / "python")
    run = [python, "-m", "wslearn", "release", "--source", str(NOTEBOOKS), "--out", str(work)]
    first = subprocess.run(run, capture_output=True, text=True, timeout=60, check=True)
    assert "added     00_why_websocket.ipynb" in first.stdout
    (work / "00_why_websocket.ipynb").write_text("{}")
    again = subprocess.run(run, capture_output=True, text=True, timeout=60, check=True)
    assert again.stdout.splitlines() == ["kept      00_why_websocket.ipynb (your work)"]
    forced = subprocess.run(
        [*run, "--force"], capture_output=True, text=True, timeout=60, check=True
    )
    assert forced.stdout.startswith("backup of the old workspace: ")
    assert (work / "00_why_websocket.ipynb").read_text() != "{}"


# --- `make lab` in a fresh clone ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_clone(target: Path) -> Path:
    """The project's files as a clone has them: tracked or trackable, nothing ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


class Lab:
    """`make lab` in ``clone``, on a free port with a token; stopped by ``stop()``."""

    def __init__(self, clone: Path, stamp: Path) -> None:
        self.port, self.token = _free_port(), secrets.token_hex(8)
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "lab",
                f"PORT={self.port}",
                f"VENV={ROOT / '.venv'}",  # the project's venv: no install in the test
                f"STAMP={stamp}",
                f"LAB_ARGS=--no-browser --ServerApp.token={self.token}",
            ],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=os.environ,
        )

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        url = f"{self.base}/api/contents/{urllib.parse.quote(path)}?token={self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def wait(self) -> None:
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise AssertionError(self.process.stderr.read().decode()[-3000:])
            try:
                status = f"{self.base}/api/status?token={self.token}"
                with urllib.request.urlopen(status, timeout=5):
                    return
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)

    def files(self, path: str = "") -> list[dict]:
        """Every file the file browser reaches, with its content."""
        found = []
        for item in self.api(path)["content"]:
            if item["type"] == "directory":
                found += self.files(item["path"])
            else:
                found.append(self.api(item["path"]))
        return found

    def stop(self) -> str:
        with_output = ""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=20)
            with_output = out.decode()
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            out, _ = self.process.communicate(timeout=5)
            with_output = out.decode()
        return with_output


@pytest.fixture
def clone(tmp_path):
    clone = _fresh_clone(tmp_path / "clone")
    assert not (clone / "work").exists()
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than the clone's pyproject.toml: make installs nothing
    return clone, stamp


def test_make_lab_serves_blank_copies_and_keeps_the_learners_edit(clone):
    clone, stamp = clone
    lab = Lab(clone, stamp)
    try:
        lab.wait()
        files = lab.files()
        names = sorted(f["path"] for f in files)
        assert names == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
        for item in files:
            text = json.dumps(item["content"])
            assert "BEGIN SOLUTION" not in text, item["path"]
            assert _solutions_in(Path(item["path"]).stem, item["content"]) == [], item["path"]
        # the learner writes an answer and saves (as JupyterLab does)
        saved = lab.api("00_why_websocket.ipynb")
        cell = next(c for c in saved["content"]["cells"] if "poll_delay" in str(c["metadata"]))
        cell["source"] = cell["source"].replace(
            'raise NotImplementedError("your solution here")', "return 42.0  # my answer"
        )
        lab.api("00_why_websocket.ipynb", "PUT", {"type": "notebook", "content": saved["content"]})
        lab.api("01_handshake.ipynb", "DELETE")
    finally:
        lab.stop()

    again = Lab(clone, stamp)
    try:
        again.wait()
        reopened = again.api("00_why_websocket.ipynb")
        assert "return 42.0  # my answer" in json.dumps(reopened["content"])
        assert again.api("01_handshake.ipynb")["type"] == "notebook"  # missing: added back
    finally:
        output = again.stop()
    assert "kept      00_why_websocket.ipynb (your work)" in output
    assert "added     01_handshake.ipynb" in output
