"""Stateless neural-network functions with torch.nn.functional's names and signatures
(``import arrayneedle.nn.functional as F``)."""
from ...ops.norm import batch_norm, group_norm, layer_norm  # noqa: F401
from .activation import (dropout, elu, gelu, leaky_relu, log_softmax, relu, relu_, sigmoid,  # noqa: F401
                         silu, softmax, softplus, tanh)
from .activation_extra import (celu, glu, hardsigmoid, hardswish, hardtanh, logsigmoid,  # noqa: F401
                               mish, prelu, relu6, selu, softsign)
from .linear import linear  # noqa: F401
from .misc import normalize, pad  # noqa: F401
from .sparse import embedding, one_hot  # noqa: F401
from .attention import scaled_dot_product_attention  # noqa: F401
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                   huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from .conv import conv1d, conv2d, conv_transpose2d  # noqa: F401
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d,  # noqa: F401
                      avg_pool2d, max_pool1d, max_pool2d, adaptive_max_pool2d)
from .vision import (interpolate, pixel_shuffle, pixel_unshuffle, upsample,  # noqa: F401
                     upsample_bilinear, upsample_nearest)
from .fold import unfold  # noqa: F401,E402
