#!/usr/bin/env bash
# Install recs with its test tools into .venv, start what the tests need (PostgreSQL, Chromium), run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev,spark]'

# System packages from Debian (needs root, as on the CI machine); without root the tests that need them
# say so and skip outside CI.
if [ "$(id -u)" = 0 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    echo "[test] installing Debian's chromium for the browser tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if ! command -v java >/dev/null; then
    echo "[test] installing Debian's Java 17 runtime for the Spark engine's tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  if [ -z "${RECS_TEST_POSTGRES_URL:-}" ]; then
    RECS_TEST_POSTGRES_URL=$(bash .ci/postgres.sh)
    export RECS_TEST_POSTGRES_URL
  fi
fi
# axe-core (the browser tests' accessibility checks) from the npm registry, into .cache/npm (ignored by git).
if [ ! -f .cache/npm/node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[test] installing Debian's npm for axe-core" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  if command -v npm >/dev/null; then
    npm install --no-save --no-package-lock --no-audit --no-fund --silent --prefix .cache/npm axe-core@4 >/dev/null
  fi
fi
# -m "" clears pyproject's default `-m 'not slow'`: this script (the README's and CI's test command) runs
# every test. A -m of the caller's, given after it, still wins.
exec .venv/bin/python -m pytest -m "" "$@"
