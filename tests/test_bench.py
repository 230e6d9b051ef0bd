"""scripts/bench.py runs end to end and writes consistent figures (a smoke run, not a timed test:
nothing here asserts a speed)."""
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = [sys.executable, str(ROOT / "scripts" / "bench.py")]
SMOKE = ["--device", "cpu", "--quick", "--no-torch", "--wait-quiet", "0", "--sizes", "8",
         "--steps", "1", "--warmup", "0"]


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
    assert roof["fraction_of_matmul"] == pytest.approx(roof["conv_gflops"] / roof["matmul"]["gflops"])
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
