"""Nothing declared and unused: every runtime dependency is imported, every plain top-level definition is referenced (issue 16, item 10)."""

from __future__ import annotations

import ast
import re
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Distribution name -> import name, where they differ; None: needed without an import (data for zoneinfo).
# psycopg is SQLAlchemy's driver, named in the database URL (postgresql+psycopg://).
IMPORT_NAMES: dict[str, str | None] = {"psycopg": None, "flask-wtf": "flask_wtf", "tzdata": None}


def _sources() -> dict[Path, str]:
    return {
        p: p.read_text(encoding="utf-8")
        for package in ("recs", "web")
        for p in (REPO / package).rglob("*.py")
        if "migrations" not in p.parts
    }


def _imported(sources: dict[Path, str]) -> set[str]:
    found: set[str] = set()
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_imported() -> None:
    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    imported = _imported(_sources())
    unused = []
    for requirement in requirements:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if module is not None and module not in imported:
            unused.append(name)
    assert not unused, f"declared in pyproject.toml but imported nowhere in recs/ or web/: {unused}"


def test_every_plain_top_level_definition_is_used() -> None:
    sources = _sources()
    elsewhere = [
        p.read_text(encoding="utf-8") for folder in ("tests", "benchmarks") for p in (REPO / folder).rglob("*.py")
    ]
    corpus = "\n".join([*sources.values(), *elsewhere, (REPO / "pyproject.toml").read_text()])
    mentions = Counter(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", corpus))
    unused = []
    for path, text in sources.items():
        for node in ast.parse(text).body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef):
                continue
            # Those registered by a decorator (routes, commands) are used through it; dataclasses are not.
            if any(_decorator_name(d) != "dataclass" for d in node.decorator_list):
                continue
            if mentions[node.name] <= 1:
                unused.append(f"{path.relative_to(REPO)}: {node.name}")
    assert not unused, "defined but never used (remove them, or use them):\n" + "\n".join(unused)


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
