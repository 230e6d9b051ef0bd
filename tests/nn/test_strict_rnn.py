"""The recurrent/attention/loss op table on array-api-strict arrays: the losses, attention and
their Functions use only the array API standard."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle.testing import gradcheck
from op_table import make_inputs
from op_table_rnn import ROWS

xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("name,fn,ref,shapes,tr", ROWS, ids=[r[0] for r in ROWS])
def test_row_on_array_api_strict(name, fn, ref, shapes, tr):
    xs = make_inputs(shapes, tr, seed=4)
    ts = [an.Tensor(xps.asarray(x)) for x in xs]
    out = fn(*ts)
    assert type(out.array).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(out.numpy(), ref(*xs), rtol=1e-10, atol=1e-12)
    gradcheck(fn, *[xps.asarray(x) for x in xs], device=ts[0].device)
