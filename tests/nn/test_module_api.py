"""Module API as PyTorch: containers, traversal order and names, buffers, hooks, state_dict,
apply, modes, dtype helpers and repr; against PyTorch where installed."""
from collections import OrderedDict

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn


def _build(self, mod):
    """The same structure in arrayneedle.nn or torch.nn."""
    if True:
        self.conv = mod.Conv2d(2, 4, 3, padding=1)
        self.norm = mod.BatchNorm2d(4)
        self.heads = mod.ModuleList([mod.Linear(4, 3), mod.Linear(3, 2)])
        self.named = mod.ModuleDict({"act": mod.ReLU(), "pool": mod.AdaptiveAvgPool2d(1)})
        self.scales = mod.ParameterList([mod.Parameter(_zeros(mod, 2)),
                                         mod.Parameter(_zeros(mod, 3))])
        self.register_buffer("step", _zeros(mod, 1))
        self.register_buffer("cache", _zeros(mod, 2), persistent=False)
        self.shared = self.heads[0]  # one module under two names


class Block(nn.Module):
    def __init__(self, mod):
        super().__init__()
        _build(self, mod)

    def forward(self, x):
        x = self.named["pool"](self.named["act"](self.norm(self.conv(x))))
        x = x.reshape(x.shape[0], 4)
        for h in self.heads:
            x = h(x)
        return x


def _zeros(mod, n):
    if mod is nn:
        return an.zeros(n)
    import torch
    return torch.zeros(n)


def _torch_block(torch):
    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            _build(self, torch.nn)

        forward = Block.forward
    return TorchBlock()


def test_traversal_names_and_order():
    m = Block(nn)
    names = [n for n, _ in m.named_modules()]
    assert names == ["", "conv", "norm", "heads", "heads.0", "heads.1", "named", "named.act",
                     "named.pool", "scales"]  # the shared module appears once
    assert [n for n, _ in m.named_children()] == ["conv", "norm", "heads", "named",
                                                         "scales", "shared"]
    assert [n for n, _ in m.named_parameters()] == [
        "conv.weight", "conv.bias", "norm.weight", "norm.bias", "heads.0.weight", "heads.0.bias",
        "heads.1.weight", "heads.1.bias", "scales.0", "scales.1"]
    assert [n for n, _ in m.named_buffers()] == ["step", "cache", "norm.running_mean",
                                                 "norm.running_var", "norm.num_batches_tracked"]
    sd = m.state_dict()
    assert "cache" not in sd and "shared.weight" in sd and "step" in sd
    assert not isinstance(m.parameters(), list) and len(list(m.parameters())) == 10
    assert m.get_submodule("heads.1") is m.heads[1]
    with pytest.raises(AttributeError, match="nope"):
        m.get_submodule("nope")


def test_traversal_and_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = Block(nn), _torch_block(torch)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert ([n for n, _ in ours.named_parameters()]
            == [n for n, _ in theirs.named_parameters()])
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name in ("conv", "heads", "named", "shared"):
        assert repr(getattr(ours, name)) == repr(getattr(theirs, name))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(an.Tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_containers():
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh()).extend([nn.SiLU()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh", "SiLU"]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2"]  # renumbered
    with pytest.raises(TypeError, match="Modules"):
        ml.append(3)
    with pytest.raises(IndexError):
        ml[7]
    md = nn.ModuleDict(OrderedDict(a=nn.ReLU()))
    md["b"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b"] and "b" in md and len(md) == 2
    md.pop("a")
    assert list(md) == ["b"]
    pl = nn.ParameterList([an.ones(2)])
    assert isinstance(pl[0], nn.Parameter) and pl[0].requires_grad
    pd = nn.ParameterDict({"w": an.ones(3)})
    assert list(pd.state_dict()) == ["w"]
    u = nn.Unflatten(1, (2, -1))
    assert u(an.zeros(4, 6)).shape == (4, 2, 3)
    with pytest.raises(ValueError, match="cannot be split"):
        nn.Unflatten(1, (4, 2))(an.zeros(4, 6))


def test_hooks_and_handles():
    lin = nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: seen.append(("pre", args[0].shape)))
    h2 = lin.register_forward_hook(lambda m, args, out: out * 0)  # replaces the output
    y = lin(an.ones(4, 3))
    assert seen == [("pre", (4, 3))] and (y.detach().numpy() == 0).all()
    h3 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))  # replaces the input
    h2.remove()
    np.testing.assert_allclose(lin(an.ones(1, 3)).detach().numpy(),
                               lin.forward(an.full((1, 3), 2.0)).detach().numpy())
    h1.remove(), h3.remove(), h3.remove()  # a second remove does nothing
    lin(an.ones(1, 3))
    assert len(seen) == 2 and not lin._hooked  # back on the plain path


def test_register_apply_modes_dtypes():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    m.add_module("extra", nn.Linear(2, 1))
    m.register_parameter("alpha", nn.Parameter(an.ones(1)))
    with pytest.raises(TypeError, match="Parameter"):
        m.register_parameter("beta", an.ones(1))
    with pytest.raises(KeyError, match="'.'"):
        m.add_module("a.b", nn.ReLU())
    visited = []
    m.apply(lambda mod: visited.append(type(mod).__name__))
    assert visited[-1] == "Sequential" and "Linear" in visited
    assert m.eval() is m and not any(x.training for x in m.modules())
    with pytest.raises(ValueError, match="bool"):
        m.train("no")
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert all(p.dtype == np.float64 for p in m.double().parameters())
    assert all(p.dtype == np.float16 for p in m.half().parameters())
    assert all(p.dtype == np.float32 for p in m.float().cpu().parameters())


def test_state_dict_prefix_keep_vars_and_load_result():
    m = nn.Linear(2, 3)
    sd = m.state_dict(prefix="lin.")
    assert list(sd) == ["lin.weight", "lin.bias"] and sd["lin.weight"] is not m.weight
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    res = m.load_state_dict({"weight": np.ones((3, 2)), "junk": np.ones(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["junk"]
    assert (m.weight.detach().numpy() == 1).all()
    with pytest.raises(RuntimeError, match="missing keys: bias"):
        m.load_state_dict({"weight": np.ones((3, 2))})
    with pytest.raises(RuntimeError, match="shape"):
        m.load_state_dict({"weight": np.ones((2, 2)), "bias": np.ones(3)})


def test_repr_like_torch():
    assert repr(nn.Conv2d(3, 16, 3, padding=1)) == (
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))")
    assert repr(nn.Sequential(nn.Linear(2, 3))) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n)")
    assert repr(nn.Conv2d(4, 4, 3, groups=2, bias=False, padding_mode="reflect")) == (
        "Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), groups=2, bias=False, "
        "padding_mode=reflect)")


def test_moduledict_entries_read_as_attributes_and_other_accelerators_are_false():
    md = nn.ModuleDict(dict(wte=nn.Embedding(5, 3), drop=nn.Dropout(0.1)))
    assert md.wte is md["wte"] and isinstance(md.drop, nn.Dropout)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        md.missing
    t = an.zeros(2)
    assert t.is_xpu is False and t.is_mps is False and t.is_cuda is False
