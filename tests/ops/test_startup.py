"""The process settings arrayneedle makes at import (arrayneedle/_startup.py): each happens
only where documented, each opt-out works, and ``arrayneedle.startup_info()`` reports them.
Run in fresh interpreters."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # starts subprocesses

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = """
import os, sys
{first}
import arrayneedle as an
info = an.startup_info()
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset"), info["malloc_tuning"],
      info["openblas_thread_timeout"],
      sorted(info) == ["malloc_tuning", "openblas_thread_timeout", "rank_threads"],
      os.environ.get("OMP_NUM_THREADS", "unset"), os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
      info["rank_threads"], an.get_num_threads())
"""
# what an MPI launcher sets (MPICH's Hydra), and what it would leave over from the test run
LAUNCHER = ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_SIZE",
            "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_RANK", "PMIX_LOCAL_SIZE",
            "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ARRAYNEEDLE_NUM_THREADS")


def _run(first, **env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_THREAD_TIMEOUT", "ARRAYNEEDLE_BLAS_TUNING",
                          "ARRAYNEEDLE_MALLOC_TUNING") + LAUNCHER}
    clean.update(env)
    clean["PYTHONPATH"] = ROOT + os.pathsep + clean.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], env=clean,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_blas_timeout_set_when_arrayneedle_is_imported_before_numpy():
    out = _run("import arrayneedle")
    assert (out[0], out[2], out[3]) == ("16", "True", "True")


def test_blas_timeout_left_alone_after_numpy_or_when_opted_out_or_already_set():
    assert _run("import numpy")[0:3:2] == ["unset", "False"]  # too late: OpenBLAS read it already
    assert _run("import arrayneedle", ARRAYNEEDLE_BLAS_TUNING="0")[0:3:2] == ["unset", "False"]
    assert _run("import arrayneedle", OPENBLAS_THREAD_TIMEOUT="20")[0:3:2] == ["20", "True"]


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



def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def test_threads_per_rank_default_to_cores_over_local_ranks_under_a_launcher():
    hydra = {"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1"}
    expected = str(max(1, _cores() // 2))
    out = _run("import arrayneedle", MPI_LOCALNRANKS="2", **hydra)
    assert out[4:8] == [expected, expected, expected, expected]
    # Open MPI's names; more ranks than cores still get one thread each
    out = _run("import arrayneedle", OMPI_COMM_WORLD_RANK="0", OMPI_COMM_WORLD_SIZE="64",
               OMPI_COMM_WORLD_LOCAL_SIZE=str(4 * _cores()))
    assert out[4:7] == ["1", "1", "1"]


def test_threads_per_rank_left_alone_without_launcher_or_when_set_or_opted_out():
    assert _run("import arrayneedle")[4:7] == ["unset", "unset", "None"]
    hydra = {"PMI_RANK": "0", "PMI_SIZE": "2", "MPI_LOCALRANKID": "0", "MPI_LOCALNRANKS": "2"}
    out = _run("import arrayneedle", OMP_NUM_THREADS="3", OPENBLAS_NUM_THREADS="5", **hydra)
    assert out[4:8] == ["3", "5", "None", "3"]  # the user's choice wins
    out = _run("import arrayneedle", OMP_NUM_THREADS="3", **hydra)  # only the missing one
    assert out[4:6] == ["3", str(max(1, _cores() // 2))]
    assert _run("import arrayneedle", ARRAYNEEDLE_BLAS_TUNING="0", **hydra)[4:7] == \
        ["unset", "unset", "None"]
    assert _run("import numpy", **hydra)[4:7] == ["unset", "unset", "None"]  # too late


def test_launcher_variables_are_named_in_one_numpy_free_module():
    """One place owns what the MPI launchers set (arrayneedle/launcher.py): it imports only
    the standard library, so _startup can read it before NumPy loads, and no other module of
    arrayneedle or diffusion spells the variables again."""
    import ast
    import pathlib
    src = (pathlib.Path(ROOT) / "arrayneedle" / "launcher.py").read_text()
    imported = {a.name.split(".")[0] for node in ast.walk(ast.parse(src))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
    assert imported <= {"os", "annotations"}, imported
    for pkg in ("arrayneedle", "diffusion"):
        for f in sorted((pathlib.Path(ROOT) / pkg).rglob("*.py")):
            if f.name != "launcher.py":
                text = f.read_text()
                assert "PMI_RANK" not in text and "OMPI_COMM_WORLD" not in text, f
    from arrayneedle import distributed, launcher
    from diffusion import parallel
    assert distributed.LAUNCHER_ENV is launcher.LAUNCHER_ENV
    assert parallel.launcher_rank is launcher.launcher_rank


def test_launcher_rank_and_local_ranks_read_each_launchers_names(monkeypatch):
    from arrayneedle import launcher
    for key in launcher.LAUNCHER_ENV + launcher.LOCAL_SIZE_ENV:
        monkeypatch.delenv(key, raising=False)
    assert launcher.launcher_rank() == 0 and launcher.local_ranks() is None
    assert not launcher.launched_by_mpi()
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4")
    assert launcher.launcher_rank() == 3 and launcher.local_ranks() == 4
    monkeypatch.setenv("PMI_RANK", "1")  # MPICH's name is read first
    assert launcher.launcher_rank() == 1
