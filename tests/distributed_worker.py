"""Run by tests/test_distributed_mpi.py under ``mpiexec -n 2``: one job checks many things
and prints ``OK <check>`` lines; the fault modes end the job on purpose."""
import datetime
import os
import signal
import sys
import time

import numpy as np

import arrayneedle as an
import arrayneedle.distributed as dist
from arrayneedle import nn
from arrayneedle.nn.parallel import DistributedDataParallel as DDP
from arrayneedle.utils.data import DistributedSampler


def flat_params(model):
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()] +
                          [b.detach().numpy().ravel().astype(np.float64) for b in model.buffers()])


def same_on_all_ranks(a):
    """True when every rank holds bitwise the same float64 vector ``a``."""
    parts = [an.zeros(a.shape, dtype="float64") for _ in range(dist.get_world_size())]
    dist.all_gather(parts, an.tensor(a, dtype="float64"))
    return all(np.array_equal(p.detach().numpy(), parts[0].detach().numpy()) for p in parts)


def make_model(seed, bn, device="cpu"):
    an.manual_seed(seed)
    layers = [nn.Conv2d(3, 4, 3, padding=1, dtype="float64")]
    if bn:
        layers.append(nn.BatchNorm2d(4, dtype="float64"))
    layers += [nn.SiLU(), nn.Conv2d(4, 2, 3, dtype="float64")]
    return nn.Sequential(*layers).to(device)


def check(cond, name):
    if not cond:
        raise AssertionError(f"check failed on rank {dist.get_rank()}: {name}")
    if dist.get_rank() == 0:
        print("OK", name, flush=True)


def collectives(r, w):
    t = an.tensor([1.0 + r, 2.0], dtype="float64")
    dist.all_reduce(t)
    check(t.tolist() == [3.0, 4.0], "all_reduce sum")
    t = an.tensor([1.0 + r, -r], dtype="float32")
    dist.all_reduce(t, dist.ReduceOp.AVG)
    check(t.tolist() == [1.5, -0.5] and t.dtype == np.float32, "all_reduce avg")
    t = an.tensor([r, -r])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    check(t.tolist() == [1, 0], "all_reduce max")
    t = an.tensor([r, -r])
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    check(t.tolist() == [0, -1], "all_reduce min")
    t = an.full((2, 3), float(r))
    dist.broadcast(t, src=1)
    check(t.tolist() == [[1.0] * 3] * 2, "broadcast")
    objs = [{"step": 3}, "x"] if r == 0 else [None, None]
    dist.broadcast_object_list(objs, src=0)
    check(objs == [{"step": 3}, "x"], "broadcast_object_list")
    out = [an.zeros(2) for _ in range(w)]
    dist.all_gather(out, an.full((2,), float(r)))
    check([o.tolist() for o in out] == [[0.0, 0.0], [1.0, 1.0]], "all_gather")
    # waiting does not burn a core: rank 0 waits at a barrier while rank 1 sleeps
    if r == 1:
        time.sleep(1.5)
    cpu, wall = time.process_time(), time.perf_counter()
    dist.barrier()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if r == 0:
        check(wall > 1.0 and cpu < 0.25 * wall, f"waiting costs little CPU ({cpu:.2f} s CPU "
                                                f"in {wall:.2f} s)")
    check(dist.get_local_rank() == r and dist.get_local_world_size() == w, "local rank")


def sampler(r, w):
    n = 11

    def epoch_indices(epoch):
        s = DistributedSampler(range(n), seed=5)  # num_replicas and rank from the group
        s.set_epoch(epoch)
        mine = list(s)
        parts = [an.zeros((len(mine),), dtype="int64") for _ in range(w)]
        dist.all_gather(parts, an.tensor(mine))
        return len(mine), np.stack([p.detach().numpy() for p in parts])

    k, got = epoch_indices(0)
    check(k == 6 and got.shape == (2, 6), "sampler: equal counts")
    flat = got.T.ravel()  # the global order: rank r took positions r, r + 2, ...
    check(sorted(flat[:n].tolist()) == list(range(n)) and flat[n] == flat[0],
          "sampler: every index once, padded from the start")
    _, got1 = epoch_indices(1)
    check(not np.array_equal(got, got1) and sorted(set(got1.ravel().tolist())) == list(range(n)),
          "sampler: set_epoch changes the order")


def train(r, w, bn, cap_mb, steps=4, B=8, device="cpu"):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, B, 3, 6, 6))
    ys = rng.standard_normal((steps, B, 2, 4, 4))
    ref = make_model(100, bn, device)               # one process, the whole batch
    model = make_model(100 + r, bn, device)         # each rank starts differently
    if bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DDP(model, bucket_cap_mb=cap_mb)
    check(same_on_all_ranks(flat_params(model)) and
          np.array_equal(flat_params(model), flat_params(ref)),
          f"DDP broadcasts rank 0's parameters (bn={bn})")
    check(list(ddp.state_dict()) == ["module." + k for k in ref.state_dict()],
          "state_dict keys carry module.")
    opt_ref = an.optim.Adam(ref.parameters(), lr=1e-2)
    opt = an.optim.Adam(ddp.parameters(), lr=1e-2)
    h = B // w
    for s in range(steps):
        x, y = an.tensor(xs[s], device=device), an.tensor(ys[s], device=device)
        opt_ref.zero_grad()
        nn.mse_loss(ref(x), y).backward()
        opt_ref.step()
        xl = an.tensor(xs[s, r * h:(r + 1) * h], device=device)
        yl = an.tensor(ys[s, r * h:(r + 1) * h], device=device)
        opt.zero_grad()
        if not bn and s % 2:  # gradient accumulation: first half local only, then synced
            q = h // 2
            with ddp.no_sync():
                (nn.mse_loss(ddp(xl[:q]), yl[:q]) * 0.5).backward()
            (nn.mse_loss(ddp(xl[q:]), yl[q:]) * 0.5).backward()
        else:
            nn.mse_loss(ddp(xl), yl).backward()
        opt.step()
    a, b = flat_params(model), flat_params(ref)
    check(np.max(np.abs(a - b)) < 1e-9, f"2 ranks x B/2 == 1 rank x B (bn={bn}, "
                                        f"bucket_cap_mb={cap_mb}, err={np.max(np.abs(a - b)):.1e})")
    check(same_on_all_ranks(a), f"replicas bitwise identical (bn={bn}, bucket_cap_mb={cap_mb})")


def main():
    mode = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    launcher_rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK"))
    if mode == "early" and launcher_rank == "1":
        sys.exit(3)  # before MPI starts: rank 0 must not wait in MPI_Init forever
    dist.init_process_group(timeout=datetime.timedelta(seconds=timeout))
    r, w = dist.get_rank(), dist.get_world_size()
    if mode in ("all", "gpu"):
        if mode == "all":
            collectives(r, w)
            sampler(r, w)
            for bn in (False, True):
                for cap in (25, 0.0005):
                    train(r, w, bn, cap)
        if mode == "gpu":  # two ranks sharing one GPU: CuPy arrays over MPI by host copies
            t = an.tensor([1.0 + r, 2.0], dtype="float64", device="cuda:0")
            dist.all_reduce(t, dist.ReduceOp.AVG)
            check(t.device.kind == "cuda" and t.tolist() == [1.5, 2.0], "all_reduce on CUDA")
            train(r, w, True, 0.0005, device="cuda:0")
        dist.destroy_process_group()
        if r == 0:
            print("OK destroy_process_group" if not dist.is_initialized() else "NOT destroyed")
        return
    t = an.ones(3)
    dist.all_reduce(t)
    if r == 1:
        if mode == "raise":
            raise ValueError("rank 1 fails on purpose")
        if mode == "exit":
            return
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "stall":
            time.sleep(60)
        if mode == "disagree":  # rank 0 broadcasts, rank 1 waits at a barrier
            dist.barrier()
    if mode == "disagree" and r == 0:
        dist.broadcast(t, 0)
    dist.all_reduce(t)  # rank 0 waits here for a rank that never comes
    print("UNREACHABLE", flush=True)


if __name__ == "__main__":
    main()
