"""``optim.swa_utils``: ``AveragedModel`` (stochastic weight averaging, or an exponential
moving average with ``get_ema_multi_avg_fn``) and the averaging functions, as PyTorch's:
state_dict keys ``n_averaged`` and ``module.<name>``; the first update copies the model."""
from __future__ import annotations

import copy
import itertools

from ..autograd import no_grad
from ..tensor import Tensor
from ..nn.module import Module

__all__ = ["AveragedModel", "get_ema_avg_fn", "get_swa_avg_fn", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn"]


def get_ema_avg_fn(decay=0.999):
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay=0.999):
    def ema_update(ema_param_list, current_param_list, _):
        for e, c in zip(ema_param_list, current_param_list):
            e.copy_(decay * e + (1 - decay) * c)
    return ema_update


def get_swa_multi_avg_fn():
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged.item() if isinstance(num_averaged, Tensor) else num_averaged)
        for a, c in zip(averaged_param_list, current_param_list):
            a.copy_(a + (c - a) / (n + 1))
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and buffers with ``use_buffers``) are the running
    average of the model's, updated by ``update_parameters(model)``."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module.to(device)
        self.register_buffer("n_averaged", Tensor(0, dtype="int64",
                                                  device=self.module.device))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _averaged(self, m):
        return (list(itertools.chain(m.parameters(), m.buffers())) if self.use_buffers
                else list(m.parameters()))

    def update_parameters(self, model):
        with no_grad():
            # the tensors themselves (in place under no_grad), not detached aliases: a buffer
            # may hold a read-only scalar that an in-place write replaces
            mine = self._averaged(self.module)
            theirs = [p.detach().to(a.device) for a, p in zip(mine, self._averaged(model))]
            n = int(self.n_averaged.item())
            if n == 0:
                for a, p in zip(mine, theirs):
                    a.copy_(p)
            elif self.multi_avg_fn is not None:
                self.multi_avg_fn(mine, theirs, self.n_averaged)
            else:
                fn = self.avg_fn or get_swa_avg_fn()
                for a, p in zip(mine, theirs):
                    a.copy_(fn(a, p, self.n_averaged if self.avg_fn else n))
            if not self.use_buffers:  # buffers follow the model, as PyTorch
                for b, bm in zip(self.module.buffers(), model.buffers()):
                    b.copy_(bm.detach().to(b.device))
            self.n_averaged.copy_(Tensor(n + 1, dtype="int64", device=self.n_averaged.device))
