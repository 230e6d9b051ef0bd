"""The process settings arrayneedle makes at import (arrayneedle/_startup.py, kernels/cpu.py):
each happens only where documented and each opt-out works. Run in fresh interpreters."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import os, sys
{first}
import arrayneedle.kernels.cpu as cpu
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset"), cpu.MALLOC_TUNED)
"""


def _run(first, **env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_THREAD_TIMEOUT", "ARRAYNEEDLE_BLAS_TUNING",
                          "ARRAYNEEDLE_MALLOC_TUNING")}
    clean.update(env)
    clean["PYTHONPATH"] = ROOT + os.pathsep + clean.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], env=clean,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_blas_timeout_set_when_arrayneedle_is_imported_before_numpy():
    assert _run("import arrayneedle")[0] == "16"


def test_blas_timeout_left_alone_after_numpy_or_when_opted_out_or_already_set():
    assert _run("import numpy")[0] == "unset"  # too late: OpenBLAS read it already
    assert _run("import arrayneedle", ARRAYNEEDLE_BLAS_TUNING="0")[0] == "unset"
    assert _run("import arrayneedle", OPENBLAS_THREAD_TIMEOUT="20")[0] == "20"


def _glibc():
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and _glibc()),
                    reason="the allocator tuning is for glibc on Linux")
def test_malloc_tuning_applies_on_glibc_and_can_be_turned_off():
    assert _run("pass")[1] == "True"
    assert _run("pass", ARRAYNEEDLE_MALLOC_TUNING="0")[1] == "False"

