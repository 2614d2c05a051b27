"""Helpers for running the real `recs` command line as an operator would: a clean environment and a chosen folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from recs.cli.main import _load_plugins, main


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `recs ARGS` in *cwd* with no RECS_ setting from this process; exit code and output (stderr included)."""
    _load_plugins()  # `serve` and `demo` come from entry points, as in the installed `recs`
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RECS_")}
    clean.update(env or {})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = CliRunner().invoke(main, list(args), env=clean)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
