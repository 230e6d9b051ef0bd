"""``arrayneedle.backends``: PyTorch's ``torch.backends`` flags, answered for arrayneedle's engines.

arrayneedle runs NumPy (CPU) and CuPy (GPU) kernels; it never calls cuDNN, MPS or MKL-DNN
itself. The flags programs set (``backends.cudnn.benchmark = True``, ``deterministic``,
``allow_tf32``) are kept and readable, and ``is_available()`` says truthfully that those
libraries are not used. Our kernels are deterministic and run in the dtype asked for (no TF32),
which is what ``deterministic=True`` and ``allow_tf32=False`` ask of PyTorch.
"""
from . import cuda, cudnn, mkldnn, mps

__all__ = ["cuda", "cudnn", "mkldnn", "mps"]
