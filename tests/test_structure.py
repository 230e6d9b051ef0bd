"""The shape of the tree: Tensor's surface is declared in its class (no method is attached to
it from outside), and each policy (dtype rules, deprecations) is defined in one module."""
import ast
import pathlib
import subprocess
import sys

import pytest

import arrayneedle as an
from arrayneedle import ops
from arrayneedle.tensor import Tensor
from arrayneedle.tensor_ops import Delegated

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "arrayneedle").rglob("*.py")) + sorted((ROOT / "diffusion").rglob("*.py"))


def _declared():
    return {n: v for c in reversed(Tensor.__mro__) for n, v in vars(c).items()}


def test_no_module_assigns_attributes_to_tensor():
    """Tensor is not assembled at import time: no ``setattr(Tensor, ...)``, no
    ``Tensor.name = ...`` anywhere in the package (its own ``Delegated`` declarations put the
    function they declare in the class, under their declared name)."""
    for f in SOURCES:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
                target = node.args[0]
                assert getattr(target, "id", None) not in ("Tensor", "T"), f
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                        assert t.value.id not in ("Tensor", "T"), f"{f}: {t.value.id}.{t.attr}"


def test_tensor_surface_is_fixed_by_its_class():
    """Using the methods adds no name to the class: every method was declared there."""
    code = (
        "import arrayneedle as an\n"
        "from arrayneedle.tensor import Tensor\n"
        "names = lambda: {n for c in Tensor.__mro__ for n in vars(c)}\n"
        "before = names()\n"
        "x = an.randn(3, 4, requires_grad=True)\n"
        "y = (x.exp() * 2 - 1 / (x.abs() + 1)) @ x.T\n"
        "y.sum().backward(); x.detach().add_(1); z = x.detach().clone(); z[0] = 2\n"
        "z.float().numpy(); repr(z); z.size(0); -z; z.where(z > 0, 0)\n"
        "assert names() == before, names() ^ before\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_every_declared_method_names_an_existing_function():
    """Each Delegated declaration resolves to a function of its module (a renamed op would
    otherwise fail only when first called)."""
    code = (
        "from arrayneedle.tensor import Tensor\n"
        "from arrayneedle.tensor_ops import Delegated\n"
        "found = [(c, n, v) for c in Tensor.__mro__ for n, v in list(vars(c).items())\n"
        "         if isinstance(v, Delegated)]\n"
        "assert len(found) > 200, len(found)\n"
        "for c, n, v in found:\n"
        "    assert callable(v.resolve()), n\n"
        "    assert vars(c)[n] is not v, n\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("name", ["exp", "sum", "reshape", "clamp", "topk", "masked_fill"])
def test_op_methods_are_the_op_functions(name):
    x = an.randn(2, 3)
    getattr(x, name)  # resolved on first use
    assert getattr(Tensor, name) is getattr(ops, name)
    assert getattr(x, name).__doc__ == getattr(ops, name).__doc__


def test_reflected_operators_swap_operands():
    x = an.tensor([1.0, 2.0, 4.0])
    assert (2 - x).tolist() == [1.0, 0.0, -2.0]
    assert (8 / x).tolist() == [8.0, 4.0, 2.0]
    assert (2 ** x).tolist() == [2.0, 4.0, 16.0]
    assert isinstance(_declared()["__rsub__"], (Delegated, type(lambda: 0)))


def test_dtype_rules_are_spelled_in_dtypes_py_alone():
    """The floating dtypes, the default float dtype and what counts as an array are defined
    once (arrayneedle/dtypes.py); every other module reads them from there."""
    for f in SOURCES:
        if f.name == "dtypes.py":
            continue
        src = f.read_text()
        for spelled in ('"float16", "float32", "float64"', "DEFAULT_FLOAT = ", "def is_array(",
                        "def _is_array(", "def is_float_dtype("):
            assert spelled not in src, f"{f} spells {spelled!r}"
    from arrayneedle import dtypes
    assert dtypes.FLOAT_DTYPES == ("float16", "float32", "float64")
    assert an.tensor(1.5).dtype == dtypes.DEFAULT_FLOAT == an.get_default_dtype()
    assert an.randn(2).dtype == dtypes.DEFAULT_FLOAT
    assert dtypes.is_array(an.randn(2).array) and not dtypes.is_array(1.5)
    assert dtypes.is_float_dtype(an.float16) and not dtypes.is_float_dtype("int64")
    with pytest.raises(RuntimeError, match="floating point"):
        an.zeros(2, dtype=an.int64).requires_grad_()
