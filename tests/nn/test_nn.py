import math

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
from arrayneedle.testing import gradcheck


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.norms = [nn.BatchNorm1d(4), nn.LayerNorm(4)]
        self.heads = {"a": nn.Linear(4, 2), "b": nn.Linear(4, 1, bias=False)}
        self.scale = nn.Parameter(an.ones(1))

    def forward(self, x):
        h = self.norms[1](self.norms[0](self.lin(x))).relu()
        return self.heads["a"](h) * self.scale, self.heads["b"](h)


def test_module_discovery_and_keys():
    m = Block()
    keys = list(m.state_dict())
    assert keys == ["scale", "lin.weight", "lin.bias", "norms.0.weight", "norms.0.bias",
                    "norms.0.running_mean", "norms.0.running_var", "norms.0.num_batches_tracked",
                    "norms.1.weight", "norms.1.bias", "heads.a.weight", "heads.a.bias",
                    "heads.b.weight"]
    assert len(list(m.parameters())) == 10
    assert len(list(m.buffers())) == 3
    assert [type(c).__name__ for c in m.children()] == ["Linear", "BatchNorm1d", "LayerNorm",
                                                       "Linear", "Linear"]
    assert len(list(m.modules())) == 6
    assert "(lin): Linear(in_features=3, out_features=4, bias=True)" in repr(m)


def test_shared_parameter_listed_once():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(m.parameters())) == 2


def test_train_eval_recursive():
    m = Block()
    m.eval()
    assert all(not x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_linear_layout_and_default_init():
    an.manual_seed(0)
    lin = nn.Linear(300, 200)
    assert lin.weight.shape == (200, 300) and lin.bias.shape == (200,)
    bound = 1 / math.sqrt(300)
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    x = an.randn(5, 300)
    np.testing.assert_allclose(lin(x).detach().numpy(), x.detach().numpy() @ w.T + lin.bias.detach().numpy(), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="last dimension 300"):
        lin(an.randn(5, 3))


def _bn_ref(x, axes, eps=1e-5):
    m = x.mean(axis=axes, keepdims=True)
    v = x.var(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps), m, v


def test_batchnorm2d_training_and_running_stats():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3, momentum=0.1)
    bn.weight.array = rng.standard_normal(3).astype(np.float32)
    bn.bias.array = rng.standard_normal(3).astype(np.float32)
    x = (rng.standard_normal((4, 3, 5, 6)) * 2 + 1).astype(np.float32)
    y = bn(an.Tensor(x)).detach().numpy()
    xh, m, v = _bn_ref(x, (0, 2, 3))
    ref = xh * bn.weight.detach().numpy().reshape(1, 3, 1, 1) + bn.bias.detach().numpy().reshape(1, 3, 1, 1)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    n = 4 * 5 * 6
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * m.reshape(3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * v.reshape(3) * n / (n - 1),
                               rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    y2 = bn(an.Tensor(x)).detach().numpy()
    ref2 = ((x - bn.running_mean.numpy().reshape(1, 3, 1, 1))
            / np.sqrt(bn.running_var.numpy().reshape(1, 3, 1, 1) + 1e-5)
            * bn.weight.detach().numpy().reshape(1, 3, 1, 1) + bn.bias.detach().numpy().reshape(1, 3, 1, 1))
    np.testing.assert_allclose(y2, ref2, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="expected a 4-D input with 3 channels"):
        bn(an.randn(2, 4, 3, 3))


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.BatchNorm2d(3), (4, 3, 2, 3)),
    (lambda: nn.BatchNorm1d(3), (5, 3)),
    (lambda: nn.LayerNorm(4), (3, 4)),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 2)),
])
def test_norm_layers_gradcheck(make, shape):
    layer = make()
    layer.to(dtype="float64")
    rng = np.random.default_rng(1)
    layer.weight.array = rng.standard_normal(layer.weight.shape)
    layer.bias.array = rng.standard_normal(layer.bias.shape)
    w, b = layer.weight.array, layer.bias.array

    def f(x, w_, b_):
        layer.weight.array, layer.bias.array = w_.array, b_.array
        layer.weight._ctx = None
        # route through the parameters' values so their gradients are checked too
        layer.weight, layer.bias = w_, b_
        return layer(x)

    gradcheck(f, rng.standard_normal(shape), w, b)


@pytest.mark.parametrize("make,shape", [(lambda: nn.BatchNorm2d(3), (4, 3, 2, 3)),
                                        (lambda: nn.BatchNorm1d(3), (5, 3))])
def test_batchnorm_eval_gradcheck_with_running_statistics(make, shape):
    layer = make()
    layer.to(dtype="float64")
    rng = np.random.default_rng(3)
    layer.running_mean.array = rng.standard_normal(3)
    layer.running_var.array = rng.uniform(0.5, 2.0, 3)
    layer.eval()

    def f(x, w_, b_):
        layer.weight, layer.bias = w_, b_
        return layer(x)

    gradcheck(f, rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3))
    x = an.Tensor(rng.standard_normal(shape))
    with an.no_grad():  # eval output: (x - running_mean) / sqrt(running_var + eps) * w + b
        y = layer(x).numpy()
    cs = (1, 3) + (1,) * (len(shape) - 2)
    ref = ((x.numpy() - layer.running_mean.numpy().reshape(cs))
           / np.sqrt(layer.running_var.numpy().reshape(cs) + layer.eps)
           * layer.weight.numpy().reshape(cs) + layer.bias.numpy().reshape(cs))
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_groupnorm_and_layernorm_values():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 3, 3))
    gn = nn.GroupNorm(3, 6).to(dtype="float64")
    g = x.reshape(2, 3, -1)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(gn(an.Tensor(x)).detach().numpy(), ref, atol=1e-10)
    ln = nn.LayerNorm((3, 3)).to(dtype="float64")
    ref = (x - x.mean((-2, -1), keepdims=True)) / np.sqrt(x.var((-2, -1), keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(an.Tensor(x)).detach().numpy(), ref, atol=1e-10)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)


def test_embedding_and_dropout():
    emb = nn.Embedding(10, 3)
    idx = an.Tensor([[1, 2], [9, 1]])
    out = emb(idx)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.detach().numpy()[1, 1], emb.weight.detach().numpy()[1])
    out.sum().backward()
    assert emb.weight.grad.numpy()[1].tolist() == [2, 2, 2]
    d = nn.Dropout(0.5)
    x = an.ones(1000)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 300 < (y == 0).sum() < 700
    d.eval()
    assert d(x) is x


def test_losses_match_reference():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)) * 2
    ta, tb = an.Tensor(a), an.Tensor(b)
    np.testing.assert_allclose(nn.MSELoss()(ta, tb).item(), ((a - b) ** 2).mean())
    with pytest.warns(FutureWarning, match="removed on 2027-06-30; use arrayneedle.nn.MSELoss"):
        assert nn.L2Loss is nn.MSELoss
    with pytest.warns(FutureWarning, match="nn.SoftmaxLoss is deprecated"):
        assert nn.SoftmaxLoss is nn.CrossEntropyLoss
    np.testing.assert_allclose(nn.L1Loss()(ta, tb).item(), np.abs(a - b).mean())
    d = np.abs(a - b)
    hub = np.where(d < 1, 0.5 * d ** 2, d - 0.5).mean()
    np.testing.assert_allclose(nn.HuberLoss()(ta, tb).item(), hub)
    y = np.array([0, 4, 2, 1])
    lse = np.log(np.exp(a).sum(1))
    np.testing.assert_allclose(nn.CrossEntropyLoss()(ta, an.Tensor(y)).item(),
                               (lse - a[np.arange(4), y]).mean())
    gradcheck(lambda p, q: nn.HuberLoss()(p, q), a, b)
    gradcheck(lambda p: nn.CrossEntropyLoss()(p, an.Tensor(y)), a)
    with pytest.raises(ValueError, match="prediction shape"):
        nn.MSELoss()(ta, an.Tensor(b[:2]))


def test_state_dict_roundtrip_through_save_load(tmp_path):
    an.manual_seed(1)
    m1 = Block()
    m1(an.randn(5, 3))  # updates running stats
    an.save(m1.state_dict(), tmp_path / "m.npz")
    an.manual_seed(2)
    m2 = Block()
    m2.load_state_dict(an.load(tmp_path / "m.npz"))
    for (k1, v1), (k2, v2) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert k1 == k2
        np.testing.assert_array_equal(v1.numpy(), v2.numpy())
    x = an.randn(5, 3)
    m1.eval(), m2.eval()
    np.testing.assert_array_equal(m1(x)[0].detach().numpy(), m2(x)[0].detach().numpy())


def test_load_state_dict_errors():
    m = Block()
    sd = m.state_dict()
    bad = dict(sd)
    del bad["lin.weight"]
    bad["extra.weight"] = an.zeros(1)
    with pytest.raises(KeyError, match="missing keys: lin.weight.*unexpected keys: extra.weight"):
        m.load_state_dict(bad)
    missing, unexpected = m.load_state_dict(bad, strict=False)
    assert missing == ["lin.weight"] and unexpected == ["extra.weight"]
    bad = dict(sd)
    bad["lin.bias"] = an.zeros(7)
    before = m.lin.weight.detach().numpy().copy()
    bad["lin.weight"] = an.zeros(4, 3)
    with pytest.raises(ValueError, match=r"lin.bias: checkpoint has shape \(7,\), model has \(4,\)"):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(m.lin.weight.detach().numpy(), before)  # nothing half-loaded


def test_load_state_dict_copies():
    m1, m2 = nn.Linear(2, 2), nn.Linear(2, 2)
    m2.load_state_dict(m1.state_dict())
    m2.weight.array -= 1
    assert not np.array_equal(m1.weight.detach().numpy(), m2.weight.detach().numpy())


def test_init_functions():
    an.manual_seed(0)
    t = an.zeros(256, 128)
    an.init.xavier_uniform_(t)
    b = math.sqrt(6 / (256 + 128))
    assert np.abs(t.numpy()).max() <= b and abs(t.numpy().std() - b / math.sqrt(3)) < 0.05 * b
    an.init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 128)) < 0.05 * math.sqrt(2 / 128)
    an.init.constant_(t, 3)
    assert (t.numpy() == 3).all() and t.dtype == np.float32
    with pytest.warns(FutureWarning, match="use arrayneedle.nn.init.kaiming_uniform_ instead"):
        assert an.init.kaiming_uniform is an.init.kaiming_uniform_
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        an.init.xavier_uniform_(an.zeros(3))


def test_mlp_learns_classification():
    """A small MLP learns two interleaved spirals-like classes to >= 95% accuracy."""
    an.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (512, 2)).astype(np.float32)
    Y = ((X[:, 0] ** 2 + X[:, 1] ** 2) < 0.5).astype(np.int64)  # inside a circle
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 2))
    opt = an.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    x, y = an.Tensor(X), an.Tensor(Y)
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    acc = (model(x).detach().numpy().argmax(1) == Y).mean()
    assert acc >= 0.95, acc


@pytest.mark.parametrize("shape,groups,affine", [((3, 6, 4, 5), 3, True), ((2, 8, 7), 2, False),
                                                 ((4, 4), 4, True)])
def test_groupnorm_matches_torch(shape, groups, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    ours = nn.GroupNorm(groups, shape[1], affine=affine).to(dtype="float64")
    ref = torch.nn.GroupNorm(groups, shape[1], affine=affine).double()
    if affine:
        w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        ours.weight.array, ours.bias.array = w, b
        with torch.no_grad():
            ref.weight.copy_(torch.from_numpy(w))
            ref.bias.copy_(torch.from_numpy(b))
    ax, tx = an.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ay, ty = ours(ax), ref(tx)
    ay.backward(an.Tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ay.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ax.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    if affine:
        np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-9,
                                   atol=1e-10)
        np.testing.assert_allclose(ours.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-9,
                                   atol=1e-10)


def test_channel_affine_op_checks_shapes():
    from arrayneedle.ops.norm import channel_affine
    x = an.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"shift must have shape \(3,\)"):
        channel_affine(x, an.ones(3), an.ones(4))
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        channel_affine(an.zeros(3), an.ones(3), an.ones(3))


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_set_to_none(set_to_none):
    """As PyTorch: None by default (optimizers then skip the parameter), else zeros in the
    same grad Tensor."""
    m = nn.Linear(3, 2)
    m(an.randn(4, 3)).sum().backward()
    held = m.weight.grad
    before = m.weight.detach().numpy().copy()
    m.zero_grad(set_to_none=set_to_none)
    opt = an.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    if set_to_none:
        assert m.weight.grad is None and m.bias.grad is None
    else:
        assert m.weight.grad is held and not np.any(held.numpy())
    opt.step()
    np.testing.assert_array_equal(m.weight.detach().numpy(), before)  # None skipped, zeros change nothing
    m(an.randn(4, 3)).sum().backward()
    opt.zero_grad(set_to_none=set_to_none)
    assert (m.weight.grad is None) == set_to_none


def test_functional_norms_are_exported_with_torch_signatures():
    x = an.randn(4, 3, 2, 2)
    rm, rv = an.zeros(3), an.ones(3)
    y = an.batch_norm(x, rm, rv, training=True, momentum=0.5)
    xn = x.numpy()
    mean, var = xn.mean((0, 2, 3)), xn.var((0, 2, 3))
    np.testing.assert_allclose(rm.numpy(), 0.5 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.numpy(), 0.5 + 0.5 * var * 16 / 15, rtol=1e-5)
    ref = (xn - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        an.batch_norm(x, None, None)
    np.testing.assert_allclose(an.layer_norm(x, (2, 2)).numpy().mean(axis=(2, 3)), 0, atol=1e-6)
    with pytest.raises(ValueError, match=r"layer_norm: expected trailing dimensions \(3,\)"):
        an.layer_norm(x, 3)
    assert an.ops.group_norm is an.group_norm and "channel_affine" in an.ops.__all__


def test_zero_size_layers_behave_as_pytorch():
    # PyTorch: initialising a zero-element weight warns and does nothing; the layer still runs
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        lin = nn.Linear(0, 3)
    assert lin.weight.shape == (3, 0) and np.all(lin.bias.detach().numpy() == 0)
    assert np.all(lin(an.zeros(2, 0)).detach().numpy() == 0)
    assert nn.Linear(3, 0)(an.zeros(2, 3)).shape == (2, 0)
    assert nn.Conv2d(3, 4, 3)(an.zeros(0, 3, 5, 5)).shape == (0, 4, 3, 3)
    assert nn.Linear(3, 2)(an.zeros(0, 3)).shape == (0, 2)
