#!/usr/bin/env bash
# Install the test dependencies into .venv and run the whole suite: lint, types, import contracts, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# axe-core for the admin pages' accessibility test (it skips, saying why, without node).
if command -v npm >/dev/null; then (cd tests/node && npm ci --no-audit --no-fund --silent); fi
.venv/bin/ruff check outreach tests benchmarks
.venv/bin/ruff format --check outreach tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
