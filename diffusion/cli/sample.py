"""Sample images from a checkpoint written by scripts/train.py.

    python scripts/sample.py --checkpoint runs/landscapes/checkpoint.npz --n 16 --out grid.png
    python scripts/sample.py --checkpoint ... --sampler dpm++2m --steps 20
    python scripts/sample.py --checkpoint ... --sampler ddpm --gif denoise.gif
    python scripts/sample.py --checkpoint model.safetensors --out grid.png
    python scripts/sample.py --checkpoint ddpm-cifar10-32 --sampler ddim --steps 50  # diffusers

Uses the EMA weights when the checkpoint has them. A diffusers folder (config.json +
diffusion_pytorch_model.safetensors and its scheduler_config.json, a pipeline folder with unet/
and scheduler/, or a Hub cache snapshot) samples with its own noise schedule. A
``.safetensors`` weights file (written by scripts/export.py) carries its model configuration
in its metadata; for one without, give the configuration with ``--config run/config.json``
(a JSON object of the run's config keys).
Bad flags or checkpoints exit with code 2 and one line before anything is sampled or written.
"""
import argparse
import json
import os
import sys

import arrayneedle as an
from arrayneedle.safetensors_io import read_metadata
from diffusion.gaussian import DDIM_STEPS, SOLVER_STEPS
from diffusion.interop import check_run_config, read_diffusers_folder
from diffusion.runfolder import check_checkpoint_file
from diffusion.training import (
    CHOICES,
    DEFAULTS,
    UsageError,
    build_diffusion,
    build_model,
    load_checkpoint,
    upgrade_config,
)
from diffusion.validate import (
    check_config,
    check_finite,
    check_memory,
    check_out_file,
    check_seed,
    check_weights,
)

CONFIG_KEY = "arrayneedle.config"  # the safetensors metadata key scripts/export.py writes


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint.npz from train.py, a .safetensors weights file, or a "
                        "diffusers folder")
    p.add_argument("--config", default=None,
                   help="JSON config for a .safetensors file without one in its metadata")
    p.add_argument("--n", type=int, default=16, help="number of images")
    p.add_argument("--sampler", choices=CHOICES["sampler"], default=DEFAULTS["sampler"])
    p.add_argument("--steps", type=int, default=None,
                   help=f"sampling steps (default {SOLVER_STEPS}, {DDIM_STEPS} for ddim, at most "
                        f"the timesteps; ddpm uses every timestep, heun calls the model twice "
                        f"a step)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0: deterministic)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="grid.png")
    p.add_argument("--gif", default=None, help="also write an animation of the denoising")
    p.add_argument("--frames", type=int, default=40, help="about this many GIF frames")
    p.add_argument("--scale", type=int, default=None, help="enlarge pixels (default: to ~64px)")
    p.add_argument("--no-progress", action="store_true")
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def _check_flags(a):
    if a.n <= 0:
        raise UsageError(f"--n must be positive, got {a.n}")
    if a.steps is not None and a.steps <= 0:
        raise UsageError(f"--steps must be positive, got {a.steps}")
    if a.frames <= 0:
        raise UsageError(f"--frames must be positive, got {a.frames}")
    if a.scale is not None and not 1 <= a.scale <= 64:
        raise UsageError(f"--scale must be between 1 and 64, got {a.scale}")
    check_finite("eta", a.eta, low=0)
    check_seed(a.seed)
    check_out_file(a.out)
    if a.gif is not None:
        check_out_file(a.gif, "gif")
        if os.path.abspath(a.gif) == os.path.abspath(a.out):
            raise UsageError(f"--gif and --out are the same file {a.out}")


def _read_config_file(path):
    try:
        with open(check_checkpoint_file(path, f"--config {path}", weights_ok=True)) as f:
            cfg = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise UsageError(f"--config {path}: not a JSON config ({type(e).__name__}: "
                         f"{str(e)[:200]})") from None
    return cfg


def load_weights(path, config=None):
    """(config, weights, step, kind) from a training checkpoint or a .safetensors file; the
    config is checked as strictly as flags before anything is built."""
    if os.path.isdir(path):
        cfg, weights = read_diffusers_folder(path)
        return cfg, weights, None, "diffusers folder's"
    check_checkpoint_file(path, f"--checkpoint {path}", weights_ok=True)
    if path.endswith(".safetensors"):
        try:
            meta = read_metadata(path)
        except ValueError as e:
            raise UsageError(f"cannot read {path}: {e}") from None
        if config is not None:
            cfg, source = _read_config_file(config), f"--config {config}"
        elif CONFIG_KEY in meta:
            try:
                cfg = json.loads(meta[CONFIG_KEY])
            except (ValueError, RecursionError) as e:
                raise UsageError(f"{path}: metadata {CONFIG_KEY} is not JSON ({e})") from None
            source = f"{path} metadata"
        else:
            raise UsageError(f"{path} holds weights without a model config; give "
                             f"--config run/config.json (or export with scripts/export.py)")
        cfg = check_run_config(check_config(upgrade_config(cfg) if isinstance(cfg, dict)
                                            else cfg, CHOICES, source), source)
        try:
            weights = an.load_file(path)
        except ValueError as e:
            raise UsageError(f"cannot read {path}: {e}") from None
        # metadata strings are the file's, never echoed raw (a newline would forge output)
        step = meta.get("arrayneedle.step", "?")
        step = step if step.isdigit() and len(step) < 20 else "?"
        kind = meta.get("arrayneedle.weights")
        return cfg, weights, step, kind if kind in ("EMA", "raw") else "stored"
    if config is not None:
        raise UsageError(f"--config is for .safetensors weights without a config; "
                         f"{path} is a training checkpoint that carries its own config")
    ck = load_checkpoint(path)
    ema = ck.get("ema")
    weights = ema.get("ema_model") if isinstance(ema, dict) else None
    kind = "EMA" if weights is not None else "raw"
    return ck["config"], weights if weights is not None else ck["model"], ck["step"], kind


def output_bytes(cfg, n, scale, frames=0):
    """Host bytes of the grid (and GIF) sample.py writes: the grid, its enlarged copy and
    Pillow's image (4 bytes a pixel); each GIF frame as a Pillow image, its palette copy and
    the float32 batch sampling keeps for it."""
    s = cfg["image_size"]
    pixels = n * ((s + 2) * scale) ** 2
    return pixels * (3 + 3 + 4) + frames * (pixels * 5 + n * cfg["in_channels"] * s * s * 4)


def _build(cfg, weights, path):
    check_weights(weights, path)
    model = build_model(cfg)
    try:
        if not isinstance(weights, dict):
            raise TypeError(f"the weights are a {type(weights).__name__}, not a state dict")
        model.load_state_dict(weights)
    except (KeyError, ValueError, TypeError) as e:
        msg = str(e).strip("'\"").splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"{path}: the weights do not fit the model of its config ({msg})") \
            from None
    return model


def main(argv=None):
    from diffusion.images import save_gif, save_grid
    a = parse_args(argv)
    try:
        _check_flags(a)
        try:
            device = an.device(a.device)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"--device {a.device}: {e}") from None
        cfg, weights, step, kind = load_weights(a.checkpoint, a.config)
        diffusion = build_diffusion(cfg)
        try:
            total = diffusion.sampling_evaluations(a.sampler, a.steps)
        except ValueError as e:
            raise UsageError(f"--steps {a.steps}: {e}") from None
        every = max(1, total // a.frames) if a.gif else None
        scale = a.scale or max(1, 64 // cfg["image_size"])
        check_memory(cfg, a.n, training=False, what="--n or --scale", device=device,
                     extra=output_bytes(cfg, a.n, scale, total // every + 2 if every else 0))
        model = _build(cfg, weights, a.checkpoint)
    except UsageError as e:
        print(f"sample.py: error: {e}", file=sys.stderr)
        return 2
    print(f"using the {kind} weights" + ("" if step is None else f" of step {step}"))
    model.to(device)
    diffusion.to(device)
    an.manual_seed(a.seed)
    res = diffusion.sample(a.n, cfg["image_size"], cfg["in_channels"], sampler=a.sampler,
                           steps=a.steps, eta=a.eta, return_every=every,
                           progress=not a.no_progress, model=model)
    imgs, frames = res if every else (res, None)
    try:
        save_grid(imgs, a.out, scale=scale)
        print(f"wrote {a.out}")
        if a.gif:
            save_gif(frames, a.gif, scale=scale)
            print(f"wrote {a.gif}")
    except OSError as e:
        print(f"sample.py: error: cannot write: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
