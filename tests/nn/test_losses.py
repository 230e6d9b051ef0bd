"""Losses: hand-computed values always, PyTorch's values and gradients where it is installed,
float64 gradient checks of the op-table rows, reductions and bad input."""
import warnings

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn.functional as F
from arrayneedle import nn
from arrayneedle.testing import gradcheck
from op_table import make_inputs
from op_table_rnn import ROWS, log_softmax_ref, nll_ref

LOSS_ROWS = [r for r in ROWS if not r[0].startswith(("lstm", "gru", "sdpa"))]


@pytest.mark.parametrize("name,fn,ref,shapes,tr", LOSS_ROWS, ids=[r[0] for r in LOSS_ROWS])
def test_loss_rows_reference_and_gradcheck(name, fn, ref, shapes, tr):
    xs = make_inputs(shapes, tr, seed=1)
    out = fn(*[an.Tensor(x) for x in xs])
    np.testing.assert_allclose(out.detach().numpy(), ref(*xs), rtol=1e-10, atol=1e-12)
    gradcheck(fn, *xs)


def test_regression_losses_by_hand():
    a, b = an.Tensor([[0.0, 2.0], [-1.0, 0.5]]), an.Tensor([[1.0, 0.0], [-1.0, 0.0]])
    # differences -1, 2, 0, 0.5
    assert nn.MSELoss()(a, b).item() == pytest.approx((1 + 4 + 0 + 0.25) / 4)
    assert nn.MSELoss(reduction="sum")(a, b).item() == pytest.approx(5.25)
    assert nn.L1Loss(reduction="none")(a, b).detach().numpy().tolist() == [[1, 2], [0, 0.5]]
    # smooth L1 (beta 1): 0.5, 1.5, 0, 0.125; Huber (delta 2): 0.5, 2, 0, 0.125
    np.testing.assert_allclose(nn.SmoothL1Loss(reduction="none")(a, b).detach().numpy(),
                               [[0.5, 1.5], [0, 0.125]])
    np.testing.assert_allclose(nn.SmoothL1Loss(beta=0.0)(a, b).item(), 3.5 / 4)
    np.testing.assert_allclose(nn.HuberLoss(reduction="sum", delta=2.0)(a, b).item(), 2.625)
    # optional elementwise weights: mse and l1 take the weighted mean, huber the plain mean
    w = an.Tensor([[1.0, 3.0], [0.0, 4.0]])
    assert F.mse_loss(a, b, weight=w).item() == pytest.approx((1 + 12 + 0 + 1) / 8)
    assert F.l1_loss(a, b, weight=w, reduction="sum").item() == pytest.approx(1 + 6 + 2)
    assert F.huber_loss(a, b, weight=w).item() == pytest.approx((0.5 + 4.5 + 0.5) / 4)
    with pytest.raises(ValueError, match="weight must have the input's shape"):
        F.mse_loss(a, b, weight=an.ones(2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(a, b, reduction="avg")
    with pytest.warns(UserWarning, match="deprecated"):
        assert F.l1_loss(a, b, size_average=False).item() == pytest.approx(3.5)


def test_cross_entropy_by_hand_weights_ignore_and_mean_rule():
    x = np.array([[0.0, 0.0], [np.log(3.0), 0.0], [1.0, 2.0]])
    t = np.array([0, 1, -100])
    w = np.array([2.0, 1.0])
    # -log p: row 0 class 0 -> log 2; row 1 class 1 -> log 4; row 2 ignored
    got = nn.CrossEntropyLoss(weight=an.Tensor(w))(an.Tensor(x), an.Tensor(t)).item()
    assert got == pytest.approx((2 * np.log(2) + 1 * np.log(4)) / (2 + 1))
    none = F.cross_entropy(an.Tensor(x), an.Tensor(t), weight=an.Tensor(w), reduction="none")
    np.testing.assert_allclose(none.detach().numpy(), [2 * np.log(2), np.log(4), 0.0])
    # nll_loss on log-probabilities gives the same, and ignore_index may be a real class
    lp = an.Tensor(log_softmax_ref(x, 1))
    assert F.nll_loss(lp, an.Tensor(t), an.Tensor(w)).item() == pytest.approx(got)
    assert F.nll_loss(lp, an.Tensor(np.array([0, 1, 1])), ignore_index=1).item() == \
        pytest.approx(np.log(2))
    # every target ignored: 0 / 0 = nan, as PyTorch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(F.cross_entropy(an.Tensor(x), an.Tensor(np.full(3, -100))).item())


def test_cross_entropy_shapes_smoothing_and_probabilities():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    t = rng.integers(0, 3, (2, 4, 5))
    got = F.cross_entropy(an.Tensor(x), an.Tensor(t), label_smoothing=0.1).item()
    assert got == pytest.approx(nll_ref(log_softmax_ref(x, 1), t, smoothing=0.1))
    # unbatched: (C,) logits and a 0-d target
    v = np.array([1.0, 2.0, 3.0])
    assert F.cross_entropy(an.Tensor(v), an.Tensor(np.array(2))).item() == \
        pytest.approx(-log_softmax_ref(v, 0)[2])
    # class probabilities: one-hot probabilities equal the index form; smoothing mixes uniform
    onehot = np.eye(3)[t].transpose(0, 3, 1, 2)
    assert F.cross_entropy(an.Tensor(x), an.Tensor(onehot)).item() == pytest.approx(
        F.cross_entropy(an.Tensor(x), an.Tensor(t)).item())
    assert F.cross_entropy(an.Tensor(x), an.Tensor(onehot), label_smoothing=0.1).item() == \
        pytest.approx(got)
    x32 = an.Tensor(x.astype(np.float32))
    assert F.cross_entropy(x32, an.Tensor(t)).dtype == np.float32


@pytest.mark.parametrize("target,exc,match", [
    (np.array([0, 3]), IndexError, "target 3 is out of bounds for 3 classes"),
    (np.array([-1, 0]), IndexError, "target -1 is out of bounds for 3 classes"),
    (np.array([0.0, 1.0]), TypeError, "targets must be integer class indices"),
    (np.array([0, 1, 2]), ValueError, r"needs class-index targets of shape \(2,\)"),
])
def test_cross_entropy_bad_targets(target, exc, match):
    with pytest.raises(exc, match=match):
        nn.CrossEntropyLoss()(an.randn(2, 3), an.Tensor(target))
    if exc is IndexError:
        with pytest.raises(IndexError, match="out of bounds"):
            F.nll_loss(an.randn(2, 3), an.Tensor(target))


def test_cross_entropy_bad_weight_and_smoothing():
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(an.randn(2, 3), an.Tensor(np.array([0, 1])), weight=an.ones(2))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(an.randn(2, 3), an.Tensor(np.array([0, 1])), label_smoothing=1.5)


def test_binary_losses_by_hand_and_edges():
    p, t = an.Tensor([0.5, 0.8, 0.0, 1.0]), an.Tensor([1.0, 0.0, 0.0, 1.0])
    got = nn.BCELoss(reduction="none")(p, t).detach().numpy()
    np.testing.assert_allclose(got, [np.log(2), -np.log(0.2), 0.0, 0.0], atol=1e-6)
    # log clamped at -100: a confident wrong prediction costs 100, not inf
    assert F.binary_cross_entropy(an.Tensor([0.0]), an.Tensor([1.0])).item() == \
        pytest.approx(100.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(an.Tensor([1.5]), an.Tensor([1.0]))
    # with logits: stable at +-1000, and the gradient at x = 0 is sigmoid(0) - t
    x = an.Tensor(np.array([0.0, 1000.0, -1000.0]), requires_grad=True)
    y = an.Tensor(np.array([1.0, 0.0, 1.0]))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [np.log(2), 1000.0, 1000.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [-0.5, 1.0, -1.0])
    pw = nn.BCEWithLogitsLoss(pos_weight=an.Tensor([3.0]), reduction="sum")
    assert pw(an.Tensor([0.0]), an.Tensor([1.0])).item() == pytest.approx(3 * np.log(2))
    with pytest.raises(ValueError, match="target shape"):
        F.binary_cross_entropy_with_logits(an.randn(2, 3), an.randn(3))


def test_kl_div_reductions_and_log_target():
    logq = an.Tensor(np.log([[0.25, 0.75], [0.5, 0.5]]))
    p = np.array([[0.5, 0.5], [1.0, 0.0]])
    kl = (0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)) + np.log(1.0 / 0.5)
    assert nn.KLDivLoss(reduction="batchmean")(logq, an.Tensor(p)).item() == pytest.approx(kl / 2)
    assert nn.KLDivLoss(reduction="sum", log_target=True)(
        logq, an.Tensor(np.log([[0.5, 0.5], [0.9, 0.1]]))).item() == pytest.approx(
        0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75) + 0.9 * np.log(1.8) + 0.1 * np.log(0.2))
    with pytest.warns(UserWarning, match="batchmean"):
        assert nn.KLDivLoss()(logq, an.Tensor(p)).item() == pytest.approx(kl / 4)


def test_loss_modules_state_dict_holds_weights():
    ce = nn.CrossEntropyLoss(weight=an.Tensor([1.0, 2.0]))
    assert list(ce.state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(pos_weight=an.Tensor([2.0])).state_dict()) == ["pos_weight"]
    assert list(nn.NLLLoss().state_dict()) == []


# ---------------------------------------------------------------- against PyTorch
def _torch_cases(torch):
    tF = torch.nn.functional
    w = [0.5, 2.0, 1.0, 1.5]
    return [
        ("ce_weight_ignore_smooth", dict(weight=w, ignore_index=1, label_smoothing=0.3),
         tF.cross_entropy, F.cross_entropy, (5, 4, 3), "index"),
        ("ce_sum", dict(reduction="sum"), tF.cross_entropy, F.cross_entropy, (5, 4), "index"),
        ("ce_probs_weight", dict(weight=w, label_smoothing=0.2), tF.cross_entropy,
         F.cross_entropy, (5, 4), "probs"),
        ("nll_none", dict(weight=w, reduction="none"), tF.nll_loss, F.nll_loss, (5, 4, 2),
         "index"),
        ("bce_weight", dict(weight=[1.0, 2.0, 0.5, 1.0]), tF.binary_cross_entropy,
         F.binary_cross_entropy, (5, 4), "unit"),
        ("bcel_pos_weight", dict(pos_weight=[1.0, 2.0, 0.5, 3.0], reduction="sum"),
         tF.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, (5, 4),
         "unit"),
        ("kl_batchmean", dict(reduction="batchmean"), tF.kl_div, F.kl_div, (5, 4), "unit"),
        ("smooth_l1", dict(beta=0.5, reduction="none"), tF.smooth_l1_loss, F.smooth_l1_loss,
         (5, 4), "real"),
        ("huber", dict(delta=0.7), tF.huber_loss, F.huber_loss, (5, 4), "real"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_losses_match_pytorch(case):
    torch = pytest.importorskip("torch")
    name, kw, tfn, fn, shape, kind = _torch_cases(torch)[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape)
    if name.startswith("bce_"):
        x = 1 / (1 + np.exp(-x))
    if name.startswith("kl"):
        x = log_softmax_ref(x, 1)
    if kind == "index":
        t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    elif kind == "probs":
        t = np.exp(log_softmax_ref(rng.standard_normal(shape), 1))
    elif kind == "unit":
        t = rng.uniform(0.05, 0.95, shape)
    else:
        t = rng.standard_normal(shape)
    tkw = {k: torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v
           for k, v in kw.items()}
    akw = {k: an.Tensor(np.array(v)) if isinstance(v, list) else v for k, v in kw.items()}
    tx = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t)
    ref = tfn(tx, tt, **tkw)
    ref.backward(torch.ones_like(ref))
    ax = an.Tensor(x, requires_grad=True)
    out = fn(ax, an.Tensor(t), **akw)
    out.backward(an.ones_like(out)) if out.ndim else out.backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ax.grad.detach().numpy(), tx.grad.detach().numpy(), rtol=1e-8, atol=1e-12)
