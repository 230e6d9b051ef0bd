"""``arrayneedle.distributions``: the distributions RL, VAE and sampling code uses most, with
PyTorch's names, parameters and formulas (Normal, Uniform, Bernoulli, Categorical,
OneHotCategorical, kl_divergence). Draws come from the device's generator."""
from . import categorical, kl, normal
from .categorical import Categorical, OneHotCategorical
from .distribution import Distribution
from .kl import kl_divergence
from .normal import Bernoulli, Normal, Uniform

__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical",
           "OneHotCategorical", "kl_divergence", "categorical", "normal", "kl"]
