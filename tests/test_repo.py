"""Repository promises: the README's test command is what CI runs, and every module says what it is for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```\n(.*?)```", text, re.S)
    assert block, "README opens with a code block of the two quick-start commands"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text()
    test_command = commands[1]
    assert test_command.startswith("bash ")
    assert test_command in ci, f"CI does not run the README's test command {test_command!r}"


def test_every_module_has_a_one_line_docstring() -> None:
    missing = []
    for package in ("recs", "web", "tests", "benchmarks"):
        for path in (REPO / package).rglob("*.py"):
            if "versions" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            if path.name == "__init__.py" and not text.strip():
                continue  # an empty package marker has no responsibility of its own
            doc = ast.get_docstring(ast.parse(text))
            if not doc or not doc.strip() or "\n" in doc.strip().split("\n\n")[0]:
                missing.append(str(path.relative_to(REPO)))
    assert not missing, "modules without a one-line docstring: " + ", ".join(sorted(missing))
