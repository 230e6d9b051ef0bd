"""scripts/bench.py runs end to end and writes consistent figures (a smoke run, not a timed test:
nothing here asserts a speed)."""
import json
import pathlib
import subprocess
import sys

import pytest

import arrayneedle as an
from arrayneedle import autograd

pytestmark = pytest.mark.slow  # starts subprocesses

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = [sys.executable, str(ROOT / "scripts" / "bench.py")]
SMOKE = ["--device", "cpu", "--quick", "--no-torch", "--wait-quiet", "0", "--sizes", "8",
         "--unet-sizes", "8:2", "--steps", "1", "--warmup", "0"]


def test_bench_smoke_run_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run(BENCH + SMOKE + ["--json", str(out)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "roofline" in r.stdout and "conv2d forward+backward" in r.stdout
    d = json.loads(out.read_text())
    assert d["meta"]["device"] == "cpu" and d["meta"]["sizes"] == [8]
    assert d["meta"]["torch"] is None
    s = d["sizes"]["8"]
    assert s["train"]["an"]["median_s"] > 0 and s["sample"]["an"]["median_s"] > 0
    ops = s["ops"]
    names = {o["op"] for o in ops["ops"]}
    assert {"conv2d", "conv_transpose2d", "batchnorm2d", "max_pool2d"} <= names
    # per-op shares are fractions of the instrumented step
    assert 0.0 < sum(o["share"] for o in ops["ops"]) <= 1.0 + 1e-9
    # the convolutions the SimpleUnet runs: 10 conv2d + 2 conv_transpose2d
    assert len(ops["convs"]) == 12
    roof = s["roofline"]
    assert roof["conv_flops"] > 0 and roof["matmul"]["gflops"] > 0
    assert roof["fraction_of_matmul"] == pytest.approx(
        roof["conv_gflops"] / roof["matmul"]["gflops"])
    # the trainer's default residual Unet beside it (--model both, the default)
    u = d["unet"]["8_b2"]
    assert u["model"] == "unet" and u["size"] == 8 and u["batch"] == 2
    assert u["train"]["an"]["median_s"] > 0 and u["sample"]["an"]["median_s"] > 0
    rows = {o["op"]: o for o in u["ops"]["ops"]}
    assert {"conv2d", "conv_transpose2d", "groupnorm", "silu", "softmax", "attention matmuls",
            "concat (skip concat)"} <= set(rows)
    # Unet((32, 64, 128), groups 8): 20 GroupNorms, 3 attention layers (4 matmuls each)
    assert rows["groupnorm"]["calls"] == 20 and rows["attention matmuls"]["calls"] == 12
    assert "batchnorm2d" not in rows
    conv = d["conv_issue3"]
    assert [c["w"][0] for c in conv] == [64, 128]
    for c in conv:
        assert c["x"] == [12, 64, 32, 32]
        # FLOPs of x (12, 64, 32, 32) * w (O, 64, 3, 3), padding 1: 2 * N * H * W * O * C * 9
        assert c["fwd_flops"] == 2 * 12 * 32 * 32 * c["w"][0] * 64 * 9


@pytest.mark.parametrize("flags, message", [
    (["--device", "tpu"], "--device"),
    (["--sizes", "15"], "multiples of 4"),
    (["--sizes", "a,b"], "comma-separated integers"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--model", "big"], "--model"),
    (["--unet-sizes", "18:4"], "multiples of 4"),
    (["--unet-sizes", "16:x"], "SIZE:BATCH"),
])
def test_bench_bad_flags_exit_2_and_keep_existing_json(tmp_path, flags, message):
    out = tmp_path / "bench.json"
    out.write_text('{"earlier": true}')
    r = subprocess.run(BENCH + ["--no-torch", "--json", str(out)] + flags, capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert message in r.stderr
    assert out.read_text() == '{"earlier": true}'


def test_bench_pytorch_twin_gets_our_weights_and_agrees(tmp_path):
    """Where PyTorch is installed, the twin in its worker process loads arrayneedle's weights and
    its forward output agrees with ours (so the timed networks are the same network)."""
    pytest.importorskip("torch")
    path = tmp_path / "b.json"
    flags = [f for f in SMOKE if f != "--no-torch"]
    r = subprocess.run(BENCH + flags + ["--json", str(path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(path.read_text())
    s = d["sizes"]["8"]
    assert d["meta"]["torch"] and s["torch_max_abs_diff"] < 1e-4
    assert s["train"]["torch"]["median_s"] > 0 and s["sample"]["torch"]["median_s"] > 0
    u = d["unet"]["8_b2"]  # the residual Unet's twin (tests/torch_twin.py torch_unet)
    assert u["torch_weights_copied"] and u["torch_max_abs_diff"] < 1e-4
    assert u["train"]["ratio_median"] > 0 and u["sample"]["ratio_median"] > 0
    # the paired-rounds ratio: from the runners' blocks of the same rounds
    for d in (u["train"], s["train"]):
        blocks = d["an"]["blocks_s"], d["torch"]["blocks_s"]
        assert len(blocks[0]) == len(blocks[1]) >= 1
        assert sum(map(len, blocks[0])) == len(d["an"]["samples_s"])
        assert d["ratio_paired"] > 0


def test_paired_ratio_follows_the_rounds_not_the_pooled_medians(benchmark_pkg):
    """A runner 1.5x slower than the other at equal host speed, on a host that runs 2x slower
    from the other runner's first block to the end of the second round: the pooled medians
    say 0.75x (the pools hold different shares of slow steps), the paired-rounds ratio 1.5x.
    The blocks recorded by ``time_blocks`` are the rounds."""
    from benchmark import harness
    a = [[1.5, 1.5], [3.0, 3.0], [1.5, 1.5]]
    b = [[2.0, 2.0], [2.0, 2.0], [1.0, 1.0]]
    assert harness.paired_ratio(a, b) == pytest.approx(1.5)
    assert harness.median(sum(a, [])) / harness.median(sum(b, [])) == pytest.approx(0.75)

    class Fake:
        def __init__(self, t):
            self.t = t

        def block(self, n, rewarm=False):
            return [self.t] * n, []
    blocks = []
    times = harness.time_blocks([Fake(1.0), Fake(2.0)], 7, 0, blocks=blocks)
    assert [len(r) for r in blocks[0]] == [3, 2, 2] and times[0] == [1.0] * 7
    assert harness.paired_ratio(*blocks) == pytest.approx(0.5)


@pytest.fixture
def benchmark_pkg(monkeypatch):
    """scripts/benchmark/ importable as ``benchmark`` (as scripts/bench.py imports it)."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from benchmark import optimer, workload
    return optimer, workload


def test_op_timer_reports_ops_through_the_public_hook(benchmark_pkg):
    optimer, workload = benchmark_pkg
    work = workload.AnWorkload(an.cpu(), 8, 2)
    bn_forward = type(work.model.downs[0].bnorm1).forward
    ins = optimer.instrumented_step(work, lambda: None, repeats=1)
    rows = {r["op"]: r for r in ins["ops"]}
    # SimpleUnet((32, 64, 128)): 10 conv2d, 2 conv_transpose2d, 8 BatchNorm layers, 2 pools
    assert rows["conv2d"]["calls"] == 10 and rows["conv_transpose2d"]["calls"] == 2
    assert rows["batchnorm2d"]["calls"] == 8 and rows["max_pool2d"]["calls"] == 2
    for name in ("conv2d", "conv_transpose2d", "batchnorm2d", "relu"):
        assert rows[name]["fwd_s"] > 0 and rows[name]["bwd_s"] > 0, name
    assert 0.0 < sum(r["share"] for r in ins["ops"]) <= 1.0 + 1e-9
    first = ins["convs"][0]  # conv0: x (2, 3, 8, 8), w (32, 3, 3, 3), padding 1
    assert first["op"] == "conv2d" and first["x"] == [2, 3, 8, 8] and first["w"] == [32, 3, 3, 3]
    assert first["stride"] == [1, 1] and first["padding"] == [1, 1]
    assert first["fwd_flops"] == 2 * 2 * 8 * 8 * 32 * 3 * 9
    assert first["bwd_flops"] == first["fwd_flops"]  # only the weight needs a gradient
    assert ins["convs"][1]["bwd_flops"] == 2 * ins["convs"][1]["fwd_flops"]  # x and w
    # everything is unhooked afterwards: no observer, the layers' own forward again
    assert autograd._function_hooks == []
    assert all("forward" not in m.__dict__ for m in work.model.modules())
    assert type(work.model.downs[0].bnorm1).forward is bn_forward


def test_op_timer_in_a_sampling_step_times_forwards_only(benchmark_pkg):
    optimer, workload = benchmark_pkg
    work = workload.AnWorkload(an.cpu(), 8, 2)
    ins = optimer.instrumented_step(work, lambda: None, sampling=True, repeats=1)
    rows = {r["op"]: r for r in ins["ops"]}
    assert rows["conv2d"]["calls"] == 10 and rows["batchnorm2d"]["calls"] == 8
    assert all(r["bwd_s"] == 0.0 for r in ins["ops"])
    assert all(c["bwd_flops"] == 0 for c in ins["convs"])  # no_grad: no graph, no backward
    assert work.model.training  # eval mode only for the step
