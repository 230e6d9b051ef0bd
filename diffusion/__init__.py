"""Denoising diffusion on arrayneedle: noise schedules, the Gaussian diffusion process (DDPM and
DDIM sampling), UNets and an EMA of model weights."""
from .schedules import (SCHEDULES, cosine_beta_schedule, get_beta_schedule, linear_beta_schedule,
                        quadratic_beta_schedule, sigmoid_beta_schedule)
from .gaussian import GaussianDiffusion, extract, normalize, unnormalize
from .unet import Attention, ResBlock, SimpleUnet, SinusoidalPosEmb, Unet
from .ema import EMA

__all__ = ["SCHEDULES", "linear_beta_schedule", "cosine_beta_schedule", "quadratic_beta_schedule",
           "sigmoid_beta_schedule", "get_beta_schedule", "GaussianDiffusion", "extract",
           "normalize", "unnormalize", "SimpleUnet", "Unet", "ResBlock", "Attention",
           "SinusoidalPosEmb", "EMA"]
