"""arrayneedle: a small deep-learning framework on the Python array API (NumPy or CuPy)."""
from ._startup import startup_info  # first: it tunes BLAS threads before NumPy loads  # noqa: I001
from . import backend
from .backend import (Device, cpu, cuda, cuda_available, device, manual_seed)
from .autograd import Tensor, Function, no_grad, enable_grad, is_grad_enabled, set_grad_enabled
from . import ops
from .ops import *  # noqa: F401,F403
from .creation import (tensor, as_tensor, from_numpy, is_tensor, numel, zeros, ones, full, empty,
                       eye, zeros_like, ones_like, full_like, empty_like, randn, rand, randint,
                       randperm, multinomial, randn_like, rand_like, arange, linspace)
from .serialization import save, load
from .safetensors_io import save_file, load_file
from .kernels._parallel import num_threads as get_num_threads, set_num_threads
from . import data, init, nn, optim, utils

__version__ = "0.1.0"
