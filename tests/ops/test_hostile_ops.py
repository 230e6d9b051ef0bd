"""Hostile input, round 3: ops (issue 25's damaging items 4 and 10, and the API errors that
came from NumPy instead of naming the problem).

Every index-taking op with an index past its dimension, or negative, does what PyTorch does:
the same error type, or the same result where PyTorch accepts the index (negative positions
count from the end for take and x[idx]); never a silent read of another row. On CUDA (CuPy
wraps indices silently) the same checks run before the kernel."""
import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn.functional as F

torch = pytest.importorskip("torch")  # the oracle
TF = torch.nn.functional

A = [[10.0, 11, 12], [20, 21, 22]]


def _ops(bad):
    """(name, ours(device), torch()) with ``bad`` placed in the index."""
    i2 = [[0, bad], [1, 2]]

    def t(x, dev):
        return an.tensor(x, device=dev)
    return [
        ("gather", lambda d: an.gather(t(A, d), 1, t(i2, d)),
         lambda: torch.gather(torch.tensor(A), 1, torch.tensor(i2))),
        ("scatter", lambda d: an.scatter(t(A, d), 1, t(i2, d), an.ones(2, 2, device=d)),
         lambda: torch.scatter(torch.tensor(A), 1, torch.tensor(i2), torch.ones(2, 2))),
        ("scatter_value", lambda d: an.scatter(t(A, d), 1, t(i2, d), value=5.0),
         lambda: torch.scatter(torch.tensor(A), 1, torch.tensor(i2), 5.0)),
        ("scatter_add", lambda d: an.scatter_add(t(A, d), 1, t(i2, d), an.ones(2, 2, device=d)),
         lambda: torch.scatter_add(torch.tensor(A), 1, torch.tensor(i2), torch.ones(2, 2))),
        ("index_select", lambda d: an.index_select(t(A, d), 1, t([0, bad], d)),
         lambda: torch.index_select(torch.tensor(A), 1, torch.tensor([0, bad]))),
        ("take", lambda d: an.take(t(A, d), t([0, 2 * bad], d)),
         lambda: torch.take(torch.tensor(A), torch.tensor([0, 2 * bad]))),
        ("embedding", lambda d: F.embedding(t([0, bad], d), t(A, d).T),
         lambda: TF.embedding(torch.tensor([0, bad]), torch.tensor(A).T)),
        ("one_hot", lambda d: F.one_hot(t([0, bad], d), 3),
         lambda: TF.one_hot(torch.tensor([0, bad]), 3)),
        ("getitem", lambda d: t(A, d)[:, t([0, bad], d)],
         lambda: torch.tensor(A)[:, torch.tensor([0, bad])]),
        ("index_put", lambda d: _put(t(A, d), (t([0, 1], d), t([0, bad], d))),
         lambda: _put(torch.tensor(A), (torch.tensor([0, 1]), torch.tensor([0, bad])))),
    ]


def _put(x, idx):
    x[idx] = 1.0
    return x


def _outcome(fn):
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001 - the error type is what is compared
        return type(e).__name__
    return np.asarray(r.cpu().numpy() if hasattr(r, "cpu") else r).tolist()


BAD = [3, 7, -1, -3, -4]
CASES = [(bad, name) for bad in BAD for name, _, _ in _ops(bad)]


@pytest.mark.parametrize("bad,name", CASES, ids=[f"{n}[{b}]" for b, n in CASES])
def test_index_out_of_range_matches_torch(bad, name, device):
    """The issue's case: gather([[10,11,12],[20,21,22]], 1, [[0,5],[1,2]]) gave [[10,22],[21,22]]
    (the flat index ran into the next row); PyTorch raises RuntimeError."""
    ours, theirs = {n: (o, t) for n, o, t in _ops(bad)}[name]
    expected = _outcome(theirs)
    if name == "take" and bad == 3:  # flat index 6 of 6 elements: IndexError in both
        assert expected == "IndexError"
    assert _outcome(lambda: ours(device)) == expected


def test_gather_issue_example_raises_naming_the_index():
    with pytest.raises(RuntimeError, match=r"gather: index 5 is out of bounds for dimension 1 "
                                           r"with size 3"):
        an.gather(an.tensor(A), 1, an.tensor([[0, 5], [1, 2]]))


def test_array_index_check_covers_every_form_cupy_would_wrap():
    """The CUDA path's check (NumPy raises by itself): integer arrays after slices, None,
    Ellipsis and boolean masks are checked against the dimension they index."""
    from arrayneedle.ops._util import check_array_index
    ok = [((2, 3), (slice(None), np.array([0, -3]))), ((2, 3), (None, np.array([1]))),
          ((2, 3, 4), (np.ones((2, 3), bool), np.array([3])))]
    for shape, idx in ok:
        check_array_index(shape, idx)
    bad = [((2, 3), (slice(None), np.array([0, 3])), "index 3 .* dimension 1 with size 3"),
           ((2, 3), (Ellipsis, np.array([-4])), "index -4 .* dimension 1 with size 3"),
           ((2, 3), np.array([2]), "index 2 .* dimension 0 with size 2"),
           ((2, 3, 4), (np.ones((2, 3), bool), np.array([4])), "dimension 2 with size 4")]
    for shape, idx, match in bad:
        with pytest.raises(IndexError, match=match):
            check_array_index(shape, idx)


# ---------------------------------------------------------------------------------------------
# 10. F.pad cropping more than the dimension holds
# ---------------------------------------------------------------------------------------------
PADS = [(-5, 0, 0, 0), (-4, 0, 0, 0), (-3, -2), (2, -7), (3, -6), (1, -2), (-2, -2), (0, 0, -5, 1)]


@pytest.mark.parametrize("pad", PADS, ids=[str(p) for p in PADS])
def test_negative_pad_matches_torch(pad):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    expected = _outcome(lambda: TF.pad(torch.tensor(x), pad))
    ours = _outcome(lambda: F.pad(an.tensor(x), pad))
    assert ours == expected
    if pad == (-5, 0, 0, 0):
        with pytest.raises(RuntimeError, match=r"crops more than the size 4 of dimension 3"):
            F.pad(an.tensor(x), pad)


# ---------------------------------------------------------------------------------------------
# weak class: API errors that came from NumPy ("operands could not be broadcast") instead of
# naming the problem; each now raises PyTorch's error type with a message naming the argument
# ---------------------------------------------------------------------------------------------
def _sgd(lib):
    mod = an if lib == "an" else torch
    w = (an.nn.Parameter(an.randn(3)) if lib == "an" else torch.nn.Parameter(torch.randn(3)))
    w.grad = mod.randn(4)
    (an.optim.SGD if lib == "an" else torch.optim.SGD)([w], lr=0.1).step()


API = [
    ("linear-bias", lambda m, F_: F_.linear(m.randn(2, 4), m.randn(3, 4), m.randn(5)),
     r"bias of shape \(5,\) does not match out_features"),
    ("pos_weight", lambda m, F_: F_.binary_cross_entropy_with_logits(
        m.randn(2, 3), m.rand(2, 3), pos_weight=m.ones(4)), r"size of pos_weight \(4\)"),
    ("kl_div", lambda m, F_: F_.kl_div(m.randn(2, 3), m.rand(2, 4), reduction="batchmean"),
     r"size of target \(4\) must match the size of input \(3\)"),
    ("Linear-negative", lambda m, F_: m.nn.Linear(-1, 3), r"in_features must be non-negative"),
    ("Linear-float", lambda m, F_: m.nn.Linear(4.5, 3), r"in_features must be an int"),
    ("arange-step-0", lambda m, F_: m.arange(0, 5, 0), r"step must be nonzero"),
    ("load_state_dict-list", lambda m, F_: m.nn.Linear(2, 3).load_state_dict([1, 2]),
     r"Expected state_dict to be dict-like, got list"),
]


@pytest.mark.parametrize("case", API, ids=[c[0] for c in API])
def test_api_misuse_raises_torch_error_type_naming_the_problem(case):
    _, call, match = case
    with pytest.raises(Exception) as theirs:
        call(torch, TF)
    with pytest.raises(type(theirs.value), match=match):
        call(an, F)


def test_optimizer_step_with_wrong_shape_grad():
    """PyTorch refuses the assignment itself; ours refuses at step, before any update."""
    with pytest.raises(RuntimeError):
        _sgd("torch")
    with pytest.raises(RuntimeError, match=r"parameter of size \[3\] holds a gradient of size "
                                           r"\[4\]"):
        _sgd("an")
