"""Every notebook runs top to bottom in a fresh kernel, and again in the same kernel."""

from __future__ import annotations

import re

import nbformat
import pytest
from conftest import NOTEBOOKS
from nbclient import NotebookClient

from wslearn import nbsource

NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def _errors(notebook):
    return [
        f"cell {i}: {o.ename}: {o.evalue}"
        for i, cell in enumerate(notebook.cells)
        for o in cell.get("outputs", [])
        if o.output_type == "error"
    ]


def test_every_numbered_notebook_is_there():
    assert NAMES[0] == "00_why_websocket.ipynb"
    assert all(name[:2].isdigit() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_errors(name, executed):
    notebook, broke = executed(name)
    assert broke == ""
    assert _errors(notebook) == []
    assert any(
        "image/png" in o.get("data", {}) for c in notebook.cells for o in c.get("outputs", [])
    ), "every notebook shows at least one figure"


# Notebooks about the browser API show the real browser's output beside the Python.
BROWSER_NOTEBOOKS = [
    "03_lifecycle_events.ipynb",
    "04_close_codes.ipynb",
    "05_buffered_amount.ipynb",
    "06_build_a_server.ipynb",
    "07_keepalive_reconnect.ipynb",
    "08_security.ipynb",
    "09_broadcast_scale.ipynb",
    "10_compression.ipynb",
]


@pytest.mark.parametrize("name", BROWSER_NOTEBOOKS)
def test_committed_notebook_shows_chromium_output(name):
    """Built from its source, the committed notebook carries what Chromium really reported."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    texts = [
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    ]
    assert any(re.search(r"\bChromium \d+\.\d+\.\d+\.\d+\b", text) for text in texts), (
        f"{name} shows no output from Chromium (its version): rebuild it with Chromium installed"
    )


@pytest.mark.parametrize("name", NAMES)
def test_notebook_matches_its_source(name):
    source = NOTEBOOKS / "src" / name.replace(".ipynb", ".py")
    built = nbsource.parse(source.read_text())
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in built.cells
    ], f"rebuild it: python -m wslearn build {source.relative_to(NOTEBOOKS.parent)}"
    assert [c.metadata.get("wslearn") for c in committed.cells] == [
        c.metadata.get("wslearn") for c in built.cells
    ]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_twice_in_the_same_kernel(name):
    """Re-running a whole notebook in one kernel works: no leaked ports, no stale state."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3")
    client.resources = {"metadata": {"path": str(NOTEBOOKS)}}
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(notebook.cells):
                cell.outputs = []
                client.execute_cell(cell, index)
    assert _errors(notebook) == []
