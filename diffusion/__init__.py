"""Denoising diffusion on arrayneedle: noise schedules, the Gaussian diffusion process (DDPM and
DDIM sampling), diffusers-style schedulers (DPM-Solver++, Euler, Heun, Karras sigmas), UNets, an
EMA of model weights, training (``TrainConfig``, ``Trainer``, ``training.train``) and a
sample-quality yardstick (``quality``)."""
import arrayneedle as _arrayneedle  # noqa: F401  first: it configures OpenBLAS before NumPy loads
from .schedules import (SCHEDULES, cosine_beta_schedule, get_beta_schedule, linear_beta_schedule,
                        quadratic_beta_schedule, sigmoid_beta_schedule)
from . import schedulers
from .schedulers import SCHEDULERS, from_diffusion, get_scheduler, sample_loop
from .gaussian import SAMPLERS, GaussianDiffusion, extract, normalize, unnormalize
from .unet import Attention, ResBlock, SimpleUnet, SinusoidalPosEmb, Unet
from .ema import EMA
from .unets import UNet2DModel
from .pipelines import DDIMPipeline, DDPMPipeline
from .config import TrainConfig
from .trainer import Trainer
from .datasets import (CIFAR10Dataset, ImageArrayDataset, ImageFolder, MNISTDataset,
                       SyntheticLandscapes, load_cifar10, load_mnist, read_idx, resize_images)
from . import quality  # scikit-learn is imported only when the digits are loaded

__all__ = ["SCHEDULES", "linear_beta_schedule", "cosine_beta_schedule", "quadratic_beta_schedule",
           "sigmoid_beta_schedule", "get_beta_schedule", "GaussianDiffusion", "SAMPLERS", "extract",
           "normalize", "unnormalize", "SimpleUnet", "Unet", "ResBlock", "Attention",
           "SinusoidalPosEmb", "EMA", "SyntheticLandscapes", "ImageFolder", "MNISTDataset",
           "CIFAR10Dataset", "ImageArrayDataset", "load_mnist", "load_cifar10", "read_idx",
           "resize_images", "schedulers", "SCHEDULERS", "get_scheduler", "from_diffusion",
           "sample_loop", "quality", "UNet2DModel", "DDPMPipeline",
           "DDIMPipeline", "TrainConfig", "Trainer"]
