"""The CI rule (skip_policy.py): a comparison test whose oracle is missing skips on a
developer's machine and fails under CI=true; a GPU skip stays a skip."""
import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # starts subprocesses

TESTS = pathlib.Path(__file__).resolve().parents[1]


def _run(tmp_path, ci):
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "sys.modules['torch'] = None  # the oracle hidden: importing it fails\n"
        "sys.modules['sklearn'] = None\n"
        "from skip_policy import *  # noqa\n")
    (tmp_path / "test_oracle.py").write_text(
        "import pytest\n"
        "def test_compares_with_torch():\n"
        "    torch = pytest.importorskip('torch')\n"
        "    assert torch is not None\n"
        "def test_yardstick():\n"
        "    pytest.importorskip('sklearn')\n"
        "def test_on_the_gpu():\n"
        "    pytest.skip('CUDA unavailable: CuPy or a CUDA GPU is not available')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "ARRAYNEEDLE_REQUIRE_CUDA")}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfs", "-p",
                           "no:cacheprovider", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_missing_oracle_skips_outside_ci(tmp_path):
    r = _run(tmp_path, ci=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 skipped" in r.stdout, r.stdout


def test_missing_oracle_fails_under_ci(tmp_path):
    r = _run(tmp_path, ci=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 failed, 1 skipped" in r.stdout, r.stdout
    assert "CI=true: this test would skip because torch is missing" in r.stdout
    assert "because sklearn is missing" in r.stdout
    assert "PyTorch oracle: torch is not installed" in r.stdout


def test_missing_oracle_reasons():
    from skip_policy import missing_oracle
    assert missing_oracle("could not import 'torch': No module named 'torch'") == "torch"
    assert missing_oracle("could not import 'torch.utils.data': x") == "torch"
    assert missing_oracle("array-api-strict is not installed") == "array-api-strict"
    assert missing_oracle("no mpiexec next to /usr/bin/python (pip install mpich)") == "mpiexec"
    assert missing_oracle("CUDA unavailable: install arrayneedle[cuda12]") is None
    assert missing_oracle("needs os.fork") is None
    assert missing_oracle("needs a process without an MPI launcher") is None
