"""Notebook sources: each notebook is written as a diffable ``# %%`` script.

``notebooks/src/NN_name.py`` is the source of ``notebooks/NN_name.ipynb``
(the "percent" format that jupytext and VS Code also read). Cell markers:

- ``# %% [markdown]``: a markdown cell; its lines start with ``# ``.
- ``# %%``: a code cell.
- ``# %% exercise=NAME``: an exercise cell (reference solution between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``).
- ``# %% check=NAME``: the cell that checks exercise NAME.
- ``# %% setup``: a code cell the exercises need, run whole when grading (the
  grader otherwise takes only the definitions of the cells above an exercise:
  imports, functions, classes and ``NAME = <literal>``; see
  ``wslearn.exercises.release.grading_plan``).

Exercise and check cells get both wslearn's metadata (what the grader reads)
and nbgrader's, so teachers who use nbgrader can use the notebooks as they are.
``python -m wslearn build`` turns sources into executed notebooks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MARKER = re.compile(
    r"^# %%(?: \[(?P<kind>markdown)\])?"
    r"(?: (?P<key>exercise|check)=(?P<name>\w+)| (?P<setup>setup))?\s*$"
)

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def parse(text: str) -> NotebookNode:
    """Build a notebook (without outputs) from percent-format ``text``."""
    cells: list[NotebookNode] = []
    header: re.Match[str] | None = None
    body: list[str] = []

    def flush() -> None:
        if header is None:
            if any(line.strip() for line in body):
                raise ValueError("text before the first '# %%' marker")
            return
        cells.append(_cell(header, body))

    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            match = MARKER.match(line)
            if match is None:
                raise ValueError(f"line {number}: unknown cell marker {line!r}")
            flush()
            header, body = match, []
        else:
            body.append(line)
    flush()
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.kernelspec = KERNELSPEC
    notebook.metadata.language_info = {"name": "python"}
    return notebook


def _cell(header: re.Match[str], lines: list[str]) -> NotebookNode:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if header["kind"] == "markdown":
        text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
        return nbformat.v4.new_markdown_cell(text)
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    name = header["name"]
    if header["key"] == "exercise":
        cell.metadata.wslearn = {"exercise": name}
        cell.metadata.nbgrader = _nbgrader(name, solution=True)
    elif header["setup"]:
        cell.metadata.wslearn = {"setup": True}
    elif header["key"] == "check":
        cell.metadata.wslearn = {"check": name}
        cell.metadata.nbgrader = _nbgrader(f"{name}_check", solution=False)
    return cell


def _nbgrader(grade_id: str, *, solution: bool) -> dict[str, object]:
    meta: dict[str, object] = {
        "grade_id": grade_id,
        "solution": solution,
        "grade": not solution,
        "locked": not solution,
        "schema_version": 3,
    }
    if not solution:
        meta["points"] = 1
    return meta


def build(source: Path, *, execute: bool = True, timeout: int = 120) -> Path:
    """Write ``notebooks/<stem>.ipynb`` from ``source``, executed unless told not to."""
    notebook = parse(source.read_text())
    target = source.parent.parent / f"{source.stem}.ipynb"
    if execute:
        from nbclient import NotebookClient

        NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(target.parent)}},
        ).execute()
    nbformat.write(notebook, target)
    return target
