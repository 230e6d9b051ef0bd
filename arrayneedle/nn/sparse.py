"""Embedding with PyTorch's arguments (padding_idx), initialisation, state_dict key and repr."""
from __future__ import annotations


from . import init
from ..autograd import Tensor
from ..ops.shape import Take
from .module import Module, Parameter, zeros_parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors (weight initialised N(0, 1), as PyTorch);
    the ``padding_idx`` row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype="float32"):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise ValueError("Embedding: max_norm, scale_grad_by_freq and sparse gradients are "
                             "not supported; leave them at their defaults")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            padding_idx = int(padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                                 f"({self.num_embeddings}), got {padding_idx}")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is not None:
            self.weight = Parameter(_weight, requires_grad=not _freeze)
            if tuple(self.weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: weight must have shape "
                                 f"({self.num_embeddings}, {self.embedding_dim}), got "
                                 f"{self.weight.shape}")
            return
        self.weight = init.normal_(zeros_parameter((self.num_embeddings, self.embedding_dim),
                                                   device, dtype))
        if padding_idx is not None:
            self.weight.array[padding_idx, ...] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{embeddings.shape}")
        n, d = embeddings.shape
        return cls(n, d, padding_idx, _weight=embeddings, _freeze=freeze)

    def forward(self, idx):
        if not isinstance(idx, Tensor):
            idx = Tensor(idx, device=self.weight.device)
        xp = idx.device.xp
        if idx.dtype not in (xp.int64, xp.int32, xp.int16, xp.int8, xp.uint8):
            raise TypeError(f"Embedding: indices must be an integer tensor, got {idx.dtype}")
        if idx.size and (int(xp.min(idx.array)) < 0
                         or int(xp.max(idx.array)) >= self.num_embeddings):
            raise IndexError(f"Embedding: indices must lie in [0, {self.num_embeddings}), got "
                             f"values from {int(xp.min(idx.array))} to "
                             f"{int(xp.max(idx.array))}")
        # the lookup F.embedding does (one Function, ops.shape.Take, for both)
        return Take.apply(self.weight, indices=idx.array, axis=0, padding_idx=self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
