"""``Tensor``: an n-dimensional array on a device, with optional gradient tracking.

Its whole surface is declared in the class below. Methods whose code lives in another module
are declared with ``Delegated(module)``: ``x.name(*args)`` calls ``module.name(x, *args)``.
Those modules (``ops``, ``tensor_api``, ``inplace``, ``graph``) compute with Tensors, so they
sit above this one in the import graph: a ``Delegated`` looks its function up on first use and
then leaves it in the class under the declared name, which is how the two directions of
Tensor <-> op are joined without anything assigned to Tensor from outside.
The op methods (``x.exp()``, ``x.sum(dim)``...) are declared by family in
``arrayneedle/tensor_ops.py`` (``OpMethods``).
"""
from __future__ import annotations

from functools import partial

from . import backend
from .backend import Device, device_of, dtype_name
from .dtypes import FLOAT_DTYPES, is_array, python_data
from .hooks import RemovableHandle
from .tensor_ops import Delegated, LateModule, OpMethods
from .tensor_tail import TailMethods

# the modules that implement part of the surface (they compute with Tensors)
_engine = LateModule("graph")  # the backward walk
_api = partial(Delegated, "tensor_api")  # conversions and facts
_inplace = partial(Delegated, "inplace")  # the in-place family
_op = partial(Delegated, "ops")  # operators

__all__ = ["Tensor", "Size", "DeviceMismatchError"]


class DeviceMismatchError(RuntimeError, ValueError):
    """Operands of one op live on different devices. A RuntimeError as in PyTorch, and a
    ValueError so that code catching bad-argument errors catches it too."""


class Size(tuple):
    """A shape: a tuple of ints, as ``torch.Size`` (``Tensor.shape`` and ``Tensor.size()``);
    it prints as the plain tuple."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    # printed as the plain tuple, so messages read "(2, 3)" whatever holds the shape


class Tensor(OpMethods, TailMethods):
    """An n-dimensional array on a device, with optional gradient tracking.

    Every Tensor has a version counter (``_version``, as PyTorch) that each in-place change
    through the Tensor bumps: the in-place methods (``add_``, ``x[i] = v``...), and an
    augmented assignment to the raw array (``t.array -= step``, how the optimizers update
    parameters), which the ``array`` setter sees because it receives the same array object
    back. Graph-building ops record their inputs' versions and ``backward()`` refuses to use
    an input changed since. Writes the Tensor cannot see (``t.array[...] = v``, ``out=``) call
    ``increment_version(t)``. The counter is created on first use, so Tensors that are never
    changed in place carry only ``None``.
    """

    __slots__ = ("_array", "grad", "requires_grad", "_ctx", "_device", "_vc", "_retain",
                 "_post_acc_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # make ndarray OP Tensor defer to Tensor.__rOP__

    def __init__(self, data, device=None, dtype=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = data._array
        dev = backend.device(device) if device is not None else (
            device_of(data) if is_array(data) else backend.cpu())
        if dtype is None and not is_array(data):
            data = python_data(data)  # floats -> float32, ints -> int64, bools stay bool
        arr = dev.asarray(data, dtype)
        dtype_name(arr.dtype)  # raises a clear TypeError for unsupported dtypes
        self._array = arr
        self.grad = None
        self._ctx = None
        self._device = dev
        self._vc = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def from_array(cls, array, device=None) -> "Tensor":
        """Wrap a raw array (NumPy, CuPy or another array-API array) without copying it; the
        Tensor shares memory with ``array``. ``device``, if given, must be the array's own."""
        if not is_array(array):
            raise TypeError(f"Tensor.from_array expects an array, got {type(array).__name__}; "
                            f"use Tensor(data) to convert other data")
        dev = device_of(array)
        if device is not None and backend.device(device) is not dev:
            raise ValueError(f"Tensor.from_array: the array lives on {dev}, not on "
                             f"{backend.device(device)}; use Tensor(array, device=...) to copy it")
        return cls._wrap(array, dev)

    @classmethod
    def _wrap(cls, array, dev: Device, requires_grad=False, ctx=None):
        t = cls.__new__(cls)
        t._array = array
        t.grad = None
        t._device = dev
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._vc = None
        return t

    # ---- the raw array and its version ----
    @property
    def array(self):
        """The raw NumPy/CuPy (array-API) array."""
        return self._array

    @array.setter
    def array(self, value):
        # ``t.array op= v`` calls this with the very array it read, changed in place: that is
        # an in-place modification. Binding another array changes nothing a graph saved.
        if value is self._array:
            self._bump()
        else:
            self._array = value

    def _bump(self):
        vc = self._vc
        if vc is None:
            self._vc = [1]
        else:
            vc[0] += 1

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    @property
    def data(self):
        """PyTorch's ``.data``: a Tensor sharing this one's memory, outside the graph (no grad,
        its own version counter), e.g. for in-place initialisation ``p.data.normal_(0, 0.02)``.
        The raw NumPy/CuPy array is ``.array``."""
        return Tensor._wrap(self._array, self._device)

    @data.setter
    def data(self, value):
        """``p.data = t`` makes ``p`` use ``t``'s array (a raw array is accepted too)."""
        arr = value._array if isinstance(value, Tensor) else value
        if not is_array(arr):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        if device_of(arr) is not self._device:
            raise DeviceMismatchError(f"cannot set .data of a Tensor on {self._device} to an "
                                      f"array on {device_of(arr)}")
        self._array = arr

    # ---- properties ----
    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def numel(self) -> int:
        n = 1
        for s in self._array.shape:
            n *= s
        return n

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    @property
    def dtype(self):
        """The array library's dtype; it compares equal to ``an.float32`` and to
        ``"float32"``."""
        return self._array.dtype

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that made this Tensor (prints as ``<AddBackward0 ...>``), None for a
        leaf."""
        return self._ctx

    def requires_grad_(self, requires_grad=True):
        if requires_grad and dtype_name(self._array.dtype) not in FLOAT_DTYPES:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got dtype {dtype_name(self._array.dtype)}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use "
                               "detach() to get a Tensor outside the graph")
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def xp(self):
        return self._device.xp

    # ---- conversion ----
    def detach(self) -> "Tensor":
        """A Tensor sharing memory and the version counter, outside the graph."""
        if self._vc is None:
            self._vc = [0]
        t = Tensor._wrap(self._array, self._device)
        t._vc = self._vc
        return t

    def __hash__(self):
        return id(self)

    # ---- autograd ----
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (or only into ``inputs``'),
        as ``torch.Tensor.backward``. The graph is freed unless ``retain_graph`` (default:
        ``create_graph``); ``create_graph=True`` records the backward pass itself, so the
        gradients can be differentiated again."""
        _engine.backward((self,), None if gradient is None else (gradient,), retain_graph,
                         create_graph, inputs)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` during ``backward`` each time this leaf's ``.grad`` has taken
        its final value for that backward (PyTorch's name). Returns a handle whose
        ``remove()`` unregisters it."""
        if not self.is_leaf or not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that "
                               "require grad accumulate a gradient")
        hooks = getattr(self, "_post_acc_hooks", None)
        if hooks is None:
            hooks = self._post_acc_hooks = {}
        return RemovableHandle(hooks, hook)

    # ---- conversions and facts (arrayneedle/tensor_api.py) ----
    to = _api()
    cpu = _api()
    cuda = _api()
    astype = _api()
    type_as = _api()
    new_full = _api()
    new_zeros = _api()
    new_ones = _api()
    new_empty = _api()
    new_tensor = _api()
    size = _api()
    element_size = _api()
    retain_grad = _api()
    detach_ = _api()
    numpy = _api()
    item = _api()
    tolist = _api()
    where = _api()
    __repr__ = _api()
    __array__ = _api()
    __index__ = _api()

    # ---- in place (arrayneedle/inplace.py): each writes into the array, returns self ----
    add_ = _inplace()
    sub_ = _inplace()
    mul_ = _inplace()
    div_ = _inplace()
    subtract_ = _inplace("sub_")
    multiply_ = _inplace("mul_")
    divide_ = _inplace("div_")
    zero_ = _inplace()
    fill_ = _inplace()
    normal_ = _inplace()
    uniform_ = _inplace()
    copy_ = _inplace()
    clamp_ = _inplace()
    clip_ = _inplace("clamp_")
    masked_fill_ = _inplace()
    __setitem__ = _inplace("setitem")
    __iadd__ = _inplace("add_")
    __isub__ = _inplace("sub_")
    __imul__ = _inplace("mul_")
    __itruediv__ = _inplace("div_")

    # ---- operators (arrayneedle/ops); the r-forms swap the operands ----
    __add__ = _op("add")
    __radd__ = _op("add", reflected=True)
    __sub__ = _op("subtract")
    __rsub__ = _op("subtract", reflected=True)
    __mul__ = _op("multiply")
    __rmul__ = _op("multiply", reflected=True)
    __truediv__ = _op("divide")
    __rtruediv__ = _op("divide", reflected=True)
    __floordiv__ = _op("floor_divide")
    __rfloordiv__ = _op("floor_divide", reflected=True)
    __mod__ = _op("remainder")
    __rmod__ = _op("remainder", reflected=True)
    __pow__ = _op("power")
    __rpow__ = _op("power", reflected=True)
    __matmul__ = _op("matmul")
    __rmatmul__ = _op("matmul", reflected=True)
    __and__ = _op("bitwise_and")
    __rand__ = _op("bitwise_and", reflected=True)
    __or__ = _op("bitwise_or")
    __ror__ = _op("bitwise_or", reflected=True)
    __xor__ = _op("bitwise_xor")
    __rxor__ = _op("bitwise_xor", reflected=True)
    __neg__ = _op("negative")
    __abs__ = _op("abs")
    __invert__ = _op("bitwise_not")
    __getitem__ = _op("getitem")
    __eq__ = _op("eq")
    __ne__ = _op("ne")
    __lt__ = _op("less")
    __le__ = _op("less_equal")
    __gt__ = _op("greater")
    __ge__ = _op("greater_equal")

    # ---- facts and views defined here ----
    @property
    def T(self) -> "Tensor":
        """Every dimension reversed (PyTorch's ``.T``); a Tensor of fewer than 2 as is."""
        return self.permute(tuple(range(self.ndim - 1, -1, -1))) if self.ndim > 1 else self

    @property
    def mT(self) -> "Tensor":
        """The last two dimensions swapped (a batch of matrices transposed)."""
        return self.transpose(-2, -1)

    @property
    def is_cuda(self) -> bool:
        return self._device.kind == "cuda"

    # the other accelerators and layouts PyTorch names: never ours, so programs testing run
    is_xpu = is_mps = is_meta = is_sparse = is_quantized = property(lambda self: False)

    @property
    def retains_grad(self) -> bool:
        return self._ctx is not None and getattr(self, "_retain", False)

    def dim(self) -> int:
        return self._array.ndim

    ndimension = dim
    nelement = numel

    def is_floating_point(self) -> bool:
        return dtype_name(self._array.dtype) in FLOAT_DTYPES

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    # ---- casts: ``to(dtype)``, the Tensor itself when it already has that dtype; last in
    # the class because their names are those of Python's types ----
    def float(self) -> "Tensor":
        return self.to(dtype="float32")

    def double(self) -> "Tensor":
        return self.to(dtype="float64")

    def half(self) -> "Tensor":
        return self.to(dtype="float16")

    def long(self) -> "Tensor":
        return self.to(dtype="int64")

    def int(self) -> "Tensor":
        return self.to(dtype="int32")

    def bool(self) -> "Tensor":
        return self.to(dtype="bool")
