import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn


def _net(seed=0):
    rng = np.random.default_rng(seed)
    w = nn.Parameter(an.Tensor(rng.standard_normal((4, 3))))
    b = nn.Parameter(an.Tensor(rng.standard_normal(3)))
    x = an.Tensor(rng.standard_normal((5, 4)))
    return w, b, x


def _loss(w, b, x):
    h = an.tanh(x @ w + b)
    return (h * h).sum(), h


def test_grad_matches_backward_and_leaves_dot_grad_alone():
    w, b, x = _net()
    loss, _ = _loss(w, b, x)
    gw, gb = an.autograd.grad(loss, [w, b])
    assert w.grad is None and b.grad is None
    loss, _ = _loss(w, b, x)
    loss.backward()
    np.testing.assert_allclose(gw.detach().numpy(), w.grad.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(gb.detach().numpy(), b.grad.detach().numpy(), rtol=1e-6)
    assert not gw.requires_grad and gw.dtype == w.dtype
    before = w.grad.detach().numpy().copy()
    loss, _ = _loss(w, b, x)
    (gw2,) = an.autograd.grad(loss, w)  # a single input still gives a tuple
    np.testing.assert_array_equal(w.grad.detach().numpy(), before)
    np.testing.assert_allclose(gw2.detach().numpy(), before, rtol=1e-6)


def test_grad_by_hand_intermediate_inputs_and_grad_outputs():
    x = an.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x  # dy/dx = 2x
    z = (y * 3.0).sum()
    gy, gx = an.autograd.grad(z, [y, x], retain_graph=True)
    np.testing.assert_allclose(gy.detach().numpy(), [3, 3, 3])
    np.testing.assert_allclose(gx.detach().numpy(), [6, 12, 18])
    (gx,) = an.autograd.grad([y], [x], grad_outputs=[an.Tensor([1.0, 0.0, 2.0])],
                                retain_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), [2, 0, 12])
    # several outputs: their gradients add
    (gx,) = an.autograd.grad([z, x.sum()], x)
    np.testing.assert_allclose(gx.detach().numpy(), [7, 13, 19])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        an.autograd.grad(z, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.backward()


def test_grad_against_torch():
    torch = pytest.importorskip("torch")
    w, b, x = _net(3)
    loss, h = _loss(w, b, x)
    gw, gh = an.autograd.grad(loss, [w, h])
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    tb = torch.tensor(b.detach().numpy(), requires_grad=True)
    th = torch.tanh(torch.from_numpy(x.detach().numpy()) @ tw + tb)
    tgw, tgh = torch.autograd.grad((th * th).sum(), [tw, th])
    np.testing.assert_allclose(gw.detach().numpy(), tgw.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gh.detach().numpy(), tgh.detach().numpy(), rtol=1e-5)


def test_grad_errors_and_unused_inputs():
    x = an.Tensor([1.0, 2.0], requires_grad=True)
    u = an.Tensor([5.0], requires_grad=True)
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="not have been used"):
        an.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = an.autograd.grad(y, [x, u], allow_unused=True, retain_graph=True)
    assert gu is None and gx.detach().numpy().tolist() == [2, 2]
    _, gu = an.autograd.grad(y, [x, u], materialize_grads=True, retain_graph=True)
    assert gu.detach().numpy().tolist() == [0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        an.autograd.grad(y, an.Tensor([1.0]))
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        an.autograd.grad(x * 2.0, x)
    with pytest.raises(ValueError, match="shape"):
        an.autograd.grad(x * 2.0, x, grad_outputs=an.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        an.autograd.grad(an.Tensor([1.0]), x)
