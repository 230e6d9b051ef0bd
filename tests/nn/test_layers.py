"""The layers of issue 13 (conv groups/dilation/padding modes, transposed conv, pooling,
resampling, InstanceNorm, Dropout2d, Embedding(padding_idx)): hand-computed values always,
PyTorch (same weights -> same outputs, gradients and state_dict keys) where installed."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn
from arrayneedle.nn import functional as F
from op_table_layers import conv_ref, conv_t_ref


def _t(a, grad=False):
    return an.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---------------------------------------------------------------- hand-computed values
def test_maxpool_indices_ceil_mode_by_hand():
    x = _t(np.arange(25.0).reshape(1, 1, 5, 5))
    y, idx = F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True)
    # windows start at 0, 2, 4: the last one holds the edge row/column only
    np.testing.assert_array_equal(y.detach().numpy()[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    np.testing.assert_array_equal(idx.detach().numpy()[0, 0],
                                  [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    assert idx.dtype == np.int64
    y, idx = F.max_pool2d(x, 2, 1, dilation=2, return_indices=True)  # taps 0 and 2 apart
    np.testing.assert_array_equal(y.detach().numpy()[0, 0],
                                  [[12, 13, 14], [17, 18, 19], [22, 23, 24]])
    np.testing.assert_array_equal(idx.detach().numpy(), y.detach().numpy())
    pool = nn.MaxPool2d(3, 2, 1, return_indices=True)
    out, ind = pool(x)
    np.testing.assert_array_equal(ind.detach().numpy()[0, 0],
                                  [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    # adaptive 5 -> 2: windows [0, 3) and [2, 5) on both axes
    y, idx = nn.AdaptiveMaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(y.detach().numpy()[0, 0], [[12, 14], [22, 24]])
    np.testing.assert_array_equal(idx.detach().numpy()[0, 0], [[12, 14], [22, 24]])


def test_avgpool_divisors_by_hand():
    x = _t(np.ones((1, 1, 3, 3)))
    inc = F.avg_pool2d(x, 2, 2, padding=1).detach().numpy()[0, 0]
    exc = F.avg_pool2d(x, 2, 2, padding=1, count_include_pad=False).detach().numpy()[0, 0]
    np.testing.assert_allclose(inc, [[0.25, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(exc, np.ones((2, 2)))
    np.testing.assert_allclose(F.avg_pool2d(x, 3, divisor_override=2).detach().numpy(), [[[[4.5]]]])


def test_adaptive_avg_pool_overlapping_windows_by_hand():
    x = _t(np.arange(5.0).reshape(1, 1, 1, 5))
    # windows of 5 -> 3: [0, 2), [1, 4), [3, 5)
    y = nn.AdaptiveAvgPool2d((1, 3))(x)
    np.testing.assert_allclose(y.detach().numpy()[0, 0, 0], [0.5, 2.0, 3.5])
    assert nn.AdaptiveAvgPool2d((None, 1))(_t(np.ones((2, 3, 4, 5)))).shape == (2, 3, 4, 1)


def test_interpolate_by_hand():
    x = _t([[[[0.0, 1.0], [2.0, 3.0]]]])
    near = F.interpolate(x, scale_factor=2).detach().numpy()[0, 0]
    np.testing.assert_array_equal(near, np.repeat(np.repeat([[0, 1], [2, 3]], 2, 0), 2, 1))
    lin = F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True).detach().numpy()[0, 0]
    np.testing.assert_allclose(lin, [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])
    half = F.interpolate(x, size=(1, 4), mode="bilinear").detach().numpy()[0, 0]
    # row source 0.5 (between the rows); columns -0.25->0, 0.25, 0.75, 1.25->1 (clamped)
    np.testing.assert_allclose(half, [[1.0, 1.25, 1.75, 2.0]])
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x)


def test_pixel_shuffle_by_hand():
    x = _t(np.arange(4.0).reshape(1, 4, 1, 1))
    np.testing.assert_array_equal(nn.PixelShuffle(2)(x).detach().numpy(), [[[[0, 1], [2, 3]]]])
    np.testing.assert_array_equal(nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(x)).detach().numpy(),
                                  x.detach().numpy())


def test_conv_groups_and_padding_modes_against_loops():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((6, 2, 3, 3))
    b = rng.standard_normal(6)
    layer = nn.Conv2d(4, 6, 3, 1, 1, 1, 2, dtype="float64")
    layer.weight.array[...], layer.bias.array[...] = w, b
    np.testing.assert_allclose(layer(_t(x)).detach().numpy(), conv_ref(x, w, b, 1, 1, 1, 2),
                               atol=1e-12)
    layer.padding_mode = "circular"
    ref = conv_ref(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="wrap"), w, b, groups=2)
    np.testing.assert_allclose(layer(_t(x)).detach().numpy(), ref, atol=1e-12)
    dw = nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False)
    assert dw.weight.shape == (4, 1, 3, 3) and dw(_t(x).float()).shape == (2, 4, 6, 5)
    c1 = nn.Conv1d(4, 2, 3, padding="same", padding_mode="reflect")
    assert c1.weight.shape == (2, 4, 3) and c1(an.randn(2, 4, 7)).shape == (2, 2, 7)
    t = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, dtype="float64")
    wt = rng.standard_normal((4, 3, 3, 3))
    t.weight.array[...] = wt
    ref = conv_t_ref(x, wt, t.bias.detach().numpy(), 2, 0, 0, 2, 1)
    np.testing.assert_allclose(t(_t(x)).detach().numpy(), ref, atol=1e-12)
    assert t(_t(x), output_size=(14, 12)).shape == (2, 6, 14, 12)


def test_conv_errors_name_the_problem():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(4, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="output padding must be smaller"):  # at forward
        nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2)(an.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        F.conv2d(an.randn(1, 3, 5, 5), an.randn(4, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="reflect padding"):
        F.conv2d(an.randn(1, 1, 2, 2), an.randn(1, 1, 3, 3), padding=2, padding_mode="reflect")


def test_instance_norm_by_hand_and_running_stats():
    x = np.arange(16.0).reshape(2, 2, 2, 2)
    m = nn.InstanceNorm2d(2, affine=True, track_running_stats=True, dtype="float64")
    y = m(_t(x)).detach().numpy()
    flat = x.reshape(2, 2, 4)
    ref = (flat - flat.mean(-1, keepdims=True)) / np.sqrt(flat.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, ref.reshape(x.shape), atol=1e-12)
    np.testing.assert_allclose(m.running_mean.detach().numpy(), 0.1 * flat.mean(-1).mean(0))
    np.testing.assert_allclose(m.running_var.detach().numpy(),
                               0.9 + 0.1 * flat.var(-1, ddof=1).mean(0))
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"]
    assert list(nn.InstanceNorm2d(3).state_dict()) == []
    m.eval()
    rm, rv = m.running_mean.detach().numpy(), m.running_var.detach().numpy()
    np.testing.assert_allclose(m(_t(x)).detach().numpy(),
                               (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5))


def test_dropout2d_zeroes_whole_channels():
    an.manual_seed(0)
    d = nn.Dropout2d(0.5)
    y = d(an.ones(8, 16, 3, 3)).detach().numpy()
    per_channel = y.reshape(8, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # a channel is all 0 or all 2
    assert 0 < (per_channel[..., 0] == 0).sum() < 128
    d.eval()
    assert (d(an.ones(2, 3, 2, 2)).detach().numpy() == 1).all()


def test_embedding_padding_idx():
    e = nn.Embedding(5, 3, padding_idx=-1)
    assert e.padding_idx == 4 and (e.weight.detach().numpy()[4] == 0).all()
    e.weight.array[4] = 7.0  # a loaded non-zero padding row is returned as is
    idx = an.Tensor(np.array([[0, 4, 0], [4, 1, 2]]))
    out = e(idx)
    assert out.shape == (2, 3, 3) and (out.detach().numpy()[0, 1] == 7).all()
    (out * 2).sum().backward()
    np.testing.assert_array_equal(e.weight.grad.detach().numpy()[:, 0], [4, 2, 2, 0, 0])
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        e(an.Tensor(np.array([5])))
    assert repr(e) == "Embedding(5, 3, padding_idx=4)"


def test_padding_layers():
    x = _t(np.arange(6.0).reshape(1, 1, 2, 3))
    assert nn.ZeroPad2d((1, 0, 0, 1))(x).detach().numpy()[0, 0].tolist() == [[0, 0, 1, 2],
                        [0, 3, 4, 5],
                                                                     [0, 0, 0, 0]]
    np.testing.assert_array_equal(nn.ReflectionPad2d(1)(x).detach().numpy()[0, 0],
                                  np.pad(x.detach().numpy()[0, 0], 1, mode="reflect"))
    np.testing.assert_array_equal(nn.ReplicationPad2d((2, 0, 1, 0))(x).detach().numpy()[0, 0],
                                  np.pad(x.detach().numpy()[0, 0], ((1, 0), (2, 0)), mode="edge"))
    assert repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"


# ---------------------------------------------------------------- against PyTorch
def _copy_to_torch(ours, theirs, torch):
    sd = {k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()}
    assert list(sd) == list(theirs.state_dict())
    theirs.load_state_dict(sd)


@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(4, 6, 3, 2, 1, 2, 2, padding_mode="reflect"),
    lambda m: m.Conv2d(4, 4, (3, 2), padding="same", groups=4, bias=False),
    lambda m: m.Conv1d(4, 6, 3, 2, 1, 1, 2),
    lambda m: m.ConvTranspose2d(4, 6, 3, 2, 1, 1, 2, dilation=2),
    lambda m: m.MaxPool2d(3, 2, 1, 2, ceil_mode=True),
    lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda m: m.AdaptiveAvgPool2d((3, 5)),
    lambda m: m.AdaptiveMaxPool2d((5, 4)),
    lambda m: m.Upsample(scale_factor=1.5, mode="bilinear"),
    lambda m: m.Upsample(size=(5, 9), mode="nearest"),
    lambda m: m.InstanceNorm2d(4, affine=True),
    lambda m: m.PixelShuffle(2),
    lambda m: m.ReflectionPad2d((1, 2, 0, 1)),
])
def test_layer_matches_torch(make):
    torch = pytest.importorskip("torch")
    ours, theirs = make(nn), make(torch.nn).double()
    ours.double()
    _copy_to_torch(ours, theirs, torch)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(1)
    shape = (2, 4, 7) if isinstance(ours, nn.Conv1d) else (2, 4, 7, 6)
    x = rng.standard_normal(shape)
    X, tx = _t(x, True), torch.tensor(x, requires_grad=True)
    y, ty = ours(X), theirs(tx)
    g = rng.standard_normal(tuple(ty.shape))
    (y * _t(g)).sum().backward()
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(X.grad.detach().numpy(), tx.grad.detach().numpy(), atol=1e-10)
    for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n == tn
        np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.detach().numpy(), atol=1e-10)


def test_embedding_and_instance_norm_running_stats_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.InstanceNorm2d(3, track_running_stats=True, dtype="float64")
    theirs = torch.nn.InstanceNorm2d(3, track_running_stats=True).double()
    x = np.random.default_rng(2).standard_normal((4, 3, 5, 5))
    for _ in range(2):
        ours(_t(x)), theirs(torch.tensor(x))
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].detach().numpy(), v.detach().numpy(),
                                   atol=1e-12)
    e, te = nn.Embedding(6, 2, padding_idx=1), torch.nn.Embedding(6, 2, padding_idx=1)
    _copy_to_torch(e, te, torch)
    idx = np.array([[1, 2, 1], [5, 0, 2]])
    e(an.Tensor(idx)).sum().backward()
    te(torch.tensor(idx)).sum().backward()
    np.testing.assert_array_equal(e.weight.grad.detach().numpy(), te.weight.grad.detach().numpy())


def test_unbatched_inputs_as_pytorch():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 5, 6)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(F.conv2d(_t(x), _t(w), padding=1).detach().numpy(),
                               conv_ref(x[None], w, padding=1)[0], atol=1e-12)
    y, i = F.max_pool2d(_t(x), 2, return_indices=True)
    assert y.shape == (2, 2, 3) and i.shape == (2, 2, 3)
    assert F.avg_pool2d(_t(x), 2).shape == (2, 2, 3)
    assert F.conv1d(_t(x[0]), _t(rng.standard_normal((3, 5, 3))), padding="same").shape == (3, 6)
