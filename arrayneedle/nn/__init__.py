"""Neural-network building blocks with PyTorch's names and layouts."""
from .module import Module, Parameter
from .layers import (Identity, Linear, Flatten, Sequential, Residual, Dropout,
                     BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm)
from .sparse import Embedding
from . import functional
from .loss import (L1Loss, MSELoss, L2Loss, SmoothL1Loss, HuberLoss, NLLLoss, CrossEntropyLoss,
                   SoftmaxLoss, BCELoss, BCEWithLogitsLoss, KLDivLoss, mse_loss, l1_loss,
                   huber_loss, cross_entropy)
from .rnn import RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU
from .attention import MultiheadAttention
from .transformer import TransformerEncoderLayer, TransformerEncoder
from .conv import Conv1d, Conv2d, ConvTranspose2d, Conv, ConvTranspose, MaxPool
from .container import ModuleList, ModuleDict, ParameterList, ParameterDict, Unflatten
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveMaxPool2d)
from .vision import (Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle,
                     PixelUnshuffle, ZeroPad2d, ConstantPad2d, ReflectionPad2d,
                     ReplicationPad2d, CircularPad2d)
from .normalization import InstanceNorm1d, InstanceNorm2d
from .dropout import Dropout1d, Dropout2d
from . import utils
from . import parallel
from .parallel import DataParallel
from .syncbn import SyncBatchNorm
from .activation import (ReLU, SiLU, Sigmoid, Tanh, GELU, LeakyReLU, ELU, Softplus, Softmax,
                         LogSoftmax, ReLU6, Hardtanh, Hardsigmoid, Hardswish, Mish, SELU, CELU,
                         GLU, LogSigmoid, Softsign, PReLU)
from . import init
from .rmsnorm import RMSNorm
from .functional.fold import Unfold
from . import modules, parameter, module_extras
