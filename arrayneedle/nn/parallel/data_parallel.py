"""``DataParallel`` and ``data_parallel`` (``torch.nn.parallel.data_parallel``) for one device.

PyTorch's DataParallel replicates the module on several GPUs of one process and splits each
batch between them. arrayneedle runs one device per process, so here both run the module
directly on its own device, and a wrapped model keeps PyTorch's ``module.``-prefixed
``state_dict`` keys (checkpoints load into either framework). Asking for more than one device
is an error that points to DistributedDataParallel (one process per device)."""
from __future__ import annotations

from ..module import Module

__all__ = ["DataParallel", "data_parallel"]


def _check_devices(device_ids, name):
    ids = [] if device_ids is None else list(device_ids)
    if len(ids) > 1:
        raise ValueError(
            f"{name}: device_ids={ids} asks for {len(ids)} devices, but arrayneedle runs one "
            f"device per process; launch one process per device and wrap the model in "
            f"arrayneedle.nn.parallel.DistributedDataParallel")
    return ids


class DataParallel(Module):
    """Wraps ``module`` (as ``self.module``) and calls it on the inputs. ``device_ids`` may
    name at most one device; ``output_device`` and ``dim`` are accepted for PyTorch's
    signature and have nothing to split on one device."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.device_ids = _check_devices(device_ids, "DataParallel")
        self.output_device, self.dim = output_device, dim
        self.module = module

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """``module(*inputs, **module_kwargs)`` (``inputs`` a tuple, or one input), as PyTorch's
    functional form on a single device; more than one device id is an error."""
    _check_devices(device_ids, "data_parallel")
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return module(*inputs, **(module_kwargs or {}))
