"""Recurrent layers: hand-computed steps, NumPy references, float64 gradient checks, and
PyTorch's weights, outputs, gradients and state_dict keys where PyTorch is installed."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn
from arrayneedle.testing import gradcheck
from op_table import make_inputs
from op_table_rnn import ROWS

RNN_ROWS = [r for r in ROWS if r[0] in ("lstm", "gru")]


@pytest.mark.parametrize("name,fn,ref,shapes,tr", RNN_ROWS, ids=[r[0] for r in RNN_ROWS])
def test_recurrent_rows_reference_and_gradcheck(name, fn, ref, shapes, tr):
    xs = make_inputs(shapes, tr, seed=3)
    out = fn(*[an.Tensor(x) for x in xs])
    np.testing.assert_allclose(out.detach().numpy(), ref(*xs), rtol=1e-10, atol=1e-12)
    gradcheck(fn, *xs)


def _fill(module, value):
    for p in module.parameters():
        p.array = p.xp.full(p.shape, value, dtype=p.dtype)
    return module


def test_one_step_by_hand():
    # every weight and bias 0.1; x = (1, 2), h = c = 0: each gate pre-activation is
    # 0.1 * 3 + 0.1 + 0.1 = 0.5
    x = an.Tensor(np.array([[1.0, 2.0]]))
    s, t = 1 / (1 + np.exp(-0.5)), np.tanh(0.5)
    h = _fill(nn.RNNCell(2, 3, dtype="float64"), 0.1)(x)
    np.testing.assert_allclose(h.detach().numpy(), np.full((1, 3), t))
    h, c = _fill(nn.LSTMCell(2, 3, dtype="float64"), 0.1)(x)
    np.testing.assert_allclose(c.detach().numpy(), np.full((1, 3), s * t))
    np.testing.assert_allclose(h.detach().numpy(), np.full((1, 3), s * np.tanh(s * t)))
    # GRU: r = z = sigmoid(0.5); n = tanh(0.3 + 0.1 + r * 0.1); h = (1 - z) n
    h = _fill(nn.GRUCell(2, 3, dtype="float64"), 0.1)(x)
    np.testing.assert_allclose(h.detach().numpy(), np.full((1, 3), (1 - s) * np.tanh(0.4 + 0.1 * s)))
    relu = _fill(nn.RNNCell(2, 3, nonlinearity="relu", dtype="float64"), -0.1)(x)
    assert relu.detach().numpy().tolist() == [[0.0, 0.0, 0.0]]


def test_parameter_names_shapes_and_init():
    m = nn.LSTM(5, 4, num_layers=2, bidirectional=True)
    shapes = {k: v.shape for k, v in m.state_dict().items()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0_reverse"] == (16, 5) and shapes["weight_ih_l1"] == (16, 8)
    assert shapes["weight_hh_l1_reverse"] == (16, 4) and len(shapes) == 16
    assert all(np.abs(p.detach().numpy()).max() <= 0.5 for p in m.parameters())  # U(-1/sqrt(4), ..)
    assert m.weight_ih_l0.dtype == np.float32
    assert len(nn.GRU(3, 2, bias=False).state_dict()) == 2
    assert nn.GRUCell(3, 2).weight_hh.shape == (6, 2)
    with pytest.raises(ValueError, match="proj_size=2 .* not supported"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.warns(UserWarning, match="between stacked layers only"):
        nn.GRU(3, 4, dropout=0.2)
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


def test_structure_states_batch_first_and_unbatched():
    an.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype="float64")
    x = an.randn(5, 2, 3, dtype="float64")
    out, (h, c) = m(x)
    assert out.shape == (5, 2, 8) and h.shape == c.shape == (4, 2, 4)
    # last forward output is h_n of the top layer's forward direction, first reverse output
    # is its reverse h_n
    np.testing.assert_allclose(out.detach().numpy()[-1, :, :4], h.detach().numpy()[2])
    np.testing.assert_allclose(out.detach().numpy()[0, :, 4:], h.detach().numpy()[3])
    # given initial states continue a sequence: two halves equal the whole (one direction)
    g = nn.GRU(3, 4, num_layers=2, dtype="float64")
    whole, hw = g(x)
    first, h1 = g(x[:2])
    second, h2 = g(x[2:], h1)
    np.testing.assert_allclose(np.concatenate([first.detach().numpy(), second.detach().numpy()]), whole.detach().numpy())
    np.testing.assert_allclose(h2.detach().numpy(), hw.detach().numpy())
    # batch_first and unbatched inputs give the same numbers
    gb = nn.GRU(3, 4, num_layers=2, batch_first=True, dtype="float64")
    gb.load_state_dict(g.state_dict())
    ob, hb = gb(an.Tensor(np.swapaxes(x.detach().numpy(), 0, 1)))
    np.testing.assert_allclose(np.swapaxes(ob.detach().numpy(), 0, 1), whole.detach().numpy())
    ou, hu = g(x[:, 1, :])
    assert ou.shape == (5, 4) and hu.shape == (2, 4)
    np.testing.assert_allclose(ou.detach().numpy(), whole.detach().numpy()[:, 1])
    with pytest.raises(ValueError, match=r"expected initial states of shape \(2, 2, 4\)"):
        g(x, an.zeros(1, 2, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"expected input \(L, N, 3\)"):
        g(an.randn(5, 2, 4))


def test_dropout_between_layers_only_in_training():
    an.manual_seed(1)
    m = nn.RNN(3, 4, num_layers=2, dropout=0.5)
    x = an.randn(4, 2, 3)
    m.eval()
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(m(x)[0].detach().numpy(), a)


def test_lstm_trains():
    an.manual_seed(2)
    m, head = nn.LSTM(2, 8, batch_first=True), nn.Linear(8, 1)
    x = an.randn(4, 6, 2)
    y = an.Tensor(x.detach().numpy()[:, :, :1].sum(1))  # running sum of the first feature
    params = list(m.parameters()) + list(head.parameters())
    opt = an.optim.Adam(params, lr=0.05)
    first = None
    for _ in range(40):
        out, (h, _) = m(x)
        loss = nn.MSELoss()(head(h[0]), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 5


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_matches_pytorch(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True, batch_first=True)
    tm = getattr(torch.nn, kind)(3, 4, **kw).double()
    am = getattr(nn, kind)(3, 4, dtype="float64", **kw)
    assert list(am.state_dict()) == list(tm.state_dict())
    am.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    h0 = np.random.default_rng(1).standard_normal((4, 2, 4))
    tx = torch.tensor(x, requires_grad=True)
    ax = an.Tensor(x, requires_grad=True)
    if kind == "LSTM":
        tout, (th, tc) = tm(tx, (torch.tensor(h0), torch.tensor(h0 * 0.5)))
        aout, (ah, ac) = am(ax, (an.Tensor(h0), an.Tensor(h0 * 0.5)))
        np.testing.assert_allclose(ac.detach().numpy(), tc.detach().numpy(), atol=1e-12)
    else:
        tout, th = tm(tx, torch.tensor(h0))
        aout, ah = am(ax, an.Tensor(h0))
    np.testing.assert_allclose(aout.detach().numpy(), tout.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ah.detach().numpy(), th.detach().numpy(), atol=1e-12)
    (tout.sum() + th.sum()).backward()
    (aout.sum() + ah.sum()).backward()
    np.testing.assert_allclose(ax.grad.detach().numpy(), tx.grad.detach().numpy(), atol=1e-10)
    tgrads = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        np.testing.assert_allclose(p.grad.detach().numpy(), tgrads[name].grad.detach().numpy(), atol=1e-10,
                                   err_msg=name)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_pytorch(kind):
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, kind)(3, 4).double()
    am = getattr(nn, kind)(3, 4, dtype="float64")
    assert list(am.state_dict()) == list(tm.state_dict())
    am.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3))
    t, a = tm(torch.tensor(x)), am(an.Tensor(x))
    t, a = (t if isinstance(t, tuple) else (t,)), (a if isinstance(a, tuple) else (a,))
    for tv, av in zip(t, a):
        np.testing.assert_allclose(av.detach().numpy(), tv.detach().numpy(), atol=1e-12)
    # unbatched input, as PyTorch
    u = am(an.Tensor(x[0]))
    assert (u[0] if isinstance(u, tuple) else u).shape == (4,)
