"""The config of diffusers' ``UNet2DModel``: its keys and defaults, the checks that refuse a key
this port does not build (by name) or sizes out of range, and the parameter count computed
from the config alone, so that a folder is judged before anything is allocated."""
from __future__ import annotations

import os

import numpy as np

from ..pretrained import (
    CONFIG_NAME,
    Config,
    FolderError,
    component_folder,
    find_weights,
    read_config,
    weight_shapes,
)
from .blocks2d import ACTIVATIONS

__all__ = ["DEFAULT_CONFIG", "DEFAULT_MAX_PARAMETERS", "DOWN_BLOCKS", "UP_BLOCKS",
           "check_config", "check_pretrained", "unet2d_parameter_count"]

DOWN_BLOCKS = ("DownBlock2D", "AttnDownBlock2D")
UP_BLOCKS = ("UpBlock2D", "AttnUpBlock2D")

# diffusers' UNet2DModel.__init__ arguments and defaults
DEFAULT_CONFIG = {
    "sample_size": None, "in_channels": 3, "out_channels": 3, "center_input_sample": False,
    "time_embedding_type": "positional", "time_embedding_dim": None, "freq_shift": 0,
    "flip_sin_to_cos": True,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2D",
    "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [224, 448, 672, 896], "layers_per_block": 2,
    "mid_block_scale_factor": 1, "downsample_padding": 1, "downsample_type": "conv",
    "upsample_type": "conv", "dropout": 0.0, "act_fn": "silu", "attention_head_dim": 8,
    "norm_num_groups": 32, "attn_norm_num_groups": None, "norm_eps": 1e-5,
    "resnet_time_scale_shift": "default", "add_attention": True, "class_embed_type": None,
    "num_class_embeds": None, "num_train_timesteps": None,
}
# values this port builds, for the keys where diffusers offers more
_ONLY = {"time_embedding_type": ("positional",), "downsample_type": ("conv",),
         "upsample_type": ("conv",), "mid_block_type": ("UNetMidBlock2D", None),
         "resnet_time_scale_shift": ("default", "scale_shift"),
         "class_embed_type": (None, "timestep", "identity"), "act_fn": tuple(ACTIVATIONS)}
MAX_CHANNELS = 1 << 16
MAX_LEVELS = 16
MAX_LAYERS = 64
DEFAULT_MAX_PARAMETERS = 2_000_000_000


def _bad(key, value, expected):
    return FolderError(f"UNet2DModel config: {key}={value!r} is not supported; expected "
                       f"{expected}")


def _int(cfg, key, lo, hi, optional=False):
    v = cfg[key]
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise _bad(key, v, f"an integer in [{lo}, {hi}]")
    return int(v)


def _num(cfg, key, lo, hi):
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise _bad(key, v, f"a number in [{lo}, {hi}]")
    return v


def check_config(config):
    """The full config (defaults filled in, diffusers' keys only) of a ``UNet2DModel``, or a
    ``FolderError`` naming the first key that is unknown, unsupported or out of range."""
    if not isinstance(config, dict):
        raise FolderError(f"UNet2DModel config must be a dict, got {type(config).__name__}")
    name = config.get("_class_name", "UNet2DModel")
    if name != "UNet2DModel":
        raise FolderError(f"UNet2DModel config: _class_name is {name!r}; only UNet2DModel "
                          f"folders are supported")
    unknown = [k for k in config if not k.startswith("_") and k not in DEFAULT_CONFIG]
    if unknown:
        raise FolderError(f"UNet2DModel config: unknown key {unknown[0]!r} (not a key of "
                          f"diffusers' UNet2DModel)")
    cfg = dict(DEFAULT_CONFIG)
    cfg.update({k: v for k, v in config.items() if not k.startswith("_")})
    for key, allowed in _ONLY.items():
        if cfg[key] not in allowed:
            raise _bad(key, cfg[key], " or ".join(repr(a) for a in allowed))
    for key in ("center_input_sample", "flip_sin_to_cos", "add_attention"):
        if not isinstance(cfg[key], bool):
            raise _bad(key, cfg[key], "true or false")
    chans = cfg["block_out_channels"]
    if not isinstance(chans, (list, tuple)) or not 1 <= len(chans) <= MAX_LEVELS:
        raise _bad("block_out_channels", chans, f"a list of 1 to {MAX_LEVELS} widths")
    for c in chans:
        if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_CHANNELS:
            raise _bad("block_out_channels", chans, f"widths in [1, {MAX_CHANNELS}]")
    cfg["block_out_channels"] = list(chans)
    for key, table in (("down_block_types", DOWN_BLOCKS), ("up_block_types", UP_BLOCKS)):
        types = cfg[key]
        if not isinstance(types, (list, tuple)) or len(types) != len(chans):
            raise _bad(key, types, f"a list of {len(chans)} block types (one per "
                                   f"block_out_channels entry)")
        types = [t[7:] if isinstance(t, str) and t.startswith("UNetRes") else t for t in types]
        for t in types:
            if t not in table:
                raise _bad(key, t, " or ".join(table))
        cfg[key] = types
    _int(cfg, "in_channels", 1, MAX_CHANNELS)
    _int(cfg, "out_channels", 1, MAX_CHANNELS)
    _int(cfg, "layers_per_block", 1, MAX_LAYERS)
    _int(cfg, "time_embedding_dim", 1, 4 * MAX_CHANNELS, optional=True)
    _int(cfg, "attention_head_dim", 1, MAX_CHANNELS, optional=True)
    _int(cfg, "num_class_embeds", 1, 1 << 20, optional=True)
    _int(cfg, "num_train_timesteps", 1, 1 << 24, optional=True)
    _int(cfg, "downsample_padding", 0, 1)
    _num(cfg, "freq_shift", -MAX_CHANNELS, MAX_CHANNELS)
    _num(cfg, "norm_eps", 0, 1)
    _num(cfg, "dropout", 0, 1)
    if _num(cfg, "mid_block_scale_factor", -1e6, 1e6) == 0:
        raise _bad("mid_block_scale_factor", 0, "a non-zero number")
    groups = _int(cfg, "norm_num_groups", 1, MAX_CHANNELS)
    for c in chans:
        if c % groups:
            raise _bad("norm_num_groups", groups, f"a divisor of every block_out_channels "
                                                  f"entry ({chans})")
    ag = _int(cfg, "attn_norm_num_groups", 1, MAX_CHANNELS, optional=True)
    if ag is not None and chans[-1] % ag:
        raise _bad("attn_norm_num_groups", ag, f"a divisor of {chans[-1]}")
    head = cfg["attention_head_dim"]
    if head is not None and head > min(chans):
        raise _bad("attention_head_dim", head, f"at most the narrowest width {min(chans)}")
    if cfg["class_embed_type"] is not None and cfg["num_class_embeds"] is not None:
        raise _bad("num_class_embeds", cfg["num_class_embeds"],
                   f"null with class_embed_type={cfg['class_embed_type']!r}")
    size = cfg["sample_size"]
    sizes = size if isinstance(size, (list, tuple)) else [size]
    if size is not None and (len(sizes) not in (1, 2) or any(
            isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 1 << 14
            for s in sizes)):
        raise _bad("sample_size", size, "null, an integer or [height, width] in [1, 16384]")
    return Config(cfg)


def unet2d_parameter_count(config):
    """The number of parameters the model of ``config`` has, computed from the config alone
    (to refuse absurd sizes before allocating, and a weights file that cannot fit)."""
    c = check_config(config)
    ch = c["block_out_channels"]
    temb = c["time_embedding_dim"] or 4 * ch[0]
    ss = 2 if c["resnet_time_scale_shift"] == "scale_shift" else 1

    def resnet(i, o):
        return 2 * i + 9 * i * o + o + (temb + 1) * o * ss + 2 * o + 9 * o * o + o + \
            ((i + 1) * o if i != o else 0)

    def attn(ch_, head, norm=True):
        d = ch_ if head is None else head
        inner = (ch_ // d) * d
        return (2 * ch_ if norm else 0) + 3 * (ch_ + 1) * inner + (inner + 1) * ch_

    def resample(ch_):
        return 9 * ch_ * ch_ + ch_

    n = 9 * c["in_channels"] * ch[0] + ch[0] + ch[0] * temb + temb + temb * temb + temb
    if c["class_embed_type"] == "timestep":
        n += ch[0] * temb + temb + temb * temb + temb
    elif c["class_embed_type"] is None and c["num_class_embeds"] is not None:
        n += c["num_class_embeds"] * temb
    L, head = c["layers_per_block"], c["attention_head_dim"]
    out = ch[0]
    for i, t in enumerate(c["down_block_types"]):
        inp, out = out, ch[i]
        for j in range(L):
            n += resnet(inp if j == 0 else out, out)
            n += attn(out, head) if t == "AttnDownBlock2D" else 0
        n += resample(out) if i < len(ch) - 1 else 0
    if c["mid_block_type"] is not None:
        n += 2 * resnet(ch[-1], ch[-1])
        if c["add_attention"]:
            norm = c["attn_norm_num_groups"] is not None or c["resnet_time_scale_shift"] == \
                "default"
            n += attn(ch[-1], head, norm)
    rev = ch[::-1]
    out = rev[0]
    for i, t in enumerate(c["up_block_types"]):
        prev, out, inp = out, rev[i], rev[min(i + 1, len(ch) - 1)]
        for j in range(L + 1):
            n += resnet((prev if j == 0 else out) + (inp if j == L else out), out)
            n += attn(out, head) if t == "AttnUpBlock2D" else 0
        n += resample(out) if i < len(ch) - 1 else 0
    return n + 2 * ch[0] + 9 * ch[0] * c["out_channels"] + c["out_channels"]


def check_pretrained(path, subfolder=None):
    """(config, weights file, {name: (dtype, shape)}) of a diffusers model folder, checked
    from the files alone (nothing allocated): the config, and that the weights file's header
    holds as many numbers as the config's model has parameters."""
    folder = component_folder(path, CONFIG_NAME, "unet", subfolder)
    config = read_config(folder, CONFIG_NAME)
    try:
        c = check_config(config)
    except FolderError as e:
        raise FolderError(f"{os.path.join(folder, CONFIG_NAME)}: {e}") from None
    weights = find_weights(folder)
    shapes = weight_shapes(weights)
    for name, (dtype, _) in shapes.items():
        if dtype not in ("F16", "BF16", "F32", "F64"):
            raise FolderError(f"{weights}: tensor {name!r} has dtype {dtype}; a model's weights "
                              f"are floating point")
    held = sum(int(np.prod(s, dtype=np.int64)) for _, s in shapes.values())
    want = unet2d_parameter_count(c)
    if want != held:
        raise FolderError(f"{weights}: holds {held:,} numbers but {CONFIG_NAME} describes a "
                          f"model of {want:,} parameters (config and weights do not match)")
    return c, weights, shapes
