"""GaussianDiffusion.sample and scripts/sample.py with every diffusion.schedulers sampler; the
ddpm and ddim loops unchanged; the training grids' default sampler."""
import importlib.util
import pathlib

import numpy as np
import pytest

import arrayneedle as an
from diffusion import SCHEDULERS, GaussianDiffusion, Unet
from diffusion.gaussian import DDIM_STEPS, SAMPLERS, SOLVER_STEPS
from diffusion.training import CHOICES, DEFAULTS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_wiring_{name}",
                                                  ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _affine(x, t):
    return x * 0.5 + 0.1


def test_sampler_names_and_step_defaults():
    assert SAMPLERS == tuple(SCHEDULERS) and SAMPLERS[:2] == ("ddpm", "ddim")
    assert CHOICES["sampler"] == SAMPLERS and DEFAULTS["sampler"] in SAMPLERS
    assert DEFAULTS["sample_steps"] == SOLVER_STEPS == 20 and DDIM_STEPS == 50
    d = GaussianDiffusion(None, timesteps=200)
    assert d.sampling_steps("ddpm") == 200 and d.sampling_steps("ddim") == 50
    assert d.sampling_steps("dpm++2m") == 20 and d.sampling_steps("heun", 7) == 7
    short = GaussianDiffusion(None, timesteps=12, beta_schedule="cosine")
    assert short.sampling_steps("euler") == 12
    # heun calls the model twice a step but the last; the others once a step
    assert d.sampling_evaluations("heun", 10) == 19 and d.sampling_evaluations("heun-karras") == 39
    assert d.sampling_evaluations("dpm++2m-karras", 10) == 10
    assert d.sampling_evaluations("ddpm") == 200 and d.sampling_evaluations("ddim", 4) == 4
    with pytest.raises(ValueError, match=r"unknown sampler 'dpm\+\+9m'.*ddpm, ddim, dpm\+\+2m"):
        d.sampling_steps("dpm++9m")
    with pytest.raises(ValueError, match=r"euler steps must be an integer in \[1, 200\]"):
        d.sampling_steps("euler", 201)
    with pytest.raises(ValueError, match="DDIM steps"):
        d.sampling_steps("ddim", 0)
    with pytest.raises(ValueError, match="runs all 200 steps"):
        d.sampling_steps("ddpm", 20)


def test_ddpm_and_ddim_unchanged():
    """Values pinned from the loops as they were before the solvers were wired in."""
    d = GaussianDiffusion(_affine, timesteps=30)
    cases = [(dict(sampler="ddpm"), -5.324410479515791, 16,
              [-1.0, -0.9377057552337646, 0.21566618978977203, -0.9282631278038025]),
             (dict(sampler="ddim", steps=5), -10.44285612553358, 4,
              [-1.0, -1.0, -0.7369688153266907, -1.0]),
             (dict(sampler="ddim", steps=5, eta=1.0), -9.016651257872581, 4,
              [-0.8818572759628296, 1.0, 0.9110985398292542, -0.9451251029968262])]
    for kw, total, n_frames, head in cases:
        an.manual_seed(5)
        x = d.sample(2, 4, channels=1, progress=False, **kw).numpy()
        np.testing.assert_allclose(x.ravel()[:4], head, rtol=1e-6, atol=1e-7, err_msg=str(kw))
        assert x.astype(np.float64).sum() == pytest.approx(total, rel=1e-6)
        an.manual_seed(5)
        y, frames = d.sample(2, 4, channels=1, progress=False, return_every=2, **kw)
        np.testing.assert_array_equal(y.numpy(), x)
        assert len(frames) == n_frames and np.array_equal(frames[-1], x)


def test_every_sampler_recovers_a_known_x0():
    """An x0-predicting model that always knows the answer: every sampler, deterministic or
    not, must end on it (the last step of each lands on the predicted x0)."""
    rng = np.random.default_rng(0)
    x0 = an.tensor(rng.uniform(-0.9, 0.9, (1, 2, 4, 4)).astype(np.float32))
    d = GaussianDiffusion(lambda x, t: x0 + 0 * x, timesteps=40, objective="x0")
    for name in SAMPLERS:
        steps = None if name == "ddpm" else 4
        an.manual_seed(1)
        x, frames = d.sample(3, 4, channels=2, sampler=name, steps=steps, progress=False,
                             return_every=2)
        assert x.shape == (3, 2, 4, 4) and x.dtype == x0.dtype, name
        np.testing.assert_allclose(x.numpy(), np.broadcast_to(x0.numpy(), x.shape), atol=2e-4,
                                   err_msg=name)
        evals = d.sampling_evaluations(name, steps)
        assert len(frames) == 1 + -(-evals // 2), name
        assert all(f.shape == (3, 2, 4, 4) and np.abs(f).max() <= 1 for f in frames), name


def test_every_sampler_on_a_small_unet():
    an.manual_seed(0)
    model = Unet(widths=(4, 8), in_channels=1, groups=1)
    d = GaussianDiffusion(model, timesteps=24)
    for name in SAMPLERS:
        an.manual_seed(2)
        x = d.sample(2, 4, channels=1, sampler=name, steps=None if name == "ddpm" else 3,
                     progress=False)
        a = x.numpy()
        assert a.shape == (2, 1, 4, 4) and a.dtype == np.float32, name
        assert np.isfinite(a).all() and np.abs(a).max() <= 1.0, name
    an.manual_seed(2)
    a = d.sample(2, 4, channels=1, sampler="dpm++2m", steps=3, progress=False).numpy()
    an.manual_seed(2)
    b = GaussianDiffusion(None, timesteps=24).sample(2, 4, channels=1, sampler="dpm++2m",
                                                     steps=3, progress=False, model=model)
    np.testing.assert_array_equal(a, b.numpy())
    assert model.training
    with pytest.raises(TypeError, match="model="):
        GaussianDiffusion(None, timesteps=24).sample(1, 4, sampler="euler", progress=False)
    with pytest.raises(ValueError, match=r"choose one of: ddpm, ddim, .*heun-karras"):
        d.sample(1, 4, channels=1, sampler="plms", progress=False)


def test_sample_script_with_solvers_and_bad_names(tmp_path, capsys):
    train_script, sample_script = _load("train"), _load("sample")
    run = tmp_path / "run"
    assert train_script.main(["--image-size", "8", "--channels", "4,8", "--batch-size", "4",
                              "--dataset-size", "8", "--timesteps", "25", "--samples", "4",
                              "--steps", "1", "--no-progress", "--out", str(run)]) == 0
    assert (run / "samples.png").exists()
    ck = str(run / "checkpoint.npz")
    grid, gif = tmp_path / "grid.png", tmp_path / "anim.gif"
    capsys.readouterr()
    assert sample_script.main(["--checkpoint", ck, "--n", "2", "--sampler", "dpm++2m",
                               "--steps", "4", "--out", str(grid), "--gif", str(gif),
                               "--frames", "4", "--no-progress"]) == 0
    from PIL import Image
    assert Image.open(grid).size[0] > 8 and Image.open(gif).n_frames == 5
    assert sample_script.main(["--checkpoint", ck, "--n", "1", "--sampler", "heun", "--steps",
                               "3", "--out", str(grid), "--gif", str(gif), "--frames", "5",
                               "--no-progress"]) == 0
    assert Image.open(gif).n_frames == 6  # x_T and one frame per model call: 2 * 3 - 1
    capsys.readouterr()
    for argv, message in (
            (["--sampler", "dpm++"], "invalid choice: 'dpm++'"),
            (["--sampler", "ddpm", "--steps", "5"], "the ddpm sampler runs all 25 steps"),
            (["--sampler", "euler", "--steps", "26"], "euler steps must be an integer")):
        rc = _exit_code(sample_script.main, ["--checkpoint", ck, "--out", str(grid)] + argv)
        err = capsys.readouterr().err
        assert rc == 2 and message in err, (argv, err)
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1 and message in lines[0], err
        if "choice" in message:  # the choices come listed
            assert "dpm++2m-karras" in lines[0] and "heun" in lines[0]


def _exit_code(fn, argv):
    try:
        return fn(argv)
    except SystemExit as e:  # argparse's own errors
        return e.code
