"""arrayneedle.autograd.register_function_hook: observers of every Function's forward and
backward (what profilers and scripts/bench.py's per-op timer use)."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import autograd
from arrayneedle.autograd import RemovableHandle, register_function_hook


def _recorder(log):
    def hook(fn, phase, arrays, params):
        log.append(("before", type(fn).__name__, phase, [tuple(a.shape) for a in arrays],
                    dict(params)))

        def after(result):
            res = result if isinstance(result, (tuple, list)) else (result,)
            log.append(("after", type(fn).__name__, phase,
                        [None if r is None else tuple(r.shape) for r in res]))
        return after
    return hook


class Scale(an.autograd.Function):
    def forward(self, a, factor=1.0):
        self.factor = factor
        return a * factor

    def backward(self, g):
        return g * self.factor


class Flatten(an.autograd.Function):
    def forward(self, a):
        self.shape = a.shape
        return a.reshape((-1,))

    def backward(self, g):
        return g.reshape(self.shape)


def test_hook_sees_forward_and_backward_with_names_shapes_and_params():
    log = []
    x = an.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with register_function_hook(_recorder(log)):
        y = Scale.apply(x, factor=3.0)
        z = Flatten.apply(y)
        z.backward(an.Tensor(np.ones(6, np.float32)))
    assert [e[:4] for e in log] == [
        ("before", "Scale", "forward", [(2, 3)]),
        ("after", "Scale", "forward", [(2, 3)]),
        ("before", "Flatten", "forward", [(2, 3)]),
        ("after", "Flatten", "forward", [(6,)]),
        ("before", "Flatten", "backward", [(6,)]),
        ("after", "Flatten", "backward", [(2, 3)]),
        ("before", "Scale", "backward", [(2, 3)]),
        ("after", "Scale", "backward", [(2, 3)]),
    ]
    assert log[0][4] == {"factor": 3.0} and log[2][4] == {} and log[4][4] == {}
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 3.0))  # results unchanged


def test_hook_gets_the_same_function_object_at_forward_and_backward():
    seen = {}

    def hook(fn, phase, arrays, params):
        seen.setdefault(phase, []).append(fn)

    x = an.Tensor([1.0, 2.0], requires_grad=True)
    with register_function_hook(hook):
        y = an.relu(x)
        assert seen["forward"][0].needs_input_grad == (True,)
        y.backward(an.Tensor([1.0, 1.0]))
    assert seen["backward"] == seen["forward"]


def test_hook_is_removed_cleanly_and_twice_is_harmless():
    log = []
    handle = register_function_hook(_recorder(log))
    assert isinstance(handle, RemovableHandle)
    an.relu(an.Tensor([1.0, -1.0]))
    n = len(log)
    assert n == 2
    handle.remove()
    handle.remove()
    an.relu(an.Tensor([1.0, -1.0]))
    assert len(log) == n and autograd._function_hooks == []


def test_several_hooks_run_in_registration_order():
    order = []
    h1 = register_function_hook(lambda fn, *a: order.append(1))
    h2 = register_function_hook(lambda fn, *a: order.append(2))
    try:
        an.relu(an.Tensor([1.0]))
    finally:
        h1.remove()
        h2.remove()
    assert order == [1, 2]


def test_without_hooks_the_observed_path_is_never_taken(monkeypatch):
    """No observer: apply and backward call forward/backward directly (one list truth test)."""
    def fail(*a, **k):
        raise AssertionError("the observed path ran without a registered hook")

    monkeypatch.setattr(autograd, "_observed", fail)
    x = an.Tensor([1.0, -2.0], requires_grad=True)
    (an.relu(x) * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0])


def test_register_function_hook_rejects_non_callables():
    with pytest.raises(TypeError, match="callable"):
        register_function_hook(42)
