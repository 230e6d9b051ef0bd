"""``nn.utils.rnn``: ``pad_sequence`` (and its inverse ``unpad_sequence``). Packed sequences
(``pack_padded_sequence``...) are not offered: the recurrent layers here take padded batches."""
from __future__ import annotations

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


def _packed_not_offered(name):
    def fn(*args, **kwargs):
        raise RuntimeError(f"nn.utils.rnn.{name} is not offered by arrayneedle: the recurrent "
                           f"layers take padded batches; pad with pad_sequence and mask the "
                           f"outputs past each length")
    fn.__name__ = name
    fn.__arrayneedle_declined__ = "packed sequences"
    return fn


pack_padded_sequence = _packed_not_offered("pack_padded_sequence")
pad_packed_sequence = _packed_not_offered("pad_packed_sequence")
pack_sequence = _packed_not_offered("pack_sequence")
PackedSequence = _packed_not_offered("PackedSequence")
