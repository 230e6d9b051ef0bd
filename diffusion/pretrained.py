"""Diffusers folders on disk: ``config.json`` + ``diffusion_pytorch_model.safetensors`` for a
model, ``scheduler_config.json`` for a scheduler, or a pipeline folder holding them in ``unet/``
and ``scheduler/`` beside ``model_index.json``.

Everything here reads and writes files without running code from them: configs are JSON (at
most ``MAX_CONFIG_BYTES``), weights are safetensors only (a pickle ``.bin`` is refused with the
command that converts it), and a weights file's tensor names and shapes are read from its header
before a byte of data is. A folder of the Hugging Face Hub cache (``models--org--name``) is
resolved to its snapshot; a snapshot path works as given. Every problem is a ``FolderError``
(a ``ValueError``) whose one line names the file and what was expected.
"""
from __future__ import annotations

import json
import math
import os

from arrayneedle.serialization import atomic_write

__all__ = ["CONFIG_NAME", "SCHEDULER_CONFIG_NAME", "WEIGHTS_NAME", "MAX_CONFIG_BYTES",
           "DIFFUSERS_VERSION", "Config", "FolderError", "resolve_folder", "read_config",
           "write_config", "find_weights", "weight_shapes", "component_folder"]

CONFIG_NAME = "config.json"
SCHEDULER_CONFIG_NAME = "scheduler_config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
MAX_CONFIG_BYTES = 1 << 20
# written as _diffusers_version: the oldest diffusers release whose UNet2DModel / scheduler
# keys are the ones this package writes
DIFFUSERS_VERSION = "0.25.0"


class FolderError(ValueError):
    """A diffusers folder that cannot be used as it is (one line: the file and the problem)."""


class Config(dict):
    """A config dict whose keys also read as attributes (``unet.config.sample_size``), as
    diffusers' ``FrozenDict``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None


def resolve_folder(path):
    """The folder that holds the files: ``path`` itself, or for a Hub cache repository folder
    (``models--org--name`` with ``snapshots/`` and ``refs/main``) its current snapshot."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FolderError(f"{path}: no such folder")
    if not os.path.isdir(path):
        raise FolderError(f"{path}: not a folder (expected a diffusers folder with "
                          f"{CONFIG_NAME} or {SCHEDULER_CONFIG_NAME})")
    snaps = os.path.join(path, "snapshots")
    if os.path.isdir(snaps) and not os.path.exists(os.path.join(path, CONFIG_NAME)):
        ref = os.path.join(path, "refs", "main")
        if os.path.isfile(ref) and os.path.getsize(ref) < 256:
            with open(ref) as f:
                commit = f.read().strip()
            if commit and os.path.isdir(os.path.join(snaps, commit)):
                return os.path.join(snaps, commit)
        found = sorted(d for d in os.listdir(snaps) if os.path.isdir(os.path.join(snaps, d)))
        if len(found) == 1:
            return os.path.join(snaps, found[0])
        raise FolderError(f"{path}: a Hub cache folder with {len(found)} snapshots and no "
                          f"refs/main; give the snapshot path (snapshots/<commit>)")
    return path


def component_folder(path, filename, component, subfolder=None):
    """The folder of one component: ``path/subfolder`` when given, else ``path`` when it holds
    ``filename``, else ``path/component`` (a pipeline folder's ``unet/`` or ``scheduler/``)."""
    folder = resolve_folder(path)
    if subfolder:
        folder = os.path.join(folder, subfolder)
        if not os.path.isdir(folder):
            raise FolderError(f"{folder}: no such folder")
        return folder
    if os.path.exists(os.path.join(folder, filename)):
        return folder
    sub = os.path.join(folder, component)
    if os.path.exists(os.path.join(sub, filename)):
        return sub
    raise FolderError(f"{folder}: no {filename} (nor {component}/{filename}); expected a "
                      f"diffusers folder")


def read_config(folder, filename):
    """The JSON object in ``folder/filename`` (a dict), refusing a missing file, a non-regular
    file, one over ``MAX_CONFIG_BYTES``, invalid JSON (NaN and Infinity included, as diffusers
    writes them for some keys: ``-Infinity`` is allowed) and anything but an object."""
    path = os.path.join(folder, filename)
    if not os.path.exists(path):
        raise FolderError(f"{path}: missing (a diffusers folder needs its {filename})")
    if not os.path.isfile(path):
        raise FolderError(f"{path}: not a regular file")
    size = os.path.getsize(path)
    if size > MAX_CONFIG_BYTES:
        raise FolderError(f"{path}: {size} bytes, more than the {MAX_CONFIG_BYTES} a config "
                          f"may have")
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read().decode("utf-8"), parse_constant=_json_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise FolderError(f"{path}: not a JSON config ({e})") from None
    if not isinstance(config, dict):
        raise FolderError(f"{path}: expected a JSON object of config keys, got a "
                          f"{type(config).__name__}")
    return config


def _json_constant(name):
    if name == "-Infinity":  # diffusers writes lambda_min_clipped = -inf this way
        return -math.inf
    if name == "Infinity":
        return math.inf
    raise ValueError(f"{name} is not a config value")


def write_config(folder, filename, class_name, config):
    """Write ``config`` with ``_class_name`` and ``_diffusers_version`` as diffusers does
    (sorted keys, indent 2), atomically."""
    os.makedirs(folder, exist_ok=True)
    body = {"_class_name": class_name, "_diffusers_version": DIFFUSERS_VERSION}
    body.update({k: _jsonable(v) for k, v in config.items() if not k.startswith("_")})
    text = json.dumps(body, indent=2, sort_keys=True) + "\n"

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    path = os.path.join(folder, filename)
    atomic_write(path, write)
    return path


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def find_weights(folder):
    """The safetensors weights file of a model folder; a folder with only a pickle
    ``diffusion_pytorch_model.bin`` is refused with the command that converts it."""
    path = os.path.join(folder, WEIGHTS_NAME)
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise FolderError(f"{path}: not a regular file")
        return path
    if os.path.exists(os.path.join(folder, WEIGHTS_NAME + ".index.json")):
        raise FolderError(f"{folder}: sharded weights ({WEIGHTS_NAME}.index.json) are not "
                          f"supported; save them as one file with diffusers: "
                          f"UNet2DModel.from_pretrained(folder).save_pretrained(folder, "
                          f"max_shard_size='100GB')")
    pickles = [n for n in ("diffusion_pytorch_model.bin", "pytorch_model.bin")
               if os.path.exists(os.path.join(folder, n))]
    if pickles:
        raise FolderError(
            f"{folder}: only {pickles[0]} (a PyTorch pickle, which can run code when loaded, "
            f"so it is never read here); convert it once, where you trust it, with: python -c "
            f"\"from diffusers import UNet2DModel; UNet2DModel.from_pretrained('{folder}')"
            f".save_pretrained('{folder}', safe_serialization=True)\"")
    raise FolderError(f"{folder}: no {WEIGHTS_NAME} (the model's weights)")


def weight_shapes(path):
    """``{name: (dtype, shape)}`` of a safetensors file from its header alone (no tensor is
    read), refusing a file whose header is malformed or whose byte ranges lie outside it."""
    from safetensors import safe_open
    try:
        with safe_open(path, framework="np") as st:
            out = {}
            for k in st.keys():
                sl = st.get_slice(k)
                out[k] = (sl.get_dtype(), tuple(int(s) for s in sl.get_shape()))
    except Exception as e:  # noqa: BLE001 - the safetensors library's own error types
        raise FolderError(f"{path}: not a valid safetensors file ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return out
