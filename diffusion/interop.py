"""diffusers folders in the training, sampling and export commands.

A run whose ``model`` is ``"diffusers"`` carries in its config the ``unet_config`` (diffusers'
``UNet2DModel`` keys) and, when it came from a diffusers folder, the folder's
``scheduler_config`` (its betas, prediction type and clipping become the run's diffusion).
Sources: ``--unet-config FILE`` (train that architecture from scratch), ``--init-from FOLDER``
(fine-tune a diffusers model: its architecture, weights and noise schedule), a diffusers folder
given to ``scripts/sample.py --checkpoint``. ``export_diffusers`` writes a pipeline folder
(``model_index.json``, ``unet/``, ``scheduler/``) that diffusers' ``DDPMPipeline.from_pretrained``
loads. Every problem is a ``UsageError`` naming the flag or file.
"""
from __future__ import annotations

import os

from .pretrained import (
    CONFIG_NAME,
    SCHEDULER_CONFIG_NAME,
    FolderError,
    component_folder,
    read_config,
)
from .validate import UsageError, check_weights

__all__ = ["OBJECTIVES", "apply_diffusers_flags", "build_diffusers_model", "check_run_config",
           "diffusion_kwargs", "export_diffusers", "init_weights", "read_diffusers_folder"]

# diffusers' prediction_type -> GaussianDiffusion's objective
OBJECTIVES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}


def _unet_config(config, source):
    from .unets import check_config
    try:
        c = dict(check_config(config))
    except FolderError as e:
        raise UsageError(f"{source}: {e}") from None
    if c["out_channels"] != c["in_channels"]:
        raise UsageError(f"{source}: out_channels {c['out_channels']} != in_channels "
                         f"{c['in_channels']}: only models that predict noise (or x0, v) of "
                         f"the image's shape are supported, not learned variances")
    if c["in_channels"] not in (1, 3):
        raise UsageError(f"{source}: in_channels {c['in_channels']}: images have 1 or 3 "
                         f"channels")
    if c["class_embed_type"] is not None or c["num_class_embeds"] is not None:
        raise UsageError(f"{source}: a class-conditional model (num_class_embeds / "
                         f"class_embed_type); the training and sampling commands are "
                         f"unconditional (use diffusion.unets.UNet2DModel directly)")
    return c


def _scheduler(config, source):
    from .schedulers import DDPMScheduler
    try:
        s = DDPMScheduler.from_config(config)
    except FolderError as e:
        raise UsageError(f"{source}: {e}") from None
    return s


def _folder_parts(folder, flag):
    """(unet config, scheduler config or None) of a diffusers folder, checked."""
    try:
        unet_dir = component_folder(folder, CONFIG_NAME, "unet")
        unet = _unet_config(read_config(unet_dir, CONFIG_NAME), f"{flag} {unet_dir}/"
                                                                 f"{CONFIG_NAME}")
        try:
            sched_dir = component_folder(folder, SCHEDULER_CONFIG_NAME, "scheduler")
        except FolderError:
            sched = None
        else:
            raw = read_config(sched_dir, SCHEDULER_CONFIG_NAME)
            sched = dict(_scheduler(raw, f"{flag} {sched_dir}/{SCHEDULER_CONFIG_NAME}").config)
    except FolderError as e:  # its message names the file
        raise UsageError(f"{flag}: {e}") from None
    return unet, sched


def _jsonable_scheduler(config):
    out = dict(config)
    if out.get("trained_betas") is not None:
        out["trained_betas"] = [float(b) for b in out["trained_betas"]]
    return out


def apply_diffusers_flags(cfg, flag="--init-from"):
    """The run config with ``--init-from`` / ``--unet-config`` resolved (before the defaults
    are filled in): model "diffusers", the unet (and scheduler) config, the image size (the
    model's sample_size unless --image-size is given), channels, widths and timesteps.
    ``flag`` names the folder's source in messages."""
    init, path = cfg.get("init_from"), cfg.get("unet_config")
    if init is None and path is None and cfg.get("model") != "diffusers":
        return cfg
    cfg = dict(cfg)
    if init is not None and path is not None:
        raise UsageError("give --init-from (a diffusers folder) or --unet-config (a config "
                         "file), not both")
    if cfg.get("model") not in (None, "diffusers"):
        src = "--init-from" if init is not None else "--unet-config"
        raise UsageError(f"{src} builds diffusers' UNet2DModel: leave --model out or give "
                         f"--model diffusers, not --model {cfg['model']}")
    sched = None
    if init is not None:
        unet, sched = _folder_parts(init, flag)
        from .unets import check_pretrained
        try:  # the weights file fits the config: checked before the run folder is touched
            check_pretrained(init)
        except FolderError as e:
            raise UsageError(f"{flag}: {e}") from None
        cfg["init_from"] = os.path.abspath(init)
    elif isinstance(path, dict):  # a checkpoint's config, already resolved
        unet = _unet_config(path, "config unet_config")
        sched = cfg.get("scheduler_config")
    elif path is not None:
        try:
            unet = _unet_config(read_config(os.path.dirname(os.path.abspath(path)),
                                            os.path.basename(path)), f"--unet-config {path}")
        except FolderError as e:
            raise UsageError(f"--unet-config {path}: {e}") from None
    else:
        raise UsageError("--model diffusers needs --unet-config FILE (a UNet2DModel "
                         "config.json) or --init-from FOLDER (a diffusers model)")
    if sched is not None:
        sched = _jsonable_scheduler(_scheduler(sched, "scheduler_config").config)
        T = sched["num_train_timesteps"]
        if cfg.get("timesteps") not in (None, T):
            raise UsageError(f"--timesteps {cfg['timesteps']}: the model was trained with "
                             f"{T} (its scheduler_config.json); leave --timesteps out")
        cfg["timesteps"] = T
    size = unet["sample_size"]
    if cfg.get("image_size") is None:
        if size is None:
            raise UsageError("the UNet2DModel config has no sample_size; give --image-size")
        if not isinstance(size, int) and size[0] != size[1]:
            raise UsageError(f"sample_size {size} is not square; give --image-size")
        cfg["image_size"] = size if isinstance(size, int) else size[0]
    unet["sample_size"] = cfg["image_size"]
    cfg.update(model="diffusers", unet_config=unet, scheduler_config=sched,
               in_channels=unet["in_channels"], widths=list(unet["block_out_channels"]))
    return cfg


def check_run_config(cfg, source):
    """Re-check the diffusers parts of a stored config (a checkpoint may come from anyone)."""
    if cfg.get("model") != "diffusers":
        return cfg
    cfg = dict(cfg)
    unet = _unet_config(cfg.get("unet_config"), f"{source}: config unet_config")
    if list(unet["block_out_channels"]) != list(cfg["widths"]) or \
            unet["in_channels"] != cfg["in_channels"]:
        raise UsageError(f"{source}: config widths / in_channels disagree with unet_config")
    cfg["unet_config"] = unet
    if cfg.get("scheduler_config") is not None:
        s = _scheduler(cfg["scheduler_config"], f"{source}: config scheduler_config")
        if s.num_train_timesteps != cfg["timesteps"]:
            raise UsageError(f"{source}: config timesteps {cfg['timesteps']} != the scheduler's "
                             f"{s.num_train_timesteps}")
    return cfg


def build_diffusers_model(cfg):
    from .unets import DiffusersUnet
    return DiffusersUnet(**cfg["unet_config"])


def diffusion_kwargs(cfg):
    """GaussianDiffusion arguments from a run's scheduler_config (none without one): the exact
    betas, the objective of its prediction_type and its x0 clipping."""
    sched = cfg.get("scheduler_config")
    if cfg.get("model") != "diffusers" or sched is None:
        return {}
    s = _scheduler(sched, "scheduler_config")
    return {"betas": s.betas, "objective": OBJECTIVES[s.config["prediction_type"]],
            "clip_denoised": bool(s.config["clip_sample"])}


def init_weights(model, cfg):
    """Load the ``--init-from`` folder's weights into ``model`` (a fresh run's)."""
    from .unets import UNet2DModel
    try:
        src = UNet2DModel.from_pretrained(cfg["init_from"])
    except FolderError as e:
        raise UsageError(f"--init-from: {e}") from None
    weights = src.state_dict()
    check_weights(weights, f"--init-from {cfg['init_from']}")
    model.load_state_dict(weights)


def read_diffusers_folder(path):
    """(run config, weights) of a diffusers folder for ``scripts/sample.py --checkpoint``."""
    from .unets import UNet2DModel
    try:
        component_folder(path, CONFIG_NAME, "unet")
    except FolderError:
        raise UsageError(f"--checkpoint {path} is a folder but not a diffusers folder (no "
                         f"{CONFIG_NAME}, nor unet/{CONFIG_NAME})") from None
    cfg = apply_diffusers_flags({"init_from": path, "image_size": None}, "--checkpoint")
    cfg.update(schedule="linear", loss="l2")
    try:
        model = UNet2DModel.from_pretrained(path)
    except FolderError as e:
        raise UsageError(f"--checkpoint: {e}") from None
    weights = model.state_dict()
    check_weights(weights, f"--checkpoint {path}")  # NaN or absurd values: black grids
    return cfg, weights


def export_diffusers(cfg, weights, out):
    """Write ``out`` as a diffusers DDPM pipeline folder (model_index.json, unet/,
    scheduler/) of a ``--model diffusers`` run's weights and diffusion."""
    from .pipelines import DDPMPipeline
    from .schedulers import from_diffusion
    from .training import build_diffusion
    if cfg.get("model") != "diffusers":
        raise UsageError(f"--format diffusers needs a model trained with --model diffusers or "
                         f"--init-from; this checkpoint's model is {cfg.get('model')!r}, which "
                         f"diffusers has no class for (export it as .safetensors)")
    from .unets import UNet2DModel
    unet = UNet2DModel(**cfg["unet_config"])
    try:
        unet.load_state_dict(weights)
    except (KeyError, ValueError, TypeError) as e:
        raise UsageError(f"the weights do not fit the config's unet ({e})") from None
    if cfg.get("scheduler_config") is not None:  # the folder's own, as it came
        scheduler = _scheduler(cfg["scheduler_config"], "config scheduler_config")
    else:  # this run's schedule, its betas exactly
        scheduler = from_diffusion(build_diffusion(cfg), "ddpm")
    DDPMPipeline(unet, scheduler).save_pretrained(out)
    return out
