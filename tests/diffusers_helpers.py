"""Shared by the diffusers interop tests: configs, random diffusers models and the comparison."""
import numpy as np

# google/ddpm-cifar10-32's published config.json (the Hub file, _class_name and version kept)
DDPM_CIFAR10_32 = {
    "_class_name": "UNet2DModel",
    "_diffusers_version": "0.0.4",
    "act_fn": "silu",
    "attention_head_dim": None,
    "block_out_channels": [128, 256, 256, 256],
    "center_input_sample": False,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "in_channels": 3,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 32,
    "time_embedding_type": "positional",
    "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
}
# google/ddpm-cifar10-32's scheduler_config.json
DDPM_CIFAR10_32_SCHEDULER = {
    "_class_name": "DDPMScheduler", "_diffusers_version": "0.1.1", "beta_end": 0.02,
    "beta_schedule": "linear", "beta_start": 0.0001, "clip_sample": True,
    "num_train_timesteps": 1000, "trained_betas": None, "variance_type": "fixed_large",
}

TINY = {"block_out_channels": [16, 32], "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
        "up_block_types": ["AttnUpBlock2D", "UpBlock2D"], "norm_num_groups": 8,
        "layers_per_block": 1, "sample_size": 8, "attention_head_dim": 8}

SMALL_CONFIGS = {
    "tiny": TINY,
    # diffusers' defaults for the keys not given (flip_sin_to_cos, freq_shift 0, padding 1, ...)
    "three-levels-scale-shift-classes": {
        "block_out_channels": [16, 32, 32],
        "down_block_types": ["AttnDownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
        "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "AttnUpBlock2D"],
        "norm_num_groups": 8, "layers_per_block": 2, "attention_head_dim": 8,
        "resnet_time_scale_shift": "scale_shift", "downsample_padding": 0,
        "flip_sin_to_cos": False, "freq_shift": 1, "num_class_embeds": 5, "norm_eps": 1e-6,
        "mid_block_scale_factor": 2 ** 0.5, "sample_size": 16, "in_channels": 1,
        "out_channels": 2},
    "timestep-classes-centered-no-mid-attention": {
        "block_out_channels": [8, 16], "down_block_types": ["DownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "UpBlock2D"], "norm_num_groups": 4,
        "layers_per_block": 1, "class_embed_type": "timestep", "center_input_sample": True,
        "add_attention": False, "time_embedding_dim": 24, "act_fn": "mish", "sample_size": 8},
    "one-level-no-mid-block-head-dim-none": {
        "block_out_channels": [8], "down_block_types": ["AttnDownBlock2D"],
        "up_block_types": ["AttnUpBlock2D"], "norm_num_groups": 2, "layers_per_block": 1,
        "mid_block_type": None, "attention_head_dim": None, "sample_size": 4},
}


def perturbed_diffusers_unet(config, seed=0, scale=0.05):
    """A diffusers UNet2DModel of ``config`` with every parameter moved off its initial value
    (norm weights off 1, biases off 0), in eval mode."""
    import torch
    from diffusers import UNet2DModel
    torch.manual_seed(seed)
    model = UNet2DModel(**{k: v for k, v in config.items() if not k.startswith("_")}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model


def inputs(config, batch=2, seed=0):
    size = config.get("sample_size") or 8
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, config.get("in_channels", 3), size, size))
    return x.astype(np.float32), np.array([3, 977][:batch] + [500] * (batch - 2))


def rel_err(out, ref):
    return float(np.abs(np.asarray(out) - np.asarray(ref)).max() / np.abs(ref).max())
