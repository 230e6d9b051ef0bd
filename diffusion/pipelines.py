"""Unconditional image pipelines with diffusers' call shape, on NumPy or CuPy:

    pipe = DDPMPipeline.from_pretrained("ddpm-cifar10-32")      # a diffusers folder on disk
    images = pipe(batch_size=4, num_inference_steps=1000, generator=np.random.default_rng(0),
                  output_type="np").images                        # (4, 32, 32, 3) in [0, 1]
    pipe.save_pretrained("out")                                   # diffusers loads it

``DDPMPipeline(unet, scheduler)`` runs any scheduler of ``diffusion.schedulers`` (DDPM, DDIM,
DPM-Solver++, Euler, ...) through ``sample_loop``; ``DDIMPipeline`` turns its scheduler into a
``DDIMScheduler`` and takes ``eta``. ``generator``: a NumPy ``Generator`` (any device: the noise
is drawn on the host), a CuPy one (on the GPU), an int seed, or None (``arrayneedle``'s stream).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from arrayneedle.serialization import atomic_write

from .pretrained import DIFFUSERS_VERSION, FolderError, read_config, resolve_folder
from .schedulers import DDIMScheduler, Scheduler, sample_loop
from .schedulers.configio import scheduler_from_pretrained
from .unets import UNet2DModel

__all__ = ["DDIMPipeline", "DDPMPipeline", "ImagePipelineOutput", "numpy_to_pil"]

OUTPUT_TYPES = ("pil", "np", "numpy")


@dataclass
class ImagePipelineOutput:
    """``images``: a list of PIL images, or a float32 (B, H, W, C) array in [0, 1]."""
    images: object


def numpy_to_pil(images):
    """(B, H, W, C) floats in [0, 1] -> a list of PIL images (mode L for one channel)."""
    from PIL import Image
    images = (np.asarray(images) * 255).round().astype("uint8")
    if images.shape[-1] == 1:
        return [Image.fromarray(im[..., 0], mode="L") for im in images]
    return [Image.fromarray(im) for im in images]


def _generator(generator, device):
    if generator is None or hasattr(generator, "standard_normal"):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        if device.kind == "cuda":
            import cupy
            return cupy.random.default_rng(int(generator))
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a NumPy / CuPy Generator, an int seed or None, got "
                    f"{type(generator).__name__}")


class _Pipeline:
    """What both pipelines share: the components, ``to``, folders, and the sampling call."""

    def __init__(self, unet, scheduler):
        if not isinstance(unet, UNet2DModel):
            raise TypeError(f"unet must be a diffusion.unets.UNet2DModel, got "
                            f"{type(unet).__name__}")
        if not isinstance(scheduler, Scheduler):
            raise TypeError(f"scheduler must be one of diffusion.schedulers' schedulers, got "
                            f"{type(scheduler).__name__}")
        self.unet, self.scheduler = unet, scheduler
        self.progress = False

    @property
    def device(self):
        return self.unet.device

    def to(self, device):
        self.unet.to(device)
        return self

    def _shape(self, batch_size):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        size = self.unet.config["sample_size"]
        if size is None:
            raise ValueError("the unet's config has no sample_size; set unet.config"
                             "['sample_size'] to the image size to sample")
        h, w = (size, size) if isinstance(size, int) else size
        return (int(batch_size), self.unet.config["in_channels"], h, w)

    def _run(self, batch_size, generator, num_inference_steps, output_type, return_dict,
             **step_kwargs):
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got "
                             f"{output_type!r}")
        shape = self._shape(batch_size)
        dev = self.device
        unet = self.unet

        def predict(x, t):
            return unet(x, t).sample
        was = unet.training
        unet.eval()
        try:
            x = sample_loop(predict, self.scheduler, shape, num_inference_steps,
                            generator=_generator(generator, dev), device=dev,
                            dtype=unet.dtype, progress=self.progress, **step_kwargs)
        finally:
            unet.train(was)
        images = np.clip(x.numpy() / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1)
        images = images.astype(np.float32, copy=False)
        if output_type == "pil":
            images = numpy_to_pil(images)
        return ImagePipelineOutput(images=images) if return_dict else (images,)

    # ------------------------------------------------------------------ folders
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, device=None):
        """The pipeline of a diffusers folder: ``unet/`` and ``scheduler/`` beside
        ``model_index.json``, or ``config.json`` + weights + ``scheduler_config.json`` in one
        folder; a Hub cache snapshot path works as given."""
        folder = resolve_folder(pretrained_model_name_or_path)
        index = os.path.join(folder, "model_index.json")
        if os.path.exists(index):
            names = read_config(folder, "model_index.json")
            unet = names.get("unet")
            if unet is not None and (not isinstance(unet, list) or unet[-1:] != ["UNet2DModel"]):
                raise FolderError(f"{index}: unet is {unet!r}; only UNet2DModel pipelines are "
                                  f"supported")
        return cls(UNet2DModel.from_pretrained(folder, device=device),
                   scheduler_from_pretrained(folder))

    def save_pretrained(self, save_directory):
        """Write ``model_index.json``, ``unet/`` and ``scheduler/`` (a folder diffusers'
        ``DiffusionPipeline.from_pretrained`` loads)."""
        os.makedirs(save_directory, exist_ok=True)
        self.unet.save_pretrained(os.path.join(save_directory, "unet"))
        self.scheduler.save_pretrained(os.path.join(save_directory, "scheduler"))
        index = {"_class_name": type(self).__name__, "_diffusers_version": DIFFUSERS_VERSION,
                 "scheduler": ["diffusers", type(self.scheduler).__name__],
                 "unet": ["diffusers", "UNet2DModel"]}
        atomic_write(os.path.join(save_directory, "model_index.json"),
                     lambda tmp: _write_json(tmp, index))
        return save_directory


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


class DDPMPipeline(_Pipeline):
    """``DDPMPipeline(unet, scheduler)(batch_size=1, generator=None, num_inference_steps=1000,
    output_type="pil", return_dict=True)``, as diffusers' (any of our schedulers)."""

    def __call__(self, batch_size=1, generator=None, num_inference_steps=1000,
                 output_type="pil", return_dict=True):
        kw = {}
        if isinstance(self.scheduler, DDIMScheduler):  # diffusers' DDIM step default
            kw["use_clipped_model_output"] = False
        return self._run(batch_size, generator, num_inference_steps, output_type, return_dict,
                         **kw)


class DDIMPipeline(_Pipeline):
    """``DDIMPipeline(unet, scheduler)(batch_size=1, generator=None, eta=0.0,
    num_inference_steps=50, use_clipped_model_output=None, output_type="pil",
    return_dict=True)``; the scheduler becomes a ``DDIMScheduler`` of its config."""

    def __init__(self, unet, scheduler):
        if isinstance(scheduler, Scheduler) and not isinstance(scheduler, DDIMScheduler):
            scheduler = DDIMScheduler.from_config(scheduler.config)
        super().__init__(unet, scheduler)

    def __call__(self, batch_size=1, generator=None, eta=0.0, num_inference_steps=50,
                 use_clipped_model_output=None, output_type="pil", return_dict=True):
        return self._run(batch_size, generator, num_inference_steps, output_type, return_dict,
                         eta=eta, use_clipped_model_output=bool(use_clipped_model_output))

