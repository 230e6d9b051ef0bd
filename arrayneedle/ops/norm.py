"""Normalisation: batch_norm, layer_norm, group_norm (PyTorch's functional signatures) and
channel_affine, each a fused Function.

Composing these from elementwise ops would cost a dozen passes and saved temporaries per
call; the fused backwards need only the centred input (or x_hat) and 1/std. That fused
backward runs while no graph is recorded; under ``create_graph`` each backward is instead
composed of Tensor ops from the inputs (``normalized`` and ``normalized_input_grad``), so
gradients of gradients flow through the statistics too.
"""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, wrap_grads
from ..autograd import Function, Tensor, is_grad_enabled

__all__ = ["batch_norm", "layer_norm", "group_norm", "group_norm_silu", "channel_affine"]


def normalized(x, axes, eps):
    """``(x_hat, inv_std)`` of the Tensor ``x`` over ``axes`` (keepdims) in Tensor ops: the
    differentiable twin of the fused forwards, for backward formulas under create_graph."""
    d = x - x.mean(dim=axes, keepdim=True)
    inv_std = ((d * d).mean(dim=axes, keepdim=True) + eps).rsqrt()
    return d * inv_std, inv_std


def normalized_input_grad(gy, xhat, inv_std, axes):
    """The gradient through ``x_hat = (x - mean) * inv_std`` (statistics over ``axes``) of the
    gradient ``gy`` of x_hat, in Tensor ops: ``inv_std * (gy - mean(gy) - x_hat *
    mean(gy * x_hat))``."""
    gm = gy.mean(dim=axes, keepdim=True)
    gxm = (gy * xhat).mean(dim=axes, keepdim=True)
    return inv_std * (gy - gm - xhat * gxm)


class Normalize(Function):
    """x_hat = (x - mean) / sqrt(var + eps), statistics over ``axes`` (layer_norm). The raw
    backward reads the output x_hat (``saves_output``: changing it in place is refused)."""

    saves_output = True

    def forward(self, x, axes, eps):
        xp = array_namespace(x)
        self.axes, self.eps = axes, eps
        mean = xp.mean(x, axis=axes, keepdims=True)
        d = x - mean
        self.inv_std = 1.0 / xp.sqrt(xp.mean(d * d, axis=axes, keepdims=True) + eps)
        self.xhat = d * self.inv_std
        return self.xhat

    def backward(self, g):
        if is_grad_enabled():
            xhat, inv_std = normalized(self.parents[0], self.axes, self.eps)
            return normalized_input_grad(g, xhat, inv_std, self.axes)
        xp = array_namespace(g.array)
        g, xhat = g.array, self.xhat
        gm = xp.mean(g, axis=self.axes, keepdims=True)
        gxm = xp.mean(g * xhat, axis=self.axes, keepdims=True)
        return Tensor._wrap((g - gm - xhat * gxm) * self.inv_std, self.parents[0].device)


def normalize(x, axes, eps=1e-5):
    """x_hat of a Tensor over ``axes``."""
    return Normalize.apply(x, axes=tuple(a % x.ndim for a in axes), eps=eps)


# ---------------------------------------------------------------- BatchNorm (channel axis 1)
def batch_moments(x):
    """Per-channel mean and (population) variance of a raw (N, C, ...) array, both (C,), and
    the centred array ``x - mean`` they were computed from (two passes: precise when a
    channel's mean is much larger than its std)."""
    n = x.size // x.shape[1] if x.shape[1] else 1
    mean = kernels.channel_sum(x) / n
    d = kernels.channel_affine(x, center=mean)  # x - mean
    return mean, kernels.channel_dot(d, d) / n, d


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias with batch statistics over every axis
    but 1, in one Function: the forward is one pass after the statistics, the backward
    recomputes ``x - mean`` and then takes two reductions and one pass (``kernels``: oneDNN
    chains on float32 CPU arrays), where separate normalise, multiply and add Functions would
    take about 8 and 11 passes and keep their temporaries.

    Inputs: x, then optionally weight and bias (C,); params: ``mean`` and ``var`` (C,) and
    ``centered`` (x - mean) from ``batch_moments`` (its buffer becomes the output), and
    ``eps``. Backward reads ``x`` (saved, as PyTorch's: changing it in place is refused)."""

    def forward(self, x, *affine, mean, var, centered, eps):
        xp = array_namespace(x)
        w = affine[0] if affine else None
        inv_std = 1.0 / xp.sqrt(var + eps)
        self.x, self.mean, self.inv_std, self.w, self.eps = x, mean, inv_std, w, eps
        return kernels.channel_affine(centered, inv_std if w is None else w * inv_std,
                                      affine[1] if affine else None, out=centered)

    def backward(self, g):
        if is_grad_enabled():
            return batch_norm_graph_grads(g, self.parents, self.needs_input_grad, self.eps)
        return wrap_grads(self._grads(g.array), g.device)

    def _grads(self, g):
        need = self.needs_input_grad
        s, w = self.inv_std, self.w
        n = g.size // g.shape[1] if g.shape[1] else 1
        d = kernels.channel_affine(self.x, center=self.mean)  # x - mean, again
        gsum = kernels.channel_sum(g)      # sum(g)
        gd = kernels.channel_dot(g, d)     # sum(g * (x - mean)); sum(g * xhat) = gd * s
        gx = None
        if need[0]:
            gx = batch_norm_input_grad(g, d, s, w, gsum, gd, n, out=d)
        if w is None:
            return gx
        return gx, (gd * s if need[1] else None), (gsum if need[2] else None)


def _channel_shape(x):
    """The shape that broadcasts a (C,) Tensor over axis 1 of ``x`` (N, C, ...)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm_graph_grads(g, parents, need, eps):
    """Batch norm's gradients (input, then weight and bias when given) in Tensor ops, with the
    batch statistics recomputed from the input Tensor: differentiable again."""
    x = parents[0]
    axes = (0,) + tuple(range(2, x.ndim))
    xhat, inv_std = normalized(x, axes, eps)
    w = parents[1] if len(parents) > 1 else None
    gx = None
    if need[0]:
        gy = g if w is None else g * w.reshape(_channel_shape(x))
        gx = normalized_input_grad(gy, xhat, inv_std, axes)
    if w is None:
        return gx
    return (gx, (g * xhat).sum(dim=axes) if need[1] else None,
            g.sum(dim=axes) if need[2] else None)


def batch_norm_input_grad(g, d, s, w, gsum, gd, n, out=None):
    """Batch norm's input gradient from the centred input ``d`` and the per-channel sums over
    its ``n`` positions: gx = a * (g - mean(g) - xhat * mean(g * xhat)) with a = w * inv_std,
    as one pass ``a * (d * k + m + g)`` (SyncBatchNorm passes sums over the global batch);
    into ``out`` if given (it may be ``d``)."""
    a = s if w is None else w * s
    return kernels.channel_affine(d, -(s * s * gd) / n, -gsum / n, out=out, add=g,
                                  post_scale=a)


def _both_or_neither(name, weight, bias):
    if (weight is None) != (bias is None):
        raise ValueError(f"{name}: pass both weight and bias, or neither")
    return (weight, bias) if weight is not None else ()


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over axis 1 of ``input`` (N, C, ...), as
    ``torch.nn.functional.batch_norm``: with ``training`` the batch's statistics are used and,
    where given, the running statistics (Tensors of shape (C,)) are updated in place with
    ``momentum`` (the variance unbiased); otherwise the running statistics are used.
    ``weight`` and ``bias`` (C,) come together or not at all."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, ...), got shape {x.shape}")
    params = _both_or_neither("batch_norm", weight, bias)
    if training:
        mean, var, d = batch_moments(x.array)
        y = BatchNorm.apply(x, *params, mean=mean, var=var, centered=d, eps=eps)
        n = x.numel() // x.shape[1]
        if running_mean is not None:
            running_mean.array = running_mean.array * (1 - momentum) + mean * momentum
        if running_var is not None:
            unbiased = var * (n / max(n - 1, 1))
            running_var.array = running_var.array * (1 - momentum) + unbiased * momentum
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    inv = 1.0 / x.device.xp.sqrt(running_var.array + eps)
    if not (is_grad_enabled() and any(t is not None and t.requires_grad
                                      for t in (x, weight, bias))):
        # nothing to differentiate (sampling): one pass (x - mean) * scale + bias
        scale = inv if weight is None else weight.array * inv
        return Tensor.from_array(kernels.channel_affine(
            x.array, scale, None if bias is None else bias.array, center=running_mean.array),
            x.device)
    # one per-channel affine map with the running statistics folded in
    scale = Tensor.from_array(inv, x.device)
    shift = Tensor.from_array(-running_mean.array * inv, x.device)
    if weight is not None:  # differentiable in weight and bias (fine-tuning with frozen stats)
        scale, shift = scale * weight, shift * weight + bias
    return channel_affine(x, scale, shift)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing ``normalized_shape`` axes of ``input``, as
    ``torch.nn.functional.layer_norm``; ``weight`` and ``bias`` have ``normalized_shape``."""
    x = as_tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[-k:]) != shape:
        raise ValueError(f"layer_norm: expected trailing dimensions {shape}, got shape "
                         f"{x.shape}")
    y = normalize(x, tuple(range(x.ndim - k, x.ndim)), eps)
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


class ChannelAffine(Function):
    """y = x * scale[c] + shift[c] over axis 1 of x (N, C, ...): eval-mode BatchNorm with its
    running statistics folded into ``scale`` and ``shift``. One Function and one output array
    where the composed ``x * scale + shift`` would make two of each.

    Gradients: gx = g * scale, g_scale = sum(g * x), g_shift = sum(g) (per channel)."""

    def forward(self, x, scale, shift):
        need = self.needs_input_grad
        self.x = x if need[1] else None
        self.scale = scale if need[0] else None
        return kernels.channel_affine(x, scale, shift)

    def backward(self, g):
        need = self.needs_input_grad
        if is_grad_enabled():
            x, scale, _ = self.parents
            axes = (0,) + tuple(range(2, x.ndim))
            return (g * scale.reshape(_channel_shape(x)) if need[0] else None,
                    (g * x).sum(dim=axes) if need[1] else None,
                    g.sum(dim=axes) if need[2] else None)
        dev, g = g.device, g.array
        gx = kernels.channel_affine(g, self.scale, None) if need[0] else None
        gs = kernels.channel_dot(g, self.x) if need[1] else None
        gb = kernels.channel_sum(g) if need[2] else None
        return wrap_grads((gx, gs, gb), dev)


def channel_affine(x, scale, shift):
    """``x * scale[c] + shift[c]`` for the Tensor ``x`` (N, C, ...) and Tensors ``scale``,
    ``shift`` of shape (C,), differentiable in all three (shapes are checked by
    ``kernels.channel_affine``)."""
    return ChannelAffine.apply(as_tensor(x), as_tensor(scale), as_tensor(shift))


# ---------------------------------------------------------------- GroupNorm
class GroupNorm(Function):
    """y = (x - mean_g) / sqrt(var_g + eps) * weight + bias, statistics per sample and group of
    channels, affine per channel, in one Function (``kernels.group_norm_forward`` /
    ``group_norm_backward``; on float32 NumPy arrays oneDNN's layer normalisation of the
    (N * G, C/G * M) view plus one affine pass, else BLAS row sums and NumPy passes:
    ``kernels/cpu_norm.py``), where a Normalize, a Multiply and an Add Function would
    take about 9 passes forward and 12 backward. Statistics in two passes (mean, then the mean
    of the squared centred values). Under ``no_grad`` nothing is kept for backward.

    Inputs: x (N, C, ...), then optionally weight and bias (C,). Params: ``groups``, ``eps``.
    Internally x is viewed as (N, G, C/G, M); every reduction is a contiguous last-axis one."""

    def forward(self, x, *affine, groups, eps, silu=False):
        w, b = affine if affine else (None, None)
        keep = any(self.needs_input_grad)
        self.w = w if keep else None
        self.groups, self.eps, self.shape, self.silu = groups, eps, tuple(x.shape), silu
        if silu and not keep:  # inference: SiLU fused into the normalisation's last pass
            self.saved = None
            return kernels.group_norm_silu(x, groups, w, b, eps)
        y, self.saved = kernels.group_norm_forward(x, groups, w, b, eps, keep)
        if silu:  # the normalised output is SiLU's input, which its gradient reads
            self.z, y = y, kernels.silu(y)
        return y

    def backward(self, g):
        if is_grad_enabled():
            return self._graph_grads(g)
        need = self.needs_input_grad + (False, False)
        ga = kernels.silu_backward(g.array, self.z) if self.silu else g.array
        gx, gw, gb = kernels.group_norm_backward(ga, self.saved, self.w, need[:3])
        if gx is not None:
            gx = array_namespace(gx).reshape(gx, self.shape)
        return wrap_grads(gx if self.w is None else (gx, gw, gb), g.device)

    def _graph_grads(self, g):
        """The gradients in Tensor ops from the inputs (differentiable again): the statistics
        over each sample's groups, viewed as (N, G, C/G * M)."""
        need = self.needs_input_grad
        x = self.parents[0]
        N, C = x.shape[:2]
        G = self.groups
        xhat, inv_std = normalized(x.reshape((N, G, -1)), (2,), self.eps)
        w = self.parents[1] if len(self.parents) > 1 else None
        if self.silu:  # through SiLU first: g * s * (1 + z * (1 - s)), z the normalised output
            z = xhat.reshape(x.shape)
            if w is not None:
                z = z * w.reshape(_channel_shape(x)) + self.parents[2].reshape(_channel_shape(x))
            s = z.sigmoid()
            g = g * (s * (1 + z * (1 - s)))
        gx = None
        if need[0]:
            gy = g if w is None else g * w.reshape(_channel_shape(x))
            gx = normalized_input_grad(gy.reshape((N, G, -1)), xhat, inv_std, (2,))
            gx = gx.reshape(x.shape)
        if w is None:
            return gx
        axes = (0,) + tuple(range(2, x.ndim))
        return (gx, (g * xhat.reshape(x.shape)).sum(dim=axes) if need[1] else None,
                g.sum(dim=axes) if need[2] else None)


def _group_norm(name, input, num_groups, weight, bias, eps, silu):
    x = as_tensor(input)
    params = _both_or_neither(name, weight, bias)
    if int(num_groups) < 1:
        raise ValueError(f"{name}: num_groups must be >= 1, got {num_groups}")
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"{name}: the channel axis (dim 1) of shape {x.shape} must be "
                         f"divisible by num_groups={num_groups}")
    return GroupNorm.apply(x, *params, groups=int(num_groups), eps=float(eps), silu=silu)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of ``input`` (N, C, ...), as ``torch.nn.functional.group_norm``:
    statistics over each sample's groups of C / num_groups channels (and all spatial
    positions), affine per channel. ``weight`` and ``bias`` (C,) come together or not at
    all."""
    return _group_norm("group_norm", input, num_groups, weight, bias, eps, False)


def group_norm_silu(input, num_groups, weight=None, bias=None, eps=1e-5):
    """``silu(group_norm(input, num_groups, weight, bias, eps))`` as one Function (not a
    PyTorch name: the pair that opens every residual block of a diffusion UNet). The same
    values and gradients as the two ops; under ``no_grad`` the SiLU is fused into the
    normalisation's last memory pass, and the graph has one node instead of two."""
    return _group_norm("group_norm_silu", input, num_groups, weight, bias, eps, True)
