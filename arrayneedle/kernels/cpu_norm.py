"""CPU kernels of group normalisation: the fused forward and backward of ``GroupNorm``
(``ops/norm.py``).

Float32 arrays of at least ``LAYER_NORM_MIN_SIZE`` elements (where oneDNN loads) run as oneDNN's
layer normalisation of ``x`` viewed as (N * groups, C/groups * M), whose rows are the groups:
statistics and x_hat in one memory pass, then the affine map (SiLU may follow as a post-op);
the backward is PyTorch's: per-(sample, channel) sums of g and g * x in one read, then
``gx = alpha * g + beta * x + gamma`` in oneDNN passes (the end of this file: one pass with
per-channel operands, or two over a (1, N, C*M) view where the planes are small). The others
run on the NumPy kernels below, with the same contract and arithmetic as
``portable.group_norm_forward`` / ``group_norm_backward``: statistics in two passes (the mean,
then the mean of the squared centred values), float32 stays float32. The row sums (per sample
and group, or per sample and channel) are BLAS matrix-vector products with a vector of ones:
several times faster than NumPy's reductions over short rows, and threaded by the BLAS. The
elementwise passes (centring, the per-channel affine map, the input gradient) take per-row
factors, on which NumPy's loops are slow (they restart every row): on float32 arrays large
enough to repay a call, oneDNN's binary primitive computes each in one pass with its post-op
fused, on every core; otherwise NumPy does, split over the batch on the kernels' threads
(``_parallel.py``). Each output element is computed by one thread in a fixed order, so the
results do not depend on the thread count. Under ``no_grad`` (``keep=False``) the centred values
are written straight into the output.
"""
from __future__ import annotations

import numpy as np

from . import onednn
from ._parallel import parallel_for
from .cpu_eltwise import silu

__all__ = ["group_norm_forward", "group_norm_backward", "group_norm_silu"]

def _row_sums(a2):
    """Sums of the rows of the 2-D C-contiguous ``a2`` (a BLAS gemv)."""
    return a2 @ np.ones(a2.shape[1], dtype=a2.dtype)


def _row_dots(a2, b2):
    """Row-wise dot products of two 2-D C-contiguous arrays: one BLAS dot per row for long
    rows; for short ones (where a call per row costs more than the work) the product, then
    its row sums."""
    if a2.shape[1] >= 64:
        return np.vecdot(a2, b2)
    return _row_sums(a2 * b2)


def _binary(out, a, alg, b, post=()):
    """``out = a <alg> b`` then each ``(alg, array)`` of ``post`` (``("add", c)``: + c;
    ``("sum", None)``: + what ``out`` held), all 3-D arrays broadcasting as NumPy; ``out``
    may be ``a``. oneDNN where it computes on these arrays and they are large enough, else
    NumPy split over axis 0."""
    arrays = (a, b) + tuple(arr for _, arr in post if arr is not None)
    rt = onednn.usable(out, *arrays) if a.size >= onednn.MIN_SIZE else None
    if rt is not None:
        try:
            return onednn.binary(rt, alg, *(np.ascontiguousarray(x) for x in (a, b)), out,
                                 [(n, None if c is None else np.ascontiguousarray(c))
                                  for n, c in post])
        except onednn.DnnlError:
            pass
    ufunc = {"add": np.add, "mul": np.multiply, "sub": np.subtract}
    whole = {id(x): x.shape[0] == a.shape[0] for x in arrays}

    def rows(x, lo, hi):
        return x[lo:hi] if whole[id(x)] else x

    def part(lo, hi):
        o = out[lo:hi]
        if any(name == "sum" for name, _ in post):
            o += ufunc[alg](rows(a, lo, hi), rows(b, lo, hi))
        else:
            ufunc[alg](rows(a, lo, hi), rows(b, lo, hi), out=o)
        for name, c in post:
            if c is not None:
                ufunc[name](o, rows(c, lo, hi), out=o)

    parallel_for(a.shape[0], part, out.nbytes)
    return out


def _numpy_forward(x, groups, weight, bias, eps, keep):
    """``(y, d, inv)``: y = (x - mean) * inv * weight + bias over each sample's groups of
    ``x`` (N, C, ...), d = x - mean viewed as (N, G, C/G, M) (None unless ``keep``), inv =
    1 / sqrt(var + eps) (N, G). ``weight``/``bias`` (C,) or None."""
    N, C = x.shape[:2]
    G, Cg = groups, C // groups
    x = np.ascontiguousarray(x)
    xk = x.reshape(N, G, -1)
    K = xk.shape[2]
    M = K // Cg
    dtype = np.result_type(x, *(a for a in (weight, bias) if a is not None))
    y = np.empty((N, G, Cg, M), dtype=dtype)
    d = np.empty((N, G, Cg, M), dtype=x.dtype) if keep or dtype != x.dtype else y
    dk = d.reshape(N, G, K)
    mean = _row_sums(xk.reshape(N * G, K)).reshape(N, G, 1) / K
    _binary(dk, xk, "sub", mean)
    # the BLAS sums round more than a pairwise sum: where a group's mean is large against
    # its spread, what is left of the mean in d is taken out too (one more pass, only then)
    delta = _row_sums(dk.reshape(N * G, K)).reshape(N, G, 1) / K
    var = np.vecdot(dk, dk) / K                                           # (N, G)
    if np.any(np.abs(delta[..., 0]) > np.finfo(d.dtype).eps * np.sqrt(var)):
        _binary(dk, dk, "sub", delta)
        var = np.vecdot(dk, dk) / K
    inv = 1.0 / np.sqrt(var + eps)                                        # (N, G)
    post = () if bias is None else (("add", bias.reshape(1, C, 1)),)
    if weight is None:
        _binary(y.reshape(N, G, K), dk, "mul", inv.reshape(N, G, 1), post=post)
    else:
        scale = (inv.reshape(N, G, 1) * weight.reshape(1, G, Cg)).reshape(N, C, 1)
        _binary(y.reshape(N, C, M), d.reshape(N, C, M), "mul", scale, post=post)
    return y.reshape(x.shape), (d if keep else None), inv


def _numpy_backward(g, d, inv, weight, need):
    """``(gx, gw, gb)`` of ``group_norm_forward`` for the output gradient ``g``, from its ``d``
    and ``inv``; ``need`` (3 bools: input, weight, bias) says which to compute (the others are
    None; gw and gb are None without a weight)."""
    N, G, Cg, M = d.shape
    C, K = G * Cg, Cg * M
    gg = np.ascontiguousarray(g).reshape(N, C, M)
    gsum = _row_sums(gg.reshape(N * C, M)).reshape(N, G, Cg)            # sum_m g
    gd = _row_dots(gg.reshape(N * C, M), d.reshape(N * C, M)).reshape(N, G, Cg)  # g * (x - mean)
    gx = None
    if need[0]:
        w = None if weight is None else weight.reshape(1, G, Cg)
        ws = gsum if w is None else gsum * w
        wd = gd if w is None else gd * w
        A = np.add.reduce(ws, axis=2) / K                  # mean over the group of g * w
        B = inv * np.add.reduce(wd, axis=2) / K            # ... of g * w * xhat
        # gx = inv * (g*w - A - xhat * B), xhat = d * inv
        gx = np.empty(d.shape, dtype=np.result_type(gg, d, inv))
        gxk = gx.reshape(N, G, K)
        # two passes where one with a post-op would do: oneDNN's fast kernels take a post-op
        # operand per channel, not per sample and group
        _binary(gxk, d.reshape(N, G, K), "mul", (-(inv * inv * B)).reshape(N, G, 1))
        _binary(gxk, gxk, "add", (-(inv * A)).reshape(N, G, 1))
        a = inv.reshape(N, G, 1) if w is None else inv.reshape(N, G, 1) * w   # (N, G, 1|Cg)
        a = np.broadcast_to(a, (N, G, Cg)).reshape(N, C, 1)
        _binary(gx.reshape(N, C, M), gg, "mul", a, post=(("sum", None),))
    gw = gb = None
    if weight is not None:
        if need[1]:
            gw = np.add.reduce(gd * inv.reshape(N, G, 1), axis=0).reshape(C)
        if need[2]:
            gb = np.add.reduce(gsum, axis=0).reshape(C)
    return gx, gw, gb


# ---------------------------------------------------------------- through oneDNN's layer norm
# From this many elements a oneDNN call (about 15 us) repays itself against the NumPy path's
# five library calls (measured on the Unet's shapes, 2 cores)
LAYER_NORM_MIN_SIZE = 1 << 12


def _runtime(x, *arrays):
    if x.size < LAYER_NORM_MIN_SIZE or x.ndim < 3:
        return None
    return onednn.usable(x, *arrays)


def _row_sum_and_dot(g2, x2):
    """``(sum_m g, sum_m g * x)`` per row of the C-contiguous (R, M) arrays ``g2`` and ``x2``:
    ``einsum``'s vectorised loops (a BLAS dot per row for long rows), on the calling thread.
    Not BLAS's threaded matrix-vector products (``_row_sums``): between two oneDNN calls
    they wake OpenBLAS's workers, which then spin beside oneDNN's OpenMP threads on the same
    cores (measured inside a Unet training step: 3x slower sums, and the oneDNN pass after
    them 3x slower too); not the kernels' threads either (einsum holds the GIL)."""
    sg = np.einsum("ij->i", g2)
    sgx = np.vecdot(g2, x2) if g2.shape[1] >= 128 else np.einsum("ij,ij->i", g2, x2)
    return sg, sgx


def _spread(v, M, dt):
    """A per-channel vector (C,) as one value per element of a sample's (C, M) block, shape
    (1, 1, C*M): the operand oneDNN broadcasts over the batch of a (1, N, C*M) view with its
    fast kernel. (A per-channel operand over small planes, (1, C, 1) against (N, C, M), takes
    its slow per-channel loop: 31 against 20 us for an affine map at (32, 128, 4, 4); as a
    post-op operand the spread vector would take the reference kernel, so it is a src1 only.)"""
    return np.repeat(v.astype(dt, copy=False), M).reshape(1, 1, -1)


# planes up to this many elements take the spread (per-sample block) forms of the affine map
# and of the input gradient: two passes, each broadcasting fast; larger ones the per-channel
# forms (one pass, the slow per-channel broadcast then amortised over long rows)
_SPREAD_MAX_M = 64


def _layer_norm_forward(rt, x, groups, weight, bias, eps, keep, act=False):
    """Group normalisation as oneDNN layer normalisation of ``x`` viewed as (N * G, C/G * M)
    (statistics and x_hat in one memory pass), then the per-channel affine map (and with
    ``act`` SiLU, a post-op) into x_hat's buffer: one pass with per-channel operands, or on
    small planes two passes over the (1, N, C*M) view (``_spread``). Keeps ``x`` and the
    statistics, not x_hat, for backward."""
    N, C = x.shape[:2]
    x2 = np.ascontiguousarray(x).reshape(N * groups, -1)
    xhat, mean, var = onednn.layer_norm_forward(rt, x2, eps)
    M = x2.size // (N * C)
    steps = [(op, v) for op, v in (("mul", weight), ("add", bias)) if v is not None]
    act_post = [("silu", None)] if act else []
    if steps and M <= _SPREAD_MAX_M:
        y = xhat.reshape(1, N, C * M)
        for i, (op, v) in enumerate(steps):
            y = onednn.binary(rt, op, y, _spread(v, M, y.dtype), y,
                              act_post if i == len(steps) - 1 else [])
    elif steps:
        y = xhat.reshape(N, C, M)
        y = onednn.channel_chain(rt, y, steps + act_post, y)
    elif act:
        y = onednn.eltwise_forward(rt, "silu", xhat)
    else:
        y = xhat
    saved = ("layer_norm", x2, mean, var, eps) if keep else None
    return y.reshape(x.shape), saved


def _layer_norm_backward(rt, g, saved, weight, need):
    """The gradients from ``x``, its per-(sample, group) mean and variance and ``g``, as
    PyTorch's CPU kernel computes them: the per-(sample, channel) sums of g and g * x in one
    read, their weighted sums per (sample, group), then the input gradient
    ``inv * w * g + beta * x + gamma`` (inv, beta and gamma per sample and group) in oneDNN
    passes (``_input_grad``). The factors are computed on the small per-group arrays, float32
    as PyTorch's, in few NumPy calls (on small layers their count is what costs)."""
    _, x2, mean, var, eps = saved
    N, C = g.shape[:2]
    NG, K = x2.shape
    G = NG // N
    Cg = C // G
    M = K // Cg
    dt = x2.dtype
    g2 = np.ascontiguousarray(g).reshape(N * C, M)
    sums = np.stack(_row_sum_and_dot(g2, x2.reshape(N * C, M)))            # sum g, sum g*x
    sg, sgx = sums
    inv = var + dt.type(eps)
    np.sqrt(inv, out=inv)
    np.reciprocal(inv, out=inv)                                            # (NG,)
    gx = gw = gb = None
    if need[0]:
        both = sums.reshape(2, N, C) * weight if weight is not None else sums
        db, ds = both.reshape(2, NG, Cg).sum(axis=2)
        beta = db * mean
        beta -= ds
        beta *= inv * inv * inv / K        # -inv^2 * mean of g * w * x_hat
        gamma = beta * mean
        gamma += inv * db / K
        np.negative(gamma, out=gamma)      # -beta * mean - inv * mean of g * w
        gx = _input_grad(rt, g2.reshape(1, N, C * M), weight, inv, beta, gamma,
                         x2.reshape(1, NG, K), M)
    if weight is not None:
        if need[1]:
            # sum over n of (sum g*x - mean * sum g) * inv, per channel
            t = (sgx.reshape(NG, Cg) - mean[:, None] * sg.reshape(NG, Cg)) * inv[:, None]
            gw = np.add.reduce(t.reshape(N, C), axis=0)
        if need[2]:
            gb = np.add.reduce(sg.reshape(N, C), axis=0)
    return gx, gw, gb


def _input_grad(rt, g, w, inv, beta, gamma, x, M):
    """``inv * w * g + beta * x + gamma`` for ``g`` (1, N, C*M), ``x`` (1, N*G, K) (the same
    elements, rows of the groups), ``w`` (C,) or None, ``inv``, ``beta``, ``gamma`` (N*G,):
    ``((t * (inv / beta)) + x) * beta + gamma`` with ``t = g * w`` (over the (1, N, C*M) view:
    two fast broadcasts) where the planes are small, else with ``t = g`` and a per-(sample,
    channel) factor ``inv * w / beta`` (one pass). Where a beta is 0 or the ratio could
    overflow: ``beta * x + gamma``, then ``+ (inv * w) * g`` accumulated."""
    N = g.shape[1]
    NG, K = x.shape[1:]
    dt = g.dtype
    C = g.shape[2] // M
    out = np.empty(x.shape, dtype=dt)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = (inv / beta).astype(dt, copy=False)                            # (NG,)
    # the one-pass form needs a finite ratio far from overflow (a nan or inf in k makes the
    # product nan or inf, and the comparison False)
    kmax = float(np.max(np.abs(k)))
    wmax = 1.0 if w is None else float(np.max(np.abs(w), initial=0.0))
    ratio = kmax * wmax < 1e30
    rows = (beta.astype(dt, copy=False).reshape(1, NG, 1),
            gamma.astype(dt, copy=False).reshape(1, NG, 1))
    if M <= _SPREAD_MAX_M or not ratio:
        t = g if w is None else onednn.binary(rt, "mul", g, _spread(w, M, dt),
                                              out.reshape(g.shape))
        t = t.reshape(1, NG, K)
        if ratio:
            return onednn.binary(rt, "mul", t, k.reshape(1, NG, 1), out,
                                 [("add", x), ("mul", rows[0]), ("add", rows[1])])
        # t * inv into out (t may be out), then beta * x + gamma added: (t*inv + beta*x) + gamma
        onednn.binary(rt, "mul", t, inv.astype(dt, copy=False).reshape(1, NG, 1), out)
        bx = onednn.binary(rt, "mul", x, rows[0], np.empty(x.shape, dtype=dt),
                           [("add", rows[1])])
        return onednn.binary(rt, "add", out, bx, out)
    Cg = C // (NG // N)
    kc = np.repeat(k, Cg).reshape(N, C)
    if w is not None:
        kc = kc * w.astype(dt, copy=False)
    gc = g.reshape(1, N * C, M)
    rep = (np.repeat(rows[0], Cg).reshape(1, N * C, 1),
           np.repeat(rows[1], Cg).reshape(1, N * C, 1))
    return onednn.binary(rt, "mul", gc, kc.reshape(1, N * C, 1), out.reshape(gc.shape),
                         [("add", x.reshape(gc.shape)), ("mul", rep[0]), ("add", rep[1])])


def group_norm_forward(x, groups, weight, bias, eps, keep):
    """``(y, saved)``: group normalisation of ``x`` (N, C, ...) over each sample's groups;
    ``saved`` (None unless ``keep``) is what ``group_norm_backward`` needs. Float32 arrays of
    at least ``LAYER_NORM_MIN_SIZE`` elements go through oneDNN's layer normalisation where it
    loads, the others through the NumPy kernels above."""
    rt = _runtime(x, *(a for a in (weight, bias) if a is not None))
    if rt is not None:
        try:
            return _layer_norm_forward(rt, x, groups, weight, bias, eps, keep)
        except onednn.DnnlError:
            pass
    y, d, inv = _numpy_forward(x, groups, weight, bias, eps, keep)
    return y, (("centered", d, inv) if keep else None)


def group_norm_silu(x, groups, weight, bias, eps):
    """SiLU of ``group_norm_forward``'s output (nothing kept): through oneDNN, the SiLU is a
    post-op of the affine pass (one memory pass fewer than a separate activation)."""
    rt = _runtime(x, *(a for a in (weight, bias) if a is not None))
    if rt is not None:
        try:
            return _layer_norm_forward(rt, x, groups, weight, bias, eps, False, act=True)[0]
        except onednn.DnnlError:
            pass
    return silu(_numpy_forward(x, groups, weight, bias, eps, False)[0])


def group_norm_backward(g, saved, weight, need):
    """``(gx, gw, gb)`` of ``group_norm_forward`` for the output gradient ``g``; ``need``
    (input, weight, bias) says which to compute (gw and gb are None without a weight)."""
    if saved[0] == "layer_norm":
        rt = onednn.runtime()
        if rt is not None:  # (None only in a forked child: recompute from x_hat's inputs)
            return _layer_norm_backward(rt, g, saved, weight, need)
        _, x2, _, _, eps = saved
        N, C = g.shape[:2]
        _, d, inv = _numpy_forward(x2.reshape(g.shape), x2.shape[0] // N, None, None, eps,
                                   True)
        return _numpy_backward(g, d, inv, weight, need)
    return _numpy_backward(g, saved[1], saved[2], weight, need)
