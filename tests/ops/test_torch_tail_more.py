"""F.unfold / nn.Unfold, median, Tensor.new, random_ and cuda.OutOfMemoryError against torch."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle.testing import gradcheck

R = np.random.default_rng(2)


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=(2, 3), dilation=(2, 1),
                                                         padding=1, stride=(2, 1)),
                                dict(kernel_size=2, stride=2)])
def test_unfold_matches_torch(kw):
    x = R.standard_normal((2, 3, 7, 6))
    np.testing.assert_array_equal(an.nn.functional.unfold(an.tensor(x), **kw).numpy(),
                                  torch.nn.functional.unfold(torch.tensor(x), **kw).numpy())
    np.testing.assert_array_equal(an.nn.Unfold(**kw)(an.tensor(x[0])).numpy(),
                                  torch.nn.Unfold(**kw)(torch.tensor(x[0])).numpy())
    gradcheck(lambda a: an.nn.functional.unfold(a, **kw), x[:1, :2])


def test_median_matches_torch():
    x = R.integers(0, 4, (3, 6)).astype(np.float64)  # ties on purpose
    assert an.median(an.tensor(x)).item() == torch.median(torch.tensor(x)).item()
    for dim, keep in ((0, False), (1, True), (-1, False)):
        a, t = an.tensor(x).median(dim, keep), torch.tensor(x).median(dim, keep)
        np.testing.assert_array_equal(a.values.numpy(), t.values.numpy())
        assert a.values.shape == tuple(t.values.shape)
        # the index points at an element holding the median
        np.testing.assert_array_equal(
            np.take_along_axis(x, np.expand_dims(a.indices.numpy(), dim) if not keep
                               else a.indices.numpy(), axis=dim).squeeze(),
            t.values.numpy().squeeze())
    gradcheck(lambda a: a.median(1).values, R.standard_normal((2, 5)))


def test_new_and_random_as_torch():
    a, t = an.ones(2, dtype="float64"), torch.ones(2, dtype=torch.float64)
    assert a.new(3, 2).shape == tuple(t.new(3, 2).shape)
    assert str(a.new(3).dtype) == "float64"
    np.testing.assert_array_equal(a.new([1, 2]).numpy(), t.new([1, 2]).numpy())
    assert a.new().shape == tuple(t.new().shape) == (0,)
    an.manual_seed(0)
    r = an.zeros(2000).random_(2, 5)
    assert set(np.unique(r.numpy())) == set(np.unique(torch.zeros(2000).random_(2, 5).numpy()))
    r = an.zeros(2000, dtype="int64").random_(3)
    assert set(np.unique(r.numpy())) == {0, 1, 2}


def test_out_of_memory_error_is_an_exception_class():
    assert issubclass(an.cuda.OutOfMemoryError, Exception)
    assert issubclass(torch.cuda.OutOfMemoryError, RuntimeError)
    if not an.cuda.is_available():
        assert issubclass(an.cuda.OutOfMemoryError, RuntimeError)
