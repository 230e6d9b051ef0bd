"""Old names, kept for a while: every alias of the tree is listed here with the date it goes
away (diffusers' ``deprecate()`` habit), and using one warns with that date.

- ``deprecate(what, removal, instead)`` warns (``FutureWarning``, shown by default) that
  ``what`` is deprecated and will be removed on ``removal`` (an ISO date), naming what to use
  ``instead``.
- ``ALIASES`` maps a module to its old attribute names and their current ones (needle's layer
  and loss names, the initialisers without the trailing underscore, which PyTorch deprecated
  too). The module looks them up through ``module_getattr`` (its PEP 562 ``__getattr__``),
  so an old name still works but is found only through this table and warns.
- ``renamed_argument`` takes a keyword under its old name (``channels=`` of the UNets), and
  ``RENAMED_CONFIG_KEYS`` the old keys of saved training configs, which are data (old
  checkpoints keep loading) and so are renamed without a warning.
"""
from __future__ import annotations

import warnings

__all__ = ["REMOVAL", "ALIASES", "RENAMED_CONFIG_KEYS", "deprecate", "module_getattr",
           "renamed_argument"]

# the date every alias listed here is removed
REMOVAL = "2027-06-30"

_NN = {"Conv": "Conv2d", "ConvTranspose": "ConvTranspose2d", "MaxPool": "MaxPool2d",
       "L2Loss": "MSELoss", "SoftmaxLoss": "CrossEntropyLoss"}
_INIT = {name: name + "_" for name in ("zeros", "ones", "constant", "uniform", "normal",
                                       "xavier_uniform", "xavier_normal", "kaiming_uniform",
                                       "kaiming_normal", "orthogonal", "trunc_normal",
                                       "eye", "dirac")}
ALIASES = {
    "arrayneedle.nn": _NN,
    "arrayneedle.nn.conv": {k: v for k, v in _NN.items() if k.startswith("Conv")},
    "arrayneedle.nn.loss": {k: v for k, v in _NN.items() if "Loss" in k},
    "arrayneedle.nn.init": _INIT,
}

# keys of older checkpoints' training configs -> their current names
RENAMED_CONFIG_KEYS = {"channels": "widths", "channels_in": "in_channels"}


def deprecate(what: str, removal: str, instead: str, stacklevel: int = 2) -> None:
    """Warn that ``what`` is deprecated and will be removed on ``removal``."""
    warnings.warn(f"{what} is deprecated and will be removed on {removal}; use {instead} "
                  f"instead", FutureWarning, stacklevel=stacklevel + 1)


def module_getattr(module_name: str, namespace: dict):
    """The ``__getattr__`` of module ``module_name`` (whose globals are ``namespace``): an old
    name of ``ALIASES[module_name]`` warns and gives the object of its current name."""
    table = ALIASES[module_name]

    def __getattr__(name):
        new = table.get(name)
        if new is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        deprecate(f"{module_name}.{name}", REMOVAL, f"{module_name}.{new}")
        return namespace[new]

    return __getattr__


def renamed_argument(owner: str, old: str, new: str, old_value, new_value, stacklevel: int = 2):
    """The value of keyword ``new`` of ``owner``, also accepted under its old name ``old``
    (which warns, ``stacklevel`` frames above this call's caller: 2 when called in ``owner``);
    both given is a TypeError."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise TypeError(f"{owner}: give {new} or {old} (its older name), not both")
    deprecate(f"{owner}({old}=...)", REMOVAL, f"{owner}({new}=...)", stacklevel=stacklevel + 1)
    return old_value
