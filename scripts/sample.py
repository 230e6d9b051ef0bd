#!/usr/bin/env python
"""Sample images from a checkpoint written by scripts/train.py.

    python scripts/sample.py --checkpoint runs/landscapes/checkpoint.npz --n 16 --out grid.png
    python scripts/sample.py --checkpoint ... --sampler dpm++2m --steps 20
    python scripts/sample.py --checkpoint ... --sampler ddpm --gif denoise.gif

Uses the EMA weights when the checkpoint has them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arrayneedle as an  # noqa: E402
from diffusion.gaussian import DDIM_STEPS, SOLVER_STEPS  # noqa: E402
from diffusion.training import (  # noqa: E402
    CHOICES,
    DEFAULTS,
    UsageError,
    build_diffusion,
    build_model,
    load_checkpoint,
)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True)
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


def main(argv=None):
    from diffusion.images import save_gif, save_grid
    a = parse_args(argv)
    try:
        if a.n <= 0:
            raise UsageError(f"--n must be positive, got {a.n}")
        if a.steps is not None and a.steps <= 0:
            raise UsageError(f"--steps must be positive, got {a.steps}")
        if a.frames <= 0:
            raise UsageError(f"--frames must be positive, got {a.frames}")
        if not os.path.exists(a.checkpoint):
            raise UsageError(f"--checkpoint {a.checkpoint}: no such file")
        try:
            device = an.device(a.device)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"--device {a.device}: {e}") from None
        ck = load_checkpoint(a.checkpoint)
        cfg = ck["config"]
        diffusion = build_diffusion(cfg)
        try:
            total = diffusion.sampling_evaluations(a.sampler, a.steps)
        except ValueError as e:
            raise UsageError(f"--steps {a.steps}: {e}") from None
    except UsageError as e:
        print(f"sample.py: error: {e}", file=sys.stderr)
        return 2
    model = build_model(cfg)
    ema = ck.get("ema")
    weights = ema.get("ema_model") if isinstance(ema, dict) else None
    model.load_state_dict(weights if weights is not None else ck["model"])
    print(f"using the {'EMA' if weights is not None else 'raw'} weights of step {ck['step']}")
    model.to(device)
    diffusion.to(device)
    an.manual_seed(a.seed)
    every = max(1, total // a.frames) if a.gif else None
    res = diffusion.sample(a.n, cfg["image_size"], cfg["in_channels"], sampler=a.sampler,
                           steps=a.steps, eta=a.eta, return_every=every,
                           progress=not a.no_progress, model=model)
    imgs, frames = res if every else (res, None)
    scale = a.scale or max(1, 64 // cfg["image_size"])
    save_grid(imgs, a.out, scale=scale)
    print(f"wrote {a.out}")
    if a.gif:
        save_gif(frames, a.gif, scale=scale)
        print(f"wrote {a.gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
