"""The op table on array-api-strict arrays: proves the ops use only the array API standard."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle.testing import gradcheck
from op_table import OPS, make_inputs
from op_table_layers import LAYER_OPS

xps = pytest.importorskip("array_api_strict")


def _strict(x):
    return xps.asarray(x)


@pytest.mark.parametrize("name,fn,ref,shapes,tr", OPS + LAYER_OPS,
                         ids=[r[0] for r in OPS + LAYER_OPS])
def test_op_on_array_api_strict(name, fn, ref, shapes, tr):
    xs = make_inputs(shapes, tr, seed=2)
    ts = [an.Tensor(_strict(x)) for x in xs]
    assert ts[0].device.xp is xps
    out = fn(*ts)
    assert type(out.array).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(out.numpy(), ref(*xs), rtol=1e-10, atol=1e-12)
    gradcheck(fn, *[_strict(x) for x in xs], device=ts[0].device)


def test_strict_take_uses_portable_index_add():
    w = an.Tensor(_strict(np.arange(6.0).reshape(3, 2)), requires_grad=True)
    idx = an.Tensor(_strict(np.array([0, 2, 2])))
    out = an.take(w, idx, axis=0)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [0, 0], [2, 2]])
