"""Denoising diffusion on arrayneedle: noise schedules, the Gaussian diffusion process (DDPM and
DDIM sampling), UNets and an EMA of model weights."""
import arrayneedle as _arrayneedle  # noqa: F401  first: it configures OpenBLAS before NumPy loads
from .schedules import (SCHEDULES, cosine_beta_schedule, get_beta_schedule, linear_beta_schedule,
                        quadratic_beta_schedule, sigmoid_beta_schedule)
from .gaussian import GaussianDiffusion, extract, normalize, unnormalize
from .unet import Attention, ResBlock, SimpleUnet, SinusoidalPosEmb, Unet
from .ema import EMA
from .datasets import (CIFAR10Dataset, ImageArrayDataset, ImageFolder, MNISTDataset,
                       SyntheticLandscapes, load_cifar10, load_mnist, read_idx, resize_images)

__all__ = ["SCHEDULES", "linear_beta_schedule", "cosine_beta_schedule", "quadratic_beta_schedule",
           "sigmoid_beta_schedule", "get_beta_schedule", "GaussianDiffusion", "extract",
           "normalize", "unnormalize", "SimpleUnet", "Unet", "ResBlock", "Attention",
           "SinusoidalPosEmb", "EMA", "SyntheticLandscapes", "ImageFolder", "MNISTDataset",
           "CIFAR10Dataset", "ImageArrayDataset", "load_mnist", "load_cifar10", "read_idx",
           "resize_images"]
