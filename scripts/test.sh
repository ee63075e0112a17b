#!/usr/bin/env bash
# The test command: installs what is missing into ./.venv, checks lint and format (ruff), then runs the whole suite
# (CPU only).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure_env.sh
ruff check .
ruff format --check .
python -m pytest -q "$@"
