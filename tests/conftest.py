"""Shared fixtures: a ``device`` fixture runs a test on the CPU and, where CuPy sees a GPU,
on CUDA too (the CUDA case is skipped otherwise, with the error CuPy raised as the reason).

``ARRAYNEEDLE_REQUIRE_CUDA=1`` (set by ``scripts/gpu_check.sh``) turns every skip of a ``gpu``
test, and a test module skipped while CUDA is unavailable, into a failure: on a GPU machine a
broken CuPy install must fail the run, not pass it with nothing tested."""
import os

import pytest

import arrayneedle as an

REQUIRE_CUDA = os.environ.get("ARRAYNEEDLE_REQUIRE_CUDA", "") not in ("", "0")

# The tests run from the checkout root and import its packages; so do the interpreters they
# start (python scripts/train.py, mpiexec ... scripts/train.py), whether or not this checkout
# is the one pip installed (the scripts do not edit sys.path)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _ROOT])


def cuda_skip_reason():
    """None when CUDA is usable, else a line saying why (CuPy's own error where the backend
    keeps it)."""
    if an.backend.cuda_available():
        return None
    why = getattr(an.backend, "cuda_unavailable_reason", lambda: None)()
    return f"CUDA unavailable: {why or 'CuPy or a CUDA GPU is not available'}"


def _required(what, reason):
    return f"ARRAYNEEDLE_REQUIRE_CUDA=1 but {what}: {reason}"


def _skip_message(rep):
    msg = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    return msg.removeprefix("Skipped: ")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    if request.param == "cuda":
        reason = cuda_skip_reason()
        if reason is not None:
            if REQUIRE_CUDA:
                pytest.fail(_required("the CUDA case cannot run", reason), pytrace=False)
            pytest.skip(reason)
    return an.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    an.manual_seed(0)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if (REQUIRE_CUDA and rep.skipped and not hasattr(rep, "wasxfail")
            and item.get_closest_marker("gpu") is not None):
        rep.outcome = "failed"
        rep.longrepr = _required("this gpu test skipped", _skip_message(rep))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A GPU test module skips itself at import when CUDA is missing; its items never exist, so
    # the per-test hook above cannot see them.
    outcome = yield
    rep = outcome.get_result()
    if REQUIRE_CUDA and rep.skipped:
        reason = cuda_skip_reason()
        if reason is not None:
            rep.outcome = "failed"
            rep.longrepr = _required(f"{collector.nodeid} skipped ({_skip_message(rep)})",
                                     reason)
