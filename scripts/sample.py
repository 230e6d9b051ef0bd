#!/usr/bin/env python
"""Sample images from a checkpoint written by scripts/train.py.

    python scripts/sample.py --checkpoint runs/landscapes/checkpoint.npz --n 16 --out grid.png
    python scripts/sample.py --checkpoint ... --sampler ddpm --gif denoise.gif

Uses the EMA weights when the checkpoint has them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arrayneedle as an  # noqa: E402
from diffusion.training import UsageError, build_model, load_checkpoint  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--n", type=int, default=16, help="number of images")
    p.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddim")
    p.add_argument("--steps", type=int, default=None,
                   help="sampling steps (DDIM default 100; DDPM uses every timestep)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0: deterministic)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="grid.png")
    p.add_argument("--gif", default=None, help="also write an animation of the denoising")
    p.add_argument("--frames", type=int, default=40, help="about this many GIF frames")
    p.add_argument("--scale", type=int, default=None, help="enlarge pixels (default: to ~64px)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    from diffusion.gaussian import GaussianDiffusion
    from diffusion.images import save_gif, save_grid
    a = parse_args(argv)
    try:
        if a.n <= 0:
            raise UsageError(f"--n must be positive, got {a.n}")
        if a.steps is not None and a.steps <= 0:
            raise UsageError(f"--steps must be positive, got {a.steps}")
        if not os.path.exists(a.checkpoint):
            raise UsageError(f"--checkpoint {a.checkpoint}: no such file")
        try:
            device = an.device(a.device)
        except (ValueError, RuntimeError) as e:
            raise UsageError(f"--device {a.device}: {e}") from None
        ck = load_checkpoint(a.checkpoint)
    except UsageError as e:
        print(f"sample.py: error: {e}", file=sys.stderr)
        return 2
    cfg = ck["config"]
    model = build_model(cfg)
    ema = ck.get("ema")
    weights = ema.get("ema_model") if isinstance(ema, dict) else None
    model.load_state_dict(weights if weights is not None else ck["model"])
    print(f"using the {'EMA' if weights is not None else 'raw'} weights of step {ck['step']}")
    model.to(device).eval()
    diffusion = GaussianDiffusion(model, timesteps=cfg["timesteps"],
                                  beta_schedule=cfg["schedule"], loss_type=cfg["loss"]).to(device)
    an.manual_seed(a.seed)
    shape = (a.n, cfg["channels_in"], cfg["image_size"], cfg["image_size"])
    progress = not a.no_progress
    if a.sampler == "ddpm":
        total = cfg["timesteps"]
        every = max(1, total // a.frames) if a.gif else None
        res = diffusion.p_sample_loop(shape, return_every=every, progress=progress)
    else:
        total = a.steps or min(100, cfg["timesteps"])
        every = max(1, total // a.frames) if a.gif else None
        res = diffusion.ddim_sample(shape, steps=total, eta=a.eta, return_every=every,
                                    progress=progress)
    imgs, frames = res if isinstance(res, tuple) else (res, None)
    scale = a.scale or max(1, 64 // cfg["image_size"])
    save_grid(imgs, a.out, scale=scale)
    print(f"wrote {a.out}")
    if a.gif:
        save_gif(frames, a.gif, scale=scale)
        print(f"wrote {a.gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
