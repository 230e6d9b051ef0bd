"""``torch.nn.init``: parameter initialisation in place, with PyTorch's names and formulas
(``import arrayneedle.nn.init as init``; ``arrayneedle.init`` is this module too).

Each function fills the given tensor in place (its memory, as the Tensor's own in-place
methods, under no_grad as PyTorch) from its device's generator and returns it. The names
without the trailing underscore are deprecated aliases (``arrayneedle.compat``), as in PyTorch.
"""
from __future__ import annotations

import math
import warnings

from .. import compat
from ..autograd import no_grad
from ..ops.special import erf_array

__all__ = ["calculate_gain", "zeros_", "ones_", "constant_", "uniform_", "normal_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_", "trunc_normal_", "eye_", "dirac_", "fan_in_and_fan_out"]


def calculate_gain(nonlinearity="leaky_relu", param=None):
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected linear, sigmoid, tanh, "
                     f"relu, leaky_relu, selu or a conv name")


def fan_in_and_fan_out(shape):
    """PyTorch's fans: dim 1 times the receptive field, and dim 0 times the receptive field."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def zeros_(t):
    with no_grad():
        return t.zero_()


def ones_(t):
    with no_grad():
        return t.fill_(1)


def constant_(t, value):
    with no_grad():
        return t.fill_(value)


def uniform_(t, a=0.0, b=1.0, generator=None):
    with no_grad():
        return t.uniform_(a, b, generator=generator)


def normal_(t, mean=0.0, std=1.0, generator=None):
    with no_grad():
        return t.normal_(mean, std, generator=generator)


def _empty(t):
    """A zero-element tensor: PyTorch warns and leaves it (its fans would divide by zero)."""
    if math.prod(t.shape) == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def xavier_uniform_(t, gain=1.0):
    if _empty(t):
        return t
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain=1.0):
    if _empty(t):
        return t
    fan_in, fan_out = fan_in_and_fan_out(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    if _empty(t):
        return t
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(t, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    if _empty(t):
        return t
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(t, mode))
    return normal_(t, 0.0, std)


def _write(t, array):
    """Store ``array`` in ``t``'s memory, so every Tensor sharing it (``p.data``) sees it."""
    xp = t.device.xp
    if array.dtype != t.array.dtype:
        array = xp.astype(array, t.array.dtype)
    try:
        t.array[...] = array
    except (ValueError, TypeError):  # a read-only array (a broadcast view): rebind instead
        t.array = array
    return t


def _calculate_fan_in_and_fan_out(tensor):
    """PyTorch's helper of the same name (user code calls it to re-create reset_parameters)."""
    return fan_in_and_fan_out(tensor.shape)


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    return fan_in if mode == "fan_in" else fan_out


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix, as PyTorch: the tensor viewed as (rows, rest), the Q of
    the QR decomposition of a standard normal matrix with each column's sign fixed by the
    diagonal of R (so Q is uniformly distributed), times ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    numel = math.prod(tensor.shape)
    if numel == 0:
        return tensor
    dev = tensor.device
    xp = dev.xp
    rows = tensor.shape[0]
    cols = numel // rows
    # QR in float64 (the generator draws float32 or float64; half precision has no linalg)
    flat = dev.randn((rows, cols), "float64")
    if rows < cols:
        flat = xp.matrix_transpose(flat)
    q, r = xp.linalg.qr(flat)
    d = xp.sign(xp.linalg.diagonal(r))
    q = q * d
    if rows < cols:
        q = xp.matrix_transpose(q)
    return _write(tensor, xp.reshape(q * gain, tensor.shape))


def _erfinv(xp, y):
    """Inverse error function on (-1, 1), float64: Giles' single-precision approximation
    polished by two Newton steps on ``erf_array``."""
    w = -xp.log((1 - y) * (1 + y))
    wc = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
              -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * wc
    wt = xp.sqrt(xp.maximum(w, 5.0)) - 3
    p2 = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * wt
    x = xp.where(w < 5, p1, p2) * y
    for _ in range(2):
        x = x - (erf_array(x) - y) / (2 / math.sqrt(math.pi) * xp.exp(-x * x))
    return x


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal(mean, std) restricted to [a, b] (``a``, ``b`` absolute bounds, as PyTorch), by
    the inverse CDF of a uniform draw between the bounds' CDF values."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")

    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    dev = tensor.device
    xp = dev.xp
    lo, hi = 2 * cdf((a - mean) / std) - 1, 2 * cdf((b - mean) / std) - 1
    u = dev.rand(tuple(tensor.shape), "float64") * (hi - lo) + lo
    # keep the uniform draw strictly inside (-1, 1), where erfinv is finite
    tiny = 1e-15
    u = xp.clip(u, -1 + tiny, 1 - tiny)
    x = _erfinv(xp, u) * (std * math.sqrt(2.0)) + mean
    return _write(tensor, xp.clip(x, a, b))


def eye_(tensor):
    """The identity matrix in a 2-D tensor (ones on the main diagonal of a rectangle)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tuple(tensor.shape)}")
    xp = tensor.device.xp
    n, m = tensor.shape
    return _write(tensor, xp.eye(n, m, dtype=tensor.array.dtype))


def dirac_(tensor, groups=1):
    """The Dirac delta for 3-, 4- or 5-D convolution weights (out, in, *kernel): each output
    channel copies one input channel at the kernel centre, per group, as PyTorch; a
    convolution with it is the identity on the channels it keeps."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3, 4 or 5-D tensors are supported, got shape "
                         f"{tuple(tensor.shape)}")
    out_ch, in_ch = tensor.shape[:2]
    if out_ch % groups:
        raise ValueError(f"dirac_: dim 0 ({out_ch}) must be divisible by groups ({groups})")
    xp = tensor.device.xp
    per = out_ch // groups
    o = xp.reshape(xp.arange(out_ch) % per, (-1, 1))
    i = xp.reshape(xp.arange(in_ch), (1, -1))
    hit = xp.logical_and(o == i, o < min(per, in_ch))
    for k in tensor.shape[2:]:  # one broadcast axis per kernel dimension, true at the centre
        c = xp.arange(k) == k // 2
        hit = xp.logical_and(hit[..., None], c)
    return _write(tensor, xp.astype(hit, tensor.array.dtype))


__getattr__ = compat.module_getattr(__name__, globals())
