"""JupyterLab in the loop: notebook 06 runs top to bottom in a real JupyterLab.

JupyterLab starts headless on a free port (its root is a temporary copy of the
notebooks folder, so nothing in the repository changes). Headless Chromium
opens notebook 06 and runs all its cells, as a learner would with "Run All".
The browser cell drives a second, headless Chromium from the kernel
(``wslearn.browser``) against the scratch server the kernel runs; the test
reads the events that Chromium fired from the cell's output in the JupyterLab
page, and checks that the exercises ran and nothing wrote to stderr.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium
from conftest import NOTEBOOKS

NOTEBOOK = "06_build_a_server.ipynb"
START_TIMEOUT = 40.0  # s for JupyterLab to answer /api/status
RUN_TIMEOUT = 45.0  # s from "Run All Cells" to the last cell's end

# The browser cell's output: Chromium's version, then one line per event.
EXPECTED_EVENTS = [
    ("open", "readyState=1 protocol='chat.v2' extensions=''"),
    ("message", "readyState=1 data='Hello from your browser!'"),
    ("close", "readyState=3 code=1000 reason='Closing normally!' wasClean=True"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET") -> object:
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


def _kernel_pids(runtime: Path) -> list[int]:
    """Processes whose command line names a connection file in our runtime folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(runtime) in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[str, str]]:
    """JupyterLab on 127.0.0.1 over a copy of the notebooks; yields (base URL, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    home = Path(tempfile.mkdtemp(prefix="wslearn-lab-"))
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("src", ".ipynb_checkpoints"))
    runtime = home / "runtime"
    # No "get Jupyter news?" question (and no fetching it): a user setting of JupyterLab's.
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            "--expose-app-in-browser",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as one below
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + process.stderr.read().decode()[-3000:])
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT:.0f} s")
                time.sleep(0.25)
        yield base, token
    finally:
        try:  # kernels run in sessions of their own: shut them down through the server first
            for kernel in _api(base, token, "/api/kernels"):  # type: ignore[union-attr]
                _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        for pid in _kernel_pids(runtime):  # a kernel that outlived its server
            os.kill(pid, signal.SIGKILL)
        process.stderr.close()
        shutil.rmtree(home, ignore_errors=True)


ALL_CELLS_RAN = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  if (!kernel || kernel.status !== "idle") return false;
  const cells = Array.from(panel.content.model.cells).filter((c) => c.type === "code");
  return cells.length > 0 && cells.every((c) => c.executionCount !== null);
}
"""


def test_notebook_06_runs_in_jupyterlab_with_chromiums_events(lab: tuple[str, str]) -> None:
    base, token = lab
    started = time.monotonic()
    with chromium() as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        # The notebook is open and its kernel is ready.
        page.wait_for_function(
            """() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel
                      ?.status === "idle" """,
            timeout=30_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

        page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_TIMEOUT * 1000)
        outputs = page.locator(".jp-OutputArea-output").all_text_contents()
        browser_cell = next(text for text in outputs if text.startswith("Chromium "))
        events = [line.split() for line in browser_cell.splitlines()[1:]]
        assert [fields[2] for fields in events] == [name for name, _ in EXPECTED_EVENTS]
        lines = browser_cell.splitlines()[1:]
        for line, (name, details) in zip(lines, EXPECTED_EVENTS, strict=True):
            assert details in line, (name, line)
        assert sum("Well done!" in text for text in outputs) == 3  # the exercises ran too
        errors = page.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        assert errors.count() == 0, errors.all_inner_texts()

        if shot := os.environ.get("WSLEARN_LAB_SCREENSHOT"):  # for a human to look at
            page.set_viewport_size({"width": 1200, "height": 900})
            page.screenshot(path=shot)
    assert time.monotonic() - started < 90
