"""diffusers' ``UNet2DModel`` on arrayneedle: built from its ``config.json`` keys, with its
parameter names, so ``diffusion_pytorch_model.safetensors`` files cross both ways.

    unet = UNet2DModel.from_pretrained("path/to/ddpm-cifar10-32")     # or a Hub snapshot path
    eps = unet(x, t).sample                                          # as diffusers
    unet.save_pretrained("out")                                      # diffusers loads it

Every config key of diffusers' class is understood; a value this port does not build (Fourier
or learned time embeddings, ResNet down/up sampling, skip blocks, spatial norm) or a key that
diffusers' class does not have is an error naming the key, never a silently different network.
Sizes are checked from the config before anything is allocated.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import arrayneedle as an
from arrayneedle import nn, ops
from arrayneedle.autograd import Tensor

from ..pretrained import CONFIG_NAME, FolderError, write_config
from ..unet import norm_silu
from .blocks2d import (
    AttnDownBlock2D,
    AttnUpBlock2D,
    DownBlock2D,
    TimestepEmbedding,
    Timesteps,
    UNetMidBlock2D,
    UpBlock2D,
)
from .unet2d_config import (
    DEFAULT_MAX_PARAMETERS,
    check_config,
    check_pretrained,
    unet2d_parameter_count,
)

__all__ = ["UNet2DModel", "UNet2DOutput", "DiffusersUnet"]

_DOWN = {"DownBlock2D": DownBlock2D, "AttnDownBlock2D": AttnDownBlock2D}
_UP = {"UpBlock2D": UpBlock2D, "AttnUpBlock2D": AttnUpBlock2D}


@dataclass
class UNet2DOutput:
    """``sample``: the model's prediction, shaped like its input."""
    sample: Tensor


class UNet2DModel(nn.Module):
    """diffusers' ``UNet2DModel`` (arguments: its config keys, with its defaults).

    ``forward(sample, timestep, class_labels=None, return_dict=True)`` returns a
    ``UNet2DOutput`` (or a one-tuple), as diffusers; ``timestep`` is an int, a float or a
    Tensor of one or B timesteps. ``max_parameters`` bounds the model a config may describe.
    """

    config_name = CONFIG_NAME

    def __init__(self, max_parameters=DEFAULT_MAX_PARAMETERS, **config):
        super().__init__()
        c = check_config(config)
        count = unet2d_parameter_count(c)
        if count > max_parameters:
            raise FolderError(f"UNet2DModel config describes {count:,} parameters, more than "
                              f"max_parameters={max_parameters:,}")
        self.config = c
        ch, L = c["block_out_channels"], c["layers_per_block"]
        temb = c["time_embedding_dim"] or 4 * ch[0]
        self.sample_size = c["sample_size"]
        self.in_channels, self.out_channels = c["in_channels"], c["out_channels"]
        self.downsampling_factor = 2 ** (len(ch) - 1)
        self.conv_in = nn.Conv2d(c["in_channels"], ch[0], 3, padding=1)
        self.time_proj = Timesteps(ch[0], c["flip_sin_to_cos"], c["freq_shift"])
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        if c["class_embed_type"] == "timestep":
            self.class_embedding = TimestepEmbedding(ch[0], temb)
        elif c["class_embed_type"] is None and c["num_class_embeds"] is not None:
            self.class_embedding = nn.Embedding(c["num_class_embeds"], temb)
        else:
            self.class_embedding = None
        resnet = dict(eps=c["norm_eps"], groups=c["norm_num_groups"], dropout=c["dropout"],
                      time_embedding_norm=c["resnet_time_scale_shift"], act_fn=c["act_fn"])
        head = c["attention_head_dim"]
        downs, out = [], ch[0]
        for i, t in enumerate(c["down_block_types"]):
            inp, out = out, ch[i]
            kw = {"attention_head_dim": head} if t == "AttnDownBlock2D" else {}
            downs.append(_DOWN[t](inp, out, temb, L, i < len(ch) - 1, resnet,
                                  downsample_padding=c["downsample_padding"], **kw))
        self.down_blocks = nn.ModuleList(downs)
        self.mid_block = None if c["mid_block_type"] is None else UNetMidBlock2D(
            ch[-1], temb, resnet, head, c["attn_norm_num_groups"], c["add_attention"],
            c["mid_block_scale_factor"])
        ups, rev = [], ch[::-1]
        out = rev[0]
        for i, t in enumerate(c["up_block_types"]):
            prev, out, inp = out, rev[i], rev[min(i + 1, len(ch) - 1)]
            kw = {"attention_head_dim": head} if t == "AttnUpBlock2D" else {}
            ups.append(_UP[t](inp, prev, out, temb, L + 1, i < len(ch) - 1, resnet, **kw))
        self.up_blocks = nn.ModuleList(ups)
        self.conv_norm_out = nn.GroupNorm(c["norm_num_groups"], ch[0], eps=c["norm_eps"])
        self.conv_out = nn.Conv2d(ch[0], c["out_channels"], 3, padding=1)

    @property
    def dtype(self):
        return self.conv_in.weight.dtype

    def _timesteps(self, timestep, b, dev):
        if isinstance(timestep, Tensor):
            t = timestep.detach()
            if t.device != dev:
                raise ValueError(f"UNet2DModel: timesteps on {t.device}, sample on {dev}")
        else:
            arr = np.asarray(timestep)
            if arr.dtype.kind not in "iuf":
                raise ValueError(f"UNet2DModel: timestep must be numbers, got {arr.dtype}")
            t = Tensor(arr if arr.dtype.kind == "f" else arr.astype(np.int64), device=dev)
        if t.ndim == 0:
            t = ops.reshape(t, (1,))
        if t.ndim != 1 or t.shape[0] not in (1, b):
            raise ValueError(f"UNet2DModel: expected one timestep or {b} (the batch), got "
                             f"shape {t.shape}")
        return ops.broadcast_to(t, (b,)) if t.shape[0] != b else t

    def forward(self, sample, timestep, class_labels=None, return_dict=True):
        c = self.config
        if not isinstance(sample, Tensor) or sample.ndim != 4 or \
                sample.shape[1] != self.in_channels:
            raise ValueError(f"UNet2DModel: expected a sample of shape (B, {self.in_channels}, "
                             f"H, W), got {getattr(sample, 'shape', type(sample).__name__)}")
        b, _, h, w = sample.shape
        f = self.downsampling_factor
        if h % f or w % f:
            raise ValueError(f"UNet2DModel: image size {h}x{w} is not divisible by {f} (2 to "
                             f"the number of downsamplings)")
        if c["center_input_sample"]:
            sample = sample * 2.0 - 1.0
        t = self._timesteps(timestep, b, sample.device)
        emb = self.time_embedding(ops.astype(self.time_proj(t), sample.dtype))
        if self.class_embedding is not None or c["class_embed_type"] == "identity":
            if class_labels is None:
                raise ValueError("UNet2DModel: class_labels should be provided when doing "
                                 "class conditioning")
            if c["class_embed_type"] == "timestep":
                class_labels = self.time_proj(self._timesteps(class_labels, b, sample.device))
            if c["class_embed_type"] == "identity":
                emb = emb + class_labels
            else:
                emb = emb + self.class_embedding(class_labels)
        elif class_labels is not None:
            raise ValueError("UNet2DModel: class_labels given to a model without class "
                             "conditioning (num_class_embeds / class_embed_type unset)")
        x = self.conv_in(sample)
        skips = [x]
        for block in self.down_blocks:
            x, states = block(x, emb)
            skips.extend(states)
        if self.mid_block is not None:
            x = self.mid_block(x, emb)
        for block in self.up_blocks:
            x = block(x, skips, emb)
        x = self.conv_out(norm_silu(self.conv_norm_out, x))
        return UNet2DOutput(sample=x) if return_dict else (x,)

    # ------------------------------------------------------------------ folders
    @classmethod
    def from_config(cls, config, **kwargs):
        """A new model (random weights) of a config dict, as diffusers' ``from_config``."""
        return cls(**{**config, **kwargs})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, subfolder=None, device=None,
                        max_parameters=DEFAULT_MAX_PARAMETERS):
        """The model of a diffusers folder (``config.json`` + ``diffusion_pytorch_model.
        safetensors``; a pipeline folder's ``unet/``; a Hub cache snapshot). The weights
        file's header must name exactly the config's parameters with their shapes, checked
        before any tensor is read."""
        c, weights, shapes = check_pretrained(pretrained_model_name_or_path, subfolder)
        model = cls(max_parameters=max_parameters, **c)
        state = model.state_dict()
        renamed = {_new_attention_name(k): k for k in shapes}
        for k, p in state.items():
            if k not in renamed:
                raise FolderError(f"{weights}: no tensor {k!r} (config and weights do not "
                                  f"match)")
            src = renamed[k]
            if tuple(shapes[src][1]) != tuple(p.shape):
                raise FolderError(f"{weights}: {src} has shape {list(shapes[src][1])}, the "
                                  f"config's model needs {list(p.shape)}")
        extra = sorted(set(renamed) - set(state))
        if extra:
            raise FolderError(f"{weights}: unexpected tensor {renamed[extra[0]]!r} (config and "
                              f"weights do not match)")
        try:
            loaded = an.load_file(weights)
        except ValueError as e:
            raise FolderError(str(e)) from None
        model.load_state_dict({_new_attention_name(k): ops.astype(v, "float32")
                               if v.dtype != an.float32 else v for k, v in loaded.items()})
        if device is not None:
            model.to(device)
        return model.eval()

    def save_pretrained(self, save_directory):
        """Write ``config.json`` and ``diffusion_pytorch_model.safetensors`` (float32) to
        ``save_directory``, a folder diffusers' ``UNet2DModel.from_pretrained`` loads."""
        write_config(save_directory, CONFIG_NAME, "UNet2DModel", self.config)
        an.save_file({k: v for k, v in self.state_dict().items()},
                     os.path.join(save_directory, "diffusion_pytorch_model.safetensors"),
                     metadata={"format": "pt"})
        return save_directory


_OLD_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _new_attention_name(name):
    """Today's name of an attention parameter of an old diffusers file (``query`` ->
    ``to_q``, ``proj_attn`` -> ``to_out.0``, ...), as diffusers converts them on load."""
    parts = name.split(".")
    if len(parts) >= 3 and "attentions" in parts and parts[-2] in _OLD_ATTENTION:
        parts[-2] = _OLD_ATTENTION[parts[-2]]
        return ".".join(parts)
    return name


class DiffusersUnet(UNet2DModel):
    """A ``UNet2DModel`` called as this package's denoisers are (``GaussianDiffusion``,
    ``sample_loop``, the training loop): ``model(x, t) -> Tensor``. Same parameters, names and
    config, so its ``state_dict`` is a diffusers file's."""

    def forward(self, sample, timestep, class_labels=None, return_dict=False):
        out = super().forward(sample, timestep, class_labels, return_dict=return_dict)
        return out if return_dict else out[0]
