#!/usr/bin/env bash
# One prepared GPU session: the `gpu` tests, the CUDA benchmarks of BENCHMARKS.md and a short CUDA
# training run, each with its own time limit, every log written under OUT_DIR. A step that fails
# does not stop the next one; the summary at the end lists each step's exit code.
#
#   bash scripts/gpu_check.sh OUT_DIR            # everything (about 8 minutes on one GPU)
#   GPU_CHECK_QUICK=1 bash scripts/gpu_check.sh OUT_DIR   # tests and one 64x64 bench only
#
# Needs CuPy (pip install -e ".[cuda12]" or ".[cuda13]"); PyTorch is used by bench.py where present.
set -u
OUT_DIR=${1:?usage: bash scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT_DIR"
cd "$(dirname "$0")/.."
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT_DIR/$name.txt" 2>&1
    local rc=$?
    echo "$name: rc=$rc ($((SECONDS - t0)) s, limit $limit s)" | tee -a "$SUMMARY"
}

step machine 30 bash -c 'nvidia-smi; python -c "
import sys, numpy, cupy
print(sys.version); print(\"numpy\", numpy.__version__, \"cupy\", cupy.__version__)
print(cupy.cuda.runtime.getDeviceProperties(0)[\"name\"].decode())
try:
    import torch; print(\"torch\", torch.__version__, torch.cuda.is_available())
except ImportError:
    print(\"torch not installed\")"'
step pytest-gpu 240 python -m pytest -q -m gpu -rs tests/
if [ -n "${GPU_CHECK_QUICK:-}" ]; then
    step bench-cuda-b64 150 python scripts/bench.py --device cuda --sizes 64 --batch 64 \
        --json "$OUT_DIR/bench-cuda-b64.json"
else
    step bench-cuda 200 python scripts/bench.py --device cuda --sizes 32,64,128 \
        --json "$OUT_DIR/bench-cuda.json"
    step bench-cuda-b64 150 python scripts/bench.py --device cuda --sizes 64 --batch 64 \
        --json "$OUT_DIR/bench-cuda-b64.json"
    step train-cuda 150 python scripts/train.py --device cuda --image-size 32 --steps 600 \
        --batch-size 64 --sample-every 300 --checkpoint-every 300 --no-progress \
        --out "$OUT_DIR/train-cuda" --overwrite
fi
cat "$SUMMARY"
