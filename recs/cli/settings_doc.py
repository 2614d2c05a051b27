"""The configuration reference: every setting with its default and the comment from config.example.toml, as Markdown."""

from __future__ import annotations

import tomllib
from pathlib import Path

from recs.core.config import Settings, setting_fields


def _comments(example: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the comment lines right above the key in config.example.toml."""
    out: dict[tuple[str, str], str] = {}
    section = ""
    pending: list[str] = []
    for raw in example.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section, pending = line[1:-1], []
        elif line.startswith("#"):
            pending.append(line.lstrip("# ").strip())
        elif "=" in line and section:
            out[(section, line.split("=", 1)[0].strip())] = " ".join(pending)
            pending = []
        else:
            pending = []
    return out


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def reference(example_path: Path) -> str:
    """A Markdown table of every setting (section, key, default, meaning)."""
    text = example_path.read_text(encoding="utf-8")
    tomllib.loads(text)  # must parse
    notes = _comments(text)
    defaults = Settings()
    rows = ["| setting | default | environment variable | meaning |", "|---|---|---|---|"]
    for section, keys in setting_fields().items():
        for key in keys:
            value = getattr(getattr(defaults, section), key)
            env = f"RECS_{section.upper()}__{key.upper()}"
            note = notes.get((section, key), "").replace("<", "&lt;").replace(">", "&gt;")
            rows.append(f"| `{section}.{key}` | {_show(value)} | `{env}` | {note} |")
    return "\n".join(rows) + "\n"


def write_readme(readme: Path, example: Path) -> bool:
    """Replace the README's reference block with the current one; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- settings-reference:start -->\n", "<!-- settings-reference:end -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    new = head + start + reference(example) + end + tail
    readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # pragma: no cover - `python -m recs.cli.settings_doc` refreshes the README
    root = Path(__file__).resolve().parents[2]  # recs/cli/settings_doc.py -> the repository
    changed = write_readme(root / "README.md", root / "config.example.toml")
    print("README configuration reference " + ("updated" if changed else "already current"))
