"""The table of differentiable ops: (name, fn on Tensors, reference on NumPy, input shapes).

Shared by the NumPy run (test_ops.py) and the array-api-strict run (test_strict.py)."""
import math

import numpy as np

import arrayneedle as an
import arrayneedle.nn.functional as F
import arrayneedle.ops as O


def _pos(x):  # inputs that must be positive
    return np.abs(x) + 0.5


def _apart(x):  # values at least 0.1 apart from zero (kinks of abs/relu/clip)
    return np.where(np.abs(x) < 0.1, 0.5, x)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _lse(x, axis, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _cs(x, v):  # a (C,) array shaped to broadcast over x's channel axis 1
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _bn_ref(x, w=None, b=None, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y if w is None else y * _cs(x, w) + _cs(x, b)


# fixed running statistics of 3 channels for the eval-mode batch_norm
_RM, _RV = np.array([0.3, -0.2, 0.1]), np.array([0.5, 1.5, 2.0])


def _running(x, v):  # v as a constant Tensor on x's device
    return an.Tensor(x.device.asarray(v), device=x.device)


def _bn_eval_ref(x, w, b, eps=1e-5):
    return (x - _cs(x, _RM)) / np.sqrt(_cs(x, _RV) + eps) * _cs(x, w) + _cs(x, b)


def _ln_ref(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return y if w is None else y * w + b


def _gn_ref(x, groups, w=None, b=None, eps=1e-5):
    g = x.reshape(x.shape[0], groups, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    return y if w is None else y * _cs(x, w) + _cs(x, b)


# name, function, reference, shapes, input transform
OPS = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (4,)], None),
    ("add_bcast", O.add, np.add, [(2, 1, 4), (3, 1)], None),
    ("subtract", lambda a, b: a - b, np.subtract, [(3, 1), (1, 5)], None),
    ("multiply", lambda a, b: a * b, np.multiply, [(2, 3, 4), (3, 1)], None),
    ("divide", lambda a, b: a / b, np.divide, [(3, 4), (4,)], [None, _pos]),
    ("add_scalar", lambda a: a + 1.5, lambda a: a + 1.5, [(3, 2)], None),
    ("rsub_scalar", lambda a: 2.0 - a, lambda a: 2.0 - a, [(3, 2)], None),
    ("mul_scalar", lambda a: a * 3.0, lambda a: a * 3.0, [(3, 2)], None),
    ("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, [(3, 2)], [_pos]),
    ("negative", lambda a: -a, np.negative, [(4,)], None),
    ("power", lambda a: a ** 3, lambda a: a ** 3, [(3, 4)], None),
    ("power_frac", lambda a: a ** 1.5, lambda a: a ** 1.5, [(3, 4)], [_pos]),
    ("square", lambda a: a ** 2, np.square, [(3, 4)], None),
    ("exp", O.exp, np.exp, [(3, 4)], None),
    ("log", O.log, np.log, [(3, 4)], [_pos]),
    ("sqrt", O.sqrt, np.sqrt, [(3, 4)], [_pos]),
    ("abs", O.abs, np.abs, [(3, 4)], [_apart]),
    ("sin", O.sin, np.sin, [(3, 4)], None),
    ("cos", O.cos, np.cos, [(3, 4)], None),
    ("tanh", O.tanh, np.tanh, [(3, 4)], None),
    ("sigmoid", O.sigmoid, _sig, [(3, 4)], None),
    ("relu", O.relu, lambda a: np.maximum(a, 0), [(3, 4)], [_apart]),
    ("silu", O.silu, lambda a: a * _sig(a), [(3, 4)], None),
    ("maximum", O.maximum, np.maximum, [(3, 4), (4,)], None),
    ("minimum", O.minimum, np.minimum, [(3, 4), (3, 1)], None),
    ("where", lambda a, b: O.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
     [(3, 4), (3, 4)], [_apart, None]),
    ("clip", lambda a: O.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), [(4, 5)],
     [lambda x: np.where(np.abs(np.abs(x) - 0.5) < 0.05, 0.2, x)]),
    ("matmul", O.matmul, np.matmul, [(3, 4), (4, 5)], None),
    ("matmul_batched", O.matmul, np.matmul, [(2, 3, 4), (4, 2)], None),
    ("matmul_bcast", O.matmul, np.matmul, [(2, 1, 3, 4), (3, 4, 2)], None),
    ("matmul_vec", O.matmul, np.matmul, [(3, 4), (4,)], None),
    ("sum_all", O.sum, np.sum, [(3, 4)], None),
    ("sum_axis", lambda a: O.sum(a, axis=1), lambda a: a.sum(axis=1), [(3, 4, 2)], None),
    ("sum_axes_keep", lambda a: O.sum(a, axis=(0, 2), keepdims=True),
     lambda a: a.sum(axis=(0, 2), keepdims=True), [(3, 4, 2)], None),
    ("mean", lambda a: O.mean(a, axis=0), lambda a: a.mean(axis=0), [(3, 4)], None),
    ("max", lambda a: O.max(a, 1).values, lambda a: a.max(axis=1), [(3, 5)], None),
    ("max_all", O.max, np.max, [(3, 5)], None),
    ("var", lambda a: O.var(a, axis=1, keepdims=True, correction=0),
     lambda a: a.var(axis=1, keepdims=True), [(3, 5)], None),
    ("var_unbiased", O.var, lambda a: a.var(ddof=1), [(3, 5)], None),
    ("logsumexp", lambda a: O.logsumexp(a, axis=1), lambda a: _lse(a, 1), [(3, 5)], None),
    ("softmax", lambda a: O.softmax(a, axis=-1),
     lambda a: np.exp(a - _lse(a, -1, True)), [(3, 5)], None),
    ("reshape", lambda a: O.reshape(a, (6, 2)), lambda a: a.reshape(6, 2), [(3, 4)], None),
    ("broadcast_to", lambda a: O.broadcast_to(a, (2, 3, 4)),
     lambda a: np.broadcast_to(a, (2, 3, 4)), [(3, 1)], None),
    ("permute", lambda a: O.permute(a, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), [(2, 3, 4)],
     None),
    ("transpose", O.transpose, lambda a: np.swapaxes(a, -1, -2), [(2, 3, 4)], None),
    ("flip", lambda a: O.flip(a, axis=1), lambda a: np.flip(a, axis=1), [(3, 4)], None),
    ("stack", lambda a, b: O.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1),
     [(3, 4), (3, 4)], None),
    ("concat", lambda a, b: O.concat([a, b], axis=1), lambda a, b: np.concatenate([a, b], 1),
     [(3, 2), (3, 4)], None),
    ("split", lambda a: O.split(a, [1, 2, 2], dim=1)[1], lambda a: a[:, 1:3], [(3, 5)], None),
    ("pad", lambda a: O.pad(a, ((1, 0), (2, 1))), lambda a: np.pad(a, ((1, 0), (2, 1))),
     [(3, 4)], None),
    ("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [(4, 5)], None),
    ("getitem_int", lambda a: a[:, 2], lambda a: a[:, 2], [(4, 5)], None),
    ("batch_norm", lambda x, w, b: O.batch_norm(x, None, None, w, b, training=True), _bn_ref,
     [(4, 3, 2, 3), (3,), (3,)], None),
    ("batch_norm_plain_2d", lambda x: O.batch_norm(x, None, None, training=True), _bn_ref,
     [(5, 3)], None),
    ("batch_norm_eval", lambda x, w, b: O.batch_norm(x, _running(x, _RM), _running(x, _RV), w, b),
     _bn_eval_ref, [(4, 3, 2, 3), (3,), (3,)], None),
    ("layer_norm", lambda x, w, b: O.layer_norm(x, (3, 2), w, b),
     lambda x, w, b: _ln_ref(x, 2, w, b), [(4, 3, 2), (3, 2), (3, 2)], None),
    ("layer_norm_plain", lambda x: O.layer_norm(x, 5), lambda x: _ln_ref(x, 1), [(3, 5)], None),
    ("group_norm", lambda x, w, b: O.group_norm(x, 2, w, b), lambda x, w, b: _gn_ref(x, 2, w, b),
     [(2, 4, 3, 2), (4,), (4,)], None),
    ("group_norm_plain_3d", lambda x: O.group_norm(x, 3), lambda x: _gn_ref(x, 3),
     [(2, 6, 5)], None),
    ("group_norm_silu", lambda x, w, b: O.group_norm_silu(x, 2, w, b),
     lambda x, w, b: _gn_ref(x, 2, w, b) * _sig(_gn_ref(x, 2, w, b)), [(2, 4, 3, 2), (4,), (4,)],
     None),
    ("group_norm_silu_plain_3d", lambda x: O.group_norm_silu(x, 3),
     lambda x: _gn_ref(x, 3) * _sig(_gn_ref(x, 3)), [(2, 6, 5)], None),
    ("channel_affine", O.channel_affine, lambda x, s, b: x * _cs(x, s) + _cs(x, b),
     [(3, 4, 2, 3), (4,), (4,)], None),
    ("channel_affine_2d", O.channel_affine, lambda x, s, b: x * _cs(x, s) + _cs(x, b),
     [(5, 3), (3,), (3,)], None),
]


def _erf(x):
    return np.vectorize(math.erf)(x)


def _on(x, v):  # an integer index as a constant Tensor on x's device
    return an.Tensor(x.device.asarray(np.asarray(v)), device=x.device)


_IDX = np.array([[0, 3, 3], [2, 1, 0]])  # gather / scatter_add index into a (2, 4) input
_K = math.sqrt(2 / math.pi)


def _zero_at(x):  # one exact zero per row, for cumprod's zero-safe backward
    x = x.copy()
    x[..., 1] = 0.0
    return x


def _cumprod0(x):
    return np.cumprod(x, axis=-1)


def _pad_ref(mode):
    def ref(x):
        return np.pad(x, ((0, 0), (1, 2), (2, 1)), mode={"reflect": "reflect",
                                                          "replicate": "edge",
                                                          "circular": "wrap"}[mode])
    return ref


# the PyTorch surface: new ops and dim=/keepdim= forms (all differentiable, all portable)
OPS += [
    ("max_dim_keep", lambda a: O.max(a, dim=0, keepdim=True)[0],
     lambda a: a.max(0, keepdims=True), [(3, 5)], None),
    ("min_dim", lambda a: a.min(1).values, lambda a: a.min(1), [(3, 5)], None),
    ("min_all", lambda a: a.min(), np.min, [(3, 5)], None),
    ("amax", lambda a: O.amax(a, (0, 2)), lambda a: a.max((0, 2)), [(3, 2, 4)], None),
    ("amin_keep", lambda a: O.amin(a, 1, keepdim=True), lambda a: a.min(1, keepdims=True),
     [(3, 4)], None),
    ("topk", lambda a: O.topk(a, 2, dim=1).values, lambda a: -np.sort(-a, 1)[:, :2], [(3, 5)],
     None),
    ("topk_smallest", lambda a: a.topk(3, 0, largest=False)[0], lambda a: np.sort(a, 0)[:3],
     [(4, 3)], None),
    ("sort_desc", lambda a: O.sort(a, dim=0, descending=True).values,
     lambda a: -np.sort(-a, 0), [(4, 3)], None),
    ("sort", lambda a: a.sort()[0], lambda a: np.sort(a, -1), [(2, 5)], None),
    ("gather", lambda a: O.gather(a, 1, _on(a, _IDX)), lambda a: np.take_along_axis(a, _IDX, 1),
     [(2, 4)], None),
    ("gather_dim0", lambda a: a.gather(0, _on(a, [[1, 0, 1]])),
     lambda a: np.take_along_axis(a[:, :3], np.array([[1, 0, 1]]), 0), [(2, 4)], None),
    ("scatter_add", lambda a, s: O.scatter_add(a, 0, _on(a, _IDX % 2), s),
     lambda a, s: _scatter_add_ref2(a, s), [(2, 4), (2, 3)], None),
    ("sum_dim_keep", lambda a: O.sum(a, dim=(0, 2), keepdim=True),
     lambda a: a.sum((0, 2), keepdims=True), [(3, 4, 2)], None),
    ("mean_method", lambda a: a.mean(-1, keepdim=True), lambda a: a.mean(-1, keepdims=True),
     [(3, 4)], None),
    ("prod_dim", lambda a: O.prod(a, 1), lambda a: a.prod(1), [(3, 4)], None),
    ("prod_all_zero", O.prod, np.prod, [(2, 3)], [_zero_at]),
    ("var_pop_dim", lambda a: a.var(1, unbiased=False, keepdim=True),
     lambda a: a.var(1, keepdims=True), [(3, 5)], None),
    ("std", lambda a: O.std(a, dim=0), lambda a: a.std(0, ddof=1), [(4, 3)], None),
    ("std_correction", lambda a: O.std(a, correction=0), np.std, [(4, 3)], None),
    ("logsumexp_dim", lambda a: O.logsumexp(a, dim=0, keepdim=True),
     lambda a: _lse(a, 0, True), [(3, 5)], None),
    ("log_softmax_dim", lambda a: a.log_softmax(dim=0), lambda a: a - _lse(a, 0, True),
     [(3, 4)], None),
    ("norm", lambda a: O.norm(a, dim=1), lambda a: np.sqrt((a * a).sum(1)), [(3, 4)], None),
    ("norm_p3", lambda a: a.norm(3, dim=0, keepdim=True),
     lambda a: (np.abs(a) ** 3).sum(0, keepdims=True) ** (1 / 3), [(3, 4)], None),
    ("norm_1_all", lambda a: O.norm(a, 1), lambda a: np.abs(a).sum(), [(3, 4)], [_apart]),
    ("cat_dim", lambda a, b: O.cat([a, b], dim=-1), lambda a, b: np.concatenate([a, b], -1),
     [(3, 2), (3, 4)], None),
    ("stack_dim", lambda a, b: O.stack((a, b), dim=-1), lambda a, b: np.stack([a, b], -1),
     [(3, 4), (3, 4)], None),
    ("chunk", lambda a: O.chunk(a, 3, dim=1)[2], lambda a: a[:, 4:], [(3, 5)], None),
    ("tensor_split", lambda a: O.tensor_split(a, 3, dim=1)[0], lambda a: a[:, :2], [(3, 5)],
     None),
    ("narrow", lambda a: a.narrow(1, 1, 2), lambda a: a[:, 1:3], [(3, 5)], None),
    ("expand", lambda a: a.expand(2, -1, 4), lambda a: np.broadcast_to(a, (2, 3, 4)),
     [(3, 1)], None),
    ("repeat", lambda a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), [(2, 3)], None),
    ("view", lambda a: a.view(-1, 2), lambda a: a.reshape(-1, 2), [(3, 4)], None),
    ("transpose_dims", lambda a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2), [(2, 3, 4)],
     None),
    ("T", lambda a: a.T, lambda a: a.T, [(2, 3, 4)], None),
    ("t", O.t, lambda a: a.T, [(2, 3)], None),
    ("movedim", lambda a: O.movedim(a, 0, -1), lambda a: np.moveaxis(a, 0, -1), [(2, 3, 4)],
     None),
    ("unflatten", lambda a: a.unflatten(1, (2, -1)), lambda a: a.reshape(3, 2, 3), [(3, 6)],
     None),
    ("squeeze_dim", lambda a: a.squeeze((0, 1)), lambda a: a.reshape(3, 1), [(1, 3, 1)], None),
    ("unsqueeze_dim", lambda a: O.unsqueeze(a, dim=-1), lambda a: a[..., None], [(2, 3)], None),
    ("flatten_dims", lambda a: a.flatten(1), lambda a: a.reshape(2, -1), [(2, 3, 4)], None),
    ("masked_fill", lambda a: a.masked_fill(a > 0, -1.0), lambda a: np.where(a > 0, -1.0, a),
     [(3, 4)], [_apart]),
    ("tril", lambda a: O.tril(a), np.tril, [(4, 5)], None),
    ("triu_k", lambda a: O.triu(a, 1), lambda a: np.triu(a, 1), [(2, 3, 3)], None),
    ("cumsum", lambda a: O.cumsum(a, dim=1), lambda a: np.cumsum(a, 1), [(3, 4)], None),
    ("cumprod", lambda a: a.cumprod(0), lambda a: np.cumprod(a, 0), [(4, 3)], None),
    ("cumprod_zero", lambda a: O.cumprod(a, -1), _cumprod0, [(3, 4)], [_zero_at]),
    ("clamp", lambda a: O.clamp(a, min=-0.5), lambda a: np.maximum(a, -0.5), [(4, 5)],
     [lambda x: np.where(np.abs(x + 0.5) < 0.05, 0.2, x)]),
    ("clone", O.clone, np.copy, [(3, 2)], None),
    ("mm", O.mm, np.matmul, [(3, 4), (4, 2)], None),
    ("bmm", O.bmm, np.matmul, [(2, 3, 4), (2, 4, 2)], None),
    ("outer", O.outer, np.outer, [(3,), (4,)], None),
    ("einsum_bmm", lambda a, b: O.einsum("bij,bjk->bik", a, b),
     lambda a, b: np.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)], None),
    ("einsum_reduce", lambda a, b: O.einsum("ij,k->jk", a, b),
     lambda a, b: np.einsum("ij,k->jk", a, b), [(3, 2), (4,)], None),
    ("einsum_ellipsis", lambda a, b: O.einsum("...ij,...j", a, b),
     lambda a, b: np.einsum("...ij,...j", a, b), [(2, 3, 4), (2, 4)], None),
    ("erf", O.erf, _erf, [(3, 4)], None),
    ("gelu", O.gelu, lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2))), [(3, 4)], None),
    ("gelu_tanh", lambda a: O.gelu(a, approximate="tanh"),
     lambda a: 0.5 * a * (1 + np.tanh(_K * (a + 0.044715 * a ** 3))), [(3, 4)], None),
    ("leaky_relu", lambda a: O.leaky_relu(a, 0.2), lambda a: np.where(a > 0, a, 0.2 * a),
     [(3, 4)], [_apart]),
    ("elu", lambda a: O.elu(a, 1.5), lambda a: np.where(a > 0, a, 1.5 * np.expm1(a)), [(3, 4)],
     [_apart]),
    ("softplus", lambda a: O.softplus(a, beta=2.0, threshold=1.0),
     lambda a: np.where(2 * a > 1, a, np.log1p(np.exp(2 * a)) / 2), [(3, 4)],
     [lambda x: np.where(np.abs(x - 0.5) < 0.1, 0.2, x)]),
    ("F_linear", F.linear, lambda x, w, b: x @ w.T + b, [(2, 3, 4), (5, 4), (5,)], None),
    ("F_normalize", lambda a: F.normalize(a, dim=1),
     lambda a: a / np.sqrt((a * a).sum(1, keepdims=True)), [(3, 4)], None),
    ("F_pad_constant", lambda a: F.pad(a, (2, 1, 0, 3), value=0.5),
     lambda a: np.pad(a, ((0, 0), (0, 3), (2, 1)), constant_values=0.5), [(2, 3, 4)], None),
    ("F_pad_crop", lambda a: F.pad(a, (-1, 1)), lambda a: np.pad(a[:, 1:], ((0, 0), (0, 1))),
     [(3, 4)], None),
    ("F_pad_reflect", lambda a: F.pad(a, (2, 1, 1, 2), mode="reflect"), _pad_ref("reflect"),
     [(2, 4, 3)], None),
    ("F_pad_replicate", lambda a: F.pad(a, (2, 1, 1, 2), mode="replicate"),
     _pad_ref("replicate"), [(2, 4, 3)], None),
    ("F_pad_circular", lambda a: F.pad(a, (2, 1, 1, 2), mode="circular"),
     _pad_ref("circular"), [(2, 4, 3)], None),
    ("F_embedding", lambda w: F.embedding(_on(w, [[0, 2], [2, 3]]), w),
     lambda w: w[np.array([[0, 2], [2, 3]])], [(4, 3)], None),
    ("take_flat", lambda a: O.take(a, _on(a, [[0, 5], [5, 7]])),
     lambda a: a.reshape(-1)[np.array([[0, 5], [5, 7]])], [(2, 4)], None),
    ("scatter", lambda a, s: O.scatter(a, 1, _on(a, [[2, 0], [1, 3]]), s),
     lambda a, s: _scatter_ref(a, s), [(2, 4), (2, 3)], None),
    ("diag_vec", lambda a: O.diag(a, -1), lambda a: np.diag(a, -1), [(3,)], None),
    ("diag_mat", lambda a: a.diag(1), lambda a: np.diag(a, 1), [(3, 4)], None),
    ("index_select", lambda a: O.index_select(a, 1, _on(a, [3, 0, 3])),
     lambda a: a[:, [3, 0, 3]], [(2, 4)], None),
]


def _scatter_add_ref2(a, s):
    out = a.copy()
    idx = _IDX % 2
    np.add.at(out, (idx, np.broadcast_to(np.arange(3), idx.shape)), s)
    return out


def _scatter_ref(a, s):
    out = a.copy()
    idx = np.array([[2, 0], [1, 3]])
    out[np.arange(2)[:, None], idx] = s[:, :2]
    return out


# integer-array indexing: its reference needs index arrays, kept separate from the portable table
INDEX_OPS = [
    ("getitem_array", lambda a: a[[0, 2, 2]], lambda a: a[[0, 2, 2]], [(4, 3)], None),
    ("take", lambda a: O.take(a, an.Tensor([[0, 2], [2, 1]]), axis=0),
     lambda a: a[np.array([[0, 2], [2, 1]])], [(3, 4)], None),
]


def make_inputs(shapes, transforms, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) for s in shapes]
    if transforms:
        xs = [x if t is None else t(x) for x, t in zip(xs, transforms)]
    return xs

from op_table_surface2 import SURFACE2_OPS  # noqa: E402

OPS += SURFACE2_OPS
