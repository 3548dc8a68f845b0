#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lint, architecture contracts, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_THREAD_LIMIT=1
echo "== ruff"; .venv/bin/ruff check .
echo "== import-linter"; .venv/bin/lint-imports --no-cache
echo "== mypy"; .venv/bin/mypy .
echo "== pytest"; .venv/bin/python -m pytest "$@"
