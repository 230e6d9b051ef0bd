"""The training run behind ``scripts/train.py``: data, model, diffusion, EMA, optimizer,
checkpoints (atomic, resumable exactly), a JSONL loss log and sample grids.

Kept out of the script so that it can be imported, tested and reused; the script only parses
flags. Bad input raises ``UsageError`` (the script turns it into exit code 2) before anything
in the output folder is touched.
"""
from __future__ import annotations

import json
import math
import os
import time

import arrayneedle as an
from arrayneedle.compat import RENAMED_CONFIG_KEYS
from arrayneedle.data import DataLoader

from . import interop
from .gaussian import SAMPLERS, SOLVER_STEPS
from .runfolder import CHECKPOINT, LOG, RunError, RunFolder, restore_rng, trim_log
from .validate import UsageError, check_config, check_memory, check_train_flags, check_weights

__all__ = ["UsageError", "TrainingDiverged", "DEFAULTS", "MODEL_KEYS", "CHOICES",
           "DEFAULT_WIDTHS", "build_model", "build_diffusion", "upgrade_config", "train",
           "load_checkpoint", "CHECKPOINT", "RunError", "RESUME_FLAGS"]


class TrainingDiverged(RunError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# the defaults are the README's first command: a residual UNet at 16x16 whose samples clearly
# look like the built-in landscapes after a short CPU run
DEFAULTS = dict(
    device="cpu", data=None, image_size=16, in_channels=3, model="unet", widths=None,
    timesteps=1000, schedule="linear", loss="l2", batch_size=32, steps=None, epochs=None,
    lr=1e-3, warmup=0, ema_decay=0.995, seed=0, out="runs/landscapes", sample_every=500,
    checkpoint_every=500, samples=36, sampler="dpm++2m-karras", sample_steps=SOLVER_STEPS,
    dataset_size=8192, overwrite=False, resume=None, grad_clip=1.0, progress=True,
    dist_backend=None, init_from=None, unet_config=None, scheduler_config=None,
)
# what must match between a checkpoint and a resumed run
MODEL_KEYS = ("model", "widths", "image_size", "in_channels", "timesteps", "schedule", "loss",
              "data", "dataset_size", "batch_size", "seed", "unet_config", "scheduler_config",
              "init_from")
# optimizer flags that, given on resume, replace the checkpoint's values (else it keeps them)
RESUME_FLAGS = ("lr", "warmup", "ema_decay", "grad_clip")
# the values the flags accept (scripts/train.py and scripts/sample.py take them from here)
CHOICES = dict(model=("simple", "unet", "diffusers"), schedule=("linear", "cosine"),
               loss=("l1", "l2", "huber"), sampler=SAMPLERS)
DEFAULT_WIDTHS = {"simple": (32, 64, 128), "unet": (32, 64, 128)}


def upgrade_config(cfg):
    """A copy of ``cfg`` with older key names (``channels``, ``channels_in``) renamed."""
    out = dict(cfg)
    for old, new in RENAMED_CONFIG_KEYS.items():
        if old in out:
            value = out.pop(old)
            if out.get(new) is None:
                out[new] = value
            elif value is not None and _norm(value) != _norm(out[new]):
                raise UsageError(f"the config gives both {old!r} and {new!r} (its newer name) "
                                 f"with different values: {value!r} and {out[new]!r}")
    return out


def _parse_widths(ws, model):
    if ws is None:
        return DEFAULT_WIDTHS[model]
    if isinstance(ws, str):
        try:
            ws = tuple(int(c) for c in ws.replace(" ", "").split(",") if c)
        except ValueError:
            raise UsageError(f"--widths (--channels) must be comma-separated integers like "
                             f"32,64,128, got {ws!r}") from None
    ws = tuple(int(c) for c in ws)
    if len(ws) < 2 or any(c <= 0 for c in ws):
        raise UsageError(f"--widths (--channels) needs at least two positive widths, got {ws}")
    if model == "unet" and any(c % ws[0] for c in ws):
        raise UsageError(f"--widths (--channels) for --model unet must be multiples of the "
                         f"first width (e.g. 32,64,128), got {ws}")
    return ws


def downsample_factor(cfg):
    return 2 ** (len(cfg["widths"]) - 1)


def build_model(cfg):
    """The denoiser named by the config."""
    from .unet import SimpleUnet, Unet
    if cfg["model"] == "diffusers":  # diffusers' UNet2DModel of cfg["unet_config"]
        return interop.build_diffusers_model(cfg)
    widths = tuple(cfg["widths"])
    if cfg["model"] == "simple":
        return SimpleUnet(widths, in_channels=cfg["in_channels"])
    groups = 8 if widths[0] % 8 == 0 else 1
    return Unet(widths=widths, in_channels=cfg["in_channels"], groups=groups)


def build_diffusion(cfg, model=None):
    """The diffusion (schedule, loss) of the config, around ``model`` (the default model of
    its sampling and loss calls; any other can be passed to them as ``model=``)."""
    from .gaussian import GaussianDiffusion
    return GaussianDiffusion(model, timesteps=cfg["timesteps"], beta_schedule=cfg["schedule"],
                             loss_type=cfg["loss"], **interop.diffusion_kwargs(cfg))


def validate(cfg):
    """Check flags and the output folder; returns the normalised config. Raises UsageError."""
    cfg = interop.apply_diffusers_flags(upgrade_config(cfg))
    cfg = {**DEFAULTS, **{k: v for k, v in cfg.items() if v is not None or k in ("data",)}}
    for key, choices in CHOICES.items():
        if cfg[key] not in choices:
            raise UsageError(f"--{key.replace('_', '-')} must be one of {', '.join(choices)}, "
                             f"got {cfg[key]!r}")
    cfg["widths"] = list(_parse_widths(cfg["widths"], cfg["model"]))
    cfg = check_train_flags(cfg, CHOICES)
    for key in ("image_size", "timesteps", "batch_size", "samples", "sample_steps",
                "dataset_size"):
        if int(cfg[key]) <= 0:
            raise UsageError(f"--{key.replace('_', '-')} must be positive, got {cfg[key]}")
    if cfg["in_channels"] not in (1, 3):
        raise UsageError(f"image channels must be 1 or 3, got {cfg['in_channels']}")
    f = downsample_factor(cfg)
    if cfg["image_size"] % f:
        raise UsageError(f"--image-size {cfg['image_size']} is not divisible by {f}, the "
                         f"downsampling factor of a {len(cfg['widths'])}-level model; use a "
                         f"multiple of {f}")
    if cfg["steps"] is not None and cfg["epochs"] is not None:
        raise UsageError("give --steps or --epochs, not both")
    if cfg["steps"] is not None and int(cfg["steps"]) <= 0:
        raise UsageError(f"--steps must be positive, got {cfg['steps']}")
    if cfg["epochs"] is not None and int(cfg["epochs"]) <= 0:
        raise UsageError(f"--epochs must be positive, got {cfg['epochs']}")
    if not cfg["lr"] > 0:
        raise UsageError(f"--lr must be positive, got {cfg['lr']}")
    if not 0 <= cfg["ema_decay"] < 1:
        raise UsageError(f"--ema-decay must be in [0, 1), got {cfg['ema_decay']}")
    from .schedules import get_beta_schedule
    try:
        get_beta_schedule(cfg["schedule"], int(cfg["timesteps"]))
    except ValueError as e:
        raise UsageError(f"--schedule {cfg['schedule']} with --timesteps {cfg['timesteps']}: "
                         f"{e}") from None
    if cfg["sample_steps"] > cfg["timesteps"]:
        cfg["sample_steps"] = cfg["timesteps"]
    try:
        an.device(cfg["device"])
    except (ValueError, TypeError, RuntimeError) as e:
        raise UsageError(f"--device {cfg['device']}: {e}") from None
    if cfg["data"] is not None and not os.path.isdir(cfg["data"]):
        raise UsageError(f"--data {cfg['data']}: no such folder")
    return cfg


def load_checkpoint(path, device=None):
    try:
        ck = an.load(path, device=device)
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(ck, dict) or not {"config", "model", "step"} <= set(ck):
        raise UsageError(f"{path} is an arrayneedle file but not a training checkpoint")
    cfg = ck["config"]
    ck["config"] = interop.check_run_config(
        check_config(upgrade_config(cfg) if isinstance(cfg, dict) else cfg, CHOICES,
                     f"checkpoint {path}"), f"checkpoint {path}")
    check_weights(ck["model"], f"checkpoint {path}")
    if isinstance(ck.get("ema"), dict) and "ema_model" in ck["ema"]:
        check_weights(ck["ema"]["ema_model"], f"checkpoint {path} (EMA)")
    return ck


def _check_same_config(saved, cfg, path):
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {cfg.get(k)!r}" for k in MODEL_KEYS
            if _norm(saved.get(k)) != _norm(cfg.get(k)) and not _same_folder(k, saved, cfg)]
    if diff:
        raise UsageError(f"checkpoint {path} was made with a different configuration ("
                         + "; ".join(diff) + "); use a new --out folder")


def _same_folder(key, saved, cfg):
    """``--data`` spelled another way (a trailing slash, relative or absolute) is the same."""
    a, b = saved.get(key), cfg.get(key)
    return key == "data" and isinstance(a, str) and isinstance(b, str) and (
        os.path.normpath(a) == os.path.normpath(b) or os.path.realpath(a) == os.path.realpath(b))


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


def make_dataset(cfg):
    from .datasets import ImageFolder, SyntheticLandscapes
    if cfg["data"] is None:
        return SyntheticLandscapes(cfg["dataset_size"], cfg["image_size"], seed=cfg["seed"],
                                   channels=cfg["in_channels"])
    try:
        return ImageFolder(cfg["data"], cfg["image_size"], channels=cfg["in_channels"])
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"--data {cfg['data']}: {e}") from None


DEFAULT_STEPS = 2000


def _total_steps(cfg, loader):
    if cfg["steps"] is not None:
        return int(cfg["steps"])
    if cfg["epochs"] is not None:
        return int(cfg["epochs"]) * len(loader)
    return DEFAULT_STEPS


def _sample_grid(diffusion, model, cfg, path, device, write=True):
    """A grid from ``model`` (the EMA weights), from a generator forked off the training
    stream so that sampling never changes the training run's random numbers. Every rank
    samples (the same images), so none waits for another; only the one with ``write``
    saves it."""
    from .images import save_grid
    with device.fork_rng(cfg["seed"] + 7919):
        imgs = diffusion.sample(batch_size=cfg["samples"], image_size=cfg["image_size"],
                                channels=cfg["in_channels"], sampler=cfg["sampler"],
                                steps=None if cfg["sampler"] == "ddpm" else cfg["sample_steps"],
                                progress=False, model=model)
    scale = max(1, 64 // cfg["image_size"])
    if write:
        save_grid(imgs, path, scale=scale)
    return path


def train(cfg, log=print):
    """Run (or resume) training as configured; returns a summary dict. Under ``mpiexec -n
    N`` the N ranks train data-parallel (see ``diffusion/parallel.py``): every rank checks the
    flags, the run folder and the checkpoint, the ranks agree, and rank 0 alone writes."""
    from . import parallel

    given = {k for k in RESUME_FLAGS if cfg.get(k) is not None}
    cfg = validate(cfg)
    world = parallel.start(cfg["device"], cfg.get("dist_backend"), UsageError)
    try:
        run = failure = None
        try:
            world.check_batch(cfg["batch_size"], UsageError)
            run = RunFolder.plan(cfg["out"], cfg["resume"], cfg["overwrite"], lock=world.main)
        except UsageError as e:
            failure = e
        try:
            world.agree(failure, UsageError)
        except BaseException:
            if run is not None:
                run.close()
            raise
        with run:
            return _train(cfg, world, run, given, log)
    finally:
        world.finish()


def _train(cfg, world, run, given, log):
    from .ema import EMA

    resume_path = run.resume_path
    device = world.device
    ck = dataset = failure = None
    try:  # every rank checks, then the ranks agree before rank 0 writes anything
        if resume_path:
            ck = load_checkpoint(resume_path)
            _check_same_config(ck["config"], cfg, resume_path)
            check_memory(ck["config"], cfg["batch_size"], device=device)
            cfg.update({k: ck["config"][k] for k in RESUME_FLAGS
                        if k not in given and k in ck["config"]})
        dataset = make_dataset(cfg)
    except UsageError as e:
        failure = e
    world.agree(failure, UsageError)
    if not world.main:
        log = _quiet
    if ck is not None:
        _report_data_change(ck["config"], cfg, log)

    an.manual_seed(cfg["seed"])
    model = build_model(cfg)
    if ck is None and cfg.get("init_from"):  # fine-tune: a fresh run starts from its weights
        interop.init_weights(model, cfg)
    model.to(device)
    diffusion = build_diffusion(cfg, model).to(device)
    ema = EMA(model, decay=cfg["ema_decay"])
    opt = an.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = an.optim.WarmupConstant(opt, int(cfg["warmup"]))
    loader = DataLoader(dataset, batch_size=cfg["batch_size"], shuffle=True, drop_last=True,
                        seed=cfg["seed"], device=device)
    if len(loader) == 0:
        raise UsageError(f"the dataset has {len(dataset)} images, fewer than one batch of "
                         f"{cfg['batch_size']}; lower --batch-size")
    total = _total_steps(cfg, loader)
    step = 0
    if ck is not None:
        step = _restore(ck, resume_path, cfg, model, ema, opt, sched, loader)
        restore_rng(device, ck.get("rng"), cfg["seed"], step, log, f"checkpoint {resume_path}")
        log(f"resumed from {resume_path} at step {step}")
    if world.main:
        run.begin()  # the first write: everything above is checked
        trim_log(run.file(LOG), step)

    def save_checkpoint():
        if world.main:
            run.save_checkpoint({"config": cfg, "step": step, "model": model.state_dict(),
                                 "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                                 "scheduler": sched.state_dict(),
                                 "loader": loader.state_dict(), "rng": device.get_rng_state()})

    net = world.wrap(model)  # what trains: the model, or its DDP wrapper on several ranks
    from tqdm import tqdm
    bar = tqdm(total=total, initial=step, disable=not (cfg["progress"] and world.main),
               unit="step", dynamic_ncols=True)
    logf = run.open_log() if world.main else open(os.devnull, "a")
    t0, seen, last_loss = time.perf_counter(), 0, float("nan")
    try:
        model.train()
        while step < total:
            for batch in loader:
                x0 = batch[0] if isinstance(batch, (list, tuple)) else batch
                opt.zero_grad()
                x, t, noise = world.split(x0, diffusion.num_timesteps)
                loss = diffusion.p_losses(x, t, noise, model=net)
                loss.backward()
                if cfg["grad_clip"]:
                    an.optim.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
                last_loss = world.mean(loss)
                if not math.isfinite(last_loss):
                    raise TrainingDiverged(
                        f"loss became {last_loss} at step {step + 1}; stopping. "
                        f"{run.no_checkpoint_note()}; try a lower --lr")
                opt.step()
                sched.step()
                ema.update()
                step += 1
                seen += x0.shape[0]
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}", img_s=f"{rate:.0f}")
                logf.write(json.dumps({"step": step, "loss": last_loss,
                                       "lr": opt.param_groups[0]["lr"],
                                       "time": round(time.perf_counter() - t0, 3)}) + "\n")
                if cfg["checkpoint_every"] and step % cfg["checkpoint_every"] == 0 \
                        and step < total:
                    logf.flush()
                    save_checkpoint()
                if cfg["sample_every"] and step % cfg["sample_every"] == 0 and step < total:
                    _sample_grid(diffusion, ema.ema_model, cfg,
                                 run.file(f"samples_{step:06d}.png"), device, world.main)
                if step >= total:
                    break
    finally:
        bar.close()
        logf.close()
    save_checkpoint()
    grid = _sample_grid(diffusion, ema.ema_model, cfg, run.file("samples.png"), device,
                        world.main)
    world.barrier()  # every rank returns once rank 0's files are there
    elapsed = time.perf_counter() - t0
    log(f"done: {step} steps, last loss {last_loss:.4f}, {elapsed:.0f}s; "
        f"checkpoint {os.path.join(cfg['out'], CHECKPOINT)}, samples {grid}")
    return {"step": step, "loss": last_loss, "seconds": elapsed, "grid": grid,
            "checkpoint": os.path.join(cfg["out"], CHECKPOINT)}


def _restore(ck, path, cfg, model, ema, opt, sched, loader):
    """Load every part of a checkpoint (a part that does not fit is a UsageError naming it),
    then apply the optimizer flags of this run; returns the step."""
    parts = (("model", model), ("ema", ema), ("optimizer", opt), ("scheduler", sched),
             ("loader", loader))
    for name, obj in parts:
        try:
            obj.load_state_dict(ck[name])
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            msg = str(e).strip("'\"").splitlines()[0] if str(e) else type(e).__name__
            if isinstance(e, KeyError) and msg.isidentifier():
                msg = f"missing {msg!r}"
            raise UsageError(f"checkpoint {path}: its {name} state is malformed or does not fit "
                             f"its config ({msg})") from None
    step = ck["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UsageError(f"checkpoint {path}: step {step!r} is not a non-negative integer")
    for g in opt.param_groups:  # --lr / --warmup / --ema-decay of this run take effect
        g["initial_lr"] = cfg["lr"]
    sched.base_lrs = [cfg["lr"]] * len(opt.param_groups)
    sched.warmup = int(cfg["warmup"])
    for g, lr in zip(opt.param_groups, sched.get_lr()):
        g["lr"] = lr
    ema.decay = cfg["ema_decay"]
    return step


def _report_data_change(saved, cfg, log):
    before, now = saved.get("data_fingerprint"), cfg.get("data_fingerprint")
    if before and now and before != now:
        log(f"warning: --data {cfg['data']} changed since the checkpoint ({before} then, {now} "
            f"now); the data-loader order continues over the current files")


def _quiet(*args, **kwargs):
    """The ``log`` of ranks other than 0."""
