# Sourced by the other scripts: make ./.venv hold shapenas and its test tools, installing only what is missing.
# Re-installs when pyproject.toml changes (its hash is stamped into the venv).
set -euo pipefail
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
# The extras are part of the stamp, so adding one re-installs too. postgres: psycopg, for workers on PostgreSQL.
extras="test,postgres"
stamp=".venv/.shapenas-$( (cat pyproject.toml; echo "$extras") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # torch first, pinned: a plain 'torch' requirement would pull a newer multi-GB build than the one tested.
  python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  python -m pip install -q -e ".[$extras]"
  rm -f .venv/.shapenas-*
  touch "$stamp"
fi
export YOLO_OFFLINE=1
