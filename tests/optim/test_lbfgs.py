"""optim.LBFGS against torch.optim.LBFGS in float64: the same trajectory from the same start
(Rosenbrock and a small MLP), with and without the strong-Wolfe line search."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle import nn


def _rosenbrock(lib, xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("history", [100, 3])
def test_rosenbrock_trajectory_matches_torch(line_search, history):
    start = np.array([-1.5, 2.0])
    ours = an.tensor(start, requires_grad=True)
    theirs = torch.tensor(start, requires_grad=True)
    kw = dict(lr=1, max_iter=20, history_size=history, line_search_fn=line_search)
    oa, ot = an.optim.LBFGS([ours], **kw), torch.optim.LBFGS([theirs], **kw)

    def closure_for(p, opt, lib):
        def closure():
            opt.zero_grad()
            loss = _rosenbrock(lib, p)
            loss.backward()
            return loss
        return closure

    # without a line search, lr=1 on Rosenbrock is chaotic: rounding differences (1e-16) grow
    # by about 10x per iteration, so the comparison stops after 2 steps (40 iterations)
    for _ in range(6 if line_search else 2):
        la = oa.step(closure_for(ours, oa, an))
        lt = ot.step(closure_for(theirs, ot, torch))
        np.testing.assert_allclose(float(la.item()), float(lt.item()), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-6,
                                   atol=1e-10)
    assert oa.state[ours]["func_evals"] == ot.state[theirs]["func_evals"]
    assert oa.state[ours]["n_iter"] == ot.state[theirs]["n_iter"]
    if line_search:
        np.testing.assert_allclose(ours.detach().numpy(), [1.0, 1.0], atol=1e-4)


def test_small_mlp_matches_torch():
    an.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 1)).double()
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    opt = an.optim.LBFGS(model.parameters(), lr=0.5, history_size=5,
                         line_search_fn="strong_wolfe")
    topt = torch.optim.LBFGS(tmodel.parameters(), lr=0.5, history_size=5,
                             line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(an.tensor(x)), an.tensor(y))
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = torch.nn.functional.mse_loss(tmodel(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        return loss

    first = None
    for _ in range(3):
        la, lt = opt.step(closure), topt.step(tclosure)
        first = first if first is not None else float(la.item())
        np.testing.assert_allclose(float(la.item()), float(lt.item()), rtol=1e-7)
    for (k, v), tv in zip(model.state_dict().items(), tmodel.state_dict().values()):
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-6, atol=1e-8, err_msg=k)
    assert float(closure().item()) < first / 2


def test_lbfgs_errors():
    p = an.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="strong_wolfe"):
        an.optim.LBFGS([p], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="parameter groups"):
        an.optim.LBFGS([{"params": [p]}, {"params": [an.zeros(1, requires_grad=True)]}])
    with pytest.raises(RuntimeError, match="closure"):
        an.optim.LBFGS([p]).step(None)
    with pytest.raises(ValueError):
        an.optim.LBFGS([p], lr=-1)
