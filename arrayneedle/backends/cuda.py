"""``backends.cuda``: ``matmul.allow_tf32`` and friends, kept as set. CuPy's matmuls here run in
the dtype of their inputs (no TF32 unless CuPy's own ``CUPY_TF32`` asks for it)."""
from .. import backend


class _Matmul:
    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _Matmul()


def is_built() -> bool:
    """True when CuPy (arrayneedle's CUDA engine) can be imported."""
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def is_available() -> bool:
    return backend.cuda_available()


def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True,
               enable_cudnn=True):
    """PyTorch's older spelling of ``nn.attention.sdpa_kernel``, by flags."""
    from ..nn.sdpa import SDPBackend, sdpa_kernel
    chosen = [b for b, on in ((SDPBackend.FLASH_ATTENTION, enable_flash),
                              (SDPBackend.MATH, enable_math),
                              (SDPBackend.EFFICIENT_ATTENTION, enable_mem_efficient),
                              (SDPBackend.CUDNN_ATTENTION, enable_cudnn)) if on]
    return sdpa_kernel(chosen)
