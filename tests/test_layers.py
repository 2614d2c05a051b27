"""The import layers of ARCHITECTURE.md: which package may import which library, and imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Heavy library -> the only places allowed to import it (module path prefixes).
OWNERS: dict[str, tuple[str, ...]] = {
    "spotipy": ("recs.spotify",),
    "requests": ("recs.spotify", "recs.emulator", "recs.usecases.prior.download"),
    "implicit": ("recs.model",),
    "threadpoolctl": ("recs.model",),
    "sqlalchemy": ("recs.storage",),
    "alembic": ("recs.storage",),
    "psycopg": ("recs.storage",),
    "apscheduler": ("recs.cli.scheduling",),
    "flask": ("web", "recs.emulator"),
    "flask_wtf": ("web",),
    "wtforms": ("web",),
    "werkzeug": ("web", "recs.emulator"),
    "waitress": ("web",),
    "zstandard": ("recs.usecases.prior", "recs.emulator"),
    "pyspark": ("recs.usecases.prior.spark",),
    "orjson": ("recs.usecases.prior",),
    "pandas": ("recs.usecases.takeout",),
}
ADAPTERS = ("recs.spotify", "recs.storage", "recs.model", "recs.emulator")
# recs.cli.settings_doc is a developer command (`python -m recs.cli.settings_doc` rewrites the README table).
ENTRY_POINTS = ("recs.cli",)
# Pure modules: no I/O, no adapters, no use cases.
CORE = ("recs.core",)
USE_CASES = ("recs.usecases",)

# Pure modules that compute with models: they may import core and recs.model, nothing that does I/O.
PURE_WITH_MODEL = ("recs.usecases.lists",)


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


# Calls that write files; core modules compute, they never write (recs.core.keys once wrote the secrets file).
PATH_WRITES = {"write_text", "write_bytes", "mkdir", "touch", "unlink", "rmdir"}
OS_WRITES = {"open", "fdopen", "replace", "rename", "remove", "unlink", "chmod", "makedirs", "mkdir"}
# What web may take from recs.storage: the database handle its instance carries, nothing that queries.
WEB_MAY_TAKE_FROM_STORAGE = {"recs.storage", "recs.storage.Database"}
# The command line also turns a database failure into one line for the operator; it queries through use cases.
CLI_MAY_TAKE_FROM_STORAGE = {*WEB_MAY_TAKE_FROM_STORAGE, "recs.storage.StorageError", "recs.storage.describe_failure"}


def _calls(tree: ast.AST) -> list[tuple[int, str, ast.Call]]:
    """(line, name, call) of each call of a name or an attribute (`f(...)` -> f, `x.f(...)` -> f)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            out.append((node.lineno, name, node))
    return out


def _structure_breaches(module: str, path: Path) -> list[str]:
    """Breaches of who-does-what that imports alone do not show (issue 18, item 5)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    in_storage = _under(module, ("recs.storage",))
    if module.startswith(("recs", "web")) and "recs.cli.main" in _imports(module, path):
        found.append(
            f"{module} imports recs.cli.main: commands are listed in recs.cli.main.COMMANDS, never attached on import"
        )
    if not in_storage:
        storage_names = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recs.storage")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    name = (
                        base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
                    )
                    if name in storage_names or name == "Database":
                        found.append(f"{module} subclasses storage's {name}: storage owns its classes")
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                params = node.args.args
                if params and params[0].arg == "conn":
                    found.append(f"{module}.{node.name} takes a connection: queries live in recs.storage")
    if module.startswith("web") or _under(module, ENTRY_POINTS):
        who, allowed = (
            ("web", WEB_MAY_TAKE_FROM_STORAGE) if module.startswith("web") else ("the CLI", CLI_MAY_TAKE_FROM_STORAGE)
        )
        for imported in _imports(module, path):
            if _under(imported, ("recs.storage",)) and imported not in allowed:
                found.append(f"{module} imports {imported}: {who} reads through the use cases")
        if any(
            isinstance(n, ast.ImportFrom) and n.module == "recs" and any(a.name == "storage" for a in n.names)
            for n in ast.walk(tree)
        ):
            found.append(f"{module} imports recs.storage: {who} reads through the use cases")
    if in_storage and module not in ("recs.storage", "recs.storage.migrate"):
        for line, name, call in _calls(tree):
            if name in ("write", "read", "begin") and not call.args and isinstance(call.func, ast.Attribute):
                found.append(f"{module} line {line} opens a transaction ({name}()): the caller owns it")
    if _under(module, CORE):
        for line, name, call in _calls(tree):
            func = call.func
            on_os = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "os"
            mode = (
                call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
            )
            opens_to_write = (
                name == "open"
                and isinstance(func, ast.Name)
                and isinstance(mode, ast.Constant)
                and any(c in str(mode.value) for c in "wax+")
            )
            writes = (
                (name in PATH_WRITES and isinstance(func, ast.Attribute))
                or (on_os and name in OS_WRITES)
                or opens_to_write
            )
            if writes:
                found.append(f"core module {module} line {line} writes files ({name})")
    return found


def _violations() -> list[str]:
    problems: list[str] = []
    modules = _modules()
    for module, path in sorted(modules.items()):
        if not _under(module, ("recs.storage",)):
            problems.extend(f"{module} imports recs.storage.{a}" for a in _aliased_storage_modules(path))
        problems.extend(_structure_breaches(module, path))
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
                if _under(imported, (*USE_CASES, *ENTRY_POINTS)):
                    problems.append(
                        f"adapter {module} imports {imported}: adapters serve the use cases, never call them"
                    )
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


def test_every_command_is_listed() -> None:
    """A command module's command that recs.cli.COMMANDS forgets would silently vanish from `recs`."""
    import importlib
    import pkgutil

    import click

    import recs.cli
    from recs.cli.main import main

    registered = set(main.commands.values())
    modules = [info.name for info in pkgutil.iter_modules(recs.cli.__path__) if info.name != "main"]
    assert "sync" in modules and "training" in modules
    for name in modules:
        module = importlib.import_module(f"recs.cli.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, click.Command) and value.__module__ == module.__name__:
                assert value in registered, f"recs.cli.{name}.{attr} is not in recs.cli.main.COMMANDS"


def test_the_tree_shows_the_layers() -> None:
    """Every module of recs sits in one layer's folder, so the tree alone tells core, use cases, adapters and entry points apart."""
    layers = (*CORE, *USE_CASES, *ADAPTERS, *ENTRY_POINTS)
    loose = [m for m in _modules() if m.startswith("recs.") and not _under(m, layers)]
    assert not loose, f"modules outside the layer folders (recs/core, recs/usecases, adapters, recs/cli): {loose}"
