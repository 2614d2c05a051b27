"""The README's configuration reference lists every setting as it is (generated from Settings and the example file)."""

from __future__ import annotations

import re
from pathlib import Path

from recs.cli.settings_doc import reference
from recs.core.config import setting_fields

REPO = Path(__file__).resolve().parent.parent


def test_readme_configuration_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- settings-reference:start -->\n(.*?)<!-- settings-reference:end -->", readme, re.S)
    assert block, "README lost its configuration reference markers"
    expected = reference(REPO / "config.example.toml")
    assert block.group(1).strip() == expected.strip(), (
        "README configuration reference is stale: regenerate it with `python -m recs.cli.settings_doc`"
    )
    for section, keys in setting_fields().items():
        for key in keys:
            assert f"`{section}.{key}`" in block.group(1)
            assert f"RECS_{section.upper()}__{key.upper()}" in block.group(1)


def test_readme_covers_what_a_new_operator_needs() -> None:
    readme = (REPO / "README.md").read_text().lower()
    for topic in (
        "redirect uri",
        "5",
        "premium",
        "https",
        "recs init",
        "recs worker",
        "recs refresh",
        "systemd",
        "backup",
        "restore",
        "upgrade",
        "403",
        "invalid_grant",
        "quota",
    ):
        assert topic in readme, f"README says nothing about {topic!r}"
