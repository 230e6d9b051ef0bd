"""The diffusion benchmark behind ``scripts/bench.py``: SimpleUnet and the residual Unet.

``harness``: the timing loop and machine description; ``workload``: the arrayneedle network,
diffusion and optimiser with fixed inputs; ``optimer``: per-op timing through
``arrayneedle.autograd.register_function_hook``; ``measure``: the measurements of one run;
``torch_worker``: the same network in PyTorch, in a child process; ``report``: the printed
tables and the JSON file; ``adapters``: the marked places that wait for a public name.
"""
# arrayneedle before NumPy (any submodule import runs this first): it makes process settings
# that only take effect before NumPy loads
import arrayneedle  # noqa: F401

CHANNELS = (32, 64, 128)
TIME_EMB = 16
# the residual Unet the trainer builds by default (diffusion/training.py build_model)
UNET_WIDTHS = (32, 64, 128)
UNET_GROUPS = 8
# (image size, batch) of its default runs: the README's training default (diffusion/config.py,
# 16x16 batch 32) and 32x32 at batch 12
UNET_SHAPES = ((16, 32), (32, 12))
MODELS = ("simple", "unet")
T_STEPS = 1000
DDIM_STEPS = 50
