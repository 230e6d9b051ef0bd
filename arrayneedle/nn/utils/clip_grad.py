"""Gradient clipping with PyTorch's semantics (``torch.nn.utils.clip_grad``).

The norm is computed on the gradients' device and the scaling factor stays there too, clamped
to 1 rather than compared on the host: clipping costs no host round trip per parameter, and
none at all unless ``error_if_nonfinite`` asks for a check.

``foreach`` is accepted where PyTorch has it, so calls written for PyTorch run unchanged; each
gradient is processed on its own here whatever its value.
"""
from __future__ import annotations

import math

from ... import creation
from ...autograd import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(xp, x, ord):
    if x.dtype == xp.float16:
        # Squares overflow float16 past 256; accumulate in float32, as PyTorch does.
        return xp.astype(xp.linalg.vector_norm(xp.astype(x, xp.float32), ord=ord), xp.float16)
    return xp.asarray(xp.linalg.vector_norm(x, ord=ord))


def _one_device(tensors, what):
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device is not dev:
            raise ValueError(f"{what}: all tensors must be on one device, got {dev} and "
                             f"{t.device}")
    return dev


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (a 0-d Tensor on their device): the
    norm of the per-tensor norms. ``norm_type`` may be ``inf`` (the largest absolute value)."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return creation.tensor(0.0)
    dev = _one_device(tensors, "get_total_norm")
    xp = dev.xp
    norms = [_vector_norm(xp, t.array, norm_type) for t in tensors]
    dtype = xp.result_type(*norms)
    total = _vector_norm(xp, xp.stack([xp.astype(n, dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            f"so it cannot be clipped. To disable this error and scale the gradients by the "
            f"non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor._wrap(total, dev)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None) -> None:
    """Scale the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm +
    1e-6))``, computed on the device (no host sync)."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if not grads:
        return
    norm = total_norm.array if isinstance(total_norm, Tensor) else total_norm
    xp = grads[0].device.xp
    coef = xp.clip(max_norm / (norm + 1e-6), None, 1.0)
    for g in grads:
        g.array *= coef if coef.dtype == g.array.dtype else xp.astype(coef, g.array.dtype)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None) -> Tensor:
    """Clip the gradients of ``parameters`` (a Tensor or an iterable of them) in place so that
    their total ``norm_type``-norm is at most ``max_norm``; returns the total norm before
    clipping as a 0-d Tensor (PyTorch's ``torch.nn.utils.clip_grad_norm_``)."""
    parameters = _as_list(parameters)
    if not parameters:
        return creation.tensor(0.0)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None) -> None:
    """Clamp every gradient of ``parameters`` in place to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad.array
            g[...] = p.grad.device.xp.clip(g, -clip_value, clip_value)
