"""Finite-difference gradient checking (like torch.autograd.gradcheck), for tests and users."""
from __future__ import annotations

import numpy as np

from . import ops
from .tensor import Tensor
from .backend import to_numpy, device as _device

__all__ = ["gradcheck", "numerical_grad", "assert_close"]


def _host64(a):
    return np.array(to_numpy(a), dtype=np.float64)


def numerical_grad(fn, inputs, weight, eps=1e-6):
    """Central differences of sum(fn(*inputs) * weight) with respect to each input."""
    grads = []
    dev = inputs[0].device
    for k, x in enumerate(inputs):
        base = _host64(x.array)
        g = np.zeros_like(base)
        flat, gflat = base.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            vals = []
            for sign in (1, -1):
                pert = flat.copy()
                pert[i] += sign * eps
                args = list(inputs)
                args[k] = Tensor(dev.asarray(pert.reshape(base.shape)), device=dev)
                out = fn(*args)
                vals.append(float(np.sum(_host64(out.array) * weight)))
            gflat[i] = (vals[0] - vals[1]) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(fn, *arrays, device=None, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Compare autograd gradients of ``fn`` (Tensors -> Tensor) with central differences.

    ``arrays`` are float64 arrays (NumPy, or any array-API library when ``device`` is given).
    Raises AssertionError naming the input and the largest error on a mismatch.
    """
    dev = _device(device) if device is not None else None
    inputs = [Tensor(a, device=dev, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal(out.shape)
    xp = out.device.xp
    w = out.device.asarray(weight, out.dtype)
    ops.sum(out * Tensor._wrap(w, out.device)).backward()
    consts = [Tensor(x.array, device=x.device) for x in inputs]
    numeric = numerical_grad(fn, consts, weight, eps)
    for k, (x, num) in enumerate(zip(inputs, numeric)):
        ana = np.zeros_like(num) if x.grad is None else _host64(x.grad.array)
        if not np.allclose(ana, num, atol=atol, rtol=rtol):
            err = np.max(np.abs(ana - num))
            raise AssertionError(f"gradient of input {k} (shape {x.shape}) differs from finite "
                                 f"differences: max abs error {err:.3g}\nanalytic={ana}\n"
                                 f"numeric={num}")
    del xp
    return True

from .assert_close import assert_close  # noqa: E402  (torch.testing.assert_close)
