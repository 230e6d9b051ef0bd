"""Differentiable Functions and compositions of the recurrent, attention and loss modules, in
the op-table format of op_table.py: (name, fn on Tensors, NumPy reference, input shapes,
input transforms). Run on NumPy (test_losses.py) and array-api-strict (test_strict_rnn.py).

Constant arguments (class targets, masks) are built on the first input's device inside ``fn``
so that the same row runs on any array library."""
import numpy as np

import arrayneedle as an
import arrayneedle.nn.functional as F
from arrayneedle.nn.functional.loss import ClampedLog, LogSigmoid


def _const(like, value):
    return an.Tensor(like.device.asarray(np.asarray(value)), device=like.device)


def _unit(x):  # probabilities away from 0 and 1
    return 0.1 + 0.8 / (1 + np.exp(-x))


def _sig(x):
    return 1 / (1 + np.exp(-x))


def log_softmax_ref(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def nll_ref(logp, t, w=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's nll/cross-entropy on log-probabilities with class axis 1 (or 0 unbatched)."""
    cdim = 0 if logp.ndim == 1 else 1
    lp = np.moveaxis(logp, cdim, -1).reshape(-1, logp.shape[cdim])
    tt = np.asarray(t).reshape(-1)
    C = lp.shape[1]
    w = np.ones(C) if w is None else np.asarray(w, float)
    keep = tt != ignore_index
    safe = np.where(keep, tt, 0)
    picked = -lp[np.arange(len(tt)), safe] * w[safe] * keep
    smooth = -(lp * w).sum(1) * keep
    denom = (w[safe] * keep).sum()
    loss = (1 - smoothing) * picked + smoothing / C * smooth
    if reduction == "mean":
        return loss.sum() / denom
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(np.asarray(t).shape)


def sdpa_ref(q, k, v, keep=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


_KEEP = np.array([[True, False, True], [False, False, True]])
_T3 = [2, 0, 1]                 # targets of a (3, 4) input
_T3_IGN = [2, -100, 3]
_TD = [[0, 3], [2, 1]]          # targets of a (2, 4, 2) input
_W4 = [0.5, 2.0, 1.0, 1.5]

ROWS = [
    ("clamped_log", ClampedLog.apply, np.log, [(3, 4)], [_unit]),
    ("log_sigmoid", LogSigmoid.apply, lambda x: np.log(_sig(x)), [(3, 4)], None),
    ("cross_entropy", lambda x: F.cross_entropy(x, _const(x, _T3)),
     lambda x: nll_ref(log_softmax_ref(x, 1), _T3), [(3, 4)], None),
    ("cross_entropy_weight_ignore_smooth",
     lambda x: F.cross_entropy(x, _const(x, _T3_IGN), weight=_const(x, _W4),
                               label_smoothing=0.2),
     lambda x: nll_ref(log_softmax_ref(x, 1), _T3_IGN, _W4, smoothing=0.2), [(3, 4)], None),
    ("cross_entropy_nd_none", lambda x: F.cross_entropy(x, _const(x, _TD), reduction="none"),
     lambda x: nll_ref(log_softmax_ref(x, 1), _TD, reduction="none"), [(2, 4, 2)], None),
    ("cross_entropy_probs", lambda x, p: F.cross_entropy(x, p),
     lambda x, p: -(log_softmax_ref(x, 1) * p).sum(1).mean(), [(3, 4), (3, 4)], [None, _unit]),
    ("nll_loss_weight", lambda x: F.nll_loss(x, _const(x, _T3), weight=_const(x, _W4),
                                             reduction="sum"),
     lambda x: nll_ref(x, _T3, _W4, reduction="sum"), [(3, 4)], None),
    ("bce", lambda x, t: F.binary_cross_entropy(x, t),
     lambda x, t: -(t * np.log(x) + (1 - t) * np.log(1 - x)).mean(), [(3, 4), (3, 4)],
     [_unit, _unit]),
    ("bce_with_logits_pos_weight",
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=_const(x, [1.0, 2.0, 0.5,
                                                                              3.0])),
     lambda x, t: -(np.array([1.0, 2.0, 0.5, 3.0]) * t * np.log(_sig(x))
                    + (1 - t) * np.log(1 - _sig(x))).mean(), [(3, 4), (3, 4)], [None, _unit]),
    ("kl_div_batchmean", lambda x, t: F.kl_div(x, t, reduction="batchmean"),
     lambda x, t: (t * (np.log(t) - x)).sum() / x.shape[0], [(3, 4), (3, 4)], [None, _unit]),
    ("smooth_l1", lambda a, b: F.smooth_l1_loss(a, b, beta=0.7),
     lambda a, b: np.where(np.abs(a - b) < 0.7, 0.5 * (a - b) ** 2 / 0.7,
                           np.abs(a - b) - 0.35).mean(), [(3, 4), (3, 4)], None),
    ("sdpa_masked",
     lambda q, k, v: F.scaled_dot_product_attention(
         q, k, v, attn_mask=_const(q, _KEEP)),
     lambda q, k, v: sdpa_ref(q, k, v, _KEEP), [(2, 2, 4), (2, 3, 4), (2, 3, 5)], None),
    ("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     lambda q, k, v: sdpa_ref(q, k, v, np.tril(np.ones((3, 3), bool))), [(1, 3, 4), (1, 3, 4), (1, 3, 2)], None),
]


# ---- recurrent layers as functions of (input, weights): one layer, 2 steps, batch 2, H = 2
def lstm_ref(x, w_ih, w_hh, b):
    """A NumPy LSTM, gates (i, f, g, o); b is b_ih + b_hh. x: (L, N, in)."""
    H = w_hh.shape[1]
    h = c = np.zeros((x.shape[1], H))
    outs = []
    for xt in x:
        g = xt @ w_ih.T + h @ w_hh.T + b
        i, f, gg, o = _sig(g[:, :H]), _sig(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), \
            _sig(g[:, 3 * H:])
        c = f * c + i * gg
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs)


def gru_ref(x, w_ih, w_hh, b_ih, b_hh):
    """A NumPy GRU, gates (r, z, n), n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
    H = w_hh.shape[1]
    h = np.zeros((x.shape[1], H))
    outs = []
    for xt in x:
        gi, gh = xt @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r, z = _sig(gi[:, :H] + gh[:, :H]), _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs)


def _with_params(module, **params):
    for k, v in params.items():
        setattr(module, k, v)
    return module


def _lstm(x, w_ih, w_hh, b):
    m = _with_params(an.nn.LSTM(3, 2, dtype="float64"), weight_ih_l0=w_ih, weight_hh_l0=w_hh,
                     bias_ih_l0=b, bias_hh_l0=b * 0.0)
    return m(x)[0]


def _gru(x, w_ih, w_hh, b_ih, b_hh):
    m = _with_params(an.nn.GRU(3, 2, dtype="float64"), weight_ih_l0=w_ih, weight_hh_l0=w_hh,
                     bias_ih_l0=b_ih, bias_hh_l0=b_hh)
    return m(x)[0]


ROWS += [
    ("lstm", _lstm, lstm_ref, [(2, 2, 3), (8, 3), (8, 2), (8,)], None),
    ("gru", _gru, gru_ref, [(2, 2, 3), (6, 3), (6, 2), (6,), (6,)], None),
]
