"""scripts/gpu_check.sh and the ARRAYNEEDLE_REQUIRE_CUDA switch of tests/conftest.py, on the CPU.

The script runs from a copy of scripts/ in a temporary repository, with a PATH holding only the
tools it uses and a ``python3`` shim (no ``python``), and a CuPy stand-in (NumPy under CuPy's names)
carried in ``.site`` the way BENCHMARKS.md's ``pip install --prefix .site`` lays it out."""
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "gpu_check.sh")
TOOLS = ("bash", "timeout", "grep", "tail", "tee", "mkdir", "cat", "dirname", "env")

pytestmark = [pytest.mark.slow,  # starts subprocesses
              pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                 reason="needs bash and timeout")]

CUPY_STANDIN = '''
"""CuPy stand-in: NumPy under the names gpu_check.sh's tiny-kernel step uses."""
import types
import numpy
from numpy import arange, float32

def show_config():
    print("CuPy stand-in over NumPy", numpy.__version__)

def asnumpy(a):
    return numpy.asarray(a)

random = types.SimpleNamespace(default_rng=numpy.random.default_rng)
cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
    getDeviceProperties=lambda i: {"name": b"stand-in"}, getDeviceCount=lambda: 0))
'''

# Answers `-m pytest` with FAKE_PYTEST_LINE, the bench/train scripts with success, and hands
# every `-c` snippet to the real interpreter; logs each call with the variables the script sets.
PYTHON3_SHIM = '''#!/bin/bash
args="$*"
echo "python3 ${args//$'\\n'/ } | REQUIRE=${ARRAYNEEDLE_REQUIRE_CUDA:-}" \\
    "CACHE=${CUPY_CACHE_DIR:-} PATH=$PATH" >> "$SHIM_LOG"
case "$1" in
    -m) echo "$FAKE_PYTEST_LINE"; exit "${FAKE_PYTEST_RC:-0}";;
    scripts/*) exit 0;;
    *) exec "%s" "$@";;
esac
'''


def _repo(tmp_path, cupy_source=CUPY_STANDIN, distributed=True):
    """A repository copy holding scripts/gpu_check.sh, a carried .site and a tools-only PATH."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts" / "gpu_check.sh")
    (repo / "tests").mkdir()
    if distributed:
        (repo / "tests" / "distributed").mkdir()
        (repo / "tests" / "distributed" / "test_distributed_standin.py").write_text("")
    site = repo / ".site" / "lib" / f"python3.{sys.version_info[1]}" / "site-packages"
    (site / "cupy").mkdir(parents=True)
    (site / "cupy" / "__init__.py").write_text(cupy_source)
    (repo / ".site" / "bin").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    shim = bin_dir / "python3"
    shim.write_text(PYTHON3_SHIM % sys.executable)
    shim.chmod(0o755)
    return repo, bin_dir


def _run(repo, bin_dir, tmp_path, pythonpath, pytest_line="5 passed in 1.00s"):
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYTHONPATH": pythonpath,
           "SHIM_LOG": str(tmp_path / "shim.log"), "FAKE_PYTEST_LINE": pytest_line}
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(repo / "scripts" / "gpu_check.sh"), str(out)], env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    log = (tmp_path / "shim.log").read_text() if (tmp_path / "shim.log").exists() else ""
    return r, out, log


def test_script_parses():
    r = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_stops_with_one_line_when_cupy_is_missing(tmp_path):
    repo, bin_dir = _repo(tmp_path, cupy_source="raise ImportError('libnvrtc.so.12: cannot open')")
    r, out, log = _run(repo, bin_dir, tmp_path, pythonpath=ROOT)
    assert r.returncode == 1
    assert ("gpu_check: stopping: CuPy cannot run a kernel (ImportError: libnvrtc.so.12: cannot "
            "open)") in r.stdout
    assert not (out / "import.txt").exists() and "-m pytest" not in log
    assert "nvidia-smi: not on PATH" in (out / "machine.txt").read_text()


def test_stops_with_one_line_when_arrayneedle_does_not_import(tmp_path):
    repo, bin_dir = _repo(tmp_path)
    shadow = tmp_path / "shadow" / "array_api_compat"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'array_api_compat'\")")
    r, out, log = _run(repo, bin_dir, tmp_path, pythonpath=f"{shadow.parent}:{ROOT}")
    assert r.returncode == 1
    assert ("gpu_check: stopping: import arrayneedle failed (ImportError: No module named "
            "'array_api_compat')") in r.stdout
    # python is missing from PATH, so python3 ran every step; the stand-in came from .site.
    assert log.startswith("python3 -c") and "tiny kernel ok on stand-in" in (
        out / "cupy.txt").read_text()
    assert "-m pytest" not in log


@pytest.mark.parametrize("line,rc", [("7 passed in 2.00s", 0),
                                     ("6 passed, 1 skipped in 2.00s", 1)])
def test_full_run_and_skipped_tests_fail_it(tmp_path, line, rc):
    repo, bin_dir = _repo(tmp_path)
    r, out, log = _run(repo, bin_dir, tmp_path, pythonpath=ROOT, pytest_line=line)
    assert r.returncode == rc, r.stdout + r.stderr
    calls = log.splitlines()
    gpu = [c for c in calls if c.startswith("python3 -m pytest") and "-m gpu tests/" in c]
    dist = [c for c in calls if c.rstrip().split(" | ")[0].endswith("tests/distributed/")]
    assert len(gpu) == 1 and len(dist) == 1 and "-k nccl or cuda or gpu" in dist[0]
    assert all("REQUIRE=1" in c for c in gpu + dist)
    assert any(c.startswith("python3 scripts/bench.py --device cuda") for c in calls)
    assert f"CACHE={out}/cupy-cache " in calls[0] and f"{repo}/.site/bin:" in calls[0]
    if rc:
        assert "gpu_check: pytest-gpu: tests skipped on a GPU run (1 skipped)" in r.stdout
        assert "gpu_check: FAILED" in r.stdout
    else:
        assert "gpu_check: all steps passed" in r.stdout


# ---- conftest.py: the skip reason and ARRAYNEEDLE_REQUIRE_CUDA ----

TINY_TESTS = {
    "test_dev.py": """
        def test_uses_device(device):
            assert device.kind in ("cpu", "cuda")
    """,
    "test_marked.py": """
        import pytest

        @pytest.mark.gpu
        def test_gpu_skip_inside():
            pytest.skip("needs sm_80")

        def test_cpu_skip():
            pytest.skip("not a GPU test")
    """,
    "test_gpu_module.py": """
        import pytest
        pytestmark = pytest.mark.gpu
        pytest.skip("CuPy or a CUDA GPU is not available", allow_module_level=True)
    """,
}


def _pytest_outcomes(tmp_path, require):
    """Run the tiny tests under this repository's conftest (and its skip_policy) with CUDA reported unavailable for a
    given reason; {test name: (outcome, message)} from the JUnit XML."""
    d = tmp_path / ("req" if require else "plain")
    d.mkdir()
    with open(os.path.join(ROOT, "tests", "conftest.py")) as f:
        conftest = f.read()
    (d / "conftest.py").write_text(
        "import arrayneedle as an\n"
        "an.backend.cuda_available = lambda: False\n"
        "an.backend.cuda_unavailable_reason = lambda: 'cudaErrorInsufficientDriver (stand-in)'\n"
        + conftest)
    shutil.copy(os.path.join(ROOT, "tests", "skip_policy.py"), d / "skip_policy.py")
    for name, src in TINY_TESTS.items():
        (d / name).write_text(textwrap.dedent(src))
    env = dict(os.environ, PYTHONPATH=ROOT, ARRAYNEEDLE_REQUIRE_CUDA="1" if require else "",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    xml = d / "r.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "--continue-on-collection-errors", f"--junitxml={xml}", "--rootdir", str(d),
                    str(d)],
                   cwd=d, env=env, capture_output=True, text=True, timeout=120, check=False)
    res = {}
    for case in ET.parse(xml).iter("testcase"):
        name = case.get("name") or case.get("classname")
        kids = list(case)
        res[name] = (kids[0].tag, kids[0].get("message", "") + (kids[0].text or "")) if kids \
            else ("passed", "")
    return res


def test_gpu_skips_carry_the_reason_and_require_cuda_fails_them(tmp_path):
    plain = _pytest_outcomes(tmp_path, require=False)
    assert plain["test_uses_device[cpu]"][0] == "passed"
    kind, msg = plain["test_uses_device[cuda]"]
    assert kind == "skipped" and "CUDA unavailable: cudaErrorInsufficientDriver (stand-in)" in msg
    assert plain["test_gpu_skip_inside"][0] == plain["test_cpu_skip"][0] == "skipped"

    req = _pytest_outcomes(tmp_path, require=True)
    assert req["test_uses_device[cpu]"][0] == "passed"
    kind, msg = req["test_uses_device[cuda]"]
    assert kind in ("failure", "error") and "ARRAYNEEDLE_REQUIRE_CUDA=1" in msg \
        and "cudaErrorInsufficientDriver (stand-in)" in msg
    kind, msg = req["test_gpu_skip_inside"]
    assert kind == "failure" and "this gpu test skipped: needs sm_80" in msg
    assert req["test_cpu_skip"][0] == "skipped"
    module = [v for k, v in req.items() if "test_gpu_module" in k]
    assert len(module) == 1 and module[0][0] == "error"
    assert "cudaErrorInsufficientDriver (stand-in)" in module[0][1]
