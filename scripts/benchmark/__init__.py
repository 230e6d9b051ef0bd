"""The SimpleUnet diffusion benchmark behind ``scripts/bench.py``.

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
T_STEPS = 1000
DDIM_STEPS = 50
