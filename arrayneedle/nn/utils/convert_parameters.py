"""Parameters as one flat vector and back (``torch.nn.utils.convert_parameters``)."""
from __future__ import annotations

from ... import ops
from ...autograd import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _one_device(params):
    dev = None
    for p in params:
        if dev is None:
            dev = p.device
        elif p.device is not dev:
            raise TypeError(f"Found two parameters on different devices ({dev} and {p.device}); "
                            f"move them to one device first")


def parameters_to_vector(parameters) -> Tensor:
    """All of ``parameters`` flattened and concatenated into one 1-D Tensor, in order
    (differentiable, as in PyTorch)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    _one_device(params)
    return ops.concat([ops.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec, parameters) -> None:
    """Copy slices of the 1-D ``vec`` into ``parameters``, in order. As in PyTorch each
    parameter's array becomes a view of ``vec`` (no copy: writing into one writes into the
    other) with ``vec``'s dtype; no graph is recorded."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, but got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {vec.shape}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    _one_device(params)
    if params and params[0].device is not vec.device:
        raise TypeError(f"vector_to_parameters: the vector is on {vec.device}, the parameters "
                        f"on {params[0].device}")
    total = sum(p.numel() for p in params)
    if total != vec.shape[0]:
        raise ValueError(f"vector_to_parameters: the vector has {vec.shape[0]} elements, the "
                         f"parameters {total}")
    xp, start = vec.device.xp, 0
    for p in params:
        p.array = xp.reshape(vec.array[start:start + p.numel()], p.shape)
        start += p.numel()
