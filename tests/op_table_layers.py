"""Op-table rows of the layer ops (conv groups/dilation/padding modes, transposed conv, pooling,
interpolation, pixel shuffle): (name, fn on Tensors, naive NumPy loop reference, shapes,
transforms), appended to the shared table by test_ops.py and test_strict.py."""
import numpy as np

import arrayneedle.ops as O
from arrayneedle.nn import functional as F


def _p2(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def conv_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation by loops over output channels and positions."""
    (s0, s1), (p0, p1), (d0, d1) = _p2(stride), _p2(padding), _p2(dilation)
    xpad = np.pad(x, ((0, 0), (0, 0), (p0, p0), (p1, p1)))
    N, C, H, W = xpad.shape
    O_, Cg, kh, kw = w.shape
    OH, OW = (H - d0 * (kh - 1) - 1) // s0 + 1, (W - d1 * (kw - 1) - 1) // s1 + 1
    out = np.zeros((N, O_, OH, OW))
    og = O_ // groups
    for o in range(O_):
        g = o // og
        for i in range(OH):
            for j in range(OW):
                patch = xpad[:, g * Cg:(g + 1) * Cg, i * s0:i * s0 + d0 * (kh - 1) + 1:d0,
                             j * s1:j * s1 + d1 * (kw - 1) + 1:d1]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_t_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution by scattering every input pixel times the kernel."""
    (s0, s1), (p0, p1), (d0, d1) = _p2(stride), _p2(padding), _p2(dilation)
    op0, op1 = _p2(output_padding)
    N, Cin, H, W = x.shape
    _, cg, kh, kw = w.shape
    full = np.zeros((N, cg * groups, (H - 1) * s0 + d0 * (kh - 1) + 1 + op0,
                     (W - 1) * s1 + d1 * (kw - 1) + 1 + op1))
    cin_g = Cin // groups
    for ci in range(Cin):
        g = ci // cin_g
        for i in range(H):
            for j in range(W):
                for a in range(kh):
                    for c in range(kw):
                        full[:, g * cg:(g + 1) * cg, i * s0 + d0 * a, j * s1 + d1 * c] += (
                            x[:, ci, i, j][:, None] * w[ci, :, a, c][None])
    HO = (H - 1) * s0 - 2 * p0 + d0 * (kh - 1) + op0 + 1
    WO = (W - 1) * s1 - 2 * p1 + d1 * (kw - 1) + op1 + 1
    out = full[:, :, p0:p0 + HO, p1:p1 + WO]
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def _out_len(n, k, s, p, d, ceil):
    if ceil:
        o = -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1
        if (o - 1) * s >= n + p:
            o -= 1
        return o
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def maxpool_ref(x, k, s=None, p=0, d=1, ceil=False):
    (k0, k1) = _p2(k)
    (s0, s1), (p0, p1), (d0, d1) = _p2(s if s is not None else k), _p2(p), _p2(d)
    N, C, H, W = x.shape
    OH, OW = _out_len(H, k0, s0, p0, d0, ceil), _out_len(W, k1, s1, p1, d1, ceil)
    xpad = np.full((N, C, H + 2 * p0 + k0 * d0 + s0, W + 2 * p1 + k1 * d1 + s1), -np.inf)
    xpad[:, :, p0:p0 + H, p1:p1 + W] = x
    out = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            out[:, :, i, j] = xpad[:, :, i * s0:i * s0 + d0 * (k0 - 1) + 1:d0,
                                   j * s1:j * s1 + d1 * (k1 - 1) + 1:d1].max(axis=(2, 3))
    return out


def avgpool_ref(x, k, s=None, p=0, ceil=False, include_pad=True, divisor=None):
    """PyTorch's CPU algorithm: window clipped to the padded input, then to the input."""
    (k0, k1) = _p2(k)
    (s0, s1), (p0, p1) = _p2(s if s is not None else k), _p2(p)
    N, C, H, W = x.shape
    OH, OW = _out_len(H, k0, s0, p0, 1, ceil), _out_len(W, k1, s1, p1, 1, ceil)
    out = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            hs, ws = i * s0 - p0, j * s1 - p1
            he, we = min(hs + k0, H + p0), min(ws + k1, W + p1)
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            total = x[:, :, hs:he, ws:we].sum(axis=(2, 3))
            div = divisor or (size if include_pad else (he - hs) * (we - ws))
            out[:, :, i, j] = total / div
    return out


def adaptive_ref(x, oh, ow):
    N, C, H, W = x.shape
    out = np.empty((N, C, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * H) // oh, -(-((i + 1) * H) // oh)
            w0, w1 = (j * W) // ow, -(-((j + 1) * W) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def adaptive_max_ref(x, oh, ow):
    N, C, H, W = x.shape
    out = np.empty((N, C, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * H) // oh, -(-((i + 1) * H) // oh)
            w0, w1 = (j * W) // ow, -(-((j + 1) * W) // ow)
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].max(axis=(2, 3))
    return out


def bilinear_ref(x, oh, ow, align_corners):
    """Each output pixel from its four neighbours (PyTorch's source-index rule)."""
    N, C, H, W = x.shape
    out = np.empty((N, C, oh, ow))

    def src(i, n, o):
        if align_corners:
            return i * (n - 1) / (o - 1) if o > 1 else 0.0
        return max((i + 0.5) * n / o - 0.5, 0.0)

    for i in range(oh):
        sy = src(i, H, oh)
        y0 = int(sy)
        y1, ly = min(y0 + 1, H - 1), sy - y0
        for j in range(ow):
            sx = src(j, W, ow)
            x0 = int(sx)
            x1, lx = min(x0 + 1, W - 1), sx - x0
            out[:, :, i, j] = ((1 - ly) * (1 - lx) * x[:, :, y0, x0]
                               + (1 - ly) * lx * x[:, :, y0, x1]
                               + ly * (1 - lx) * x[:, :, y1, x0] + ly * lx * x[:, :, y1, x1])
    return out


def nearest_ref(x, oh, ow):
    N, C, H, W = x.shape
    rows = [min(int(np.floor(np.float32(i) * np.float32(H / oh))), H - 1) for i in range(oh)]
    cols = [min(int(np.floor(np.float32(j) * np.float32(W / ow))), W - 1) for j in range(ow)]
    return x[:, :, rows][:, :, :, cols]


def shuffle_ref(x, r):
    N, C, H, W = x.shape
    out = np.empty((N, C // (r * r), H * r, W * r))
    for c in range(C // (r * r)):
        for i in range(r):
            for j in range(r):
                out[:, c, i::r, j::r] = x[:, c * r * r + i * r + j]
    return out


LAYER_OPS = [
    ("conv2d_groups_dilation", lambda x, w, b: O.conv2d(x, w, b, 2, 1, (1, 2), 3),
     lambda x, w, b: conv_ref(x, w, b, 2, 1, (1, 2), 3), [(1, 6, 6, 7), (9, 2, 3, 3), (9,)], None),
    ("conv2d_depthwise_same", lambda x, w: O.conv2d(x, w, None, 1, "same", 1, 4),
     lambda x, w: conv_ref(x, w, None, 1, 1, 1, 4), [(1, 4, 5, 6), (8, 1, 3, 3)], None),
    ("conv2d_same_asymmetric", lambda x, w: O.conv2d(x, w, padding="same", dilation=(1, 3)),
     lambda x, w: conv_ref(np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2))), w, dilation=(1, 3)),
     [(1, 3, 5, 9), (2, 3, 4, 2)], None),
    ("conv2d_reflect", lambda x, w: F.conv2d(x, w, padding=(2, 1), padding_mode="reflect"),
     lambda x, w: conv_ref(np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)), mode="reflect"), w),
     [(2, 2, 5, 4), (3, 2, 3, 3)], None),
    ("conv2d_replicate", lambda x, w: F.conv2d(x, w, padding=1, padding_mode="replicate"),
     lambda x, w: conv_ref(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge"), w),
     [(1, 2, 4, 4), (2, 2, 3, 3)], None),
    ("conv2d_circular", lambda x, w: F.conv2d(x, w, padding=(1, 2), padding_mode="circular"),
     lambda x, w: conv_ref(np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)), mode="wrap"), w),
     [(1, 2, 4, 5), (2, 2, 3, 3)], None),
    ("conv1d_groups", lambda x, w, b: F.conv1d(x, w, b, 2, 1, 2, 2),
     lambda x, w, b: conv_ref(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1), (1, 2), 2)[:, :, 0],
     [(2, 4, 11), (6, 2, 3), (6,)], None),
    # conv2d's other two algorithms: few outputs (the adjoint form) and the 1x1 batched matmul
    ("conv2d_adjoint_few_outputs", lambda x, w, b: O.conv2d(x, w, b, padding=1),
     lambda x, w, b: conv_ref(x, w, b, padding=1), [(2, 4, 4, 3), (2, 4, 3, 3), (2,)], None),
    ("conv2d_pointwise", lambda x, w, b: O.conv2d(x, w, b),
     lambda x, w, b: conv_ref(x, w, b), [(2, 3, 3, 2), (4, 3, 1, 1), (4,)], None),
    ("conv_transpose2d_stride1", lambda x, w: O.conv_transpose2d(x, w, padding=1),
     lambda x, w: conv_t_ref(x, w, padding=1), [(1, 2, 3, 3), (2, 3, 3, 3)], None),
    ("conv_transpose2d_groups", lambda x, w, b: O.conv_transpose2d(x, w, b, 2, 1, 1, 2, 1),
     lambda x, w, b: conv_t_ref(x, w, b, 2, 1, 1, 2, 1), [(2, 4, 3, 4), (4, 3, 3, 3), (6,)],
     None),
    ("conv_transpose2d_op_below_dilation",
     lambda x, w, b: O.conv_transpose2d(x, w, b, 1, 1, (2, 1), 1, (3, 2)),
     lambda x, w, b: conv_t_ref(x, w, b, 1, 1, (2, 1), 1, (3, 2)),
     [(1, 3, 4, 3), (3, 2, 3, 2), (2,)], None),
    ("max_pool2d_dilation_ceil", lambda x: O.max_pool2d(x, 3, 2, 1, 2, True),
     lambda x: maxpool_ref(x, 3, 2, 1, 2, True), [(1, 2, 8, 9)], None),
    ("max_pool2d_overlap_pad", lambda x: O.max_pool2d(x, 3, 2, 1),
     lambda x: maxpool_ref(x, 3, 2, 1), [(2, 2, 5, 6)], None),
    ("max_pool2d_ceil", lambda x: O.max_pool2d(x, (3, 2), (2, 2), (1, 1), ceil_mode=True),
     lambda x: maxpool_ref(x, (3, 2), (2, 2), (1, 1), ceil=True), [(2, 2, 8, 7)], None),
    ("avg_pool2d", lambda x: O.pool.avg_pool2d(x, 3, 2, 1),
     lambda x: avgpool_ref(x, 3, 2, 1), [(1, 2, 7, 8)], None),
    ("avg_pool2d_ceil_exclude_pad",
     lambda x: O.pool.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda x: avgpool_ref(x, 3, 2, 1, ceil=True, include_pad=False), [(2, 2, 8, 6)], None),
    ("avg_pool2d_divisor", lambda x: O.pool.avg_pool2d(x, 2, 1, divisor_override=3),
     lambda x: avgpool_ref(x, 2, 1, divisor=3), [(1, 2, 4, 5)], None),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 4)),
     lambda x: adaptive_ref(x, 3, 4), [(2, 2, 7, 6)], None),
    ("adaptive_avg_pool2d_divisible", lambda x: F.adaptive_avg_pool2d(x, 2),
     lambda x: adaptive_ref(x, 2, 2), [(2, 3, 4, 6)], None),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (3, 4)),
     lambda x: adaptive_max_ref(x, 3, 4), [(1, 2, 7, 6)], None),
    ("interpolate_nearest", lambda x: F.interpolate(x, size=(5, 7)),
     lambda x: nearest_ref(x, 5, 7), [(2, 2, 3, 4)], None),
    ("interpolate_bilinear", lambda x: F.interpolate(x, size=(5, 3), mode="bilinear"),
     lambda x: bilinear_ref(x, 5, 3, False), [(2, 2, 3, 4)], None),
    ("interpolate_bilinear_corners",
     lambda x: F.interpolate(x, size=(6, 7), mode="bilinear", align_corners=True),
     lambda x: bilinear_ref(x, 6, 7, True), [(1, 2, 3, 4)], None),
    ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), lambda x: shuffle_ref(x, 2),
     [(2, 8, 3, 2)], None),
    ("pixel_unshuffle", lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 3), 3), lambda x: x,
     [(1, 18, 2, 3)], None),
]
