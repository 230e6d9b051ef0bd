"""``gradcheck`` and ``gradgradcheck`` with ``torch.autograd``'s signatures: the analytical
Jacobian (one backward per output element) against central finite differences, and the same
for the gradient itself (the backward formulas differentiated again).

Inputs should be float64 (as PyTorch warns); the computation stays on the inputs' device and
namespace, and only the Jacobians are brought to the host to be compared.
"""
from __future__ import annotations

import warnings

from .. import backend
from ..backend import dtype_name
from ..dtypes import is_float_dtype
from ..graph import grad as _grad
from . import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """A gradient check failed (``torch.autograd.gradcheck.GradcheckError``)."""


def _outputs(out):
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    return tuple(o for o in outs if isinstance(o, Tensor) and is_float_dtype(o._array.dtype))


def _numerical(func, inputs, diff, eps):
    """d outputs / d inputs by central differences: per output, per differentiable input, a
    host array of shape (input.numel(), output.numel())."""
    import numpy as np
    base = _outputs(func(*inputs))
    jac = [[np.zeros((inputs[j].numel(), o.numel())) for j in diff] for o in base]
    if len(base) == 0:
        return jac
    for k, j in enumerate(diff):
        t = inputs[j]
        xp = t._device.xp
        flat = xp.reshape(xp.asarray(t._array, copy=True), (-1,))
        for e in range(t.numel()):
            orig = flat[e]
            cols = []
            for step in (eps, -eps):
                flat[e] = orig + step
                moved = Tensor._wrap(xp.reshape(flat, tuple(t.shape)), t._device,
                                     requires_grad=True)  # func may differentiate (gradgrad)
                args = tuple(moved if i == j else a for i, a in enumerate(inputs))
                cols.append([backend.to_numpy(o._array).reshape(-1).astype(np.float64)
                             for o in _outputs(func(*args))])
            flat[e] = orig
            for i in range(len(base)):
                jac[i][k][e] = (cols[0][i] - cols[1][i]) / (2 * eps)
    return jac


def _analytical(outputs, inputs, diff):
    """d outputs / d inputs by one backward per output element, as ``_numerical`` lays it out."""
    import numpy as np
    jac = [[np.zeros((inputs[j].numel(), o.numel())) for j in diff] for o in outputs]
    wrt = tuple(inputs[j] for j in diff)
    for i, o in enumerate(outputs):
        if not o.requires_grad:
            continue
        xp = o._device.xp
        for e in range(o.numel()):
            seed = xp.zeros((o.numel(),), dtype=o._array.dtype)
            seed[e] = 1
            gs = _grad(o, wrt, Tensor._wrap(xp.reshape(seed, tuple(o.shape)), o._device),
                       retain_graph=True, allow_unused=True)
            for k, g in enumerate(gs):
                if g is not None:
                    jac[i][k][:, e] = backend.to_numpy(g._array).reshape(-1)
    return jac


def _fail(msg, raise_exception):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def gradcheck(func, inputs, *, eps=1e-06, atol=1e-05, rtol=0.001, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False, check_forward_ad=False,
              check_backward_ad=True, fast_mode=False, masked=None):
    """Check the gradients of ``func`` at ``inputs`` (the Tensors among them that require
    grad) against central differences with step ``eps``: True when every analytical Jacobian
    entry ``a`` and numerical ``n`` satisfy ``|a - n| <= atol + rtol * |n|``; otherwise a
    ``GradcheckError`` (``raise_exception=True``) or False. The remaining flags of PyTorch's
    signature are accepted; forward-mode AD is not implemented (``check_forward_ad=True``
    raises)."""
    import numpy as np
    if check_forward_ad or check_batched_forward_grad:
        raise NotImplementedError("gradcheck: forward-mode AD is not implemented; use "
                                  "check_forward_ad=False (the backward check is the default)")
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of the them have requires_grad=True.")
    for i in diff:
        if dtype_name(inputs[i]._array.dtype) != "float64":
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          f"point. This check will likely fail if all the inputs are not of "
                          f"double precision floating point.", UserWarning, stacklevel=2)
    outputs = _outputs(func(*inputs))
    if not check_backward_ad:
        return True
    analytical = _analytical(outputs, inputs, diff)
    numerical = _numerical(func, inputs, diff, eps)
    if len(numerical) != len(outputs):
        return _fail(f"gradcheck: func gave {len(outputs)} differentiable outputs at the inputs "
                     f"and {len(numerical)} at the perturbed inputs", raise_exception)
    for i in range(len(outputs)):
        for k, j in enumerate(diff):
            a, n = analytical[i][k], numerical[i][k]
            if not np.allclose(a, n, rtol=rtol, atol=atol, equal_nan=True):
                return _fail(f"Jacobian mismatch for output {i} with respect to input {j},\n"
                             f"numerical:{n}\nanalytical:{a}\n", raise_exception)
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-06, atol=1e-05, rtol=0.001,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """Check the second derivatives of ``func``: ``gradcheck`` of the function that maps
    ``(inputs, grad_outputs)`` to the gradients of ``func``'s outputs weighted by
    ``grad_outputs`` (random in [-1, 1) from the device generator when not given), computed
    with ``create_graph=True``. Same arguments and result as ``gradcheck``."""
    if check_fwd_over_rev:
        raise NotImplementedError("gradgradcheck: forward-mode AD is not implemented; use "
                                  "check_fwd_over_rev=False")
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if grad_outputs is None:
        outs = _outputs(func(*inputs))
        grad_outputs = tuple(
            Tensor._wrap(o._device.rand(tuple(o.shape), dtype_name(o._array.dtype)) * 2 - 1,
                         o._device).requires_grad_(True) for o in outs)
    else:
        grad_outputs = (tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list))
                        else (grad_outputs,))
    n_in = len(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]

    def new_func(*args):
        ins, gos = args[:n_in], args[n_in:]
        outs = _outputs(func(*ins))
        pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
        wrt = tuple(ins[i] for i in diff)
        if not pairs:
            return ()
        gs = _grad(tuple(o for o, _ in pairs), wrt, tuple(g for _, g in pairs),
                   create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    if not check_rev_over_rev:
        return True
    return gradcheck(new_func, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad,
                     check_grad_dtypes=check_grad_dtypes, check_batched_grad=check_batched_grad,
                     fast_mode=fast_mode, masked=masked)
