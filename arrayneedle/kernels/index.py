"""Scatter-add for the gradient of integer-array indexing (one function, chosen by library)."""
from __future__ import annotations

import array_api_compat
from array_api_compat import array_namespace


def index_add(shape, index, values):
    """zeros(shape) with ``values`` added at ``index`` (repeated indices accumulate)."""
    xp = array_namespace(values)
    if array_api_compat.is_numpy_array(values):
        import numpy as np
        out = np.zeros(shape, dtype=values.dtype)
        np.add.at(out, index, values)
        return out
    if array_api_compat.is_cupy_array(values):
        import cupy
        import cupyx
        out = cupy.zeros(shape, dtype=values.dtype)
        cupyx.scatter_add(out, index, values)
        return out
    # portable path: a single integer array along axis 0, as a one-hot matmul
    idx = index[0] if isinstance(index, tuple) and len(index) == 1 else index
    if isinstance(idx, tuple) or not array_api_compat.is_array_api_obj(idx):
        raise TypeError("index_add: the portable path supports one integer array along axis 0")
    idx = xp.reshape(idx, (-1,))
    onehot = xp.astype(idx[:, None] == xp.arange(shape[0])[None, :], values.dtype)  # (n, rows)
    flat = xp.reshape(values, (idx.shape[0], -1))
    return xp.reshape(xp.matmul(xp.matrix_transpose(onehot), flat), shape)
