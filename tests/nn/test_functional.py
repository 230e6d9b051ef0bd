"""arrayneedle.nn.functional (activation, linear, sparse, misc parts): PyTorch's signatures
and values. Hand-computed values always; PyTorch's where it is installed."""
import math

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn.functional as F

V = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 2.0, 30.0])


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def test_import_as_F_and_norm_reexports():
    assert an.nn.functional is F
    assert F.layer_norm is an.layer_norm and F.group_norm is an.group_norm
    assert F.batch_norm is an.batch_norm


def test_erf_is_accurate_to_float64_rounding():
    x = np.concatenate([np.linspace(-7, 7, 2801), [0.46875, -0.46875, 4.0, 1e-12, 30.0]])
    ref = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(an.erf(an.tensor(x, dtype="float64")).detach().numpy(), ref, rtol=2e-15,
                               atol=1e-300)
    out32 = an.erf(an.tensor(x, dtype="float32"))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.detach().numpy(), ref, atol=3e-7)
    t = an.tensor([0.3, -1.2], dtype="float64", requires_grad=True)
    an.erf(t).sum().backward()
    np.testing.assert_allclose(t.grad.detach().numpy(), 2 / math.sqrt(math.pi) * np.exp(-t.detach().numpy() ** 2))


def test_activations_hand_values():
    x = an.tensor(V, dtype="float64")
    phi = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in V]))
    np.testing.assert_allclose(F.gelu(x).detach().numpy(), V * phi, rtol=1e-15)
    k = math.sqrt(2 / math.pi)
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").detach().numpy(),
                               0.5 * V * (1 + np.tanh(k * (V + 0.044715 * V ** 3))), rtol=1e-15)
    np.testing.assert_allclose(F.leaky_relu(x).detach().numpy(), np.where(V > 0, V, 0.01 * V))
    np.testing.assert_allclose(F.elu(x).detach().numpy(), np.where(V > 0, V, np.expm1(V)))
    np.testing.assert_allclose(F.softplus(x).detach().numpy(), np.where(V > 20, V, np.log1p(np.exp(V))))
    np.testing.assert_allclose(F.silu(x).detach().numpy(), V / (1 + np.exp(-V)))
    np.testing.assert_allclose(F.relu(x).detach().numpy(), np.maximum(V, 0))
    np.testing.assert_allclose(F.sigmoid(x).detach().numpy(), 1 / (1 + np.exp(-V)))
    np.testing.assert_allclose(F.tanh(x).detach().numpy(), np.tanh(V))
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")


def test_activations_match_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    cases = [(F.gelu, tf.gelu, {}), (F.gelu, tf.gelu, {"approximate": "tanh"}),
             (F.silu, tf.silu, {}), (F.leaky_relu, tf.leaky_relu, {"negative_slope": 0.1}),
             (F.elu, tf.elu, {"alpha": 0.7}), (F.softplus, tf.softplus, {"beta": 2, "threshold": 5}),
             (F.softmax, tf.softmax, {"dim": 0}), (F.log_softmax, tf.log_softmax, {"dim": 0})]
    for ours, theirs, kw in cases:
        x = an.tensor(V, dtype="float64", requires_grad=True)
        t = torch.tensor(V, requires_grad=True)
        w = np.linspace(-1, 1, V.size)
        (ours(x, **kw) * an.tensor(w, dtype="float64")).sum().backward()
        (theirs(t, **kw) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(ours(x, **kw).detach().numpy(), theirs(t, **kw).detach().numpy(),
                                   rtol=1e-13, atol=1e-15, err_msg=str(ours))
        np.testing.assert_allclose(x.grad.detach().numpy(), t.grad.detach().numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=str(ours))


def test_inplace_writes_into_input_without_grad_and_copies_with_grad():
    x = an.tensor([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]
    z = an.tensor([-1.0, 2.0])
    assert F.relu_(z) is z and z.tolist() == [0.0, 2.0]
    g = an.tensor([-1.0, 2.0], requires_grad=True)
    out = F.leaky_relu(g, 0.5, inplace=True)
    assert out is not g and out.tolist() == [-0.5, 2.0] and g.tolist() == [-1.0, 2.0]


def test_dropout():
    x = an.ones(200, 100)
    assert F.dropout(x, 0.3, training=False) is x
    an.manual_seed(1)
    y = F.dropout(x, 0.25).detach().numpy()
    assert set(np.unique(y).tolist()) == {0.0, float(np.float32(1 / 0.75))}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert F.dropout(x, 1.0).detach().numpy().sum() == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)
    t = an.ones(4, 4, requires_grad=True)
    F.dropout(t, 0.5).sum().backward()
    assert set(np.unique(t.grad.detach().numpy()).tolist()) <= {0.0, 2.0}


def test_linear():
    x = an.tensor([[1.0, 2.0]])
    w = an.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert F.linear(x, w).tolist() == [[1.0, 2.0, 3.0]]
    assert F.linear(x, w, an.tensor([1.0, 1.0, 1.0])).tolist() == [[2.0, 3.0, 4.0]]
    with pytest.raises(ValueError, match="in_features"):
        F.linear(an.zeros(2, 3), w)


def test_embedding_and_padding_idx_gets_no_gradient():
    w = an.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    idx = an.tensor([[0, 2], [2, 3]])
    out = F.embedding(idx, w, padding_idx=2)
    assert out.shape == (2, 2, 3) and out.detach().numpy()[0, 1].tolist() == [6.0, 7.0, 8.0]
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.detach().numpy(), [[1] * 3, [0] * 3, [0] * 3, [1] * 3])
    with pytest.raises(TypeError, match="integer"):
        F.embedding(an.tensor([0.0]), w)


def test_one_hot():
    o = F.one_hot(an.tensor([0, 2, 1]))
    assert o.dtype == np.int64 and o.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(an.tensor([[1], [0]]), num_classes=4).shape == (2, 1, 4)
    with pytest.raises(RuntimeError, match="smaller than num_classes"):  # as torch
        F.one_hot(an.tensor([3]), 3)


def test_normalize_and_zero_vector_gradient():
    x = an.tensor([[3.0, 4.0], [0.0, 0.0]], dtype="float64", requires_grad=True)
    y = F.normalize(x, dim=1)
    np.testing.assert_allclose(y.detach().numpy(), [[0.6, 0.8], [0.0, 0.0]])
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.detach().numpy()))
    # d/dx_j sum_i x_i / |x| = 1/|x| - x_j * sum(x) / |x|^3
    np.testing.assert_allclose(x.grad.detach().numpy()[0], [0.2 - 3 * 7 / 125, 0.2 - 4 * 7 / 125],
                               atol=1e-12)
    np.testing.assert_allclose(F.normalize(an.tensor([[1.0, -3.0]]), p=1).detach().numpy(),
                               [[0.25, -0.75]])
    torch = _torch()
    if torch is not None:
        t = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
        torch.nn.functional.normalize(t, dim=1).sum().backward()
        np.testing.assert_allclose(x.grad.detach().numpy(), t.grad.detach().numpy(), atol=1e-12)


def test_pad_uses_last_dim_first_order_and_modes():
    x = an.tensor(np.arange(6.0).reshape(1, 2, 3))
    # (left, right) pads the last axis, (top, bottom) the one before
    assert F.pad(x, (1, 0)).shape == (1, 2, 4) and F.pad(x, (1, 0, 0, 2)).shape == (1, 4, 4)
    assert F.pad(x, (1, 1), value=9.0).detach().numpy()[0, 0].tolist() == [9.0, 0.0, 1.0, 2.0, 9.0]
    assert F.pad(x, (2, 1), mode="reflect").detach().numpy()[0, 0].tolist() == [2, 1, 0, 1, 2, 1]
    assert F.pad(x, (2, 1), mode="replicate").detach().numpy()[0, 0].tolist() == [0, 0, 0, 1, 2, 2]
    assert F.pad(x, (2, 1), mode="circular").detach().numpy()[0, 0].tolist() == [1, 2, 0, 1, 2, 0]
    assert F.pad(x, (-1, 0)).detach().numpy()[0, 0].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="smaller than the size"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(x, (1, 1), mode="symmetric")
    torch = _torch()
    if torch is not None:
        a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
        for mode in ("constant", "reflect", "replicate", "circular"):
            pads = (2, 1, 3, 0)
            ours = F.pad(an.tensor(a, dtype="float64"), pads, mode=mode).detach().numpy()
            theirs = torch.nn.functional.pad(torch.tensor(a), pads, mode=mode).detach().numpy()
            np.testing.assert_array_equal(ours, theirs, err_msg=mode)
