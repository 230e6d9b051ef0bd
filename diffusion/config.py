"""The training configuration: one typed, immutable ``TrainConfig`` built and validated in one
place, whether its values come from flags or are read back from a checkpoint.

    cfg = TrainConfig.from_flags({"lr": 2e-4, "steps": 500})     # values, then the machine
    cfg = TrainConfig.from_checkpoint(ck["config"], "checkpoint run/checkpoint.npz")
    cfg = cfg.replace(lr=1e-4)                                  # a validated copy

Every value goes through the same checks (``_check_values``) from either source: a checkpoint
may come from anyone, and a value a flag refuses (``grad_clip: -1``, which would train by
gradient ascent) is refused from a checkpoint too, naming the checkpoint and the key. Flags
are further checked against this machine (``_check_environment``: the output folder, the data
folder, the device, memory). Older checkpoints' configs (a dict, with older key names such as
``channels``, without keys added since) still load. As diffusers' ``register_to_config``
config, a ``TrainConfig`` reads both ways: ``cfg.lr`` and ``cfg["lr"]``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from arrayneedle.compat import RENAMED_CONFIG_KEYS

from .gaussian import SAMPLERS, SOLVER_STEPS
from .validate import (
    UsageError,
    check_config,
    check_finite,
    check_int,
    check_memory,
    check_out_folder,
    data_fingerprint,
)

__all__ = ["TrainConfig", "DEFAULTS", "CHOICES", "MODEL_KEYS", "RESUME_FLAGS", "DEFAULT_WIDTHS",
           "DEFAULT_STEPS", "upgrade_config"]

# the values the flags accept (scripts/train.py and scripts/sample.py take them from here)
CHOICES = dict(model=("simple", "unet", "diffusers"), schedule=("linear", "cosine"),
               loss=("l1", "l2", "huber"), sampler=SAMPLERS)
DEFAULT_WIDTHS = {"simple": (32, 64, 128), "unet": (32, 64, 128)}
# what must match between a checkpoint and a resumed run
MODEL_KEYS = ("model", "widths", "image_size", "in_channels", "timesteps", "schedule", "loss",
              "data", "dataset_size", "batch_size", "seed", "unet_config", "scheduler_config",
              "init_from")
# optimizer flags that, given on resume, replace the checkpoint's values (else it keeps them)
RESUME_FLAGS = ("lr", "warmup", "ema_decay", "grad_clip")
DEFAULT_STEPS = 2000  # the run's length when neither steps nor epochs is given


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. The defaults are the README's first command: a
    residual UNet at 16x16 whose samples clearly look like the built-in landscapes after a
    short CPU run."""

    device: str = "cpu"
    data: str | None = None              # an image folder; None: SyntheticLandscapes
    image_size: int = 16
    in_channels: int = 3
    model: str = "unet"
    widths: tuple | None = None          # None: DEFAULT_WIDTHS[model]
    timesteps: int = 1000
    schedule: str = "linear"
    loss: str = "l2"
    batch_size: int = 32                 # the global batch (split over ranks)
    steps: int | None = None             # None and no epochs: DEFAULT_STEPS
    epochs: int | None = None
    lr: float = 1e-3
    warmup: int = 0
    ema_decay: float = 0.995
    grad_clip: float = 1.0               # max gradient norm; 0: no clipping
    seed: int = 0
    out: str = "runs/landscapes"
    sample_every: int = 500
    checkpoint_every: int = 500
    samples: int = 36
    sampler: str = "dpm++2m-karras"
    sample_steps: int = SOLVER_STEPS
    dataset_size: int = 8192
    overwrite: bool = False
    resume: str | None = None
    progress: bool = True
    dist_backend: str | None = None
    data_fingerprint: str | None = None  # of the data folder when the run was configured
    # model "diffusers" (diffusion/interop.py): diffusers' UNet2DModel config, the scheduler
    # config of the folder it came from, and that folder (--init-from: fine-tune its weights)
    init_from: str | None = None
    unet_config: dict | None = None
    scheduler_config: dict | None = None

    # ---- building ----
    @classmethod
    def from_flags(cls, flags):
        """The config of command-line values (a dict or a TrainConfig; None: the default),
        checked as values and against this machine. Raises UsageError naming the flag."""
        from .interop import apply_diffusers_flags
        if isinstance(flags, TrainConfig):
            flags = flags.to_dict()
        values = _merge(cls, apply_diffusers_flags(dict(flags)), keep_none=("data",))
        if isinstance(values["widths"], str):
            values["widths"] = _parse_widths(values["widths"])
        elif values["widths"] is None and values["model"] in DEFAULT_WIDTHS:
            values["widths"] = DEFAULT_WIDTHS[values["model"]]
        values = _check_values(values, None)
        return cls(**_check_environment(values))

    @classmethod
    def from_checkpoint(cls, config, source):
        """The config stored in a checkpoint (``source`` names it in messages, e.g.
        ``"checkpoint run/checkpoint.npz"``): older key names renamed, keys it lacks from the
        defaults, every value checked as a flag's. Raises UsageError naming the key."""
        if isinstance(config, TrainConfig):
            config = config.to_dict()
        if not isinstance(config, dict):
            raise UsageError(f"{source}: the config is a {type(config).__name__}, not a dict")
        values = _merge(cls, config, keep_none=_NULLABLE)
        # the keys that build the model are never filled in: a config without them is refused
        stored = upgrade_config(config)
        values.update({k: stored.get(k) for k in _MODEL_BUILD})
        from .interop import check_run_config
        return cls(**check_run_config(_check_values(values, source), source))

    @classmethod
    def defaults(cls):
        """The defaults as a dict (argparse defaults, help texts)."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def replace(self, **changes):
        """A copy with ``changes``, checked as values (a resumed run's optimizer flags)."""
        return type(self)(**_check_values({**self.to_dict(), **changes}, None))

    def to_dict(self):
        """The plain dict a checkpoint stores (JSON types: widths as a list)."""
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d

    # ---- read access as a mapping (old code and checkpoints' readers) ----
    def __getitem__(self, key):
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key):
        return key in _FIELDS

    def get(self, key, default=None):
        return getattr(self, key) if key in _FIELDS else default

    def keys(self):
        return list(_FIELDS)


_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
DEFAULTS = TrainConfig.defaults()
# the keys that build the model: a checkpoint must state each
_MODEL_BUILD = ("model", "widths", "image_size", "in_channels", "timesteps", "schedule", "loss")
# keys whose stored None means None (not "use the default")
_NULLABLE = ("data", "widths", "steps", "epochs", "resume", "dist_backend", "data_fingerprint",
             "init_from", "unet_config", "scheduler_config")


def upgrade_config(cfg):
    """A copy of ``cfg`` (a dict) with older key names (``channels``, ``channels_in``)
    renamed."""
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


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


def _merge(cls, given, keep_none):
    """Defaults overlaid with ``given``'s known keys (older names upgraded); a None in
    ``given`` keeps the default unless the key is in ``keep_none``. Unknown keys are
    dropped."""
    given = given.to_dict() if isinstance(given, TrainConfig) else upgrade_config(given)
    values = cls.defaults()
    values.update({k: v for k, v in given.items()
                   if k in values and (v is not None or k in keep_none)})
    return values


def _parse_widths(ws):
    try:
        return [int(c) for c in ws.replace(" ", "").split(",") if c]
    except ValueError:
        raise UsageError(f"--widths (--channels) must be comma-separated integers like "
                         f"32,64,128, got {ws!r}") from None


def _check_values(values, source):
    """Every value checked and normalised, the same for flags (``source`` None: messages name
    the flag) and for a stored config (messages name ``source`` and the key)."""
    def name(key):
        return "--" + key.replace("_", "-") if source is None else f"{source}: config {key}"

    v = dict(values)
    for key in ("sampler",):
        if v[key] not in CHOICES[key]:
            raise UsageError(f"{name(key)} must be one of {', '.join(CHOICES[key])}, "
                             f"got {v[key]!r}")
    # the model's keys: shared with sample.py's check of a weights file's config
    v.update(check_config(v, CHOICES, source))
    v["widths"] = tuple(v["widths"])
    v["lr"] = check_finite("lr", v["lr"], low=0, low_open=True, label=name("lr"))
    v["ema_decay"] = check_finite("ema_decay", v["ema_decay"], low=0, high=1, high_open=True,
                                  label=name("ema_decay"))
    clip = 0.0 if v["grad_clip"] is None else v["grad_clip"]
    v["grad_clip"] = check_finite("grad_clip", clip, low=0, label=name("grad_clip"))
    for key in ("warmup", "sample_every", "checkpoint_every"):
        v[key] = check_int(name(key), v[key], 0)
    for key in ("steps", "epochs"):
        if v[key] is not None:
            v[key] = check_int(name(key), v[key], 1)
    if v["steps"] is not None and v["epochs"] is not None:
        raise UsageError("give --steps or --epochs, not both" if source is None else
                         f"{source}: config gives both steps and epochs")
    for key in ("overwrite", "progress"):
        if not isinstance(v[key], bool):
            raise UsageError(f"{name(key)} must be true or false, got {v[key]!r}")
    for key in ("out",):
        if not isinstance(v[key], str):
            raise UsageError(f"{name(key)} must be a string, got {v[key]!r}")
    for key in ("data", "resume", "dist_backend", "data_fingerprint", "device"):
        if v[key] is not None and not isinstance(v[key], str):
            raise UsageError(f"{name(key)} must be a string, got {v[key]!r}")
    from .schedules import get_beta_schedule
    try:
        get_beta_schedule(v["schedule"], v["timesteps"])
    except ValueError as e:
        what = (f"--schedule {v['schedule']} with --timesteps" if source is None else
                f"{source}: config schedule {v['schedule']} with timesteps")
        raise UsageError(f"{what} {v['timesteps']}: {e}") from None
    v["sample_steps"] = min(v["sample_steps"], v["timesteps"])
    return v


def _check_environment(v):
    """What flags must also satisfy on this machine, before anything is written: the device,
    the data folder, the output folder and the memory the run needs."""
    import arrayneedle as an
    try:
        an.device(v["device"])
    except (ValueError, TypeError, RuntimeError) as e:
        raise UsageError(f"--device {v['device']}: {e}") from None
    check_out_folder(v["out"])
    if v["data"] is not None:
        if not os.path.isdir(v["data"]):
            raise UsageError(f"--data {v['data']}: no such folder")
        v["data_fingerprint"] = data_fingerprint(v["data"])
    check_memory(v, v["batch_size"], device=v["device"])
    check_memory(v, v["samples"], training=False, what="--samples", device=v["device"])
    return v
