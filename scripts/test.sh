#!/usr/bin/env bash
# Set up a virtualenv from nothing and run every check: ruff, mypy (strict), pytest.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
install_once '.[test]'
echo "== ruff"
.venv/bin/ruff check plane_sync tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
