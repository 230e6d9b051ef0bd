"""Module and Parameter, with PyTorch's semantics and state_dict keys."""
from __future__ import annotations

from collections import OrderedDict

from .._helpers import zero_grads
from ..autograd import Tensor
from ..backend import device as _device, dtype_name, get_dtype

__all__ = ["Parameter", "Module"]


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, device=None, dtype=None):
        if isinstance(data, Tensor):
            device = device or data.device
            data = data.array
        super().__init__(data, device=device, dtype=dtype, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def zeros_parameter(shape, device=None, dtype="float32") -> Parameter:
    """A Parameter of zeros, for a layer to fill with its initialisation."""
    dev = _device(device)
    return Parameter(dev.xp.zeros(shape, dtype=get_dtype(dev.xp, dtype)), device=dev)


def _children_of(value, prefix, out):
    """Collect (name, Module|Parameter) inside attributes, lists, tuples and dicts."""
    if isinstance(value, (Module, Parameter)):
        out.append((prefix, value))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _children_of(v, f"{prefix}.{i}", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _children_of(v, f"{prefix}.{k}", out)


class Module:
    """Base class of layers and models.

    Parameters and submodules are found in attributes, including inside lists, tuples and
    dicts (so ``self.blocks = [Block(), Block()]`` works like PyTorch's ModuleList, with keys
    ``blocks.0.…``). Buffers (non-trainable state such as BatchNorm's running statistics) are
    declared with ``register_buffer`` and appear in ``state_dict``.
    """

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffer_names", [])

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def _ensure_init(self):
        if "_buffer_names" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before assigning parameters or buffers")

    # ---- registration ----
    def register_buffer(self, name, tensor, persistent=True):
        self._ensure_init()
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        object.__setattr__(self, name, tensor)
        if persistent and name not in self._buffer_names:
            self._buffer_names.append(name)

    # ---- traversal ----
    def _items(self):
        """(name, Module|Parameter) directly owned, in attribute order (buffers excluded)."""
        out = []
        for k, v in self.__dict__.items():
            if k.startswith("_") or k in self.__dict__.get("_buffer_names", ()):
                continue
            _children_of(v, k, out)
        return out

    def named_children(self):
        return [(n, m) for n, m in self._items() if isinstance(m, Module)]

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        out, seen, stack = [], set(), [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append((name, m))
            kids = [(f"{name}.{n}" if name else n, c) for n, c in m.named_children()]
            stack.extend(reversed(kids))
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        out, seen = [], set()
        for mname, m in self.named_modules(prefix):
            for n, p in m._items():
                if isinstance(p, Parameter) and id(p) not in seen:
                    seen.add(id(p))
                    out.append((f"{mname}.{n}" if mname else n, p))
        return out

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        out = []
        for mname, m in self.named_modules(prefix):
            for n in m.__dict__.get("_buffer_names", ()):
                b = getattr(m, n)
                if b is not None:
                    out.append((f"{mname}.{n}" if mname else n, b))
        return out

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # ---- modes ----
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Reset the parameters' gradients: to None (the default, as PyTorch), or with
        ``set_to_none=False`` to zeros (the same ``grad`` Tensors)."""
        zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, mode=True):
        for p in self.parameters():
            p.requires_grad_(mode)
        return self

    # ---- device / dtype ----
    def to(self, *args, **kwargs):
        """Move parameters and buffers in place (same objects, as PyTorch) and return self:
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``, keywords
        ``device=``/``dtype=``; a dtype applies to floating-point ones only."""
        from ..tensor_api import parse_to
        dev, dtype, _ = parse_to(args, dict(kwargs))
        for t in self.parameters() + self.buffers():
            if dev is not None and t.device is not dev:
                t.array = dev.asarray(t.array)
                t._device = dev
                if t.grad is not None:
                    t.grad = Tensor.from_array(dev.asarray(t.grad.array), dev)
            if dtype is not None and dtype_name(t.dtype) in ("float16", "float32", "float64"):
                dt = get_dtype(t.device.xp, dtype)
                if t.dtype != dt:
                    t.array = t.device.xp.astype(t.array, dt)
                    t.grad = None
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(0 if device is None else device)

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    @property
    def device(self):
        ps = self.parameters() or self.buffers()
        return ps[0].device if ps else _device("cpu")

    # ---- state ----
    def state_dict(self):
        """Ordered dict of dotted names -> Tensors (parameters, then buffers, per module)."""
        sd = OrderedDict()
        for mname, m in self.named_modules():
            pre = f"{mname}." if mname else ""
            for n, p in m._items():
                if isinstance(p, Parameter):
                    sd[pre + n] = p.detach()
            for n in m.__dict__.get("_buffer_names", ()):
                b = getattr(m, n)
                if b is not None:
                    sd[pre + n] = b.detach()
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the existing parameters and buffers (onto their device/dtype).

        Raises KeyError for missing or unexpected keys (when ``strict``) and ValueError for
        shape mismatches, listing every offending key. Nothing is changed unless all checks
        pass. Returns (missing_keys, unexpected_keys).
        """
        own = self.state_dict()
        targets = {}
        for mname, m in self.named_modules():
            pre = f"{mname}." if mname else ""
            for n, p in m._items():
                if isinstance(p, Parameter):
                    targets[pre + n] = p
            for n in m.__dict__.get("_buffer_names", ()):
                if getattr(m, n) is not None:
                    targets[pre + n] = getattr(m, n)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys: {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected keys: {', '.join(unexpected)}")
            raise KeyError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        bad = []
        for k, t in targets.items():
            if k in state_dict:
                v = state_dict[k]
                shape = tuple(v.shape) if hasattr(v, "shape") else ()
                if shape != t.shape:
                    bad.append(f"{k}: checkpoint has shape {shape}, model has {t.shape}")
        if bad:
            raise ValueError(f"load_state_dict for {type(self).__name__}: shape mismatch for "
                             + "; ".join(bad))
        for k, t in targets.items():
            if k in state_dict:
                v = state_dict[k]
                v = v.array if isinstance(v, Tensor) else v
                # always a fresh copy: in-place optimizer updates must never write into the
                # caller's state dict (or another model's arrays)
                t.array = t.device.xp.asarray(t.device.asarray(v, t.dtype), copy=True)
        return missing, unexpected

    # ---- repr ----
    def extra_repr(self):
        return ""

    def __repr__(self):
        kids = self.named_children()
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for n, c in kids:
            body = repr(c).replace("\n", "\n  ")
            lines.append(f"  ({n}): {body}")
        return "\n".join(lines) + "\n)"
