"""Checks shared by the training configuration (``diffusion.config.TrainConfig``) and the
command lines: numbers, the model configuration (from flags, a checkpoint or a weights file's
metadata, checked alike since a file may come from anyone), output paths, and a memory estimate
that refuses sizes the machine cannot hold before anything is allocated or written.

Every check raises ``UsageError`` with one line naming the flag (or checkpoint key), the value
and what was expected.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import os

__all__ = ["MAX_IMAGE_SIZE", "MAX_TIMESTEPS", "MAX_WIDTH", "UsageError", "available_memory",
           "check_config", "check_finite", "check_memory", "check_out_file", "check_out_folder",
           "check_int", "check_seed", "data_fingerprint", "estimate_memory"]

# far above any sensible run, low enough that the schedule buffers and a model stay small
# (a checkpoint saying timesteps=1e8 would otherwise allocate gigabytes before failing)
MAX_TIMESTEPS = 100_000
MAX_IMAGE_SIZE = 4096
MAX_WIDTH = 8192
MAX_LEVELS = 8
MiB = 1 << 20


class UsageError(Exception):
    """Bad flags, data or checkpoint: reported with exit code 2, nothing overwritten."""


def _flag(key):
    return "--" + key.replace("_", "-")


def check_finite(key, value, *, low=None, low_open=False, high=None, high_open=False,
                 label=None):
    """``value`` (of flag ``key``, or named ``label``) must be a finite real number in the
    given range; returns it as a float."""
    label = _flag(key) if label is None else label
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{label} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise UsageError(f"{label} must be a finite number, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise UsageError(f"{label} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise UsageError(f"{label} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


def check_int(label, value, low=None, high=None):
    """``value`` (named ``label``) must be an integer in [low, high]; returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{label} must be an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise UsageError(f"{label} must be at least {low}, got {v}")
    if high is not None and v > high:
        raise UsageError(f"{label} must be at most {high}, got {v}")
    return v


def check_seed(value, label="--seed"):
    """Seeds are what NumPy's generators take: integers in [0, 2**63)."""
    return check_int(label, value, 0, 2 ** 63 - 1)


def _nearest_existing(path):
    p = os.path.abspath(path)
    while not os.path.lexists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def _writable_dir(folder):
    """Whether files can be created in ``folder`` (also as root, where ``os.access`` says yes
    even on a read-only mount)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        return not os.statvfs(folder).f_flag & os.ST_RDONLY
    except OSError:
        return True


def check_out_folder(out, key="out"):
    """``out`` names a folder that is (or can be made) writable: not empty, not a file, under a
    writable existing ancestor."""
    if not isinstance(out, str) or not out.strip():
        raise UsageError(f"{_flag(key)} must name a folder, got {out!r}")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise UsageError(f"{_flag(key)} {out} exists and is not a folder")
    base = _nearest_existing(out)
    if not os.path.isdir(base):
        raise UsageError(f"{_flag(key)} {out}: {base} is not a folder")
    if not _writable_dir(base):
        raise UsageError(f"{_flag(key)} {out}: {base} is not writable")
    return out


def check_out_file(path, key="out"):
    """``path`` names a file to (over)write: not a folder, in an existing writable folder."""
    if not isinstance(path, str) or not path.strip():
        raise UsageError(f"{_flag(key)} must name a file, got {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{_flag(key)} {path} is a folder; give a file name")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise UsageError(f"{_flag(key)} {path} exists and is not a regular file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{_flag(key)} {path}: the folder {folder} does not exist")
    if not _writable_dir(folder):
        raise UsageError(f"{_flag(key)} {path}: the folder {folder} is not writable")
    return path


# ---------------------------------------------------------------------------------------------
# the model configuration (from flags or from a checkpoint)
# ---------------------------------------------------------------------------------------------
def check_config(cfg, choices, source=None):
    """Type- and range-check the keys that build the model and diffusion. ``source`` is None
    for flags, else where ``cfg`` came from (e.g. ``"checkpoint PATH"``): messages then name
    config keys instead of flags. Returns a copy with widths as a list of ints."""
    if not isinstance(cfg, dict):
        raise UsageError(f"{source}: the config is a {type(cfg).__name__}, not a dict")
    cfg = dict(cfg)

    def name(key):
        return _flag(key) if source is None else f"{source}: config {key}"

    for key in ("model", "schedule", "loss"):
        if cfg.get(key) not in choices[key]:
            raise UsageError(f"{name(key)} must be one of {', '.join(choices[key])}, "
                             f"got {cfg.get(key)!r}")
    ws = cfg.get("widths")
    if not isinstance(ws, (list, tuple)) or not 2 <= len(ws) <= MAX_LEVELS:
        raise UsageError(f"{name('widths')} must list 2 to {MAX_LEVELS} widths, got {ws!r}")
    ws = [check_int(name("widths"), w) for w in ws]
    if min(ws) < 1:
        raise UsageError(f"{name('widths')} needs at least two positive widths, got {tuple(ws)}")
    cfg["widths"] = [check_int(name("widths"), w, 1, MAX_WIDTH) for w in ws]
    cfg["image_size"] = check_int(name("image_size"), cfg.get("image_size"), 1, MAX_IMAGE_SIZE)
    cfg["timesteps"] = check_int(name("timesteps"), cfg.get("timesteps"), 1, MAX_TIMESTEPS)
    if cfg.get("in_channels") not in (1, 3) or isinstance(cfg.get("in_channels"), bool):
        raise UsageError(f"{name('in_channels')}: image channels must be 1 or 3, got "
                         f"{cfg.get('in_channels')!r}")
    if "seed" in cfg:
        cfg["seed"] = check_seed(cfg["seed"], name("seed"))
    if cfg.get("device") is not None and not isinstance(cfg["device"], str):
        raise UsageError(f"{name('device')} must be a string like cpu or cuda:0, got "
                         f"{cfg['device']!r}")
    for key in ("batch_size", "dataset_size", "samples", "sample_steps"):
        if cfg.get(key) is not None:
            cfg[key] = check_int(name(key), cfg[key], 1)
    f = 2 ** (len(cfg["widths"]) - 1)
    if cfg["image_size"] % f:
        raise UsageError(f"{name('image_size')} {cfg['image_size']} is not divisible by {f}, "
                         f"the downsampling factor of a {len(cfg['widths'])}-level model; use a "
                         f"multiple of {f}")
    ws = cfg["widths"]
    if cfg["model"] == "unet" and any(c % ws[0] for c in ws):
        raise UsageError(f"{name('widths')} (--channels) for --model unet must be multiples of "
                         f"the first width (e.g. 32,64,128), got {tuple(ws)}")
    return cfg


# ---------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------
def estimate_memory(cfg, batch, training=True):
    """A lower estimate of the bytes a training step (or a sampling call) of ``batch`` images
    needs: parameters (with gradients, Adam moments and the EMA copy when training), the
    activations kept for backward, the self-attention scores at the lowest resolution and the
    schedule buffers. Fitted on measured peaks of small runs, rounded down, so that it only
    refuses what cannot fit."""
    ws, s = cfg["widths"], cfg["image_size"]
    unet = cfg["model"] == "unet"
    params = (100 if unet else 24) * sum(w * w for w in ws)
    pixels = sum(w * (s // 2 ** i) ** 2 for i, w in enumerate(ws))  # feature values per image
    act = (40 if training else 8) * pixels * 4
    if unet:
        tokens = (s // 2 ** (len(ws) - 1)) ** 2
        act += 2 * 4 * tokens * tokens * 4  # two attention layers, four heads, float32 scores
    copies = 5 if training else 1
    return params * 4 * copies + batch * act + cfg["timesteps"] * 8 * 12


def available_memory():
    """Bytes the machine can still give (MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg, batch, training=True, what="--batch-size", device="cpu"):
    """Refuse a configuration whose estimate exceeds the host memory available now. Only for
    the CPU: a GPU's free memory is the backend's to report, and its run fails with the
    allocator's own error."""
    need = estimate_memory(cfg, batch, training)
    have = available_memory() if str(device).split(":")[0] == "cpu" else None
    if have is not None and need > have:
        raise UsageError(f"this configuration needs about {need / MiB:,.0f} MiB "
                         f"({'training' if training else 'sampling'} {batch} images of "
                         f"{cfg['image_size']}x{cfg['image_size']} with widths "
                         f"{','.join(map(str, cfg['widths']))}, {cfg['timesteps']} timesteps) "
                         f"but {have / MiB:,.0f} MiB are available; lower {what}, "
                         f"--image-size or --widths")
    return need


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def data_fingerprint(folder):
    """``"N files, sha256[:16]"`` of the regular files under ``folder`` (relative name, size,
    modification time): it changes when an image is added, removed, replaced or edited."""
    h = hashlib.sha256()
    n = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except OSError:
                continue
            n += 1
            h.update(f"{os.path.relpath(p, folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"{n} files, {h.hexdigest()[:16]}"
