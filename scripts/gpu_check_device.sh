#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py, issue 20) as the one command given to a lent GPU machine.
#
# That machine has torch but not Ultralytics or Optuna, and nothing can be downloaded there: the wheels travel in
# .whl/ (git-ignored; see README "The GPU check" for the list and the pip download line). It runs the check on
# datasets/bccd/data.yaml when that is there (carry it too), else on synthetic data, and writes everything into
# $OUT: gpu_check.md, gpu_check.json, logs/ and this script's own log, device.log.
#   device run: command "bash scripts/gpu_check_device.sh", carry [".whl", "datasets/bccd"], timeout_s 560
# On your own GPU machine, with the project installed: python bench/gpu_check.py --out DIR [--data DATA_YAML]
set -uo pipefail
: "${OUT:?set OUT to the folder for the report}"
mkdir -p "$OUT"
started=$(date +%s)
exec > >(tee "$OUT/device.log") 2>&1

export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 YOLO_VERBOSE=False
# No network there: a download attempt (Ultralytics' AMP check asks for yolo26n.pt) is refused at once by a closed
# local proxy port instead of waiting for a DNS or connect timeout; the AMP check then passes over it, AMP stays on.
export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9
export HTTPS_PROXY=http://127.0.0.1:9 no_proxy=localhost,127.0.0.1 NO_PROXY=localhost,127.0.0.1

if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_check_device: installing .whl/*.whl failed"; exit 3; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "gpu_check_device: no .whl/ wheels; using what python3 has"
    export PYTHONPATH=$PWD
fi
echo "setup took $(( $(date +%s) - started )) s"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

data=()
if [ -f datasets/bccd/data.yaml ]; then
    data=(--data datasets/bccd/data.yaml)
else
    echo "gpu_check_device: no datasets/bccd/data.yaml; part c uses synthetic data at 640 px"
fi
python3 bench/gpu_check.py --out "$OUT" ${data[@]+"${data[@]}"} "$@"
code=$?
echo "gpu_check exit $code after $(( $(date +%s) - started )) s in all"
exit $code
