"""arrayneedle.distributed in one process (world size 1), the autograd hooks DDP builds on,
DistributedDataParallel and SyncBatchNorm on one rank, and DistributedSampler. The multi-rank
tests are in test_distributed_mpi.py."""
import copy
import datetime
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.distributed as dist
from arrayneedle import nn
from arrayneedle.autograd import queue_callback
from arrayneedle.nn.parallel import DistributedDataParallel as DDP
from arrayneedle.testing import gradcheck
from arrayneedle.utils.data import DistributedSampler


@pytest.fixture
def group():
    if dist.launched_by_mpi():
        pytest.skip("these tests need a process without an MPI launcher")
    dist.init_process_group()
    yield
    dist.destroy_process_group()


# ---------------------------------------------------------------- the process group
@pytest.mark.slow
def test_without_a_launcher_world_size_one_and_no_mpi_import():
    env = {k: v for k, v in os.environ.items() if k not in dist.LAUNCHER_ENV}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    code = ("import sys, arrayneedle.distributed as d; d.init_process_group(); "
            "print(d.get_rank(), d.get_world_size(), d.get_local_rank(), d.get_backend(), "
            "'mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "0", "mpi", "False"]


def test_collectives_of_one_process(group):
    t = an.tensor([1.0, -2.0])
    data = t.array
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    assert t.array is data and t.tolist() == [1.0, -2.0]
    dist.all_reduce(t, dist.ReduceOp.MAX)
    dist.broadcast(t, src=0)
    assert t.tolist() == [1.0, -2.0]
    objs = [{"a": 1}]
    dist.broadcast_object_list(objs, src=0)
    assert objs == [{"a": 1}]
    out = [an.zeros(2)]
    dist.all_gather(out, t)
    assert out[0].tolist() == [1.0, -2.0] and out[0].array is not t.array
    dist.barrier()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_world_size()) == (0, 1, 1)
    assert dist.all_reduce(t, async_op=True).wait() is True


def test_process_group_errors(group):
    with pytest.raises(RuntimeError, match="already initialised"):
        dist.init_process_group()
    with pytest.raises(TypeError, match="AVG needs a floating-point"):
        dist.all_reduce(an.tensor([1, 2]), dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match="src must be a rank"):
        dist.broadcast(an.zeros(1), src=1)
    with pytest.raises(ValueError, match="world size"):
        dist.all_gather([an.zeros(1), an.zeros(1)], an.zeros(1))
    with pytest.raises(TypeError, match="expected a Tensor"):
        dist.all_reduce(np.zeros(2))


def test_errors_before_init():
    if dist.is_initialized() or dist.launched_by_mpi():
        pytest.skip("needs a process without a group or launcher")
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        DDP(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="unknown backend"):
        dist.init_process_group("gloo")
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group(timeout="5")
    with pytest.raises(ValueError, match="positive"):
        dist.init_process_group(timeout=datetime.timedelta(0))
    with pytest.raises(ValueError, match="world_size=2"):
        dist.init_process_group(world_size=2)
    assert not dist.is_initialized()


# ---------------------------------------------------------------- autograd hooks
def test_post_accumulate_grad_hook_sees_the_final_gradient():
    a = an.tensor([1.0, 2.0], requires_grad=True)
    b = an.tensor([3.0], requires_grad=True)
    seen, events = [], []
    ha = a.register_post_accumulate_grad_hook(lambda t: seen.append(("a", t.grad.tolist())))
    b.register_post_accumulate_grad_hook(lambda t: events.append("b") or
                                         queue_callback(lambda: events.append("done")))
    y = (a * a).sum() + (a * b).sum()      # a is used twice: one final gradient, one call
    y.backward()
    assert seen == [("a", [2.0 + 3.0, 4.0 + 3.0])]
    assert events == ["b", "done"]
    ha.remove()
    ((a * b).sum()).backward()             # accumulates: a.grad += b
    assert seen == [("a", [5.0, 7.0])] and a.grad.tolist() == [8.0, 10.0]
    with pytest.raises(RuntimeError, match="leaf"):
        (a * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="while backward"):
        queue_callback(print)


# ---------------------------------------------------------------- DDP on one rank
def _net():
    an.manual_seed(3)
    return nn.Sequential(nn.Conv2d(2, 3, 3, dtype="float64"), nn.BatchNorm2d(3, dtype="float64"),
                         nn.ReLU(), nn.Flatten(), nn.Linear(12, 1, dtype="float64"))


def test_ddp_on_one_rank_is_the_module(group):
    x = an.tensor(np.random.default_rng(1).standard_normal((4, 2, 4, 4)))
    ref, wrapped = _net(), DDP(_net(), bucket_cap_mb=0.0001)
    assert isinstance(wrapped.module, nn.Sequential)
    assert list(wrapped.state_dict()) == ["module." + k for k in ref.state_dict()]
    ref(x).sum().backward()
    wrapped(x).sum().backward()
    for p, q in zip(ref.parameters(), wrapped.parameters()):
        np.testing.assert_allclose(q.grad.detach().numpy(), p.grad.detach().numpy(), rtol=0, atol=1e-14)
    ref.zero_grad()
    wrapped.zero_grad()
    ref(x).sum().backward()
    with wrapped.no_sync():
        wrapped(x[:2]).sum().backward()
    wrapped(x[2:]).sum().backward()        # BatchNorm statistics differ per half: only check
    assert all(p.grad is not None for p in wrapped.parameters())   # that both accumulated
    # a deep copy (an EMA model) carries the hooks along; they must leave it alone
    ema = copy.deepcopy(wrapped.module)
    ema(x).sum().backward()
    assert all(p.grad is not None for p in ema.parameters())
    # a backward that raised part way (after some buckets counted gradients) must not spoil
    # the next one
    class Fail(an.Function):
        def forward(self, a):
            return a

        def backward(self, g):
            raise ArithmeticError("backward fails on purpose")

    wrapped.zero_grad()
    with pytest.raises(ArithmeticError):
        (wrapped(x).sum() + Fail.apply(an.tensor([1.0], requires_grad=True)).sum()).backward()
    assert wrapped._in_backward            # left half done
    wrapped.zero_grad()
    ref.zero_grad()
    ref(x).sum().backward()
    wrapped(x).sum().backward()
    for p, q in zip(ref.parameters(), wrapped.parameters()):
        np.testing.assert_allclose(q.grad.detach().numpy(), p.grad.detach().numpy(), rtol=0, atol=1e-14)
    assert not wrapped._in_backward
    with pytest.raises(ValueError, match="device_ids"):
        DDP(_net(), device_ids=[0, 1])
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        DDP(_net(), bucket_cap_mb=0)


# ---------------------------------------------------------------- SyncBatchNorm
def test_syncbatchnorm_gradcheck_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 3, 2))

    def f(x, w, b):
        m = nn.SyncBatchNorm(2, dtype="float64")
        object.__setattr__(m, "weight", w)
        object.__setattr__(m, "bias", b)
        return m(x)

    assert gradcheck(f, x, np.array([1.5, -0.5]), np.array([0.2, 0.1]))
    assert gradcheck(lambda x: nn.SyncBatchNorm(2, affine=False, dtype="float64")(x), x)


def test_syncbatchnorm_on_one_rank_is_batchnorm(group):
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3, dtype="float64")
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(bn))[0]
    assert type(sbn) is nn.SyncBatchNorm and sbn.weight is bn.weight
    ref = nn.BatchNorm2d(3, dtype="float64")
    for _ in range(2):
        x = rng.standard_normal((4, 3, 2, 5))
        np.testing.assert_allclose(sbn(an.tensor(x)).detach().numpy(), ref(an.tensor(x)).detach().numpy(),
                                   rtol=0, atol=1e-12)
    for k in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(sbn, k).detach().numpy(), getattr(ref, k).detach().numpy(), atol=1e-14)
    # hand-computed: running_var after one step of momentum 0.1 from 1 is 0.9 + 0.1 * unbiased
    x = np.arange(8.0).reshape(4, 2, 1, 1)
    one = nn.SyncBatchNorm(2, dtype="float64")
    one(an.tensor(x))
    np.testing.assert_allclose(one.running_var.detach().numpy(), 0.9 + 0.1 * np.var(x[:, 0], ddof=1))
    sbn.eval()
    np.testing.assert_allclose(sbn(an.tensor(x[:, :1].repeat(3, 1))).detach().numpy(),
                               ref.eval()(an.tensor(x[:, :1].repeat(3, 1))).detach().numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="SyncBatchNorm: expected"):
        sbn(an.zeros((2, 4, 1, 1)))


# ---------------------------------------------------------------- DistributedSampler
@pytest.mark.parametrize("n,R,drop_last,expected", [
    (10, 4, False, [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]),
    (10, 4, True, [[0, 4], [1, 5], [2, 6], [3, 7]]),
    (3, 4, False, [[0], [1], [2], [0]]),
    (1, 3, False, [[0], [0], [0]]),
    (8, 2, True, [[0, 2, 4, 6], [1, 3, 5, 7]]),
])
def test_sampler_counts_and_padding_as_pytorch(n, R, drop_last, expected):
    got = [list(DistributedSampler(range(n), R, r, shuffle=False, drop_last=drop_last))
           for r in range(R)]
    assert got == expected and all(len(DistributedSampler(range(n), R, r, drop_last=drop_last))
                                   == len(expected[0]) for r in range(R))
    try:
        import torch.utils.data as tud
    except ImportError:
        return
    assert got == [list(tud.DistributedSampler(range(n), R, r, shuffle=False,
                                               drop_last=drop_last)) for r in range(R)]


def test_sampler_shuffles_per_epoch_and_covers():
    samplers = [DistributedSampler(range(13), 3, r, seed=7) for r in range(3)]
    first = [list(s) for s in samplers]
    assert set(sum(first, [])) == set(range(13)) and len(sum(first, [])) == 15
    assert [list(s) for s in samplers] == first           # same epoch, same order
    for s in samplers:
        s.set_epoch(1)
    second = [list(s) for s in samplers]
    assert second != first and set(sum(second, [])) == set(range(13))


def test_sampler_resumes_exactly_also_on_another_world_size():
    def global_order(R, epoch):
        ss = [DistributedSampler(range(12), R, r, seed=1) for r in range(R)]
        for s in ss:
            s.set_epoch(epoch)
        return ss

    two = global_order(2, 3)
    its = [iter(s) for s in two]
    for it in its:                         # each rank trains on 2 samples: 4 globally
        next(it), next(it)
    state = two[0].state_dict()
    assert state == {"epoch": 3, "seed": 1, "position": 4}
    rest2 = [list(it) for it in its]
    one = DistributedSampler(range(12), 1, 0, seed=99)
    one.load_state_dict(state)
    one.set_epoch(3)                       # same epoch: the position is kept
    rest1 = list(one)
    full = list(global_order(1, 3)[0])
    assert rest1 == full[4:]
    assert sorted(rest1) == sorted(rest2[0] + rest2[1])
    # rank r of 2 holds global positions r, r + 2, ...: interleaving gives the global order
    assert [i for pair in zip(*rest2) for i in pair] == rest1
    three = DistributedSampler(range(12), 3, 0, seed=1)
    with pytest.raises(ValueError, match="multiple of num_replicas=3"):
        three.load_state_dict(state)
    one.load_state_dict(state)
    one.set_epoch(4)                       # another epoch: starts from its beginning
    assert len(list(one)) == 12


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match="invalid rank 2"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), 0, 0)
    with pytest.raises(ValueError, match="not a sampler state"):
        DistributedSampler(range(4), 1, 0).load_state_dict({})
