"""``nn.utils.rnn``: ``pad_sequence`` / ``unpad_sequence``, and packed sequences as PyTorch's
(``PackedSequence``, ``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence``),
which ``nn.RNN``/``LSTM``/``GRU`` take: each sequence then stops at its own length (its state
freezes past it, its outputs there are zeros)."""
from __future__ import annotations

from collections import namedtuple

from ... import ops
from ...tensor import Tensor
from ...creation import full

__all__ = ["pad_sequence", "unpad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "PackedSequence"]


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (max L, B, *) (or (B, max L, *) with
    ``batch_first``), filling with ``padding_value`` on ``padding_side``; differentiable."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    seqs = list(sequences)
    if not seqs or not all(isinstance(s, Tensor) for s in seqs):
        raise TypeError("pad_sequence expects a non-empty sequence of Tensors")
    n = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        extra = n - s.shape[0]
        if extra:
            fill = full((extra,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype,
                        device=s.device)
            s = ops.cat([s, fill] if padding_side == "right" else [fill, s])
        rows.append(s)
    return ops.stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of unpadded sequences of a padded batch."""
    x = padded_sequences if batch_first else ops.transpose(padded_sequences, 0, 1)
    return [x[i, :int(n)] for i, n in enumerate(lengths)]



class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """Sequences of different lengths, time-major: ``data`` holds step 0 of every sequence,
    then step 1 of those still running, ...; ``batch_sizes[t]`` how many run at step t (the
    batch sorted by length, longest first; ``sorted_indices`` that order, ``unsorted_indices``
    its inverse, None when the batch came sorted)."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def to(self, *args, **kwargs):
        return type(self)(self.data.to(*args, **kwargs), self.batch_sizes, self.sorted_indices,
                          self.unsorted_indices)


def _invert(perm):
    xp = perm.device.xp
    inv = xp.zeros(perm.shape, dtype=xp.int64)
    inv[perm.array] = xp.arange(perm.shape[0], dtype=xp.int64)
    return Tensor.from_array(inv, perm.device)


def _lengths_list(lengths):
    return [int(n) for n in (lengths.tolist() if isinstance(lengths, Tensor) else lengths)]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ((T, B, *), or (B, T, *) with ``batch_first``) of sequences of
    ``lengths``; with ``enforce_sorted`` the lengths must be decreasing."""
    lens = _lengths_list(lengths)
    x = ops.transpose(input, 0, 1) if batch_first else input
    if len(lens) != x.shape[1]:
        raise ValueError(f"pack_padded_sequence: {len(lens)} lengths for a batch of "
                         f"{x.shape[1]}")
    if any(n <= 0 for n in lens) or max(lens) > x.shape[0]:
        raise RuntimeError(f"pack_padded_sequence: lengths must be in [1, {x.shape[0]}], got "
                           f"{lens}")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lens, lens[1:])):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement.")
    else:
        order = sorted(range(len(lens)), key=lambda i: -lens[i])  # stable, as torch.sort
        xp = x.device.xp
        sorted_indices = Tensor.from_array(xp.asarray(order, dtype=xp.int64), x.device)
        x = ops.index_select(x, 1, sorted_indices)
        lens = [lens[i] for i in order]
    batch_sizes = [sum(1 for n in lens if n > t) for t in range(lens[0])]
    data = ops.cat([x[t, :b] for t, b in enumerate(batch_sizes)])
    sizes = Tensor(batch_sizes, dtype="int64")
    return PackedSequence(data, sizes, sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The padded batch of a PackedSequence (in the original batch order) and the lengths
    (an int64 tensor); ``total_length`` pads the time dimension further."""
    data, sizes = sequence.data, _lengths_list(sequence.batch_sizes)
    T, B = len(sizes), sizes[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence ({T}), but got total_length={total_length}")
        T = total_length
    rows, start = [], 0
    for t in range(T):
        b = sizes[t] if t < len(sizes) else 0
        step = data[start:start + b]
        start += b
        if b < B:
            fill = full((B - b,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                        device=data.device)
            step = ops.cat([step, fill]) if b else fill
        rows.append(step)
    padded = ops.stack(rows, 0)
    lens = [sum(1 for b in sizes if b > i) for i in range(B)]
    lengths = Tensor(lens, dtype="int64")
    if sequence.unsorted_indices is not None:
        padded = ops.index_select(padded, 1, sequence.unsorted_indices)
        lengths = Tensor([lens[i] for i in sequence.unsorted_indices.tolist()], dtype="int64")
    return (ops.transpose(padded, 0, 1) if batch_first else padded), lengths


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of (L_i, *) tensors."""
    lens = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lens, enforce_sorted=enforce_sorted)
