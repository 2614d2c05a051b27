"""pyproject.toml uses today's metadata: an SPDX license string that setuptools accepts without warnings (issue 16, item 9)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_string_and_setuptools_knows_it() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    # The `{ text = ... }` table is deprecated (a warning per build, refused from February 2027).
    assert data["project"]["license"] == "MIT"
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
    setuptools = next(r for r in data["build-system"]["requires"] if r.startswith("setuptools"))
    found = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert found and int(found.group(1)) >= 77, "SPDX license strings need setuptools 77 or newer"


def test_pytest_alone_is_fast_and_the_readme_command_runs_everything() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "-m 'not slow'" in data["tool"]["pytest"]["ini_options"]["addopts"]
    script = (REPO / "scripts" / "test.sh").read_text()
    assert 'pytest -m "" "$@"' in script, "scripts/test.sh must clear the default marker filter"
    assert "bash scripts/test.sh" in (REPO / "README.md").read_text()
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    dev = (REPO / "docs" / "development.md").read_text()
    assert "Fast suite" in dev and "Full suite" in dev
