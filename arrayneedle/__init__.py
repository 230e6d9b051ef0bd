"""arrayneedle: a small deep-learning framework on the Python array API (NumPy or CuPy)."""
from ._startup import startup_info  # first: it tunes BLAS threads before NumPy loads  # noqa: I001
from . import backend
from .backend import (Device, cpu, cuda, cuda_available, device, manual_seed)
from .backend import DType as dtype
from .tensor import Tensor, Size
from .autograd import (Function, no_grad, enable_grad, is_grad_enabled, set_grad_enabled,
                       inference_mode)
from . import ops
from .ops import *  # noqa: F401,F403
from .creation import (tensor, as_tensor, from_numpy, is_tensor, numel, zeros, ones, full, empty,
                       eye, zeros_like, ones_like, full_like, empty_like, randn, rand, randint,
                       randperm, multinomial, randn_like, rand_like, arange, linspace)
from .serialization import save, load
from .safetensors_io import save_file, load_file
from .kernels import num_threads as get_num_threads, set_num_threads
from . import data, nn, optim, utils
from .nn import init

# dtype objects, with PyTorch's names and aliases
_D = backend.DTYPE_OBJECTS
float32, float64, float16 = _D["float32"], _D["float64"], _D["float16"]
int64, int32, int16, int8, uint8, bool = (_D["int64"], _D["int32"], _D["int16"], _D["int8"],
                                          _D["uint8"], _D["bool"])
float, double, half, long, int, short = float32, float64, float16, int64, int32, int16
del _D


def get_default_dtype():
    """The dtype of floating-point tensors made from Python numbers: ``float32``."""
    return float32


__version__ = "0.1.0"
