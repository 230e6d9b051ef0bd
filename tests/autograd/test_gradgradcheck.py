"""Second derivatives of every op in the op table: ``autograd.gradgradcheck`` (float64, finite
differences of the gradient computed with ``create_graph=True``) on NumPy and on
array-api-strict arrays (the kernel ops' rows included: conv, pooling, the norms)."""
import pytest

import arrayneedle as an
from arrayneedle.autograd import gradcheck, gradgradcheck
from op_table import INDEX_OPS, OPS, make_inputs
from op_table_layers import LAYER_OPS
from op_table_rnn import ROWS

xps = pytest.importorskip("array_api_strict")

TABLE = OPS + INDEX_OPS + LAYER_OPS + ROWS
PORTABLE = OPS + LAYER_OPS + ROWS  # INDEX_OPS build NumPy index arrays


def _check(fn, arrays):
    ts = [an.Tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(fn, ts, atol=1e-6, rtol=1e-5)
    assert gradgradcheck(fn, ts, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name,fn,ref,shapes,tr", TABLE, ids=[r[0] for r in TABLE])
def test_gradgradcheck_numpy(name, fn, ref, shapes, tr):
    an.manual_seed(0)
    _check(fn, make_inputs(shapes, tr, seed=3))


@pytest.mark.parametrize("name,fn,ref,shapes,tr", PORTABLE, ids=[r[0] for r in PORTABLE])
def test_gradgradcheck_array_api_strict(name, fn, ref, shapes, tr):
    an.manual_seed(0)
    _check(fn, [xps.asarray(x) for x in make_inputs(shapes, tr, seed=3)])
