"""The import layers of ARCHITECTURE.md: which package may import which library, and imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Heavy library -> the only places allowed to import it (module path prefixes).
OWNERS: dict[str, tuple[str, ...]] = {
    "spotipy": ("recs.spotify",),
    "requests": ("recs.spotify", "recs.emulator", "recs.prior.download"),
    "implicit": ("recs.model",),
    "threadpoolctl": ("recs.model",),
    "sqlalchemy": ("recs.storage",),
    "alembic": ("recs.storage",),
    "psycopg": ("recs.storage",),
    "apscheduler": ("recs.scheduling",),
    "flask": ("web", "recs.emulator"),
    "flask_wtf": ("web",),
    "wtforms": ("web",),
    "werkzeug": ("web", "recs.emulator"),
    "waitress": ("web",),
    "zstandard": ("recs.prior", "recs.emulator"),
    "pyspark": ("recs.prior.spark",),
    "orjson": ("recs.prior",),
}
ADAPTERS = ("recs.spotify", "recs.storage", "recs.model", "recs.emulator")
ENTRY_POINTS = ("recs.cli", "recs.commands", "recs.scheduling")
# Pure modules: no I/O, no adapters, no use cases.
CORE = (
    "recs.config",
    "recs.domain",
    "recs.keys",
    "recs.logs",
    "recs.names",
    "recs.settings_doc",
    "recs.interactions",
    "recs.holdout",
    "recs.ranking",
    "recs.metrics",
    "recs.payloads",
)

# Pure modules that compute with models: they may import core and recs.model, nothing that does I/O.
PURE_WITH_MODEL = ("recs.lists",)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package in ("recs", "web"):
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                is_pkg = path.name == "__init__.py"
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _aliased_storage_modules(path: Path) -> list[str]:
    """`from recs.storage import X as Y` with Y not X: a storage module goes by its own name (`storage.X`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{alias.name} as {alias.asname}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "recs.storage"
        for alias in node.names
        if alias.asname and alias.asname != alias.name
    ]


def _spotipy_reach(path: Path) -> list[str]:
    """Ways to drive a spotipy client that an import check cannot see: `lambda sp: ...`, `getattr(sp, ...)`, `x.sp`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and any(a.arg == "sp" for a in node.args.args):
            found.append(f"line {node.lineno}: lambda sp")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "sp"
        ):
            found.append(f"line {node.lineno}: getattr(sp, ...)")
        elif isinstance(node, ast.Attribute) and node.attr == "sp":
            found.append(f"line {node.lineno}: .sp")
    return found


def _violations() -> list[str]:
    problems: list[str] = []
    modules = _modules()
    for module, path in sorted(modules.items()):
        if not _under(module, ("recs.storage",)):
            problems.extend(f"{module} imports recs.storage.{a}" for a in _aliased_storage_modules(path))
        if not _under(module, ("recs.spotify",)):
            problems.extend(
                f"{module} drives spotipy ({where}): only recs.spotify may" for where in _spotipy_reach(path)
            )
        for imported in sorted(_imports(module, path)):
            top = imported.split(".")[0]
            if top in OWNERS and not _under(module, OWNERS[top]):
                problems.append(f"{module} imports {top}: only {', '.join(OWNERS[top])} may")
            if module.startswith("recs") and top == "web":
                problems.append(f"{module} imports web: web imports recs, never the reverse")
            if _under(module, ADAPTERS):
                own = next(a for a in ADAPTERS if _under(module, (a,)))
                for other in ADAPTERS:
                    if other != own and _under(imported, (other,)):
                        problems.append(f"adapter {module} imports adapter {other}")
            if (
                _under(module, CORE)
                and imported.startswith("recs.")
                and not _under(imported, CORE)
                and imported != "recs.__version__"
            ):
                problems.append(f"core module {module} imports {imported}")
            if (
                _under(module, PURE_WITH_MODEL)
                and imported.startswith("recs.")
                and not _under(imported, (*CORE, "recs.model"))
                and imported != "recs.__version__"
            ):
                problems.append(f"pure module {module} imports {imported}")
            is_entry = _under(module, ENTRY_POINTS)
            if not is_entry and module.startswith("recs") and _under(imported, ENTRY_POINTS):
                problems.append(f"{module} imports the entry point {imported}")
    return sorted(set(problems))


def test_import_layers() -> None:
    problems = _violations()
    assert not problems, "layer violations:\n" + "\n".join(problems)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f():\n    import spotipy\n    from ..storage import schema\n")
    assert "spotipy" in _imports("recs.model.m", path)
    assert "recs.storage.schema" in _imports("recs.model.m", path)
