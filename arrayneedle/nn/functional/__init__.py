"""PyTorch's ``torch.nn.functional`` (imported as ``F``)."""
from .conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d,  # noqa: F401
                      avg_pool2d, max_pool1d, max_pool2d, adaptive_max_pool2d)
from .vision import (interpolate, pixel_shuffle, pixel_unshuffle, upsample,  # noqa: F401
                     upsample_bilinear, upsample_nearest)
