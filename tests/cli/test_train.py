"""scripts/train.py and scripts/sample.py end to end on tiny configurations (CPU)."""
import hashlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import arrayneedle as an

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_script_{name}",
                                                  ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


train_script = _load("train")
sample_script = _load("sample")

TINY = ["--image-size", "8", "--channels", "4,8", "--batch-size", "4", "--dataset-size", "16",
        "--timesteps", "25", "--samples", "4", "--sample-steps", "5", "--no-progress"]


def _train(out, *extra):
    return train_script.main(TINY + ["--out", str(out)] + list(extra))


def _tree_digest(folder):
    h = hashlib.sha256()
    for p in sorted(pathlib.Path(folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_train_writes_checkpoint_log_and_grids(tmp_path):
    out = tmp_path / "run"
    assert _train(out, "--steps", "4", "--sample-every", "2", "--checkpoint-every", "2") == 0
    assert (out / "checkpoint.npz").exists() and (out / "samples.png").exists()
    assert (out / "samples_000002.png").exists()
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in lines)
    ck = an.load(out / "checkpoint.npz")
    assert ck["step"] == 4 and ck["config"]["image_size"] == 8
    assert {"model", "ema", "optimizer", "rng", "loader"} <= set(ck)
    from PIL import Image
    img = Image.open(out / "samples.png")
    assert img.mode == "RGB" and img.size[0] > 8


def test_resume_matches_straight_run(tmp_path):
    a, b = tmp_path / "straight", tmp_path / "resumed"
    assert _train(a, "--steps", "6") == 0
    assert _train(b, "--steps", "3") == 0
    assert _train(b, "--steps", "6", "--resume", "auto") == 0
    ca, cb = an.load(a / "checkpoint.npz"), an.load(b / "checkpoint.npz")
    assert ca["step"] == cb["step"] == 6
    for part in ("model",):
        for k, v in ca[part].items():
            np.testing.assert_allclose(cb[part][k].detach().numpy(), v.detach().numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=k)
    la = [json.loads(x)["loss"] for x in (a / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["loss"] for x in (b / "log.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(lb, la, rtol=1e-5)


def test_sample_script_png_and_gif(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--steps", "2") == 0
    capsys.readouterr()
    grid, gif = tmp_path / "grid.png", tmp_path / "anim.gif"
    assert sample_script.main(["--checkpoint", str(out / "checkpoint.npz"), "--n", "4",
                               "--sampler", "ddpm", "--out", str(grid), "--gif", str(gif),
                               "--frames", "5", "--no-progress"]) == 0
    assert "using the EMA weights of step 2" in capsys.readouterr().out
    from PIL import Image
    assert Image.open(grid).size[0] > 8
    g = Image.open(gif)
    assert g.n_frames >= 5
    assert sample_script.main(["--checkpoint", str(out / "checkpoint.npz"), "--n", "2",
                               "--sampler", "ddim", "--steps", "4", "--out", str(grid),
                               "--no-progress"]) == 0


def _expect_exit2(capsys, fn, argv, message):
    rc = None
    try:
        rc = fn(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    assert rc == 2
    assert message in capsys.readouterr().err


def test_errors_exit_2_and_touch_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--steps", "2") == 0
    before = _tree_digest(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (TINY + ["--out", str(out), "--model", "transformer"], "invalid choice"),
        (TINY + ["--out", str(out), "--schedule", "exp"], "invalid choice"),
        (TINY + ["--out", str(out)], "already exists"),
        (TINY + ["--out", str(out), "--resume", "auto", "--image-size", "16"],
         "different configuration"),
        (TINY + ["--out", str(tmp_path / "new"), "--data", str(tmp_path / "missing")],
         "no such folder"),
        (TINY + ["--out", str(tmp_path / "new"), "--data", str(empty)], str(empty)),
        (TINY + ["--out", str(tmp_path / "new"), "--image-size", "9"], "not divisible by 2"),
        (TINY + ["--out", str(tmp_path / "new"), "--resume", str(tmp_path / "nope.npz")],
         "no such checkpoint"),
        (TINY + ["--out", str(tmp_path / "new"), "--device", "tpu"], "--device tpu"),
        (TINY + ["--out", str(tmp_path / "new"), "--channels", "4,x"], "comma-separated"),
        (TINY + ["--out", str(tmp_path / "new"), "--timesteps", "10"], "--timesteps 10"),
    ]
    for argv, msg in cases:
        _expect_exit2(capsys, train_script.main, argv, msg)
    assert _tree_digest(out) == before
    assert not (tmp_path / "new").exists()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    _expect_exit2(capsys, train_script.main,
                  TINY + ["--out", str(tmp_path / "new"), "--resume", str(bad)],
                  "cannot read checkpoint")
    _expect_exit2(capsys, sample_script.main, ["--checkpoint", str(bad)], "cannot read checkpoint")
    _expect_exit2(capsys, sample_script.main, ["--checkpoint", str(tmp_path / "x.npz")],
                  "no such checkpoint file")
    _expect_exit2(capsys, sample_script.main, ["--checkpoint", str(out / "checkpoint.npz"),
                                               "--sampler", "plms"], "invalid choice")
    _expect_exit2(capsys, sample_script.main, ["--checkpoint", str(out / "checkpoint.npz"),
                                               "--steps", "26"], "must be an integer in [1, 25]")
    _expect_exit2(capsys, sample_script.main, ["--checkpoint", str(out / "checkpoint.npz"),
                                               "--gif", "a.gif", "--frames", "0"], "--frames")


def test_overwrite_replaces_run(tmp_path):
    out = tmp_path / "run"
    assert _train(out, "--steps", "2") == 0
    (out / "stale.txt").write_text("old")
    assert _train(out, "--steps", "1", "--overwrite") == 0
    assert not (out / "stale.txt").exists()
    assert an.load(out / "checkpoint.npz")["step"] == 1


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch, capsys):
    from diffusion import gaussian
    out = tmp_path / "run"
    real = gaussian.GaussianDiffusion.p_losses
    calls = {"n": 0}

    def flaky(self, x0, *a, **k):
        calls["n"] += 1
        loss = real(self, x0, *a, **k)
        return loss * float("nan") if calls["n"] == 3 else loss
    monkeypatch.setattr(gaussian.GaussianDiffusion, "p_losses", flaky)
    rc = _train(out, "--steps", "5", "--checkpoint-every", "2")
    assert rc == 1
    assert "loss became nan at step 3" in capsys.readouterr().err
    assert an.load(out / "checkpoint.npz")["step"] == 2


def test_image_folder_training(tmp_path):
    from PIL import Image
    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(data / f"{i}.png")
    assert _train(tmp_path / "run", "--steps", "2", "--data", str(data)) == 0


@pytest.mark.slow
def test_cli_subprocess_runs(tmp_path):
    """The real command line (a fresh interpreter), as a user types it."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py")] + TINY +
                       ["--out", str(tmp_path / "run"), "--steps", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--model", "nope"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_checkpoint_with_older_config_keys_resumes_and_samples(tmp_path, capsys):
    """Checkpoints written before the config said widths / in_channels (channels /
    channels_in) still resume exactly and sample."""
    from diffusion.training import UsageError, upgrade_config
    straight, old = tmp_path / "straight", tmp_path / "old"
    assert _train(straight, "--steps", "4", "--grayscale") == 0
    assert _train(old, "--steps", "2", "--grayscale") == 0
    ck = an.load(old / "checkpoint.npz")
    cfg = ck["config"]
    cfg["channels"], cfg["channels_in"] = cfg.pop("widths"), cfg.pop("in_channels")
    an.save(ck, old / "checkpoint.npz")
    # --widths is the newer spelling of --channels: the same configuration
    argv = [a if a != "--channels" else "--widths" for a in TINY]
    assert train_script.main(argv + ["--out", str(old), "--steps", "4", "--grayscale",
                                     "--resume", "auto"]) == 0
    la = [json.loads(x)["loss"] for x in (straight / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["loss"] for x in (old / "log.jsonl").read_text().splitlines()]
    assert lb == la
    saved = an.load(old / "checkpoint.npz")["config"]
    assert saved["widths"] == [4, 8] and saved["in_channels"] == 1 and "channels" not in saved
    an.save(ck, old / "checkpoint.npz")  # the older keys again, for sample.py
    capsys.readouterr()
    assert sample_script.main(["--checkpoint", str(old / "checkpoint.npz"), "--n", "2",
                               "--out", str(tmp_path / "g.png"), "--no-progress"]) == 0
    assert (tmp_path / "g.png").exists()
    assert upgrade_config({"channels_in": 1, "in_channels": 1}) == {"in_channels": 1}
    with pytest.raises(UsageError, match="'channels' and 'widths'"):
        upgrade_config({"channels": [4, 8], "widths": [8, 16]})


def test_flag_choices_come_from_the_library():
    from diffusion.gaussian import SAMPLERS
    from diffusion.training import CHOICES
    assert CHOICES["sampler"] == SAMPLERS
    for script, flags in ((train_script, ("model", "schedule", "loss", "sampler")),
                          (sample_script, ("sampler",))):
        parser = script.build_parser()
        got = {a.dest: tuple(a.choices) for a in parser._actions if a.choices}
        assert got == {f: tuple(CHOICES[f]) for f in flags}


@pytest.mark.parametrize("model, widths, size", [("unet", [8, 16], 16), ("simple", [8, 16], 16)])
def test_memory_estimate_is_below_a_measured_training_step(model, widths, size):
    """The estimate refuses only what cannot fit: it stays below the traced peak of a real
    training step (parameters, Adam moments, EMA copy and activations) at a small size."""
    import tracemalloc

    from diffusion.ema import EMA
    from diffusion.training import build_diffusion, build_model
    from diffusion.validate import estimate_memory
    cfg = {"model": model, "widths": widths, "image_size": size, "in_channels": 3,
           "timesteps": 50, "schedule": "linear", "loss": "l2"}
    batch = 4
    tracemalloc.start()
    try:
        net = build_model(cfg)
        diffusion = build_diffusion(cfg, net)
        ema = EMA(net)
        opt = an.optim.Adam(net.parameters(), lr=1e-3)
        loss = diffusion.p_losses(an.randn(batch, 3, size, size))
        loss.backward()
        opt.step()
        ema.update()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = estimate_memory(cfg, batch)
    assert 0.1 * peak < est < peak, (est, peak)


def test_a_new_run_folder_gets_the_usual_permissions(tmp_path):
    # the run is written in a hidden sibling made by mkdtemp (0o700) and renamed at its first
    # checkpoint: the published folder must be what os.makedirs gives, like before
    from diffusion.runfolder import RunFolder
    old = os.umask(0o022)
    try:
        with RunFolder.plan(str(tmp_path / "run")) as run:
            run.begin()
            assert os.stat(run.path).st_mode & 0o777 == 0o755
    finally:
        os.umask(old)


@pytest.mark.parametrize("key, value, message", [
    ("grad_clip", -1.0, "config grad_clip must be >= 0, got -1.0"),
    ("lr", -0.5, "config lr must be > 0, got -0.5"),
    ("lr", "0.1", "config lr must be a number, got '0.1'"),
    ("warmup", -3, "config warmup must be at least 0, got -3"),
    ("ema_decay", 1.5, "config ema_decay must be < 1, got 1.5"),
    ("sample_every", 2.5, "config sample_every must be an integer, got 2.5"),
    ("progress", "yes", "config progress must be true or false, got 'yes'"),
])
def test_checkpoint_values_are_validated_like_flags(tmp_path, capsys, key, value, message):
    """Issue 25, item 3: a checkpoint's config went unchecked on --resume, and grad_clip -1
    trained by gradient ascent (loss 2.27 -> 86.5, exit 0). Every value read back goes
    through the checks of the flags, named after the checkpoint and its key."""
    run = tmp_path / "run"
    assert _train(run, "--steps", "2") == 0
    ck = an.load(run / "checkpoint.npz")
    ck["config"][key] = value
    an.save(ck, run / "checkpoint.npz")
    before = _tree_digest(run)
    capsys.readouterr()
    assert _train(run, "--steps", "4", "--resume", "auto") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint " in err and message in err, err
    assert _tree_digest(run) == before
    # sample.py and export read the same config: refused the same way
    assert sample_script.main(["--checkpoint", str(run / "checkpoint.npz"), "--n", "1",
                               "--out", str(tmp_path / "g.png"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_grad_clip_flag(tmp_path, capsys):
    """--grad-clip is a flag: checked like the others, recorded in the checkpoint, and given on
    --resume it replaces the checkpoint's value (not given, the checkpoint's continues)."""
    run = tmp_path / "run"
    assert _train(run, "--steps", "2", "--grad-clip", "-1") == 2
    assert "--grad-clip must be >= 0, got -1.0" in capsys.readouterr().err
    assert _train(run, "--steps", "2", "--grad-clip", "nan") == 2
    assert _train(run, "--steps", "2", "--grad-clip", "0.5") == 0
    assert an.load(run / "checkpoint.npz")["config"]["grad_clip"] == 0.5
    assert _train(run, "--steps", "3", "--resume", "auto") == 0
    assert an.load(run / "checkpoint.npz")["config"]["grad_clip"] == 0.5
    assert _train(run, "--steps", "4", "--resume", "auto", "--grad-clip", "0") == 0
    assert an.load(run / "checkpoint.npz")["config"]["grad_clip"] == 0.0


def test_train_config_is_built_and_checked_in_one_place(tmp_path):
    """TrainConfig: defaults, flags and a checkpoint's (older) config through the same checks;
    read as attributes or as a mapping; replace() re-checks."""
    from diffusion.config import DEFAULTS, TrainConfig
    from diffusion.validate import UsageError
    cfg = TrainConfig.from_flags({"out": str(tmp_path / "o"), "widths": "4,8", "image_size": 8,
                                  "lr": None})
    assert cfg.lr == DEFAULTS["lr"] and cfg.widths == (4, 8) and cfg["widths"] == (4, 8)
    assert "lr" in cfg and cfg.get("nope", 3) == 3 and cfg.to_dict()["widths"] == [4, 8]
    assert cfg.replace(lr=0.5).lr == 0.5
    with pytest.raises(UsageError, match="--lr must be > 0"):
        cfg.replace(lr=0)
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("grad_clip", "warmup")}
    old["channels"] = old.pop("widths")
    back = TrainConfig.from_checkpoint(old, "checkpoint c.npz")
    assert back.widths == (4, 8) and back.grad_clip == DEFAULTS["grad_clip"]
    with pytest.raises(UsageError, match=r"^checkpoint c\.npz: config grad_clip must be >= 0"):
        TrainConfig.from_checkpoint({**old, "grad_clip": -1}, "checkpoint c.npz")
    with pytest.raises(UsageError, match="the config is a list"):
        TrainConfig.from_checkpoint([1], "checkpoint c.npz")


def test_a_checkpoint_config_must_state_its_model(tmp_path):
    """Keys added since a checkpoint was written take their defaults; the keys that build the
    model never do (a config without widths or timesteps is refused, naming the key)."""
    from diffusion.config import TrainConfig
    from diffusion.validate import UsageError
    cfg = TrainConfig.from_flags({"out": str(tmp_path / "o"), "widths": "4,8", "image_size": 8})
    for key, msg in (("widths", "config widths must list 2 to 8 widths, got None"),
                     ("timesteps", "config timesteps must be an integer, got None"),
                     ("model", "config model must be one of simple, unet, diffusers, got None")):
        stored = cfg.to_dict()
        del stored[key]
        with pytest.raises(UsageError, match=f"^checkpoint c: {msg}"):
            TrainConfig.from_checkpoint(stored, "checkpoint c")
