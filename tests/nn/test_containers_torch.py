"""Sequential / ModuleList / ModuleDict registration against torch.nn: the same state_dict keys
in the same order, and the same outputs from the same weights, whatever way a module was
added (constructor, add_module, register_module, attribute, append, insert, extend, +=, *, del,
slicing, pop)."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle import nn


def _build(lib, recipe):
    """Apply the same construction steps with ``lib`` (torch.nn or arrayneedle.nn)."""
    L = lambda i, o: lib.Linear(i, o)  # noqa: E731
    return recipe(lib, L)


def _copy_weights(ours, theirs):
    sd = OrderedDict((k, torch.tensor(v.numpy())) for k, v in ours.state_dict().items())
    theirs.load_state_dict(sd)


def _same(recipe, in_features=3):
    an.manual_seed(0)
    ours, theirs = _build(nn, recipe), _build(torch.nn, recipe)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    _copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, in_features)).astype(np.float32)
    if hasattr(theirs, "forward") and isinstance(theirs, torch.nn.Sequential):
        np.testing.assert_allclose(ours(an.tensor(x)).detach().numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    return ours, theirs


def test_add_module_register_module_and_attribute_join_the_sequence():
    def recipe(lib, L):
        s = lib.Sequential()
        s.add_module("first", L(3, 4))
        s.add_module("act", lib.ReLU())
        s.register_module("second", L(4, 5))
        s.third = L(5, 2)
        return s
    ours, _ = _same(recipe)
    assert len(ours) == 4 and ours.third is ours[3]
    assert len(list(ours.parameters())) == 6  # the silent bug: it had 0


def test_vgg_style_feature_extractor_has_its_parameters():
    def recipe(lib, L):
        feats = lib.Sequential()
        for i in range(3):
            feats.add_module(f"fc{i}", L(3, 3))
            feats.add_module(f"relu{i}", lib.ReLU())
        return feats
    ours, theirs = _same(recipe)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters()) == 36


@pytest.mark.parametrize("case", ["append", "insert0", "insert_neg", "insert_end", "extend",
                                  "iadd", "add", "mul", "imul", "del", "del_slice", "slice",
                                  "pop", "setitem", "ordered", "replace_attr", "delattr"])
def test_sequence_operations_match_torch(case):
    def recipe(lib, L):
        s = lib.Sequential(L(3, 3), lib.Tanh(), L(3, 3))
        if case == "append":
            s.append(L(3, 2))
        elif case == "insert0":
            s.insert(0, L(3, 3))
        elif case == "insert_neg":
            s.insert(-1, lib.ReLU())
        elif case == "insert_end":
            s.insert(3, L(3, 1))
        elif case == "extend":
            s.extend(lib.Sequential(lib.ReLU(), L(3, 2)))
        elif case == "iadd":
            s += lib.Sequential(lib.ReLU(), L(3, 2))
        elif case == "add":
            s = s + lib.Sequential(lib.ReLU(), L(3, 2))
        elif case == "mul":
            s = s * 2
        elif case == "imul":
            s *= 2
        elif case == "del":
            del s[1]
        elif case == "del_slice":
            del s[:2]
        elif case == "slice":
            s = s[1:]
        elif case == "pop":
            s.pop(0)
        elif case == "setitem":
            s[1] = lib.Sigmoid()
        elif case == "ordered":
            s = lib.Sequential(OrderedDict([("a", L(3, 4)), ("b", lib.ReLU()), ("c", L(4, 3))]))
            del s[1]  # renumbers every key, named ones too
        elif case == "replace_attr":
            s = lib.Sequential(OrderedDict([("a", L(3, 4)), ("b", L(4, 3))]))
            s.a = L(3, 4)  # keeps its place
        elif case == "delattr":
            s = lib.Sequential(OrderedDict([("a", L(3, 3)), ("b", L(3, 2))]))
            del s.a
        return s
    _same(recipe)


def test_sequential_errors_as_torch():
    s = nn.Sequential(nn.ReLU())
    with pytest.raises(IndexError):
        s[3]
    with pytest.raises(IndexError):
        s.insert(5, nn.ReLU())
    with pytest.raises(TypeError):
        s.add_module("x", 3)
    with pytest.raises(ValueError):
        s + [nn.ReLU()]
    with pytest.raises(ValueError):
        s * 0


def test_sequential_trains_what_was_added():
    s = nn.Sequential()
    s.add_module("fc", nn.Linear(2, 1))
    opt = an.optim.SGD(s.parameters(), lr=0.1)
    before = s.fc.weight.detach().numpy().copy()
    s(an.randn(4, 2)).sum().backward()
    opt.step()
    assert not np.allclose(before, s.fc.weight.detach().numpy())


def test_modulelist_and_moduledict_add_module_as_torch():
    def recipe(lib, L):
        root = lib.Module()
        ml = lib.ModuleList([L(3, 3)])
        ml.add_module("1", L(3, 2))
        ml.append(L(2, 2))
        md = lib.ModuleDict({"a": L(3, 3)})
        md.add_module("b", L(3, 1))
        md.c = L(1, 1)
        root.ml, root.md = ml, md
        return root
    ours, theirs = _same(recipe)
    assert len(ours.ml) == len(theirs.ml) == 3
    assert list(ours.md.keys()) == list(theirs.md.keys()) == ["a", "b", "c"]
    assert ours.md["c"] is ours.md.c
