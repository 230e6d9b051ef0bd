"""Containers with PyTorch's names and state_dict keys: Sequential, ModuleList, ModuleDict,
ParameterList, ParameterDict; and Residual (needle's ``x + fn(x)``)."""
from __future__ import annotations

from collections import OrderedDict

from ..autograd import Tensor
from .module import Module, Parameter
from .sequential import Sequential

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
           "Residual"]


def _index(i, n, what):
    i = int(i)
    if not -n <= i < n:
        raise IndexError(f"{what}: index {i} is out of range for {n} entries")
    return i % n


class _ListBase(Module):
    """Entries in a Python list, keyed "0", "1", ... (renumbered after a deletion, as
    PyTorch)."""

    _what = "ModuleList"

    def __init__(self, values=None):
        super().__init__()
        object.__setattr__(self, "_entries", [])
        if values is not None:
            self.extend(values)

    def _check(self, v):  # pragma: no cover - overridden
        return v

    def _items(self):
        return [(str(i), v) for i, v in enumerate(self._entries)] + super()._items()

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(self._entries[i])
        return self._entries[_index(i, len(self._entries), self._what)]

    def __setitem__(self, i, v):
        self._entries[_index(i, len(self._entries), self._what)] = self._check(v)

    def __delitem__(self, i):
        if isinstance(i, slice):
            del self._entries[i]
        else:
            del self._entries[_index(i, len(self._entries), self._what)]

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __iadd__(self, values):
        return self.extend(values)

    def __add__(self, other):
        return type(self)(list(self) + list(other))

    def append(self, v):
        self._entries.append(self._check(v))
        return self

    def extend(self, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"{self._what}.extend needs an iterable, got "
                            f"{type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def insert(self, index, v):
        self._entries.insert(index, self._check(v))

    def pop(self, index=-1):
        return self._entries.pop(_index(index, len(self._entries), self._what))


class ModuleList(_ListBase):
    """A list of submodules, registered under "0", "1", ... (PyTorch's ModuleList)."""

    def _check(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(m).__name__}")
        return m

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList has no forward: iterate over it and call its "
                                  "modules")

    def add_module(self, name, module):
        """Name ``str(len(self))`` appends (what PyTorch's ``ModuleList.append`` does); a name
        "0".."n-1" replaces that entry; any other name registers an attribute submodule."""
        n = len(self._entries)
        if isinstance(name, str) and name.isdigit() and int(name) <= n and module is not None:
            if int(name) == n:
                self.append(module)
            else:
                self[int(name)] = module
        else:
            super().add_module(name, module)

    register_module = add_module


class ParameterList(_ListBase):
    """A list of Parameters (Tensors are wrapped as Parameters), keys "0", "1", ..."""

    _what = "ParameterList"

    def _check(self, p):
        if isinstance(p, Parameter):
            return p
        if isinstance(p, Tensor):
            return Parameter(p)
        raise TypeError(f"ParameterList holds Parameters or Tensors, got {type(p).__name__}")

    def extra_repr(self):
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {tuple(p.shape)}]"
                         for i, p in enumerate(self._entries))


class _DictBase(Module):
    _what = "ModuleDict"

    def __init__(self, values=None):
        super().__init__()
        object.__setattr__(self, "_entries", OrderedDict())
        if values is not None:
            self.update(values)

    def _items(self):
        return list(self._entries.items()) + super()._items()

    def __getitem__(self, key):
        return self._entries[key]

    def __getattr__(self, name):
        # only reached when ordinary lookup fails: entries read as attributes, as in PyTorch
        # (``model.transformer.wte`` for ``transformer = ModuleDict(dict(wte=...))``)
        entries = self.__dict__.get("_entries")
        if entries is not None and name in entries:
            return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setitem__(self, key, v):
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"{self._what}: keys must be non-empty strings without '.', "
                           f"got {key!r}")
        self._entries[key] = self._check(v)

    def __delitem__(self, key):
        del self._entries[key]

    def __contains__(self, key):
        return key in self._entries

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def pop(self, key):
        return self._entries.pop(key)

    def clear(self):
        self._entries.clear()

    def update(self, values):
        pairs = values.items() if hasattr(values, "items") else values
        for k, v in pairs:
            self[k] = v


class ModuleDict(_DictBase):
    """Submodules by name, in insertion order (PyTorch's ModuleDict)."""

    def _check(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleDict holds Modules, got {type(m).__name__}")
        return m

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleDict has no forward: call its modules by name")

    def add_module(self, name, module):
        """An entry, as ``self[name] = module`` (PyTorch's ModuleDict stores both alike)."""
        self[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        if isinstance(value, Module) and "_entries" in self.__dict__:
            self[name] = value
        else:
            object.__setattr__(self, name, value)


class ParameterDict(_DictBase):
    """Parameters by name (Tensors are wrapped as Parameters)."""

    _what = "ParameterDict"
    _check = ParameterList._check

    def extra_repr(self):
        return "\n".join(f"({k}): Parameter containing: [{p.dtype} of size {tuple(p.shape)}]"
                         for k, p in self._entries.items())


class Residual(Module):
    """x + fn(x)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return x + self.fn(x)
