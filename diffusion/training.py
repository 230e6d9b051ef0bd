"""The training run behind ``scripts/train.py`` (``arrayneedle-train``): ``train(flags)`` checks
the flags (``TrainConfig.from_flags``), starts the ranks and plans the run folder, then runs a
``Trainer`` (``diffusion/trainer.py``). Also what a checkpoint's readers share: building the
model and diffusion of a config, loading a checkpoint with its config validated.

Kept out of the script so that it can be imported, tested and reused; the script only parses
flags. Bad input raises ``UsageError`` (the script turns it into exit code 2) before anything
in the output folder is touched.
"""
from __future__ import annotations

import arrayneedle as an

from .config import (
    CHOICES,
    DEFAULT_STEPS,
    DEFAULT_WIDTHS,
    DEFAULTS,
    MODEL_KEYS,
    RESUME_FLAGS,
    TrainConfig,
    upgrade_config,
)
from .runfolder import CHECKPOINT, RunError, RunFolder
from .trainer import Trainer, TrainingDiverged
from .validate import UsageError, check_weights

__all__ = ["UsageError", "TrainingDiverged", "TrainConfig", "Trainer", "DEFAULTS", "MODEL_KEYS",
           "CHOICES", "DEFAULT_WIDTHS", "DEFAULT_STEPS", "build_model", "build_diffusion",
           "upgrade_config", "train", "load_checkpoint", "make_dataset", "CHECKPOINT",
           "RunError", "RESUME_FLAGS"]


def build_model(cfg):
    """The denoiser named by the config (a TrainConfig or a dict of its model keys)."""
    from .unet import SimpleUnet, Unet
    if cfg["model"] == "diffusers":  # diffusers' UNet2DModel of cfg["unet_config"]
        from .interop import build_diffusers_model
        return build_diffusers_model(cfg)
    widths = tuple(cfg["widths"])
    if cfg["model"] == "simple":
        return SimpleUnet(widths, in_channels=cfg["in_channels"])
    groups = 8 if widths[0] % 8 == 0 else 1
    return Unet(widths=widths, in_channels=cfg["in_channels"], groups=groups)


def build_diffusion(cfg, model=None):
    """The diffusion (schedule, loss) of the config, around ``model`` (the default model of
    its sampling and loss calls; any other can be passed to them as ``model=``)."""
    from .gaussian import GaussianDiffusion
    from .interop import diffusion_kwargs
    return GaussianDiffusion(model, timesteps=cfg["timesteps"], beta_schedule=cfg["schedule"],
                             loss_type=cfg["loss"], **diffusion_kwargs(cfg))


def load_checkpoint(path, device=None):
    """A training checkpoint's dict; its ``config`` a ``TrainConfig`` checked as strictly as
    flags (``TrainConfig.from_checkpoint``). Raises UsageError naming the file."""
    try:
        ck = an.load(path, device=device)
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(ck, dict) or not {"config", "model", "step"} <= set(ck):
        raise UsageError(f"{path} is an arrayneedle file but not a training checkpoint")
    ck["config"] = TrainConfig.from_checkpoint(ck["config"], f"checkpoint {path}")
    check_weights(ck["model"], f"checkpoint {path}")
    if isinstance(ck.get("ema"), dict) and "ema_model" in ck["ema"]:
        check_weights(ck["ema"]["ema_model"], f"checkpoint {path} (EMA)")
    return ck


def make_dataset(cfg):
    from .datasets import ImageFolder, SyntheticLandscapes
    if cfg["data"] is None:
        return SyntheticLandscapes(cfg["dataset_size"], cfg["image_size"], seed=cfg["seed"],
                                   channels=cfg["in_channels"])
    try:
        return ImageFolder(cfg["data"], cfg["image_size"], channels=cfg["in_channels"])
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"--data {cfg['data']}: {e}") from None


def train(flags, log=print):
    """Run (or resume) training as configured by ``flags`` (a dict of flag values, None for
    not given, or a TrainConfig); returns a summary dict. Under ``mpiexec -n N`` the N ranks
    train data-parallel (see ``diffusion/parallel.py``): every rank checks the flags, the run
    folder and the checkpoint, the ranks agree, and rank 0 alone writes."""
    from . import parallel

    if isinstance(flags, TrainConfig):
        flags = flags.to_dict()
    given = {k for k in RESUME_FLAGS if flags.get(k) is not None}
    cfg = TrainConfig.from_flags(flags)
    world = parallel.start(cfg.device, cfg.dist_backend, UsageError)
    try:
        run = failure = None
        try:
            world.check_batch(cfg.batch_size, UsageError)
            run = RunFolder.plan(cfg.out, cfg.resume, cfg.overwrite, lock=world.main)
        except UsageError as e:
            failure = e
        try:
            world.agree(failure, UsageError)
        except BaseException:
            if run is not None:
                run.close()
            raise
        with run:
            return Trainer(cfg, world, run, given, log).setup().fit()
    finally:
        world.finish()
