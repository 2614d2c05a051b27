# One entry point for the usual jobs; each target is a thin wrapper, so the scripts stay the source of truth.
.PHONY: install test lint typecheck check demo

install:
	python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

check: lint typecheck test

demo:
	python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/recs demo
