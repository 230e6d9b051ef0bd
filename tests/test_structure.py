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


def test_tensor_lives_in_tensor_py_and_keeps_its_old_import_paths():
    from arrayneedle import autograd
    assert autograd.Tensor is Tensor is an.Tensor
    assert Tensor.__module__ == "arrayneedle.tensor"


# ---------------------------------------------------------------- compat: dated deprecations
def _old_api():
    from arrayneedle import compat
    compat.deprecate("old_thing", "2027-06-30", "new_thing")


def test_deprecate_warns_with_the_removal_date():
    with pytest.warns(FutureWarning) as rec:
        _old_api()
    msg = str(rec[0].message)
    assert msg == "old_thing is deprecated and will be removed on 2027-06-30; use new_thing instead"
    assert rec[0].filename == __file__  # the line that called the deprecated function
    from diffusion.unet import SimpleUnet
    with pytest.warns(FutureWarning) as rec:
        SimpleUnet(channels=(4, 8), time_emb_dim=8)
    assert rec[0].filename == __file__
    with pytest.warns(FutureWarning) as rec:
        an.nn.Conv  # noqa: B018
    assert rec[0].filename == __file__


@pytest.mark.parametrize("module,old,new", [
    ("arrayneedle.nn", "Conv", "Conv2d"), ("arrayneedle.nn", "L2Loss", "MSELoss"),
    ("arrayneedle.nn.conv", "ConvTranspose", "ConvTranspose2d"),
    ("arrayneedle.nn.loss", "SoftmaxLoss", "CrossEntropyLoss"),
    ("arrayneedle.nn.init", "xavier_normal", "xavier_normal_"),
    ("arrayneedle.nn.init", "orthogonal", "orthogonal_")])
def test_old_names_warn_and_give_the_current_object(module, old, new):
    import importlib
    from arrayneedle import compat
    mod = importlib.import_module(module)
    assert old not in vars(mod) and old not in getattr(mod, "__all__", ())
    with pytest.warns(FutureWarning, match=f"{module}.{old} is deprecated and will be removed "
                                           f"on {compat.REMOVAL}; use {module}.{new} instead"):
        assert getattr(mod, old) is getattr(mod, new)
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        mod.NoSuchName  # noqa: B018


def test_renamed_argument_takes_the_old_keyword_with_a_warning():
    from arrayneedle.compat import renamed_argument
    assert renamed_argument("f", "old", "new", None, 3) == 3
    with pytest.warns(FutureWarning, match=r"f\(old=...\) is deprecated .* use f\(new=...\)"):
        assert renamed_argument("f", "old", "new", 4, None, stacklevel=1) == 4
    with pytest.raises(TypeError, match="give new or old"):
        renamed_argument("f", "old", "new", 4, 5)


def test_every_alias_is_declared_in_compat_alone():
    """No module binds an old name itself: they are all in compat.ALIASES."""
    from arrayneedle import compat
    for module, table in compat.ALIASES.items():
        src = (ROOT / (module.replace(".", "/") + ".py")).read_text() if (
            ROOT / (module.replace(".", "/") + ".py")).exists() else (
            ROOT / module.replace(".", "/") / "__init__.py").read_text()
        for old in table:
            assert f"\n{old} = " not in src and f", {old}," not in src, (module, old)


# ---------------------------------------------------------------- conv arguments
def test_conv_size_arguments_are_checked_once_by_the_op_with_pytorchs_words():
    """A layer stores its sizes (as PyTorch, whose constructor accepts stride=0); the op
    checks them when the forward runs, with the message F.conv2d and ops.conv2d give."""
    x = an.randn(1, 4, 6, 6)
    layer = nn_conv = an.nn.Conv2d(4, 6, 3, stride=0)
    assert nn_conv.stride == (0, 0)
    msgs = []
    for call in (lambda: layer(x), lambda: an.nn.functional.conv2d(x, layer.weight, stride=0),
                 lambda: ops.conv2d(x, layer.weight, stride=0),
                 lambda: an.nn.functional.conv2d(x, layer.weight, stride=0,
                                                 padding_mode="reflect")):
        with pytest.raises(ValueError) as e:
            call()
        msgs.append(str(e.value))
    assert {m.split(", got")[0] for m in msgs} == {"conv2d: non-positive stride is not supported"}
    torch = pytest.importorskip("torch")
    for kwargs, words in [({"stride": 0}, "non-positive stride is not supported"),
                          ({"padding": -1}, "negative padding is not supported"),
                          ({"padding": "same", "stride": 2},
                           "padding='same' is not supported for strided convolutions"),
                          ({"dilation": 0}, "dilation should be greater than zero")]:
        with pytest.raises(RuntimeError, match=words):
            torch.nn.functional.conv2d(torch.randn(1, 4, 6, 6), torch.randn(6, 4, 3, 3),
                                       **kwargs)
        with pytest.raises(ValueError, match=words):
            ops.conv2d(x, layer.weight, **kwargs)
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 3 channels instead"):
        torch.nn.functional.conv2d(torch.randn(1, 3, 6, 6), torch.randn(6, 4, 3, 3))
    with pytest.raises(ValueError, match="to have 4 channels, but got 3 channels instead"):
        ops.conv2d(an.randn(1, 3, 6, 6), layer.weight)


def test_conv_layers_store_their_arguments_and_reset_parameters():
    from arrayneedle import nn
    m = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    assert (m.kernel_size, m.stride, m.padding, m.dilation, m.output_padding) == \
        ((3,), (2,), (1,), (1,), (0,))
    assert (m.groups, m.transposed, m.padding_mode) == (2, False, "zeros")
    t = nn.ConvTranspose2d(4, 6, (3, 1), stride=2, output_padding=1)
    assert t.transposed and t.output_padding == (1, 1) and t.weight.shape == (4, 6, 3, 1)
    an.manual_seed(0)
    c = nn.Conv2d(3, 5, 3)
    w0 = c.weight.detach().clone()
    c.reset_parameters()
    assert c.weight.shape == w0.shape and not an.equal(c.weight, w0)
    bound = 1 / (3 * 9) ** 0.5
    assert float(c.weight.abs().max()) <= bound and float(c.bias.abs().max()) <= bound
    for kwargs, words in [({"groups": 0}, "groups must be a positive integer"),
                          ({"groups": 2}, "in_channels must be divisible by groups"),
                          ({"padding": "full"}, "Invalid padding string 'full'"),
                          ({"padding_mode": "mirror"}, "padding_mode must be one of")]:
        with pytest.raises(ValueError, match=words):
            nn.Conv2d(3, 6, 3, **kwargs)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        nn.ConvTranspose2d(3, 6, 3, padding_mode="reflect")


def test_one_size_normaliser():
    from arrayneedle._helpers import ntuple, pair
    assert ntuple(3, 1) == (3,) and ntuple((1, 2, 3, 4), 4) == (1, 2, 3, 4) and pair(2) == (2, 2)
    with pytest.raises(ValueError, match=r"stride must be an int or a 1-tuple, got \(1, 2\)"):
        ntuple((1, 2), 1, "stride")
    with pytest.raises(ValueError, match="must be an int or a pair of ints, got 1.5"):
        pair(1.5)
    for f in SOURCES:
        src = f.read_text()
        assert "def _single(" not in src and "def _tuple(" not in src, f
