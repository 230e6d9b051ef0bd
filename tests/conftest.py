"""Shared fixtures: a ``device`` fixture runs a test on the CPU and, where CuPy sees a GPU,
on CUDA too (the CUDA case is skipped otherwise, with the error CuPy raised as the reason).

Which skips are allowed (``ARRAYNEEDLE_REQUIRE_CUDA=1``, ``CI=true``) and the count of tests
that ran against PyTorch live in ``skip_policy.py``; its hooks are re-exported here."""
import pytest

import arrayneedle as an
from skip_policy import (REQUIRE_CUDA, cuda_skip_reason, pytest_make_collect_report,  # noqa: F401
                         pytest_runtest_makereport, pytest_runtest_protocol,
                         pytest_terminal_summary, required)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    if request.param == "cuda":
        reason = cuda_skip_reason()
        if reason is not None:
            if REQUIRE_CUDA:
                pytest.fail(required("the CUDA case cannot run", reason), pytrace=False)
            pytest.skip(reason)
    return an.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    an.manual_seed(0)
    yield
