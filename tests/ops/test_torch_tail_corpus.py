"""The corpus-ranked names (scripts/api_coverage.py), each against torch: tensor extras,
distributions, RMSNorm, LayerNorm(bias=False), pad_sequence, load(map_location=), special,
multiprocessing.spawn, compile, finfo, aliases."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle.testing import gradcheck

R = np.random.default_rng(0)


def _t(a, lib, grad=False):
    return lib.tensor(a, requires_grad=grad)


def _np(t):
    return t.detach().numpy()


CASES = {
    "dot": (lambda L, a, b: L.dot(a[0], b[0]), [(2, 3), (2, 3)]),
    "mv": (lambda L, a, b: L.mv(a, b[0]), [(2, 3), (3, 3)]),
    "ger": (lambda L, a, b: L.ger(a[0], b[1]), [(2, 3), (3, 3)]),
    "addmm": (lambda L, a, b: L.addmm(a, a, b, beta=0.5, alpha=2.0), [(3, 3), (3, 3)]),
    "addcmul": (lambda L, a, b: L.addcmul(a, a, b, value=0.3), [(2, 3), (2, 3)]),
    "addcdiv": (lambda L, a, b: L.addcdiv(a, a, b * b + 1, value=0.3), [(2, 3), (2, 3)]),
    "unbind": (lambda L, a, b: L.stack(L.unbind(a * b, 1)[::-1]), [(2, 3), (2, 3)]),
    "masked_select": (lambda L, a, b: L.masked_select(a, b > 0), [(2, 3), (2, 3)]),
    "index_add": (lambda L, a, b: a.index_add(0, L.tensor([2, 0, 2]), b, alpha=2.0),
                  [(3, 2), (3, 2)]),
    "ravel": (lambda L, a, b: (a * b).ravel(), [(2, 3), (2, 3)]),
    "swapaxes": (lambda L, a, b: (a * b).swapaxes(0, 1), [(2, 3), (2, 3)]),
    "diagonal": (lambda L, a, b: L.diagonal(a * b, 1), [(3, 4), (3, 4)]),
    "diagonal_neg": (lambda L, a, b: L.diagonal(a + b, -1, 1, 0), [(3, 4), (3, 4)]),
    "meshgrid_xy": (lambda L, a, b: L.meshgrid(a[0], b[0], indexing="xy")[0] * 2
                    + L.meshgrid(a[0], b[0], indexing="xy")[1], [(2, 3), (2, 2)]),
    "meshgrid_ij": (lambda L, a, b: L.meshgrid(a[0], b[0], indexing="ij")[1], [(2, 3), (2, 2)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_extras_match_torch_with_gradients(name):
    fn, shapes = CASES[name]
    xa, xb = R.standard_normal(shapes[0]), R.standard_normal(shapes[1])
    ours = fn(an, _t(xa, an, True), _t(xb, an, True))
    ta, tb = _t(xa, torch, True), _t(xb, torch, True)
    theirs = fn(torch, ta, tb)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-10, atol=1e-12)
    gradcheck(lambda a, b: fn(an, a, b), xa, xb)


def test_nonzero_and_inplace_as_torch():
    x = np.array([[0.0, 1.5], [2.0, 0.0]])
    np.testing.assert_array_equal(an.nonzero(an.tensor(x)).numpy(),
                                  torch.nonzero(torch.tensor(x)).numpy())
    for a, b in zip(an.tensor(x).nonzero(as_tuple=True), torch.tensor(x).nonzero(as_tuple=True)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert an.nonzero(an.tensor(3.0)).shape == tuple(torch.nonzero(torch.tensor(3.0)).shape)
    for name, args in [("exp_", ()), ("sqrt_", ()), ("sigmoid_", ()), ("clamp_", (0.1, 0.5))]:
        a, t = an.tensor(np.abs(x)), torch.tensor(np.abs(x))
        assert getattr(a, name)(*args) is a
        getattr(t, name)(*args)
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-12)
    a, t = an.zeros(3, 2), torch.zeros(3, 2)
    idx = [[0, 1], [2, 0], [1, 2]]
    a.scatter_(0, an.tensor(idx), an.ones(3, 2))
    t.scatter_(0, torch.tensor(idx), torch.ones(3, 2))
    np.testing.assert_array_equal(a.numpy(), t.numpy())
    a, t = an.zeros(3, 2), torch.zeros(3, 2)
    a.index_add_(0, an.tensor([1, 1]), an.ones(2, 2))
    t.index_add_(0, torch.tensor([1, 1]), torch.ones(2, 2))
    np.testing.assert_array_equal(a.numpy(), t.numpy())
    assert an.ones(2).get_device() == torch.ones(2).get_device() == -1
    assert an.ones(2).data_ptr() == an.ones(2).numpy().__array_interface__["data"][0] or True
    b = an.ones(4)
    assert b.data_ptr() == b.array.__array_interface__["data"][0]


def test_finfo_iinfo_and_settings_as_torch():
    for dt in ("float32", "float64", "float16"):
        a, t = an.finfo(getattr(an, dt)), torch.finfo(getattr(torch, dt))
        assert (a.eps, a.max, a.min, a.tiny, a.bits) == (t.eps, t.max, t.min, t.tiny, t.bits)
    assert an.finfo().eps == torch.finfo().eps
    assert (an.iinfo(an.int64).max, an.iinfo(an.uint8).min) == (
        torch.iinfo(torch.int64).max, torch.iinfo(torch.uint8).min)
    with pytest.raises(TypeError):
        an.finfo(an.int32)
    an.set_float32_matmul_precision("high")
    try:
        assert an.get_float32_matmul_precision() == "high"
    finally:
        an.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError):
        an.set_float32_matmul_precision("fast")
    m = an.nn.Linear(2, 2)
    assert an.compile(m) is m and an.compile(mode="max-autotune")(m) is m
    x = an.ones(2, 3)
    assert x.to(memory_format=an.channels_last) is x


def _dist_pair(name):
    loc, scale = R.standard_normal(4), np.abs(R.standard_normal(4)) + 0.5
    logits = R.standard_normal((3, 5))
    if name == "Normal":
        return (an.distributions.Normal(an.tensor(loc), an.tensor(scale)),
                torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale)),
                R.standard_normal(4))
    if name == "Uniform":
        return (an.distributions.Uniform(an.tensor(loc), an.tensor(loc + scale)),
                torch.distributions.Uniform(torch.tensor(loc), torch.tensor(loc + scale)),
                loc + scale / 2)
    if name == "Bernoulli":
        p = 1 / (1 + np.exp(-loc))
        return (an.distributions.Bernoulli(probs=an.tensor(p)),
                torch.distributions.Bernoulli(probs=torch.tensor(p)), np.array([0, 1, 1, 0.]))
    if name == "CategoricalLogits":
        return (an.distributions.Categorical(logits=an.tensor(logits)),
                torch.distributions.Categorical(logits=torch.tensor(logits)),
                np.array([0, 4, 2]))
    p = np.exp(logits)
    return (an.distributions.categorical.Categorical(probs=an.tensor(p)),
            torch.distributions.categorical.Categorical(probs=torch.tensor(p)),
            np.array([1, 1, 3]))


@pytest.mark.parametrize("name", ["Normal", "Uniform", "Bernoulli", "CategoricalLogits",
                                  "CategoricalProbs"])
def test_distributions_match_torch(name):
    ours, theirs, value = _dist_pair(name)
    v_ours = an.tensor(value) if "Categorical" not in name else an.tensor(value.astype(int))
    v_theirs = torch.tensor(value) if "Categorical" not in name else torch.tensor(value)
    np.testing.assert_allclose(_np(ours.log_prob(v_ours)), _np(theirs.log_prob(v_theirs)),
                               rtol=1e-10)
    np.testing.assert_allclose(_np(ours.entropy()), _np(theirs.entropy()), rtol=1e-10)
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    an.manual_seed(0)
    draws = ours.sample((20000,))
    assert tuple(draws.shape) == tuple(theirs.sample((20000,)).shape)
    if "Categorical" in name:
        freq = np.stack([(draws.numpy() == k).mean(0) for k in range(5)], -1)
        np.testing.assert_allclose(freq, _np(theirs.probs), atol=0.02)
    else:
        np.testing.assert_allclose(draws.numpy().mean(0), _np(theirs.mean), atol=0.05)


def test_normal_rsample_gradients_and_kl_as_torch():
    loc = an.tensor([0.5, -1.0], dtype="float64", requires_grad=True)
    scale = an.tensor([1.5, 0.5], dtype="float64", requires_grad=True)
    d = an.distributions.Normal(loc, scale)
    s = d.rsample((1000,))
    s.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [1000.0, 1000.0])
    eps = (s.detach().numpy() - [0.5, -1.0]) / [1.5, 0.5]
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-9)
    pairs = [(an.distributions.Normal(an.tensor([0.0, 1.0]), an.tensor([1.0, 2.0])),
              an.distributions.Normal(an.tensor([1.0, 0.0]), an.tensor([0.5, 1.0])),
              torch.distributions.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])),
              torch.distributions.Normal(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 1.0])))]
    lg = R.standard_normal((2, 4))
    pairs.append((an.distributions.Categorical(logits=an.tensor(lg[0])),
                  an.distributions.Categorical(logits=an.tensor(lg[1])),
                  torch.distributions.Categorical(logits=torch.tensor(lg[0])),
                  torch.distributions.Categorical(logits=torch.tensor(lg[1]))))
    for p, q, tp, tq in pairs:
        np.testing.assert_allclose(_np(an.distributions.kl_divergence(p, q)),
                                   _np(torch.distributions.kl_divergence(tp, tq)), rtol=1e-6)


def test_rmsnorm_and_layernorm_without_bias_match_torch():
    x = R.standard_normal((2, 3, 4)).astype(np.float32)
    for eps in (None, 1e-6):
        ours, theirs = an.nn.RMSNorm(4, eps=eps), torch.nn.RMSNorm(4, eps=eps)
        ours.weight.data = an.tensor(np.linspace(0.5, 2, 4, dtype=np.float32))
        theirs.weight.data = torch.tensor(np.linspace(0.5, 2, 4, dtype=np.float32))
        np.testing.assert_allclose(_np(ours(an.tensor(x))), _np(theirs(torch.tensor(x))),
                                   rtol=1e-5, atol=1e-6)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    ln, tln = an.nn.LayerNorm(4, bias=False), torch.nn.LayerNorm(4, bias=False)
    assert list(ln.state_dict()) == list(tln.state_dict()) == ["weight"]
    np.testing.assert_allclose(_np(ln(an.tensor(x))), _np(tln(torch.tensor(x))), rtol=1e-5,
                               atol=1e-6)
    gradcheck(lambda a: an.nn.functional.rms_norm(a, (4,)) if hasattr(
        an.nn.functional, "rms_norm") else an.nn.rmsnorm.rms_norm(a, (4,)),
        R.standard_normal((2, 4)))


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_matches_torch(batch_first):
    seqs = [R.standard_normal((n, 2)) for n in (3, 1, 4)]
    ours = an.nn.utils.rnn.pad_sequence([an.tensor(s) for s in seqs], batch_first=batch_first,
                                        padding_value=-1.0)
    theirs = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs],
                                             batch_first=batch_first, padding_value=-1.0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    left = an.nn.utils.rnn.pad_sequence([an.tensor(s) for s in seqs], True, 0.0, "left")
    tleft = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], True, 0.0, "left")
    np.testing.assert_array_equal(left.numpy(), tleft.numpy())


def test_load_map_location_and_weights_only(tmp_path):
    p = tmp_path / "w.npz"
    an.save({"w": an.ones(2)}, p)
    assert an.load(p, map_location="cpu")["w"].device.kind == "cpu"
    assert an.load(p, map_location=an.device("cpu"), weights_only=True)["w"].shape == (2,)
    with pytest.raises(TypeError, match="map_location"):
        an.load(p, map_location=lambda s, loc: s)


def test_special_multiprocessing_version_aliases():
    x = an.tensor([0.5, 1.0], dtype="float64")
    for name in ("expm1", "erf", "log1p", "expit", "erfc"):
        np.testing.assert_allclose(getattr(an.special, name)(x).numpy(),
                                   getattr(torch.special, name)(torch.tensor(x.numpy())).numpy(),
                                   rtol=1e-12)
    assert an.version.cuda is None or isinstance(an.version.cuda, str)
    from arrayneedle.optim.lr_scheduler import _LRScheduler
    assert _LRScheduler is an.optim.lr_scheduler.LRScheduler
    p = an.nn.Parameter(an.ones(3))
    p.grad = an.full((3,), 10.0)
    with pytest.warns(FutureWarning):
        n = an.nn.utils.clip_grad_norm([p], 1.0)
    assert abs(float(n) - np.sqrt(300)) < 1e-4
    import multiprocessing
    assert an.multiprocessing.Queue is multiprocessing.Queue


def _child(i, path):
    with open(f"{path}/{i}", "w") as f:
        f.write(str(i * 10))


def _bad(i):
    raise SystemExit(3 if i == 1 else 0)


def test_multiprocessing_spawn(tmp_path):
    an.multiprocessing.spawn(_child, args=(str(tmp_path),), nprocs=2, start_method="fork")
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["0", "10"]
    with pytest.raises(an.multiprocessing.ProcessRaisedException, match="process 1"):
        an.multiprocessing.spawn(_bad, nprocs=2, start_method="fork")


def test_unfold_bincount_dist_and_reshaping_in_place_as_torch():
    x = R.standard_normal((2, 7, 3))
    for args in ((1, 3, 2), (0, 1, 1), (-1, 2, 1)):
        np.testing.assert_array_equal(an.tensor(x).unfold(*args).numpy(),
                                      torch.tensor(x).unfold(*args).numpy())
    gradcheck(lambda a: a.unfold(1, 3, 2), x)
    v = [0, 2, 2, 5]
    np.testing.assert_array_equal(an.bincount(an.tensor(v), minlength=8).numpy(),
                                  torch.bincount(torch.tensor(v), minlength=8).numpy())
    w = [0.5, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(an.bincount(an.tensor(v), weights=an.tensor(w)).numpy(),
                               torch.bincount(torch.tensor(v), weights=torch.tensor(w)).numpy())
    a, b = R.standard_normal(5), R.standard_normal(5)
    for p in (1, 2, 3):
        assert abs(an.dist(an.tensor(a), an.tensor(b), p).item()
                   - torch.dist(torch.tensor(a), torch.tensor(b), p).item()) < 1e-12
    for name, args in [("unsqueeze_", (0,)), ("transpose_", (0, 1)), ("squeeze_", ()),
                       ("t_", ()), ("resize_", (2, 5)), ("resize_", (3,))]:
        base = R.standard_normal((2, 3)) if name != "squeeze_" else R.standard_normal((1, 3))
        o, t = an.tensor(base), torch.tensor(base)
        assert getattr(o, name)(*args) is o
        getattr(t, name)(*args)
        assert o.shape == tuple(t.shape)
        if name != "resize_" or args == (3,):
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match="requires grad"):
        an.ones(2, requires_grad=True).unsqueeze_(0)
    m = an.ones(2, 3).multinomial(2)
    assert m.shape == tuple(torch.ones(2, 3).multinomial(2).shape)
    assert an.sigmoid_(an.zeros(2)).numpy().tolist() == torch.sigmoid_(torch.zeros(2)).tolist()
    p = an.ones(2)
    assert p.pin_memory() is p and not p.is_pinned()


def test_radam_matches_torch():
    for kw in (dict(lr=1e-2), dict(lr=1e-2, weight_decay=0.1),
               dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)):
        w0 = R.standard_normal(4)
        a, t = an.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
        oa, ot = an.optim.RAdam([a], **kw), torch.optim.RAdam([t], **kw)
        for _ in range(12):  # rho_t passes 5 at step 6: both branches run
            for p, o in ((a, oa), (t, ot)):
                o.zero_grad()
                (p ** 3).sum().backward()
                o.step()
        np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=1e-10)


def test_sdpa_kernel_module_paths_and_pytree():
    from arrayneedle.nn.attention import SDPBackend, sdpa_kernel
    assert [b.name for b in SDPBackend if b.value >= 0][:4] == [
        "MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"]
    q = an.randn(1, 2, 4, 8)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
        out = an.nn.functional.scaled_dot_product_attention(q, q, q)
    assert out.shape == (1, 2, 4, 8)
    with pytest.raises(RuntimeError, match="only the MATH"):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            pass
    with an.backends.cuda.sdp_kernel(enable_flash=False):
        pass
    from arrayneedle.nn.modules.module import Module
    from arrayneedle.nn.modules.utils import _pair, _triple
    from arrayneedle.nn.parameter import Parameter
    from torch.nn.modules.utils import _pair as tpair
    assert Module is an.nn.Module and Parameter is an.nn.Parameter
    assert _pair(3) == tpair(3) and _pair((1, 2)) == tpair((1, 2)) and _triple(1) == (1, 1, 1)
    from torch.utils import _pytree as tpt

    from arrayneedle.utils import _pytree as pt
    tree = {"a": [1, (2, 3)], "b": {"c": 4}}
    leaves, spec = pt.tree_flatten(tree)
    assert leaves == tpt.tree_flatten(tree)[0]
    assert pt.tree_unflatten([x * 2 for x in leaves], spec) == tpt.tree_map(lambda x: x * 2,
                                                                            tree)
    assert pt.tree_map(lambda x, y: x + y, [1, 2], [10, 20]) == [11, 22]


def test_cuda_event_and_properties_need_a_gpu():
    if an.cuda.is_available():
        s, e = an.cuda.Event(enable_timing=True), an.cuda.Event(enable_timing=True)
        s.record()
        an.ones(1000, device="cuda").sum()
        e.record()
        e.synchronize()
        assert s.elapsed_time(e) >= 0
        assert an.cuda.get_device_properties(0).total_memory > 0
        return
    with pytest.raises(RuntimeError, match="no accelerator"):
        an.cuda.Event(enable_timing=True)
    with pytest.raises(RuntimeError, match="no accelerator"):
        an.cuda.get_device_properties(0)
    assert "allocated: 0.0 MiB" in an.cuda.memory_summary()


def test_one_hot_categorical_and_bernoulli_logits_match_torch():
    lg = R.standard_normal((2, 4))
    o = an.distributions.OneHotCategorical(logits=an.tensor(lg))
    t = torch.distributions.OneHotCategorical(logits=torch.tensor(lg))
    v = np.eye(4)[[1, 3]]
    np.testing.assert_allclose(_np(o.log_prob(an.tensor(v))), _np(t.log_prob(torch.tensor(v))),
                               rtol=1e-10)
    np.testing.assert_allclose(_np(o.entropy()), _np(t.entropy()), rtol=1e-10)
    np.testing.assert_allclose(_np(o.mean), _np(t.mean), rtol=1e-10)
    np.testing.assert_allclose(_np(o.variance), _np(t.variance), rtol=1e-10)
    s = o.sample((5,))
    assert s.shape == tuple(t.sample((5,)).shape) and np.all(s.numpy().sum(-1) == 1)
    b = an.distributions.Bernoulli(logits=an.tensor(lg[0]))
    tb = torch.distributions.Bernoulli(logits=torch.tensor(lg[0]))
    x = np.array([0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(_np(b.log_prob(an.tensor(x))), _np(tb.log_prob(torch.tensor(x))),
                               rtol=1e-10)
    np.testing.assert_allclose(_np(b.variance), _np(tb.variance), rtol=1e-10)
    qb = an.distributions.Bernoulli(logits=an.tensor(lg[1]))
    tq = torch.distributions.Bernoulli(logits=torch.tensor(lg[1]))
    np.testing.assert_allclose(_np(an.distributions.kl_divergence(b, qb)),
                               _np(torch.distributions.kl_divergence(tb, tq)), rtol=1e-8)
