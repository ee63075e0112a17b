#!/usr/bin/env bash
# The test command: installs what is missing into ./.venv, then runs the whole suite (CPU only).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure_env.sh
python -m pytest -q "$@"
