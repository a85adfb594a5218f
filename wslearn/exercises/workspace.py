"""The learner's workspace: blank copies of the notebooks that never overwrite the learner's work.

``make lab`` calls ``python -m wslearn release --out work`` before it opens
JupyterLab on ``work/``. The first time, that writes a blank copy of every
notebook (solutions replaced by stubs, outputs cleared: ``release.student_copy``).
Every later time it only adds what is missing, and refreshes a copy the
learner has not touched (its bytes are still those released, recorded in
``work/.released.json``) when the course itself changed. A notebook the
learner edited, ran or saved is never written over. ``force=True`` (``make
reset-work``) starts over, after moving the old folder aside to
``work-backup-YYYYMMDD-HHMMSS/`` next to it, so nothing is ever lost.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from wslearn.exercises.release import student_copy

__all__ = ["MANIFEST", "Update", "update_workspace"]

#: in the workspace: the SHA-256 of each copy as it was released (hidden in JupyterLab)
MANIFEST = ".released.json"


@dataclass
class Update:
    """What ``update_workspace`` did, notebook by notebook."""

    added: list[str] = field(default_factory=list)  # missing: written
    refreshed: list[str] = field(default_factory=list)  # untouched by the learner, course changed
    kept: list[str] = field(default_factory=list)  # edited by the learner: left alone
    unchanged: list[str] = field(default_factory=list)  # untouched, course unchanged
    backup: Path | None = None  # where the old workspace went (force=True)

    def lines(self) -> list[str]:
        out = [f"backup of the old workspace: {self.backup}"] if self.backup else []
        out += [f"added     {name}" for name in self.added]
        out += [f"refreshed {name} (you had not changed it)" for name in self.refreshed]
        out += [f"kept      {name} (your work)" for name in self.kept]
        return out


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _backup_path(out_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = out_dir.with_name(f"{out_dir.name}-backup-{stamp}")
    number = 1
    while candidate.exists():
        number += 1
        candidate = out_dir.with_name(f"{out_dir.name}-backup-{stamp}-{number}")
    return candidate


def update_workspace(source_dir: Path, out_dir: Path, *, force: bool = False) -> Update:
    """Bring ``out_dir`` up to date with ``source_dir``'s notebooks, keeping the learner's work."""
    update = Update()
    if force and out_dir.exists() and any(out_dir.iterdir()):
        update.backup = _backup_path(out_dir)
        shutil.move(str(out_dir), str(update.backup))
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    try:
        released: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        released = {}
    for path in sorted(source_dir.glob("*.ipynb")):
        fresh = nbformat.writes(student_copy(nbformat.read(path, as_version=4))).encode()
        if not fresh.endswith(b"\n"):
            fresh += b"\n"
        target = out_dir / path.name
        if not target.exists():
            update.added.append(path.name)
        else:
            current = _digest(target.read_bytes())
            if current != released.get(path.name):
                update.kept.append(path.name)  # the learner's version: never overwritten
                continue
            if current == _digest(fresh):
                update.unchanged.append(path.name)
                continue
            update.refreshed.append(path.name)
        target.write_bytes(fresh)
        released[path.name] = _digest(fresh)
    manifest_path.write_text(json.dumps(released, indent=1, sort_keys=True) + "\n")
    return update
