"""The two ways to install (pip and conda) ask for the same packages."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT

# conda-forge spells a few package names differently from PyPI.
CONDA_NAMES = {"python": None, "pip": None}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_deps() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        names |= {_name(r) for r in extra}
    return names


def environment_deps() -> set[str]:
    names: set[str] = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        match = re.match(r"^\s+-\s+([^#\s][^#]*?)\s*$", line)
        if not match or match[1].endswith(":") or match[1].startswith("-e"):
            continue
        name = _name(match[1])
        if name not in CONDA_NAMES:
            names.add(name)
    return names


def test_environment_yml_and_pyproject_list_the_same_packages():
    assert environment_deps() == pyproject_deps()


def test_named_packages_are_runtime_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    # nest_asyncio is taken as its maintained fork nest-asyncio2 (see README).
    assert {"jupyterlab", "websockets", "nest-asyncio2", "matplotlib"} <= runtime


def test_environment_yml_installs_the_package_itself():
    assert re.search(r"^\s+-\s+-e \.\s*$", (ROOT / "environment.yml").read_text(), re.MULTILINE)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert [
        line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ] == ["make test"]
