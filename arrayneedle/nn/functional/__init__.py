"""Stateless neural-network functions with torch.nn.functional's names and signatures
(``import arrayneedle.nn.functional as F``)."""
from .attention import scaled_dot_product_attention  # noqa: F401
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                   huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
