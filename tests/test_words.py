"""The product's words: no "seed", and wslearn's `WebSocket` is never "the port".

The course grew from the 2016 article, which the README cites once as a
source; everywhere else the course speaks in its own voice. A learner reads
"the port" as a TCP port, so the Python WebSocket is called "wslearn's
`WebSocket`". Scanned: the notebooks (sources, and the built notebooks' cells
and text outputs), the README, docs/ and the wslearn package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import ROOT

SEED = re.compile(r"seed", re.IGNORECASE)
#: "the port" / "this port" / "the port's", unless it is plainly a TCP port ("the port the OS
#: chose", "the port number", "take the port between ...")
THE_PORT = re.compile(
    r"\b(?:the|this|our) port\b(?:'s)?(?! the OS| number| between| of | where| it )",
    re.IGNORECASE,
)


def _notebook_text(path: Path) -> str:
    """A built notebook's cell sources and text outputs (not its images)."""
    notebook = json.loads(path.read_text())
    parts = []
    for cell in notebook["cells"]:
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            data = output.get("data", {})
            for kind in ("text/plain", "text/html", "text/markdown"):
                parts.append("".join(data.get(kind, "")))
    return "\n".join(parts)


def _product() -> dict[str, str]:
    files = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files[str(path.relative_to(ROOT))] = _notebook_text(path)
    patterns = ("notebooks/src/*.py", "docs/*.md", "wslearn/**/*.py")
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            files[str(path.relative_to(ROOT))] = path.read_text()
    files["README.md"] = (ROOT / "README.md").read_text()
    return files


PRODUCT = _product()


def _hits(pattern: re.Pattern[str], text: str) -> list[str]:
    return [
        line.strip()[:120]
        for line in text.splitlines()
        if pattern.search(line)
    ]


@pytest.mark.parametrize("name", sorted(PRODUCT))
def test_the_product_never_says_seed(name):
    assert _hits(SEED, PRODUCT[name]) == []


@pytest.mark.parametrize("name", sorted(PRODUCT))
def test_wslearns_websocket_is_never_called_the_port(name):
    assert _hits(THE_PORT, PRODUCT[name]) == []


def test_the_readme_cites_the_2016_article_once():
    readme = PRODUCT["README.md"]
    assert readme.count("the 2016 article") == 1
    assert "NodeJs 全记录七" in readme and "2016-11-01" in readme


def test_the_patterns_catch_what_they_are_for():
    assert _hits(SEED, "The seed's pattern") and _hits(SEED, "rng = Random(seed)")
    assert _hits(THE_PORT, "The port raises the same DOMExceptions")
    assert _hits(THE_PORT, "in a browser as in this port.")
    assert not _hits(THE_PORT, "the ws:// URL (with the port the OS chose)")
    assert not _hits(THE_PORT, "a port where nothing listens")
