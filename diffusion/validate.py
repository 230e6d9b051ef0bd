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
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    name = len(os.fsencode(os.path.basename(path)))
    if name > name_max:  # caught now, not by the rename after minutes of sampling
        raise UsageError(f"{_flag(key)}: the file name is {name} bytes long, more than the "
                         f"{name_max} its file system allows")
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
    cfg["timesteps"] = check_int(name("timesteps"), cfg.get("timesteps"), 2, MAX_TIMESTEPS)
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
    if ws[0] % 2 or ws[0] < 4:  # the sinusoidal time embedding has widths[0] features
        raise UsageError(f"{name('widths')} (--channels): the first width must be an even "
                         f"number >= 4 (the size of the time embedding), got {tuple(ws)}")
    if cfg["model"] == "unet" and any(c % ws[0] for c in ws):
        raise UsageError(f"{name('widths')} (--channels) for --model unet must be multiples of "
                         f"the first width (e.g. 32,64,128), got {tuple(ws)}")
    return cfg


# A trained denoiser's weights are of order 1; far beyond this a file is corrupt or forged (its
# samples would be NaN: a black grid and exit 0).
MAX_WEIGHT = 1e6


def check_weights(weights, source):
    """Every entry of a state dict (``{name: array or Tensor}``) is a finite float array of
    moderate size; int8/bool "weights" would be cast silently, NaN or 1e30 give black grids."""
    import numpy as np

    from arrayneedle.backend import to_numpy
    if not isinstance(weights, dict):
        raise UsageError(f"{source}: the weights are a {type(weights).__name__}, not a state "
                         f"dict")
    for name, w in weights.items():
        a = np.asarray(to_numpy(getattr(w, "array", w)))
        if a.dtype.kind != "f":
            raise UsageError(f"{source}: weight {name!r} has dtype {a.dtype}; a model's "
                             f"weights are floating point")
        if a.size and not np.isfinite(a).all():
            raise UsageError(f"{source}: weight {name!r} holds NaN or infinite values")
        if a.size and float(np.abs(a).max()) > MAX_WEIGHT:
            raise UsageError(f"{source}: weight {name!r} holds values up to "
                             f"{float(np.abs(a).max()):.3g}, far beyond a trained model's "
                             f"(at most {MAX_WEIGHT:g})")


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
    # 20 values kept per feature value: the oneDNN convolutions keep no im2col columns, so a
    # step's peak is lower than on the NumPy kernels' path (where 40 still held)
    act = (20 if training else 8) * pixels * 4
    if unet:
        tokens = (s // 2 ** (len(ws) - 1)) ** 2
        # three attention layers at the lowest resolution (down, middle, up), four heads of
        # float32 (tokens x tokens) scores: training peaks at about 10 such arrays (scores and
        # probabilities kept for backward, their gradients and softmax's temporaries; measured
        # 9.9 at 32-48 px with 2 levels since softmax is one Function, 14.9 before it was)
        act += (9 if training else 2) * 4 * tokens * tokens * 4
    copies = 5 if training else 1
    dataset = 0
    if training and cfg.get("data") is None and cfg.get("dataset_size"):  # built in, in memory
        dataset = int(cfg["dataset_size"]) * (cfg["in_channels"] * s * s + 2048)
    return params * 4 * copies + batch * act + cfg["timesteps"] * 8 * 12 + dataset


def _host_available():
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


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read(64).strip())
    except (OSError, ValueError):  # absent, or "max" (no limit)
        return None


def cgroup_headroom(root="/sys/fs/cgroup", proc="/proc/self/cgroup"):
    """Bytes this process's control group may still use (a container's memory limit less
    its usage; the smallest along the path up to the root, cgroup v2 or v1's memory
    controller), or None when no limit applies or none can be read."""
    rel = {}
    try:
        with open(proc) as f:
            for line in f:
                hid, ctrls, path = line.rstrip("\n").split(":", 2)
                if hid == "0":
                    rel["v2"] = path
                elif "memory" in ctrls.split(","):
                    rel["v1"] = path
    except (OSError, ValueError):
        pass
    best = None
    for base, limit, usage, path in (
            (root, "memory.max", "memory.current", rel.get("v2", "/")),
            (os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes",
             rel.get("v1", "/"))):
        d = os.path.normpath(os.path.join(base, path.lstrip("/")))
        while d.startswith(base):
            lim, use = _read_int(os.path.join(d, limit)), _read_int(os.path.join(d, usage))
            if lim is not None and use is not None and lim < 1 << 60:  # v1: ~2**63 = none
                best = lim - use if best is None else min(best, lim - use)
            if d == base:
                break
            d = os.path.dirname(d)
    return None if best is None else max(best, 0)


def available_memory():
    """Bytes this process can still get: the host's MemAvailable, or less where a control
    group (a container's memory limit) allows less; None when unknown."""
    known = [m for m in (_host_available(), cgroup_headroom()) if m is not None]
    return min(known) if known else None


def check_memory(cfg, batch, training=True, what="--batch-size", device="cpu", extra=0):
    """Refuse a configuration whose estimate (plus ``extra`` host bytes, e.g. the images
    sample.py writes) exceeds the memory available now. The model's part only for the CPU: a
    GPU's free memory is the backend's to report, and its run fails with the allocator's own
    error."""
    on_cpu = str(device).split(":")[0] == "cpu"
    need = (estimate_memory(cfg, batch, training) if on_cpu else 0) + extra
    if not on_cpu and not extra:
        return need
    have = available_memory()
    if have is not None and need > have:
        raise UsageError(f"this configuration needs about {need / MiB:,.0f} MiB "
                         f"({'training' if training else 'sampling'} {batch} images of "
                         f"{cfg['image_size']}x{cfg['image_size']} with widths "
                         f"{','.join(map(str, cfg['widths']))}, {cfg['timesteps']} timesteps"
                         f"{f', {extra / MiB:,.0f} MiB of output images' if extra else ''}) "
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
            # fsencode: a file name that is not UTF-8 hashes by its bytes, not a traceback
            h.update(os.fsencode(os.path.relpath(p, folder)) +
                     f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"{n} files, {h.hexdigest()[:16]}"
