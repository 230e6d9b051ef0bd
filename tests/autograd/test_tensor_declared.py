"""Tensor's surface is declared in its class (arrayneedle/tensor.py, tensor_ops.py): no
method is attached to it from outside, and each declared method is the function it names."""
import ast
import pathlib

import pytest

import arrayneedle as an
from arrayneedle import ops
from arrayneedle.tensor import Tensor
from arrayneedle.tensor_ops import Delegated

ROOT = pathlib.Path(__file__).resolve().parents[2]
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
    def names():
        return {n for c in Tensor.__mro__ for n in vars(c)}
    before = names()
    x = an.randn(3, 4, requires_grad=True)
    y = (x.exp() * 2 - 1 / (x.abs() + 1)) @ x.T
    y.sum().backward()
    x.detach().add_(1)
    z = x.detach().clone()
    z[0] = 2
    z.float().numpy()
    repr(z)
    z.size(0)
    z.where(z > 0, 0)
    assert names() == before, names() ^ before


def test_every_declared_method_names_an_existing_function():
    """Each Delegated declaration resolves to a function of its module (a renamed op would
    otherwise fail only when first called), and then the class holds that function."""
    declared = _declared()
    assert len(declared) > 300  # every method, operator and property of Tensor
    for name in declared:
        assert getattr(Tensor, name) is not None, name
    left = [n for c in Tensor.__mro__ for n, v in vars(c).items() if isinstance(v, Delegated)]
    assert left == []
    assert Tensor.exp is ops.exp and Tensor.add_.__module__ == "arrayneedle.inplace"
    assert Tensor.to.__module__ == "arrayneedle.tensor_api"


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


def test_tensor_lives_in_tensor_py_and_keeps_its_old_import_paths():
    from arrayneedle import autograd
    assert autograd.Tensor is Tensor is an.Tensor
    assert Tensor.__module__ == "arrayneedle.tensor"
