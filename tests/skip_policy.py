"""When a skip is allowed, and how many tests ran against PyTorch. Loaded by conftest.py (its
hooks are re-exported there) and by the test that proves the CI rule.

- ``ARRAYNEEDLE_REQUIRE_CUDA=1`` (set by ``scripts/gpu_check.sh``) turns every skip of a ``gpu``
  test, and a test module skipped while CUDA is unavailable, into a failure: on a GPU machine a
  broken CuPy install must fail the run, not pass it with nothing tested.
- ``CI=true`` (set by CI): a test that would skip because an oracle or a test dependency of the
  ``test`` extra is missing (torch, scikit-learn, diffusers, tensorboard, mpi4py/mpiexec,
  array-api-strict) fails instead. CI exists to check the PyTorch promise, so it may not skip
  it. CUDA/CuPy skips stay skips on machines without a GPU.
- At the end of the run one line says how many passed tests ran against PyTorch (a test counts
  when it imported torch through ``pytest.importorskip``, directly or in a fixture, or when its
  code names a module-level ``torch``).
"""
import importlib.metadata
import os
import re
import sys
import types

import pytest

import arrayneedle as an

REQUIRE_CUDA = os.environ.get("ARRAYNEEDLE_REQUIRE_CUDA", "") not in ("", "0")
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# What the test extra installs for the suite to compare with, as skip reasons spell them.
ORACLES = ("torch", "sklearn", "scikit-learn", "diffusers", "tensorboard", "mpi4py", "mpiexec",
           "mpich", "array_api_strict", "array-api-strict")
_ORACLE_RE = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(o) for o in ORACLES) + r")(?![\w-])")
_GPU_RE = re.compile(r"cupy|cuda|gpu|nvcc", re.IGNORECASE)


def cuda_skip_reason():
    """None when CUDA is usable, else a line saying why (CuPy's own error where the backend
    keeps it)."""
    if an.backend.cuda_available():
        return None
    why = getattr(an.backend, "cuda_unavailable_reason", lambda: None)()
    return f"CUDA unavailable: {why or 'CuPy or a CUDA GPU is not available'}"


def required(what, reason):
    return f"ARRAYNEEDLE_REQUIRE_CUDA=1 but {what}: {reason}"


def skip_message(rep):
    msg = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    return msg.removeprefix("Skipped: ")


def missing_oracle(reason):
    """The oracle a skip reason says is missing, or None (also None for GPU skips)."""
    if _GPU_RE.search(reason):
        return None
    m = _ORACLE_RE.search(reason)
    return m.group(1) if m else None


def _ci_failure(where, reason):
    return (f"CI=true: {where} would skip because {missing_oracle(reason)} is missing "
            f"({reason}); CI installs the test extra (pip install -e '.[test]') and may not "
            f"skip what it exists to check")


# ---------------------------------------------------------------------------------------------
# counting the tests that ran against PyTorch
# ---------------------------------------------------------------------------------------------
_state = {"item": None}
_torch_items, _torch_files = set(), set()
_passed_against_torch = []
_importorskip = pytest.importorskip


def _recording_importorskip(modname, *args, **kwargs):
    mod = _importorskip(modname, *args, **kwargs)
    if modname.split(".")[0] == "torch":
        if _state["item"] is not None:
            _torch_items.add(_state["item"])
        else:  # at module level: every test of that module compares with torch
            _torch_files.add(sys._getframe(1).f_globals.get("__file__"))
    return mod


pytest.importorskip = _recording_importorskip


def _names(code):
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _uses_torch(item):
    if item.nodeid in _torch_items or str(getattr(item, "fspath", "")) in _torch_files:
        return True
    fn = getattr(item, "function", None)
    glob = getattr(fn, "__globals__", {})
    return (isinstance(glob.get("torch"), types.ModuleType) and fn is not None
            and "torch" in _names(fn.__code__))


# ---------------------------------------------------------------------------------------------
# hooks (conftest.py re-exports them)
# ---------------------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["item"] = item.nodeid
    try:
        yield
    finally:
        _state["item"] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail"):
        reason = skip_message(rep)
        if REQUIRE_CUDA and item.get_closest_marker("gpu") is not None:
            rep.outcome = "failed"
            rep.longrepr = required("this gpu test skipped", reason)
        elif CI and missing_oracle(reason):
            rep.outcome = "failed"
            rep.longrepr = _ci_failure("this test", reason)
    if rep.when == "call" and rep.passed and _uses_torch(item):
        _passed_against_torch.append(item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A module that skips itself at import (no GPU, no mpi4py...) has no items, so the per-test
    # hook above cannot see it.
    outcome = yield
    rep = outcome.get_result()
    if not rep.skipped:
        return
    reason = skip_message(rep)
    if REQUIRE_CUDA and cuda_skip_reason() is not None:
        rep.outcome = "failed"
        rep.longrepr = required(f"{collector.nodeid} skipped ({reason})", cuda_skip_reason())
    elif CI and missing_oracle(reason):
        rep.outcome = "failed"
        rep.longrepr = _ci_failure(collector.nodeid, reason)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    # the outermost wrapper: its line comes after pytest's short summary, just above the
    # closing "N passed" line
    yield
    if terminalreporter.config.option.collectonly:
        return
    try:
        version = importlib.metadata.version("torch") if sys.modules.get("torch", 1) else None
    except importlib.metadata.PackageNotFoundError:
        version = None
    n = len(_passed_against_torch)
    terminalreporter.write_line(
        f"PyTorch oracle: {n} passed tests ran against torch {version}" if version else
        "PyTorch oracle: torch is not installed; no test compared with PyTorch")
