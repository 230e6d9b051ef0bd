"""The GPU paths of arrayneedle.distributed: NCCL with world size 1, and two ranks sharing one
GPU over MPI (CuPy arrays by host copies). Skipped without CuPy and a GPU."""
import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.distributed as dist
from arrayneedle import nn
from arrayneedle.nn.parallel import DistributedDataParallel as DDP

pytestmark = pytest.mark.gpu
if not an.backend.cuda_available():
    pytest.skip("CuPy or a CUDA GPU is not available", allow_module_level=True)


def test_nccl_world_size_one():
    pytest.importorskip("cupy.cuda.nccl", reason="CuPy was built without NCCL")
    if dist.launched_by_mpi():
        pytest.skip("needs a process without an MPI launcher")
    dist.init_process_group(device_id="cuda:0")        # None + a CUDA device: NCCL
    try:
        assert dist.get_backend() == "nccl" and dist.get_world_size() == 1
        t = an.tensor([1.0, -2.0, 4.0], device="cuda:0")
        dist.all_reduce(t, dist.ReduceOp.AVG)
        assert t.device.kind == "cuda" and t.tolist() == [1.0, -2.0, 4.0]
        dist.broadcast(t, src=0)
        out = [an.zeros(3, device="cuda:0")]
        dist.all_gather(out, t)
        assert out[0].tolist() == [1.0, -2.0, 4.0]
        with pytest.raises(TypeError, match="CuPy array on cuda:0"):
            dist.all_reduce(an.zeros(2))
        an.manual_seed(0)
        ref = nn.Sequential(nn.Linear(3, 4), nn.SiLU(), nn.Linear(4, 1)).to("cuda:0")
        an.manual_seed(0)
        model = DDP(nn.Sequential(nn.Linear(3, 4), nn.SiLU(), nn.Linear(4, 1)).to("cuda:0"),
                    device_ids=["cuda:0"], bucket_cap_mb=0.00002)
        x = an.tensor(np.random.default_rng(0).standard_normal((5, 3)), device="cuda:0")
        ref(x).sum().backward()
        model(x).sum().backward()
        for p, q in zip(ref.parameters(), model.parameters()):
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-6, atol=1e-7)
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_one_gpu_over_mpi():
    from test_distributed_mpi import _finish, _start  # skips without mpi4py/mpiexec
    rc, out, err, _, _ = _finish(_start("gpu", "60"))
    assert rc == 0, out + err
    for name in ("all_reduce on CUDA", "DDP broadcasts rank 0's parameters (bn=True)",
                 "replicas bitwise identical (bn=True, bucket_cap_mb=0.0005)"):
        assert f"OK {name}" in out, out + err
    assert "OK 2 ranks x B/2 == 1 rank x B (bn=True" in out
