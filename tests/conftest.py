"""Shared fixtures: a ``device`` fixture runs a test on the CPU and, where CuPy sees a GPU,
on CUDA too (the CUDA case is skipped cleanly otherwise)."""
import pytest

import arrayneedle as an


def _cuda_ok():
    return an.backend.cuda_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    if request.param == "cuda" and not _cuda_ok():
        pytest.skip("CuPy or a CUDA GPU is not available")
    return an.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    an.manual_seed(0)
    yield
