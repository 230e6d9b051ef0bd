"""The process settings arrayneedle makes at import (arrayneedle/_startup.py): each happens
only where documented, each opt-out works, and ``arrayneedle.startup_info()`` reports them.
Run in fresh interpreters."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import os, sys
{first}
import arrayneedle as an
info = an.startup_info()
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset"), info["malloc_tuning"],
      info["openblas_thread_timeout"], sorted(info) == ["malloc_tuning", "openblas_thread_timeout"])
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
    out = _run("import arrayneedle")
    assert (out[0], out[2], out[3]) == ("16", "True", "True")


def test_blas_timeout_left_alone_after_numpy_or_when_opted_out_or_already_set():
    assert _run("import numpy")[::2] == ["unset", "False"]  # too late: OpenBLAS read it already
    assert _run("import arrayneedle", ARRAYNEEDLE_BLAS_TUNING="0")[::2] == ["unset", "False"]
    assert _run("import arrayneedle", OPENBLAS_THREAD_TIMEOUT="20")[::2] == ["20", "True"]


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
    # each opt-out leaves the other setting alone
    assert _run("pass", ARRAYNEEDLE_MALLOC_TUNING="0")[0] == "16"
    assert _run("pass", ARRAYNEEDLE_BLAS_TUNING="0")[1] == "True"


def test_malloc_tuning_is_made_by_the_startup_module_alone():
    """One place for process-wide settings: no other module calls mallopt or sets the
    OpenBLAS variables."""
    import pathlib
    root = pathlib.Path(ROOT) / "arrayneedle"
    for f in sorted(root.rglob("*.py")):
        if f.name == "_startup.py":
            continue
        src = f.read_text()
        assert "mallopt" not in src and "OPENBLAS_THREAD_TIMEOUT" not in src, f

