"""Raw-array building blocks of the convolutions: matmuls that write NCHW, channel-first
views, the flipped kernel of the adjoint convolution, and the argument checks."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import pair
from ..backend import dtype_name

# From this many output pixels per image up, one matmul per image (whose products are the NCHW
# blocks) beats one big matmul plus a layout copy; below it each image's matmul is too small
# (measurements in BENCHMARKS.md).
PER_IMAGE_MIN_HW = 1024


def matmul_nchw(xp, w2, cols, N, OH, OW):
    """``w2`` (O, K) times ``cols`` (K, N*OH*OW or K, N, OH, OW) as a contiguous NCHW array.

    For large images one matmul per image (the batch loop runs inside the library's matmul)
    on a strided view of ``cols``: each image's product is already its NCHW block. Otherwise
    one matmul and one copy into NCHW."""
    O, K = w2.shape
    if OH * OW >= PER_IMAGE_MIN_HW:
        per_image = xp.permute_dims(xp.reshape(cols, (K, N, OH * OW)), (1, 0, 2))
        return xp.reshape(xp.matmul(w2, per_image), (N, O, OH, OW))
    y = xp.matmul(w2, xp.reshape(cols, (K, N * OH * OW)))
    return kernels.swap01(xp.reshape(y, (O, N, OH, OW)))


def channels_first(xp, a):
    """NCHW ``a`` as a ``(C, N*H*W)`` matrix (one copy)."""
    N, C, H, W = a.shape
    return xp.reshape(kernels.swap01(a), (C, N * H * W))


def flipped_transposed(xp, w):
    """``w`` (A, B, kh, kw) -> (B, A*kh*kw) with the kernel flipped: the weight matrix of the
    adjoint convolution for stride 1."""
    A, B, kh, kw = w.shape
    wf = xp.flip(xp.permute_dims(w, (1, 0, 2, 3)), axis=(2, 3))
    return xp.reshape(wf, (B, A * kh * kw))


def conv_raw(x, w2, kernel_size, stride, padding, dilation):
    """Convolution of NCHW ``x`` with the weight matrix ``w2`` (O, C*kh*kw).

    Returns the contiguous NCHW output and the ``cols`` it was computed from."""
    xp = array_namespace(x, w2)
    cols = kernels.im2col(x, kernel_size, stride, padding, dilation)
    _, N, OH, OW = cols.shape
    return matmul_nchw(xp, w2, cols, N, OH, OW), cols


def weight_from_cols(xp, gt, cols, w_shape, groups=1):
    """The convolution weight gradient of shape ``w_shape`` (O, C/groups, kh, kw) from the
    output gradient as an (O, P) matrix ``gt`` and the input's im2col columns ``cols``
    (C*kh*kw rows of P entries, in any shape): ``gt @ cols.T``, one matmul per group."""
    O, K = w_shape[0], w_shape[1] * w_shape[2] * w_shape[3]
    if groups == 1:
        return xp.reshape(xp.matmul(gt, xp.matrix_transpose(xp.reshape(cols, (K, -1)))),
                          w_shape)
    c3 = xp.reshape(cols, (groups, K, -1))
    g3 = xp.reshape(gt, (groups, O // groups, -1))
    return xp.reshape(xp.matmul(g3, xp.matrix_transpose(c3)), w_shape)


def full_padding(kernel_size, padding, dilation):
    """Padding of the stride-1 adjoint convolution, or None when it would be negative."""
    p = tuple(d * (k - 1) - q for k, q, d in zip(kernel_size, padding, dilation))
    return p if min(p) >= 0 else None


def add_bias(y, b):
    """``y += b`` per channel, in place (y is always a new array of ours)."""
    return kernels.channel_affine(y, None, b, out=y)


# ---------------------------------------------------------------- argument checks
def check_same_dtype(name, tensors):
    first = tensors[0].array.dtype
    if all(t.array.dtype == first for t in tensors[1:]):
        return  # the usual case, without naming the dtypes
    names = [dtype_name(t.dtype) for t in tensors]
    if any(n != names[0] for n in names):
        raise TypeError(f"{name}: input, weight and bias must have the same dtype, got "
                        f"{', '.join(names)}")


def check_4d(name, what, t, layout):
    if t.ndim != 4:
        raise ValueError(f"{name}: {what} must be 4-D {layout}, got shape {t.shape}")


# PyTorch's words for a size argument out of range (ATen's convolution checks)
_RANGE = {"stride": (1, "non-positive stride is not supported"),
          "dilation": (1, "dilation should be greater than zero"),
          "padding": (0, "negative padding is not supported"),
          "output_padding": (0, "negative output_padding is not supported")}


def conv_params(name, **kw):
    """Each keyword as a pair of ints (``pair``), checked as PyTorch checks them: stride and
    dilation >= 1, padding and output_padding >= 0. The one place the convolutions' size
    arguments are checked: the layers and ``nn.functional`` pass them through to here."""
    out = {}
    for key, v in kw.items():
        a, b = pair(v, f"{name}: {key}")
        lo, words = _RANGE[key]
        if a < lo or b < lo:
            raise ValueError(f"{name}: {words}, got {key}={v!r}")
        out[key] = (a, b)
    return out


def check_groups(name, groups, c_in, c_out):
    """``groups`` as an int that divides the input and output channels (PyTorch's checks)."""
    try:
        G = int(groups)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: groups must be an int, got {groups!r}") from None
    if G < 1:
        raise ValueError(f"{name}: non-positive groups is not supported, got groups={groups!r}")
    if c_in % G or c_out % G:
        raise ValueError(f"{name}: groups={G} must divide both the input channels ({c_in}) "
                         f"and the output channels ({c_out})")
    return G


def check_channels(name, x, weight, groups, expected):
    """PyTorch's message when the input's channels are not what the weight expects."""
    if x.shape[1] != expected:
        raise ValueError(f"{name}: Given groups={groups}, weight of size {list(weight.shape)}, "
                         f"expected input{list(x.shape)} to have {expected} channels, but got "
                         f"{x.shape[1]} channels instead")


def check_bias(name, bias, channels):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(f"{name}: bias must have shape ({channels},) (one value per output "
                         f"channel), got {bias.shape}")
