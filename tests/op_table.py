"""The table of differentiable ops: (name, fn on Tensors, reference on NumPy, input shapes).

Shared by the NumPy run (test_ops.py) and the array-api-strict run (test_strict.py)."""
import numpy as np

import arrayneedle as an
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
    ("max", lambda a: O.max(a, axis=1), lambda a: a.max(axis=1), [(3, 5)], None),
    ("max_all", O.max, np.max, [(3, 5)], None),
    ("var", lambda a: O.var(a, axis=1, keepdims=True), lambda a: a.var(axis=1, keepdims=True),
     [(3, 5)], None),
    ("var_unbiased", lambda a: O.var(a, correction=1), lambda a: a.var(ddof=1), [(3, 5)], None),
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
    ("split", lambda a: O.split(a, [1, 3], axis=1)[1], lambda a: a[:, 1:3], [(3, 5)], None),
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
    ("channel_affine", O.channel_affine, lambda x, s, b: x * _cs(x, s) + _cs(x, b),
     [(3, 4, 2, 3), (4,), (4,)], None),
    ("channel_affine_2d", O.channel_affine, lambda x, s, b: x * _cs(x, s) + _cs(x, b),
     [(5, 3), (3,), (3,)], None),
]

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
