"""Tensor factories with PyTorch's signatures and dtype rules: tensor, from_numpy, zeros, ones,
full, empty, eye, the ``*_like`` family, arange, linspace, and random numbers from the device's
generator (randn, rand, randint, randperm, multinomial)."""
from __future__ import annotations

import math
import numbers

import array_api_compat

from ._helpers import shape_arg
from .autograd import Tensor
from .backend import device as _device, dtype_name, get_dtype
from .dtypes import DEFAULT_FLOAT

__all__ = ["tensor", "as_tensor", "from_numpy", "is_tensor", "numel", "zeros", "ones", "full",
           "empty", "eye", "zeros_like", "ones_like", "full_like", "empty_like", "randn",
           "rand", "randint", "randperm", "multinomial", "randn_like", "rand_like", "arange",
           "linspace"]

def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new Tensor (a copy) of ``data``: Python floats give float32, ints int64, bools bool."""
    return Tensor(data, device=device, dtype=dtype, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` itself when it is already a Tensor of that dtype and device, else a Tensor of
    it (sharing memory with an array on the same device where no cast is needed)."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if array_api_compat.is_array_api_obj(data) and dtype is None and device is None:
        return Tensor.from_array(data)
    return Tensor(data, device=device, dtype=dtype)


def from_numpy(ndarray) -> Tensor:
    """A CPU Tensor sharing memory with the NumPy array (writes show through both ways)."""
    if not array_api_compat.is_numpy_array(ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}")
    return Tensor.from_array(ndarray)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    """The number of elements of a Tensor."""
    return math.prod(input.shape)


def _make(array, dev, requires_grad):
    t = Tensor.from_array(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def _sizes(sizes, size, name):
    """The shape of ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))`` (PyTorch's keyword)."""
    if size is None:
        return sizes
    if sizes:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    return (size,)


def _filled(fn, shape, device, dtype, requires_grad):
    dev = _device(device)
    dt = get_dtype(dev.xp, dtype or DEFAULT_FLOAT)
    return _make(getattr(dev.xp, fn)(shape_arg(shape), dtype=dt), dev, requires_grad)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled("zeros", _sizes(sizes, size, "zeros"), device, dtype, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _filled("ones", _sizes(sizes, size, "ones"), device, dtype, requires_grad)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor in PyTorch; here zeros (the array API has ``empty``, but
    reading garbage helps no one)."""
    return _filled("zeros", _sizes(sizes, size, "empty"), device, dtype, requires_grad)


def _scalar_dtype(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int64"
    return DEFAULT_FLOAT


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value (bool,
    int64, or float32) unless given."""
    dev = _device(device)
    dt = get_dtype(dev.xp, dtype or _scalar_dtype(fill_value))
    return _make(dev.xp.full(shape_arg((size,)), fill_value, dtype=dt), dev, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    dev = _device(device)
    dt = get_dtype(dev.xp, dtype or DEFAULT_FLOAT)
    return _make(dev.xp.eye(int(n), int(n if m is None else m), dtype=dt), dev, requires_grad)


def _like(fn, input, dtype, device, requires_grad, *args):
    return fn(*args, dtype=dtype or input.dtype, device=device or input.device,
              requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    return _like(zeros, input, dtype, device, requires_grad, input.shape)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return _like(ones, input, dtype, device, requires_grad, input.shape)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return _like(empty, input, dtype, device, requires_grad, input.shape)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


def randn(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the device's generator (seeded by manual_seed)."""
    size = _sizes(sizes, size, "randn")
    dev = _device(device)
    return _make(dev.randn(shape_arg(size), dtype or DEFAULT_FLOAT), dev, requires_grad)


def rand(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from the device's generator."""
    size = _sizes(sizes, size, "rand")
    dev = _device(device)
    return _make(dev.rand(shape_arg(size), dtype or DEFAULT_FLOAT), dev, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    return _like(randn, input, dtype, device, requires_grad, input.shape)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    return _like(rand, input, dtype, device, requires_grad, input.shape)


def randint(*args, low=None, high=None, size=None, dtype="int64", device=None,
            requires_grad=False):
    """Integers uniform in [low, high): ``randint(low, high, size)`` or ``randint(high,
    size)`` as PyTorch (``low`` defaults to 0), also with ``low=``/``high=``/``size=``
    keywords."""
    args = list(args)
    if high is not None:
        args = ([0 if low is None else low] if not args else args) + [high]
    elif low is not None:
        raise TypeError("randint: low= needs high=")
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if size is None or len(args) not in (1, 2):
        raise TypeError("randint: expected randint(low, high, size) or randint(high, size) "
                        "with size a tuple")
    low, high = (0, args[0]) if len(args) == 1 else args
    if int(high) <= int(low):
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    if requires_grad:
        raise TypeError("randint: integer tensors cannot require gradients")
    dev = _device(device)
    return Tensor.from_array(dev.randint(int(low), int(high), shape_arg((size,)), dtype), dev)


def randperm(n, dtype="int64", device=None):
    """A random permutation of 0..n-1: the order that sorts n uniform draws, made on the
    device from its generator."""
    dev = _device(device)
    xp = dev.xp
    keys = dev.rand((int(n),), "float64")
    return Tensor.from_array(xp.astype(xp.argsort(keys), get_dtype(xp, dtype)), dev)


def multinomial(input, num_samples, replacement=False):
    """Indices drawn from the rows of ``input`` (non-negative weights, 1-D or 2-D), int64.
    With replacement by inverse CDF; without by Gumbel-top-k, which draws the same law as
    sampling one at a time and removing each pick."""
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial expects a Tensor of weights, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: weights must be 1-D or 2-D, got shape {input.shape}")
    dev, xp = input.device, input.device.xp
    w = input.array if dtype_name(input.dtype) == "float64" else xp.astype(input.array,
                                                                          xp.float64)
    w2 = w if w.ndim == 2 else w[None, :]
    rows, n = w2.shape
    k = int(num_samples)
    if bool(xp.any(w2 < 0)) or not bool(xp.all(xp.isfinite(w2))):
        raise ValueError("multinomial: weights must be finite and non-negative")
    positive = xp.sum(xp.astype(w2 > 0, xp.int64), axis=1)
    if bool(xp.any(positive == 0)):
        raise ValueError("multinomial: every row needs a positive total weight")
    if not replacement and k > int(xp.min(positive)):
        raise ValueError(f"multinomial: cannot draw {k} samples without replacement from a "
                         f"row with only {int(xp.min(positive))} positive weights")
    if k <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    u = dev.rand((rows, k if replacement else n), "float64")
    if replacement:
        cdf = xp.cumulative_sum(w2, axis=1)
        cdf = cdf / cdf[:, -1:]
        # the index is the number of cdf entries at or below u (vectorised searchsorted)
        idx = xp.sum(xp.astype(cdf[:, None, :] <= u[:, :, None], xp.int64), axis=2)
        idx = xp.minimum(idx, xp.asarray(n - 1, dtype=xp.int64))
    else:
        tiny = xp.asarray(1e-300, dtype=xp.float64)
        keys = xp.where(w2 > 0, xp.log(xp.maximum(w2, tiny)) - xp.log(-xp.log(
            xp.maximum(u, tiny))), xp.asarray(-math.inf, dtype=xp.float64))
        idx = xp.argsort(keys, axis=1, descending=True, stable=True)[:, :k]
    idx = xp.astype(idx, xp.int64)
    return Tensor.from_array(idx if input.ndim == 2 else idx[0], dev)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """``start, start + step, ...`` below ``end``: int64 when every argument is an integer,
    else float32 (PyTorch's rule)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    dev = _device(device)
    if dtype is None:
        integral = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = "int64" if integral else DEFAULT_FLOAT
    if dtype_name(dtype).startswith("int"):
        vals = (int(start), int(end), int(step))
    else:
        vals = (float(start), float(end), float(step))
    arr = dev.xp.arange(*vals, dtype=get_dtype(dev.xp, dtype))
    return _make(arr, dev, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 default)."""
    dev = _device(device)
    arr = dev.xp.linspace(float(start), float(end), int(steps),
                          dtype=get_dtype(dev.xp, dtype or DEFAULT_FLOAT))
    return _make(arr, dev, requires_grad)
