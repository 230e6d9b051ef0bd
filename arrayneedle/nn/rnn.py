"""Recurrent layers with PyTorch's names, parameter names and shapes, gate orders,
initialisation and return structures, so PyTorch weights load and outputs match.

Each layer projects the inputs of every time step with one matmul up front (with both biases
folded in where the gate equations allow); each step then does one ``h @ W_hh^T`` for all
gates and the elementwise gate math, on differentiable ops so autograd runs through them.
Gate orders: LSTM (i, f, g, o); GRU (r, z, n) with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
"""
from __future__ import annotations

import math
import warnings

from .. import ops
from . import init
from ..autograd import Tensor
from .functional.attention import dropout_mask
from .functional.linear import linear
from .module import Module, zeros_parameter
from .utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}



def _rnn_step(mode, xw, h, c, w_hh, b_hh):
    """One time step from the projected input ``xw`` (biases already in, except GRU's b_hh).
    Returns (h, c); c is None except for LSTM."""
    H = h.shape[-1]
    if mode == "LSTM":
        gates = xw + ops.matmul(h, ops.transpose(w_hh))
        s = ops.sigmoid(gates)
        i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
        c = f * c + i * ops.tanh(gates[:, 2 * H:3 * H])
        return o * ops.tanh(c), c
    if mode == "GRU":
        gh = linear(h, w_hh, b_hh)
        rz = ops.sigmoid(xw[:, :2 * H] + gh[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        n = ops.tanh(xw[:, 2 * H:] + r * gh[:, 2 * H:])
        return n + z * (h - n), None
    pre = xw + ops.matmul(h, ops.transpose(w_hh))
    return (ops.tanh(pre) if mode == "RNN_TANH" else ops.relu(pre)), None


def _folds_hh_bias(mode):
    return mode != "GRU"  # GRU's b_hn sits inside r * (...), so it stays in the step


def _init_uniform(module, hidden_size):
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _check_float(name, x):
    if not x.device.xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name}: input must be floating point, got dtype {x.dtype}")


# ---------------------------------------------------------------- cells
class _CellBase(Module):
    _mode = ""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype="float32"):
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: input_size and hidden_size must be "
                             f"positive, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = _GATES[self._mode] * hidden_size
        self.weight_ih = zeros_parameter((G, input_size), device, dtype)
        self.weight_hh = zeros_parameter((G, hidden_size), device, dtype)
        self.bias_ih = zeros_parameter((G,), device, dtype) if bias else None
        self.bias_hh = zeros_parameter((G,), device, dtype) if bias else None
        _init_uniform(self, hidden_size)

    def _prepare(self, input, hx):
        name = type(self).__name__
        _check_float(name, input)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input (N, {self.input_size}) or "
                             f"({self.input_size},), got {input.shape}")
        unbatched = input.ndim == 1
        if unbatched:
            input = ops.unsqueeze(input, 0)
        N = input.shape[0]
        states = () if hx is None else (hx if isinstance(hx, tuple) else (hx,))
        out = []
        for s in states:
            s = ops.unsqueeze(s, 0) if unbatched else s
            if s.shape != (N, self.hidden_size):
                raise ValueError(f"{name}: expected hidden state of shape "
                                 f"{(N, self.hidden_size)[unbatched:]}, got "
                                 f"{s.shape[unbatched:]}")
            out.append(s)
        while len(out) < (2 if self._mode == "LSTM" else 1):
            out.append(Tensor._wrap(input.device.xp.zeros((N, self.hidden_size),
                                                           dtype=input.dtype), input.device))
        return input, out, unbatched

    def _step(self, input, hx):
        x, states, unbatched = self._prepare(input, hx)
        b = self.bias_ih
        if self.bias and _folds_hh_bias(self._mode):
            b = self.bias_ih + self.bias_hh
        h, c = _rnn_step(self._mode, linear(x, self.weight_ih, b), states[0],
                         states[1] if len(states) > 1 else None, self.weight_hh, self.bias_hh)
        if unbatched:
            h = ops.squeeze(h, axis=0)
            c = None if c is None else ops.squeeze(c, axis=0)
        return h, c

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu with ``nonlinearity="relu"``)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype="float32"):
        self._mode = _rnn_mode(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


class LSTMCell(_CellBase):
    """One LSTM step: returns (h', c')."""
    _mode = "LSTM"

    def forward(self, input, hx=None):
        return self._step(input, hx)


class GRUCell(_CellBase):
    """One GRU step: returns h'."""
    _mode = "GRU"

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


def _rnn_mode(nonlinearity):
    if nonlinearity == "tanh":
        return "RNN_TANH"
    if nonlinearity == "relu":
        return "RNN_RELU"
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")


# ---------------------------------------------------------------- multi-layer sequences
class _RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        if proj_size:
            raise ValueError(f"{name}: proj_size={proj_size} (LSTM projections) is not "
                             f"supported; use proj_size=0")
        if input_size <= 0 or hidden_size <= 0 or num_layers < 1:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between stacked layers only, so it "
                          f"does nothing with num_layers=1", UserWarning, stacklevel=3)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        G = _GATES[mode] * hidden_size
        D = 2 if bidirectional else 1
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else hidden_size * D
            for suffix in ("", "_reverse")[:D]:
                setattr(self, f"weight_ih_l{layer}{suffix}", zeros_parameter((G, n_in), device,
                                                                             dtype))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        zeros_parameter((G, hidden_size), device, dtype))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", zeros_parameter((G,), device,
                                                                               dtype))
                    setattr(self, f"bias_hh_l{layer}{suffix}", zeros_parameter((G,), device,
                                                                               dtype))
        _init_uniform(self, hidden_size)

    def _weights(self, layer, suffix):
        w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        if not self.bias:
            return w_ih, w_hh, None, None
        return (w_ih, w_hh, getattr(self, f"bias_ih_l{layer}{suffix}"),
                getattr(self, f"bias_hh_l{layer}{suffix}"))

    def _run_direction(self, x, h, c, layer, suffix, mask=None):
        """x: (L, N, in). Returns (outputs (L, N, H) in time order, h_T, c_T). With ``mask``
        ((L, N, 1) booleans: packed sequences), a sequence's state stays as it is at the steps
        past its length, so h_T is its state at its own last step (and the reverse direction
        starts there)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, suffix)
        b = b_ih
        if b_ih is not None and _folds_hh_bias(self.mode):
            b = b_ih + b_hh
        xw = linear(x, w_ih, b)  # every time step in one matmul
        steps = range(x.shape[0] - 1, -1, -1) if suffix else range(x.shape[0])
        outs = [None] * x.shape[0]
        for t in steps:
            h_new, c_new = _rnn_step(self.mode, xw[t, ...], h, c, w_hh, b_hh)
            if mask is None:
                h, c = h_new, c_new
            else:
                h = ops.where(mask[t], h_new, h)
                c = None if c is None else ops.where(mask[t], c_new, c)
            outs[t] = h
        return ops.stack(outs, axis=0), h, c

    def _initial_states(self, hx, N, like):
        name = type(self).__name__
        D = 2 if self.bidirectional else 1
        shape = (self.num_layers * D, N, self.hidden_size)
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:
            zero = Tensor._wrap(like.device.xp.zeros(shape, dtype=like.dtype), like.device)
            return [zero] * n_states
        states = list(hx) if isinstance(hx, (tuple, list)) else [hx]
        if len(states) != n_states:
            raise ValueError(f"{name}: expected {'(h_0, c_0)' if n_states == 2 else 'h_0'} as "
                             f"the initial state, got {len(states)} tensors")
        for s in states:
            if s.shape != shape:
                raise ValueError(f"{name}: expected initial states of shape {shape}, got "
                                 f"{s.shape}")
        return states

    def forward(self, input, hx=None):
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        _check_float(name, input)
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input (L, N, {self.input_size}) ((N, L, "
                             f"{self.input_size}) with batch_first) or (L, {self.input_size}), "
                             f"got {input.shape}")
        unbatched = input.ndim == 2
        if unbatched:
            x = ops.unsqueeze(input, 1)
            if hx is not None:
                hx = tuple(ops.unsqueeze(s, 1) for s in (hx if isinstance(hx, tuple)
                                                          else (hx,)))
        else:
            x = ops.transpose(input, 0, 1) if self.batch_first else input
        states = self._initial_states(hx, x.shape[1], x)
        lstm = self.mode == "LSTM"
        x, h_n, c_n = self._run_layers(x, states)
        if unbatched:
            x = ops.squeeze(x, axis=1)
            h_n = ops.squeeze(h_n, axis=1)
            c_n = ops.squeeze(c_n, axis=1) if lstm else None
        elif self.batch_first:
            x = ops.transpose(x, 0, 1)
        return (x, (h_n, c_n)) if lstm else (x, h_n)

    def _run_layers(self, x, states, mask=None):
        """Every layer and direction over x (L, N, in): (outputs, h_n, c_n or None)."""
        lstm = self.mode == "LSTM"
        D = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[:D]):
                k = layer * D + d
                out, h, c = self._run_direction(x, states[0][k, ...],
                                                states[1][k, ...] if lstm else None,
                                                layer, suffix, mask)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if D == 1 else ops.concat(outs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = dropout_mask(x, self.dropout)
        return x, ops.stack(h_n, axis=0), (ops.stack(c_n, axis=0) if lstm else None)

    def _forward_packed(self, packed, hx):
        """A PackedSequence in, a PackedSequence out (PyTorch's rule): the batch runs in its
        sorted order, each sequence to its own length; h_n (and c_n) in the original order."""
        _check_float(type(self).__name__, packed.data)
        x, lengths = pad_packed_sequence(PackedSequence(packed.data, packed.batch_sizes))
        xp = x.device.xp
        lens = xp.asarray(lengths.tolist(), dtype=xp.int64)
        steps = xp.arange(x.shape[0], dtype=xp.int64)
        mask = Tensor._wrap((steps[:, None] < lens[None, :])[:, :, None], x.device)
        lstm = self.mode == "LSTM"
        if hx is not None and packed.sorted_indices is not None:  # into the sorted order
            hx = tuple(ops.index_select(s, 1, packed.sorted_indices)
                       for s in (hx if isinstance(hx, tuple) else (hx,)))
            hx = hx if lstm else hx[0]
        states = self._initial_states(hx, x.shape[1], x)
        out, h_n, c_n = self._run_layers(x, states, mask)
        out = pack_padded_sequence(out, lengths)
        out = PackedSequence(out.data, out.batch_sizes, packed.sorted_indices,
                             packed.unsorted_indices)
        if packed.unsorted_indices is not None:
            h_n = ops.index_select(h_n, 1, packed.unsorted_indices)
            c_n = ops.index_select(c_n, 1, packed.unsorted_indices) if lstm else None
        return (out, (h_n, c_n)) if lstm else (out, h_n)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s


class RNN(_RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu); returns
    (output, h_n). Positional order as PyTorch's: nonlinearity comes fourth."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None,
                 dtype="float32"):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """Long short-term memory; returns (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype="float32"):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit; returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype="float32"):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)
