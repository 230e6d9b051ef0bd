"""Neural-network building blocks with PyTorch's names and layouts, file for file as
``torch.nn.modules`` (linear, conv, batchnorm, normalization, dropout, container...)."""
from .. import compat
from .module import Module, Parameter
from .linear import Identity, Linear
from .flatten import Flatten, Unflatten
from .container import (Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict,
                        Residual)
from .dropout import Dropout, Dropout1d, Dropout2d
from .batchnorm import BatchNorm1d, BatchNorm2d, SyncBatchNorm
from .normalization import LayerNorm, GroupNorm
from .instancenorm import InstanceNorm1d, InstanceNorm2d
from .sparse import Embedding
from . import functional
from .loss import (L1Loss, MSELoss, SmoothL1Loss, HuberLoss, NLLLoss, CrossEntropyLoss,
                   BCELoss, BCEWithLogitsLoss, KLDivLoss, mse_loss, l1_loss, huber_loss,
                   cross_entropy)
from .rnn import RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU
from .attention import MultiheadAttention
from .transformer import TransformerEncoderLayer, TransformerEncoder
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveMaxPool2d)
from .upsampling import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .padding import ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d
from . import utils
from . import parallel
from .parallel import DataParallel
from .activation import (ReLU, SiLU, Sigmoid, Tanh, GELU, LeakyReLU, ELU, Softplus, Softmax,
                         LogSoftmax, ReLU6, Hardtanh, Hardsigmoid, Hardswish, Mish, SELU, CELU,
                         GLU, LogSigmoid, Softsign, PReLU)
from . import init
from .rmsnorm import RMSNorm
from .functional.fold import Unfold
from . import modules, parameter, module_extras

__getattr__ = compat.module_getattr(__name__, globals())
