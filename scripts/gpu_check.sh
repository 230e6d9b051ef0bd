#!/usr/bin/env bash
# One prepared GPU session: CuPy's configuration and one tiny kernel, then the `gpu` tests (with
# ARRAYNEEDLE_REQUIRE_CUDA=1, so a GPU test that skips fails), the NCCL / multi-rank tests where
# tests/distributed/ exists, the CUDA benchmarks of BENCHMARKS.md and a short CUDA training
# run. Each step has its own time limit and writes its log under OUT_DIR; a failing step does not
# stop the next one, except the CuPy and import checks (without a working CuPy or an importable
# arrayneedle nothing else can run). Each step's exit code is printed and kept in OUT_DIR/summary.txt; the
# script exits 1 if any step failed or any test skipped.
#
#   bash scripts/gpu_check.sh OUT_DIR                      # everything (about 8 minutes on one GPU)
#   GPU_CHECK_QUICK=1 bash scripts/gpu_check.sh OUT_DIR    # no distributed tests, one 64x64 bench
#
# Needs Python with numpy, CuPy, pytest, pillow and tqdm. The other dependencies can come as wheels
# installed with `pip install --prefix .site` in the repository root (BENCHMARKS.md, "GPU"): the
# script puts .site's packages, programs (mpiexec) and libraries on the search paths when present.
# PYTHON=... picks the interpreter (default: python, else python3).
set -u
OUT_DIR=${1:?usage: bash scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT_DIR" || exit 1
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"

say() { echo "gpu_check: $*" | tee -a "$SUMMARY"; }

PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if command -v python > /dev/null 2>&1; then PY=python
    elif command -v python3 > /dev/null 2>&1; then PY=python3
    else say "stopping: neither python nor python3 is on PATH"; exit 1
    fi
fi

# The checkout first (its arrayneedle, never an installed one), then carried wheels: a --prefix
# install (lib/pythonX.Y/site-packages) or a flat --target folder.
pypath=$ROOT
if [ -d "$ROOT/.site" ]; then
    found=0
    for d in "$ROOT"/.site/lib/python3*/site-packages; do
        [ -d "$d" ] && pypath="$pypath:$d" && found=1
    done
    [ "$found" = 0 ] && pypath="$pypath:$ROOT/.site"
    [ -d "$ROOT/.site/bin" ] && export PATH="$ROOT/.site/bin:$PATH"
    [ -d "$ROOT/.site/lib" ] &&
        export LD_LIBRARY_PATH="$ROOT/.site/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PYTHONPATH="$pypath${PYTHONPATH:+:$PYTHONPATH}"
# A cold kernel cache of its own: the home folder may be read-only, and a warm cache would hide
# compile failures.
export CUPY_CACHE_DIR="$OUT_DIR/cupy-cache"
mkdir -p "$CUPY_CACHE_DIR"
FAILED=0

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT_DIR/$name.txt" 2>&1
    local rc=$?
    echo "$name: rc=$rc ($((SECONDS - t0)) s, limit $limit s)" | tee -a "$SUMMARY"
    [ "$rc" = 0 ] || FAILED=1
    return "$rc"
}

last_line() { grep -v '^\s*$' "$OUT_DIR/$1.txt" | tail -n 1; }

pytest_step() {  # pytest_step NAME SECONDS PYTEST-ARGS...: fails on any skipped test as well
    local name=$1 limit=$2
    shift 2
    step "$name" "$limit" env ARRAYNEEDLE_REQUIRE_CUDA=1 "$PY" -m pytest -q -rs \
        -p no:cacheprovider "$@"
    if grep -Eq '[0-9]+ skipped' "$OUT_DIR/$name.txt"; then
        say "$name: tests skipped on a GPU run ($(grep -Eo '[0-9]+ skipped' \
            "$OUT_DIR/$name.txt" | tail -n 1)); see $OUT_DIR/$name.txt"
        FAILED=1
    fi
}

step machine 60 bash -c 'if command -v nvidia-smi > /dev/null; then nvidia-smi;
    else echo "nvidia-smi: not on PATH"; fi
    "$0" -c "
import importlib.metadata as md, importlib.util as iu, sys
print(sys.executable, sys.version)
for mod, dist in [(\"numpy\", \"numpy\"), (\"cupy\", None),
                  (\"array_api_compat\", \"array-api-compat\"), (\"pytest\", \"pytest\"),
                  (\"PIL\", \"pillow\"), (\"tqdm\", \"tqdm\"), (\"safetensors\", \"safetensors\"),
                  (\"mpi4py\", \"mpi4py\"), (\"torch\", \"torch\")]:
    spec = iu.find_spec(mod)
    if spec is None:
        print(mod, \"not found\")
        continue
    try:
        version = md.version(dist) if dist else \"(version printed by the cupy step)\"
    except md.PackageNotFoundError:
        version = \"?\"
    print(mod, version, spec.origin)
"' "$PY"

if ! step cupy 300 "$PY" -c "
import numpy, cupy
cupy.show_config()
x = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
total = float((x * 2 + 1).sum())        # an elementwise and a reduction kernel, compiled by NVRTC
gram = cupy.asnumpy(x @ x.T)            # cuBLAS
noise = cupy.random.default_rng(0).standard_normal(4, dtype=cupy.float32)   # cuRAND
host = numpy.arange(6, dtype=numpy.float32).reshape(2, 3)
assert total == 36.0 and numpy.allclose(gram, host @ host.T) and noise.shape == (4,), (total, gram)
print('tiny kernel ok on', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())
"; then
    say "stopping: CuPy cannot run a kernel ($(last_line cupy)); see $OUT_DIR/cupy.txt"
    exit 1
fi

if ! step import 120 "$PY" -c "
import arrayneedle, diffusion
print(arrayneedle.__file__, 'CUDA devices:', arrayneedle.backend.cuda_device_count())
"; then
    say "stopping: import arrayneedle failed ($(last_line import)); carry the wheels of" \
        "BENCHMARKS.md's GPU section as .site"
    exit 1
fi

pytest_step pytest-gpu 300 -m gpu tests/
if [ -z "${GPU_CHECK_QUICK:-}" ] && compgen -G "tests/distributed/test_*.py" > /dev/null; then
    # -k also matches marker names, so this takes the `gpu`-marked tests too.
    pytest_step pytest-distributed 300 -k "${GPU_CHECK_DIST_K:-nccl or cuda or gpu}" \
        tests/distributed/
fi
if [ -n "${GPU_CHECK_QUICK:-}" ]; then
    step bench-cuda-b64 150 "$PY" scripts/bench.py --device cuda --sizes 64 --batch 64 \
        --json "$OUT_DIR/bench-cuda-b64.json"
else
    step bench-cuda 200 "$PY" scripts/bench.py --device cuda --sizes 32,64,128 \
        --json "$OUT_DIR/bench-cuda.json"
    step bench-cuda-b64 150 "$PY" scripts/bench.py --device cuda --sizes 64 --batch 64 \
        --json "$OUT_DIR/bench-cuda-b64.json"
    step train-cuda 150 "$PY" scripts/train.py --device cuda --image-size 32 --steps 600 \
        --batch-size 64 --sample-every 300 --checkpoint-every 300 --no-progress \
        --out "$OUT_DIR/train-cuda" --overwrite
fi
if [ "$FAILED" = 0 ]; then say "all steps passed (logs in $OUT_DIR)"
else say "FAILED: see the steps above (logs in $OUT_DIR)"; fi
exit "$FAILED"
