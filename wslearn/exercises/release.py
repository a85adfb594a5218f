"""Student copies: solutions replaced by a stub, outputs cleared.

``python -m wslearn release --out student/`` writes one copy of every
course notebook. Inside each exercise cell the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` become a stub that raises
``NotImplementedError`` (at the marker's indentation, as nbgrader does);
every other cell is kept as it is, outputs and execution counts are
cleared, and the file is written deterministically, so releasing twice
gives identical bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("your solution here")'
_BLOCK = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*$",
    re.MULTILINE | re.DOTALL,
)


def strip_solutions(source: str) -> str:
    """Replace each solution block in ``source`` with the stub."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError("unbalanced solution markers")
    return _BLOCK.sub(lambda m: f"{m['indent']}# YOUR CODE HERE\n{m['indent']}{STUB}", source)


def student_copy(notebook: NotebookNode) -> NotebookNode:
    """A copy of ``notebook`` as handed to students."""
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source)
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    return copy


def release(source_dir: Path, out_dir: Path) -> list[Path]:
    """Write student copies of every ``*.ipynb`` in ``source_dir`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("*.ipynb")):
        target = out_dir / path.name
        nbformat.write(student_copy(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written
