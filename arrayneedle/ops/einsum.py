"""einsum (differentiable). It runs on the namespace's own ``einsum`` where there is one
(NumPy and CuPy through array-api-compat); the array API standard has none, so other
namespaces get a broadcast-multiply-and-sum of the operands (exact, but it materialises the
product over every index: fine for small operands, not for big contractions)."""
from __future__ import annotations

from array_api_compat import array_namespace

from .._helpers import as_tensor, same_device
from ..autograd import Function
from ..backend import dtype_name

__all__ = ["einsum"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse(equation, ndims):
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(ndims):
        raise ValueError(f"einsum: equation {equation!r} names {len(subs)} operand(s), "
                         f"got {len(ndims)}")
    used = {c for c in eq if c.isalpha()}
    free = [c for c in _LETTERS if c not in used]
    n_ell = max((nd - len(s.replace("...", "")) for s, nd in zip(subs, ndims) if "..." in s),
                default=0)
    ell = "".join(free[:n_ell])
    out_subs = []
    for s, nd in zip(subs, ndims):
        if not all(c.isalpha() for c in s.replace("...", "")):
            raise ValueError(f"einsum: bad subscripts {s!r} in {equation!r} (letters and ... only)")
        if "..." in s:
            k = nd - len(s.replace("...", ""))
            s = s.replace("...", ell[n_ell - k:] if k else "")
        if len(s) != nd:
            raise ValueError(f"einsum: subscripts {s!r} do not match an operand with {nd} dims")
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: repeated subscript in one operand ({s!r}, a diagonal) "
                             f"is not supported")
        out_subs.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {}
        for s in out_subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    every = set("".join(out_subs))
    if len(set(out)) != len(out) or not set(out) <= every:
        raise ValueError(f"einsum: output subscripts {out!r} must be distinct letters of the "
                         f"inputs")
    return out_subs, out


def _contract(xp, subs, out, arrays):
    if hasattr(xp, "einsum"):
        return xp.einsum(",".join(subs) + "->" + out, *arrays)
    order = []
    for s in subs:
        order += [c for c in s if c not in order]
    prod = None
    for s, a in zip(subs, arrays):
        mine = sorted(s, key=order.index)
        a = xp.permute_dims(a, tuple(s.index(c) for c in mine))
        a = xp.reshape(a, tuple(a.shape[mine.index(c)] if c in mine else 1 for c in order))
        prod = a if prod is None else prod * a
    summed = tuple(i for i, c in enumerate(order) if c not in out)
    if summed:
        prod = xp.sum(prod, axis=summed)
    left = [c for c in order if c in out]
    return xp.permute_dims(prod, tuple(left.index(c) for c in out))


class Einsum(Function):
    def forward(self, *arrays, subs, out):
        self.subs, self.out = subs, out
        need = self.needs_input_grad
        # operand j is read for the gradient of every other operand
        self.keeps_inputs = tuple(j for j in range(len(arrays))
                                  if any(n for i, n in enumerate(need) if i != j))
        return _contract(array_namespace(*arrays), subs, out, arrays)

    def backward(self, g):
        grads = []
        for i, (s, a) in enumerate(zip(self.subs, self.parents)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(t, b) for j, (t, b) in enumerate(zip(self.subs, self.parents)) if j != i]
            avail = set(self.out).union(*[set(t) for t, _ in others])
            keep = "".join(c for c in s if c in avail)
            gi = Einsum.apply(g, *[b for _, b in others], subs=[self.out] + [t for t, _ in others],
                              out=keep)
            # an operand's size-1 axis that broadcast against a larger one sums back to 1
            wide = tuple(k for k, c in enumerate(keep) if a.shape[s.index(c)] == 1
                         and gi.shape[k] != 1)
            if wide:
                gi = gi.sum(wide, keepdim=True)
            gi = gi.reshape(tuple(gi.shape[keep.index(c)] if c in keep else 1 for c in s))
            grads.append(gi.broadcast_to(a.shape))
        return tuple(grads)


def einsum(equation, *operands):
    """Einstein summation as torch.einsum: ``einsum("bij,bjk->bik", a, b)``; operands may also
    be given as one list. Supports ``...`` and implicit output; a subscript repeated within
    one operand (a diagonal) is not supported."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = [as_tensor(t) for t in operands]
    if not ts:
        raise ValueError("einsum: needs at least one operand")
    same_device("einsum", ts)
    for t in ts[1:]:  # PyTorch does not promote here: float64 with float32 is an error
        if t.array.dtype != ts[0].array.dtype:
            raise RuntimeError(f"einsum: operands must have the same dtype, got "
                               f"{[dtype_name(u.array.dtype) for u in ts]}")
    subs, out = _parse(equation, [t.ndim for t in ts])
    return Einsum.apply(*ts, subs=subs, out=out)
