"""Matrix products do not promote, as PyTorch: float64 input with float32 weights is a
RuntimeError (it silently gave float64 here), for matmul/mm/bmm/@/einsum, F.linear and
nn.Linear; outer promotes, as torch.outer."""
import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
import arrayneedle.nn.functional as F

torch = pytest.importorskip("torch")

CASES = {
    "matmul": (lambda m, a, w: m.matmul(a, w.T)),
    "operator": (lambda m, a, w: a @ w.T),
    "mm": (lambda m, a, w: m.mm(a, w.T)),
    "bmm": (lambda m, a, w: m.bmm(a[None], w.T[None])),
    "vector": (lambda m, a, w: m.matmul(a[0], w.T)),
    "linear": (lambda m, a, w: m.nn.functional.linear(a, w)),
    "einsum": (lambda m, a, w: m.einsum("ij,kj->ik", a, w)),
}


def _pair(m, da, dw):
    a = m.ones(2, 3, dtype=getattr(m, da))
    w = m.ones(4, 3, dtype=getattr(m, dw))
    return a, w


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("da,dw", [("float64", "float32"), ("float32", "float64"),
                                   ("int64", "float32"), ("float16", "float32")])
def test_mixed_dtypes_raise_as_torch(name, da, dw):
    with pytest.raises(RuntimeError):
        CASES[name](torch, *_pair(torch, da, dw))
    with pytest.raises(RuntimeError, match="same dtype"):
        CASES[name](an, *_pair(an, da, dw))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_dtype_still_computes(name):
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    for dt in ("float32", "float64"):
        ours = CASES[name](an, an.tensor(a, dtype=dt), an.tensor(w, dtype=dt))
        ref = CASES[name](torch, torch.tensor(a, dtype=getattr(torch, dt)),
                          torch.tensor(w, dtype=getattr(torch, dt)))
        assert ours.dtype == getattr(an, dt)
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


def test_linear_layer_refuses_float64_input_with_float32_weights():
    layer, tlayer = nn.Linear(3, 4), torch.nn.Linear(3, 4)
    with pytest.raises(RuntimeError):
        tlayer(torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="double != float"):
        layer(an.ones(2, 3, dtype=an.float64))
    assert layer.double()(an.ones(2, 3, dtype=an.float64)).dtype == an.float64


def test_outer_promotes_as_torch():
    a, b = an.ones(2, dtype=an.float64), an.ones(3)
    assert an.outer(a, b).dtype == an.float64
    assert torch.outer(torch.ones(2, dtype=torch.float64), torch.ones(3)).dtype == torch.float64
    assert F.linear(an.ones(2, 3), an.ones(4, 3)).dtype == an.float32
