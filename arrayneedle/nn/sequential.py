"""nn.Sequential with PyTorch's registration rules.

Its modules live in one ordered table, keyed "0", "1", ... (or the names of an OrderedDict):
``add_module``/``register_module``, ``seq.name = module``, ``append``, ``insert``, ``extend``,
``+=``, ``*`` and ``del seq[i]`` all go through that table, so ``forward``, ``parameters()`` and
``state_dict()`` always see the same modules in the same order as ``torch.nn.Sequential``.
"""
from __future__ import annotations

import operator
from collections import OrderedDict

from .module import Module, _check_name

__all__ = ["Sequential"]


class Sequential(Module):
    """Modules applied in order: ``Sequential(m0, m1, ...)`` registers them as "0", "1", ...;
    ``Sequential(OrderedDict(name=module, ...))`` under those names (state_dict keys
    "name.weight"...). Any module assigned as an attribute or added by ``add_module`` joins the
    sequence at the end (or keeps its place when its name is already there), as in PyTorch."""

    def __init__(self, *args):
        super().__init__()
        object.__setattr__(self, "_entries", OrderedDict())
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    # ---- the table: attribute access, registration ----
    def add_module(self, name, module):
        self._ensure_init()
        _check_name("add_module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"Sequential.add_module: {name!r} must be a Module or None, got "
                            f"{type(module).__name__}")
        self.__dict__.pop(name, None)
        self._entries[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        entries = self.__dict__.get("_entries")
        if entries is not None and (isinstance(value, Module)
                                    or (value is None and name in entries)):
            self.add_module(name, value)
        else:
            if entries is not None:
                entries.pop(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only reached when ordinary lookup fails
        entries = self.__dict__.get("_entries")
        if entries is not None and name in entries:
            return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        entries = self.__dict__.get("_entries")
        if entries is not None and name in entries:
            del entries[name]
        else:
            object.__delattr__(self, name)

    def _items(self):  # keys "0.weight" (or the OrderedDict's names), as torch.nn.Sequential
        return list(self._entries.items()) + super()._items()

    def __dir__(self):
        return [k for k in list(super().__dir__()) + list(self._entries) if not k.isdigit()]

    # ---- sequence protocol ----
    def _key_at(self, idx):
        size = len(self._entries)
        idx = operator.index(idx)
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range")
        return list(self._entries)[idx % size]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._entries.items())[idx]))
        return self._entries[self._key_at(idx)]

    def __setitem__(self, idx, module):
        setattr(self, self._key_at(idx), module)

    def __delitem__(self, idx):
        keys = list(self._entries)[idx] if isinstance(idx, slice) else [self._key_at(idx)]
        for key in keys:
            del self._entries[key]
        # renumber, as PyTorch does ("to preserve numbering"): every key becomes its position
        values = list(self._entries.values())
        self._entries.clear()
        for i, m in enumerate(values):
            self._entries[str(i)] = m

    def __len__(self):
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries.values())

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def append(self, module):
        """Add ``module`` at the end, named by its position; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index, module):
        """Put ``module`` at position ``index`` (negative counts from the end), shifting the
        later ones up by one; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert expects a Module, got {type(module).__name__}")
        n = len(self._entries)
        index = operator.index(index)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._entries[str(i)] = self._entries[str(i - 1)]
        self._entries[str(index)] = module
        return self

    def extend(self, sequential):
        """Append every module of ``sequential`` (any iterable of Modules); returns self."""
        for layer in sequential:
            self.append(layer)
        return self

    def _check_other(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")

    def __add__(self, other):
        self._check_other(other)
        return Sequential().extend(self).extend(other)

    def __iadd__(self, other):
        self._check_other(other)
        offset = len(self)
        for i, module in enumerate(other):
            self.add_module(str(i + offset), module)
        return self

    def _check_factor(self, other):
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")

    def __mul__(self, other):
        self._check_factor(other)
        combined = Sequential()
        for _ in range(other):
            combined.extend(self)
        return combined

    __rmul__ = __mul__

    def __imul__(self, other):
        self._check_factor(other)
        modules = list(self)
        for _ in range(other - 1):
            self.extend(modules)
        return self

    def forward(self, input):
        for module in self:
            input = module(input)
        return input
