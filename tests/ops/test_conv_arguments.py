"""Convolution arguments: one size normaliser, sizes checked once by the op with PyTorch's
words, layers that store their arguments and reset_parameters() as PyTorch's _ConvNd."""
import pathlib

import pytest

import arrayneedle as an
from arrayneedle import ops

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "arrayneedle").rglob("*.py")) + sorted((ROOT / "diffusion").rglob("*.py"))


def test_conv_size_arguments_are_checked_once_by_the_op_with_pytorchs_words():
    """A layer stores its sizes (as PyTorch, whose constructor accepts stride=0); the op
    checks them when the forward runs, with the message F.conv2d and ops.conv2d give."""
    x = an.randn(1, 4, 6, 6)
    layer = nn_conv = an.nn.Conv2d(4, 6, 3, stride=0)
    assert nn_conv.stride == (0, 0)
    msgs = []
    for call in (lambda: layer(x), lambda: an.nn.functional.conv2d(x, layer.weight, stride=0),
                 lambda: ops.conv2d(x, layer.weight, stride=0),
                 lambda: an.nn.functional.conv2d(x, layer.weight, stride=0,
                                                 padding_mode="reflect")):
        with pytest.raises(ValueError) as e:
            call()
        msgs.append(str(e.value))
    assert {m.split(", got")[0] for m in msgs} == {"conv2d: non-positive stride is not supported"}
    torch = pytest.importorskip("torch")
    for kwargs, words in [({"stride": 0}, "non-positive stride is not supported"),
                          ({"padding": -1}, "negative padding is not supported"),
                          ({"padding": "same", "stride": 2},
                           "padding='same' is not supported for strided convolutions"),
                          ({"dilation": 0}, "dilation should be greater than zero")]:
        with pytest.raises(RuntimeError, match=words):
            torch.nn.functional.conv2d(torch.randn(1, 4, 6, 6), torch.randn(6, 4, 3, 3),
                                       **kwargs)
        with pytest.raises(ValueError, match=words):
            ops.conv2d(x, layer.weight, **kwargs)
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 3 channels instead"):
        torch.nn.functional.conv2d(torch.randn(1, 3, 6, 6), torch.randn(6, 4, 3, 3))
    with pytest.raises(ValueError, match="to have 4 channels, but got 3 channels instead"):
        ops.conv2d(an.randn(1, 3, 6, 6), layer.weight)


def test_conv_layers_store_their_arguments_and_reset_parameters():
    from arrayneedle import nn
    m = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    assert (m.kernel_size, m.stride, m.padding, m.dilation, m.output_padding) == \
        ((3,), (2,), (1,), (1,), (0,))
    assert (m.groups, m.transposed, m.padding_mode) == (2, False, "zeros")
    t = nn.ConvTranspose2d(4, 6, (3, 1), stride=2, output_padding=1)
    assert t.transposed and t.output_padding == (1, 1) and t.weight.shape == (4, 6, 3, 1)
    an.manual_seed(0)
    c = nn.Conv2d(3, 5, 3)
    w0 = c.weight.detach().clone()
    c.reset_parameters()
    assert c.weight.shape == w0.shape and not an.equal(c.weight, w0)
    bound = 1 / (3 * 9) ** 0.5
    assert float(c.weight.abs().max()) <= bound and float(c.bias.abs().max()) <= bound
    for kwargs, words in [({"groups": 0}, "groups must be a positive integer"),
                          ({"groups": 2}, "in_channels must be divisible by groups"),
                          ({"padding": "full"}, "Invalid padding string 'full'"),
                          ({"padding_mode": "mirror"}, "padding_mode must be one of")]:
        with pytest.raises(ValueError, match=words):
            nn.Conv2d(3, 6, 3, **kwargs)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        nn.ConvTranspose2d(3, 6, 3, padding_mode="reflect")


def test_one_size_normaliser():
    from arrayneedle._helpers import ntuple, pair
    assert ntuple(3, 1) == (3,) and ntuple((1, 2, 3, 4), 4) == (1, 2, 3, 4) and pair(2) == (2, 2)
    with pytest.raises(ValueError, match=r"stride must be an int or a 1-tuple, got \(1, 2\)"):
        ntuple((1, 2), 1, "stride")
    with pytest.raises(ValueError, match="must be an int or a pair of ints, got 1.5"):
        pair(1.5)
    for f in SOURCES:
        src = f.read_text()
        assert "def _single(" not in src and "def _tuple(" not in src, f
