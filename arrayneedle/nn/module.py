"""Module and Parameter, with PyTorch's semantics and state_dict keys."""
from __future__ import annotations

from collections import OrderedDict, namedtuple

from .._helpers import zero_grads
from ..autograd import RemovableHandle, Tensor
from ..tensor_api import parse_to
from ..backend import device as _device, get_dtype
from ..dtypes import is_float_dtype

__all__ = ["Parameter", "Module", "StateDictError"]


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
    """Collect (name, Module|Parameter) inside attributes, lists, tuples and dicts; with
    ``prefix`` None the names are not built (None throughout: ``Module.children``)."""
    if isinstance(value, (Module, Parameter)):
        out.append((prefix, value))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _children_of(v, None if prefix is None else f"{prefix}.{i}", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _children_of(v, None if prefix is None else f"{prefix}.{k}", out)


# what load_state_dict returns, as PyTorch's
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, KeyError):
    """A state dict that does not fit the module (PyTorch raises RuntimeError; KeyError is kept
    for callers that catch missing keys as such)."""

    __str__ = RuntimeError.__str__


class StateDictShapeError(RuntimeError, ValueError):
    """A state dict entry whose shape differs from the module's."""


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def _check_name(what, name):
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{what}: name must be a non-empty string without '.', got {name!r}")


class Module:
    """Base class of layers and models.

    Parameters and submodules are found in attributes, including inside lists, tuples and
    dicts (so ``self.blocks = [Block(), Block()]`` works like PyTorch's ModuleList, with keys
    ``blocks.0.…``). Buffers (non-trainable state such as BatchNorm's running statistics) are
    declared with ``register_buffer``; persistent ones appear in ``state_dict``.

    Forward hooks run only for modules that have one: ``__call__`` tests one class-level flag
    otherwise.
    """

    _hooked = False  # set on an instance when it has a forward or forward-pre hook

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffer_names", [])
        object.__setattr__(self, "_non_persistent", set())

    def __call__(self, *args, **kwargs):
        if self._hooked:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def _ensure_init(self):
        if "_buffer_names" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                               f"before assigning parameters or buffers")

    # ---- hooks ----
    def _hook_lists(self):
        d = self.__dict__
        if "_forward_hooks" not in d:
            object.__setattr__(self, "_forward_pre_hooks", [])
            object.__setattr__(self, "_forward_hooks", [])
        return d["_forward_pre_hooks"], d["_forward_hooks"]

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` before each forward; a non-None result replaces ``args``
        (a single value becomes a 1-tuple). Returns a handle whose ``remove()`` unregisters."""
        handle = RemovableHandle(self._hook_lists()[0], hook)
        object.__setattr__(self, "_hooked", True)
        return handle

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` after each forward; a non-None result replaces the
        output. Returns a handle whose ``remove()`` unregisters."""
        handle = RemovableHandle(self._hook_lists()[1], hook)
        object.__setattr__(self, "_hooked", True)
        return handle

    def _call_with_hooks(self, args, kwargs):
        pre, post = self._hook_lists()
        if not pre and not post:  # every hook removed: back to the plain call
            object.__setattr__(self, "_hooked", False)
        for hook in tuple(pre):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in tuple(post):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    # ---- registration ----
    def register_buffer(self, name, tensor, persistent=True):
        """A non-trainable tensor moved with the module; in ``state_dict`` when
        ``persistent``."""
        self._ensure_init()
        _check_name("register_buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        if isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer: {name!r} is a Parameter; use "
                            f"register_parameter for trainable tensors")
        object.__setattr__(self, name, tensor)
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def register_parameter(self, name, param):
        self._register("register_parameter", name, param, Parameter)

    def add_module(self, name, module):
        self._register("add_module", name, module, Module)

    def _register(self, what, name, value, cls):
        self._ensure_init()
        _check_name(what, name)
        if value is not None and not isinstance(value, cls):
            raise TypeError(f"{what}: {name!r} must be a {cls.__name__} or None, got "
                            f"{type(value).__name__}")
        setattr(self, name, value)

    register_module = add_module

    def get_submodule(self, target=""):
        if not target:
            return self
        for name, m in self.named_modules():
            if name == target:
                return m
        raise AttributeError(f"{type(self).__name__} has no submodule {target!r}")

    # ---- traversal ----
    def _items(self):
        """(name, Module|Parameter) directly owned, in attribute order (buffers excluded)."""
        out = []
        bufs = self.__dict__.get("_buffer_names", ())
        for k, v in self.__dict__.items():
            if k.startswith("_") or k in bufs:
                continue
            _children_of(v, k, out)
        return out

    def _own_buffers(self):
        """(name, Tensor, persistent) for the buffers registered on this module itself."""
        d = self.__dict__
        non = d.get("_non_persistent", ())
        for n in d.get("_buffer_names", ()):
            b = d.get(n)
            if b is not None:
                yield n, b, n not in non

    def named_children(self):
        seen = set()
        for n, m in self._items():
            if isinstance(m, Module) and id(m) not in seen:
                seen.add(id(m))
                yield n, m

    def children(self):
        """The direct submodules, each once, in ``named_children``'s order (without building
        their names: ``train``/``eval`` walk the tree with it)."""
        if type(self)._items is not Module._items:  # containers list their entries themselves
            for _, m in self.named_children():
                yield m
            return
        out = []
        bufs = self.__dict__.get("_buffer_names", ())
        for k, v in self.__dict__.items():
            if isinstance(v, (Module, list, tuple, dict)) and not k.startswith("_") \
                    and k not in bufs:
                _children_of(v, None, out)
        seen = set()
        for _, m in out:
            if isinstance(m, Module) and id(m) not in seen:
                seen.add(id(m))
                yield m

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """This module and every submodule, depth first in registration order (as PyTorch),
        each once unless ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for n, c in self._items():
            if isinstance(c, Module):
                yield from c.named_modules(memo, _join(prefix, n), remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for n, p in m._items():
                if isinstance(p, Parameter) and not (remove_duplicate and id(p) in seen):
                    seen.add(id(p))
                    yield _join(mname, n), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for n, b, _ in m._own_buffers():
                if not (remove_duplicate and id(b) in seen):
                    seen.add(id(b))
                    yield _join(mname, n), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """``fn(m)`` for every submodule (children first) and then this module; returns self."""
        for c in self.children():
            c.apply(fn)
        fn(self)
        return self

    # ---- modes ----
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        object.__setattr__(self, "training", mode)
        for c in self.children():
            c.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Reset the parameters' gradients: to None (the default, as PyTorch), or with
        ``set_to_none=False`` to zeros (the same ``grad`` Tensors)."""
        zero_grads(list(self.parameters()), set_to_none)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ---- device / dtype ----
    def to(self, *args, **kwargs):
        """Move parameters and buffers in place (same objects, as PyTorch) and return self:
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``, keywords
        ``device=``/``dtype=``; a dtype applies to floating-point ones only."""
        dev, dtype, _ = parse_to(args, dict(kwargs))
        for t in list(self.parameters()) + list(self.buffers()):
            if dev is not None and t.device is not dev:
                t.array = dev.asarray(t.array)
                t._device = dev
                if t.grad is not None:
                    t.grad = Tensor.from_array(dev.asarray(t.grad.array), dev)
            if dtype is not None and is_float_dtype(t.dtype):
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
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return _device("cpu")

    # ---- state ----
    def _state_items(self, prefix=""):
        """(key, tensor) of every parameter and persistent buffer, per module in PyTorch's
        order (parameters, then buffers); shared tensors appear under each of their names."""
        for n, p in self._items():
            if isinstance(p, Parameter):
                yield prefix + n, p
        for n, b, persistent in self._own_buffers():
            if persistent:
                yield prefix + n, b
        for n, c in self._items():
            if isinstance(c, Module):
                yield from c._state_items(prefix + n + ".")

    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """Ordered dict of dotted names -> Tensors (detached unless ``keep_vars``)."""
        sd = OrderedDict() if destination is None else destination
        for k, t in self._state_items(prefix):
            sd[k] = t if keep_vars else t.detach()
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the existing parameters and buffers (onto their device/dtype).

        With ``strict``, missing or unexpected keys raise ``StateDictError`` (a RuntimeError, as
        PyTorch, and a KeyError); a shape mismatch raises ``StateDictShapeError`` (RuntimeError
        and ValueError); every offending key is listed and nothing changes unless all checks
        pass. Returns ``(missing_keys, unexpected_keys)`` as PyTorch's named tuple."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got "
                            f"{type(state_dict).__name__}")
        targets = OrderedDict(self._state_items())
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys: {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected keys: {', '.join(unexpected)}")
            raise StateDictError(f"load_state_dict for {type(self).__name__}: "
                                 + "; ".join(parts))
        bad = []
        for k, t in targets.items():
            if k in state_dict:
                v = state_dict[k]
                shape = tuple(v.shape) if hasattr(v, "shape") else ()
                if shape != t.shape:
                    bad.append(f"{k}: checkpoint has shape {shape}, model has {t.shape}")
        if bad:
            raise StateDictShapeError(f"load_state_dict for {type(self).__name__}: shape "
                                      f"mismatch for " + "; ".join(bad))
        for k, t in targets.items():
            if k in state_dict:
                v = state_dict[k]
                v = v.array if isinstance(v, Tensor) else v
                # always a fresh copy: in-place optimizer updates must never write into the
                # caller's state dict (or another model's arrays)
                t.array = t.device.xp.asarray(t.device.asarray(v, t.dtype), copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ---- repr ----
    def extra_repr(self):
        return ""

    def __repr__(self):
        """PyTorch's layout: ``Name(extra)`` or ``Name(`` + one ``(child): repr`` per line."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for n, c in self.named_children():
            lines.append(f"({n}): " + repr(c).replace("\n", "\n  "))
        head = type(self).__name__ + "("
        if len(lines) == 1 and extra and "\n" not in extra:
            return head + extra + ")"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
