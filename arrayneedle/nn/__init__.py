"""Neural-network building blocks with PyTorch's names and layouts."""
from .module import Module, Parameter
from .layers import (Identity, Linear, Flatten, ReLU, SiLU, Sigmoid, Tanh, Sequential, Residual,
                     Dropout, BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm)
from .sparse import Embedding
from .loss import (L1Loss, MSELoss, L2Loss, HuberLoss, CrossEntropyLoss, SoftmaxLoss, mse_loss,
                   l1_loss, huber_loss, cross_entropy)
from .conv import Conv1d, Conv2d, ConvTranspose2d, Conv, ConvTranspose, MaxPool
from .container import ModuleList, ModuleDict, ParameterList, ParameterDict, Unflatten
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveMaxPool2d)
from .vision import (Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle,
                     PixelUnshuffle, ZeroPad2d, ConstantPad2d, ReflectionPad2d,
                     ReplicationPad2d, CircularPad2d)
from .normalization import InstanceNorm1d, InstanceNorm2d
from .dropout import Dropout1d, Dropout2d
from . import functional
from . import utils
from . import parallel
from .syncbn import SyncBatchNorm
