"""SimpleUnet and Unet: shapes, gradients, overfitting one batch, the original's layout."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn, optim
from diffusion import EMA, Attention, GaussianDiffusion, SimpleUnet, SinusoidalPosEmb, Unet

TINY = {
    "SimpleUnet": lambda c: SimpleUnet(widths=(4, 8, 16), in_channels=c, time_emb_dim=8),
    "Unet": lambda c: Unet(dim=8, dim_mults=(1, 2, 2), in_channels=c, groups=4, heads=2),
}


@pytest.mark.parametrize("name", list(TINY))
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_equals_input_shape(name, channels):
    model = TINY[name](channels)
    assert model.downsampling_factor == 4
    for size in (8, 16, 32):
        x = an.randn(2, channels, size, size)
        t = an.tensor(np.array([0, 999]))
        y = model(x, t)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.isfinite(y.detach().numpy()).all()
    # non-square, eval mode, and a Python int timestep
    model.eval()
    assert model(an.randn(1, channels, 8, 16), 5).shape == (1, channels, 8, 16)


@pytest.mark.parametrize("name", list(TINY))
def test_every_parameter_gets_a_gradient(name):
    model = TINY[name](3)
    x = an.randn(3, 3, 8, 8)
    loss = (model(x, an.tensor(np.array([1, 50, 300]))) ** 2).mean()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        g = p.grad.numpy()
        assert g.shape == p.shape and np.isfinite(g).all(), pname
        assert np.abs(g).max() > 0, pname


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_model_overfits_one_batch(name):
    an.manual_seed(1)
    model = TINY[name](1)
    d = GaussianDiffusion(model, timesteps=100)
    x0 = an.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32))
    t = an.tensor(np.array([5, 30, 60, 90]))
    noise = an.randn(4, 1, 8, 8)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    trivial = float((noise.numpy() ** 2).mean())  # the loss of always predicting zero
    first = None
    for step in range(200):  # noqa: B007 (reported by the assertion below)
        loss = d.p_losses(x0, t, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
        if loss.item() * 5 <= min(first, trivial):
            break
    # at least 5x below the first loss, and 5x below predicting zero (no mean-only shortcut)
    assert loss.item() * 5 <= min(first, trivial), (first, trivial, loss.item(), step)


def test_sinusoidal_embedding_interleaves_sin_and_cos():
    emb = SinusoidalPosEmb(8)
    t = an.tensor(np.array([0, 3, 100]))
    e = emb(t).numpy()
    freqs = np.exp(np.arange(4) * -(np.log(10000.0) / 3))
    args = np.array([0, 3, 100])[:, None] * freqs[None]
    np.testing.assert_allclose(e[:, 0::2], np.sin(args), atol=1e-5)
    np.testing.assert_allclose(e[:, 1::2], np.cos(args), atol=1e-5)
    assert e.shape == (3, 8) and list(emb.parameters()) == [] and emb.state_dict() == {}
    with pytest.raises(ValueError, match="even"):
        SinusoidalPosEmb(7)


def test_simple_unet_keys_match_the_original():
    m = SimpleUnet(widths=(4, 8, 16), in_channels=3, time_emb_dim=8)
    keys = list(m.state_dict())
    block = ["time_mlp.weight", "time_mlp.bias", "conv1.weight", "conv1.bias",
             "conv2.weight", "conv2.bias", "bnorm1.weight", "bnorm1.bias",
             "bnorm1.running_mean", "bnorm1.running_var", "bnorm1.num_batches_tracked",
             "bnorm2.weight", "bnorm2.bias", "bnorm2.running_mean", "bnorm2.running_var",
             "bnorm2.num_batches_tracked"]
    up_block = block[:4] + ["transform.weight", "transform.bias"] + block[4:]
    expected = (["time_mlp.1.weight", "time_mlp.1.bias", "conv0.weight", "conv0.bias"]
                + [f"downs.{i}.{k}" for i in range(2) for k in block]
                + [f"ups.{i}.{k}" for i in range(2) for k in up_block]
                + ["output.weight", "output.bias"])
    assert keys == expected
    sd = m.state_dict()
    assert sd["ups.0.conv1.weight"].shape == (8, 32, 3, 3)  # 2 * 16 stacked channels in
    assert sd["ups.0.transform.weight"].shape == (8, 8, 4, 4)
    assert sd["output.weight"].shape == (3, 4, 1, 1)


def test_simple_unet_matches_a_pytorch_build_of_the_original():
    torch = pytest.importorskip("torch")
    from torch_twin import torch_simple_unet

    ours = SimpleUnet(widths=(4, 8, 16), in_channels=3, time_emb_dim=8)
    ref = torch_simple_unet((4, 8, 16), 3, 8)
    ref_keys = list(ref.state_dict())
    assert list(ours.state_dict()) == ref_keys
    ref.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                         for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    ts = np.array([3, 400])
    for mode in ("train", "eval"):
        ours.train(mode == "train")
        ref.train(mode == "train")
        with torch.no_grad():
            expect = ref(torch.from_numpy(x), torch.from_numpy(ts)).numpy()
        got = ours(an.tensor(x), an.tensor(ts)).detach().numpy()
        np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4, err_msg=mode)


@pytest.mark.parametrize("config, size", [
    # the trainer's default (diffusion/training.py build_model, the README's first command)
    (dict(widths=(32, 64, 128), groups=8), 16),
    # two levels, attention at both, four heads over 16 and 32 channels, one input channel
    (dict(widths=(16, 32), groups=4, attention_at=(0, 1), heads=4, in_channels=1), 8),
])
def test_unet_matches_its_pytorch_twin_in_outputs_and_gradients(config, size):
    torch = pytest.importorskip("torch")
    from torch_twin import torch_unet

    an.manual_seed(3)
    ours = Unet(**config)
    ref = torch_unet(**config)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                         for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(1)
    c = config.get("in_channels", 3)
    x = rng.standard_normal((3, c, size, size)).astype(np.float32)
    noise = rng.standard_normal(x.shape).astype(np.float32)
    ts = np.array([0, 417, 999])

    out = ours(an.tensor(x), an.tensor(ts))
    loss = ((out - an.tensor(noise)) ** 2).mean()
    loss.backward()
    tout = ref(torch.from_numpy(x), torch.from_numpy(ts))
    tloss = ((tout - torch.from_numpy(noise)) ** 2).mean()
    tloss.backward()

    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    assert float(loss.item()) == pytest.approx(float(tloss.item()), rel=1e-5)
    grads = dict(ref.named_parameters())
    ours_p = dict(ours.named_parameters())
    assert set(ours_p) == set(grads)
    for name, p in ours_p.items():
        expect = grads[name].grad.numpy()
        got = p.grad.numpy()
        assert got.dtype == np.float32, name
        # float32 sums over a few thousand terms: relative to the gradient's own scale
        scale = float(np.abs(expect).max())
        np.testing.assert_allclose(got, expect, rtol=1e-3, atol=2e-4 * scale + 1e-7,
                                   err_msg=name)


def test_unet_attention_and_structure():
    m = Unet(dim=8, dim_mults=(1, 2, 4), groups=4, heads=2)
    kinds = {n: type(mod) for n, mod in m.named_modules()}
    assert all(kinds[n] is Attention for n in ("mid_attn", "downs.2.attn", "ups.0.attn"))
    # levels without attention (and the last down, the first up) hold an Identity, no weights
    assert kinds["downs.0.attn"] is nn.Identity and kinds["ups.2.attn"] is nn.Identity
    assert kinds["downs.2.down"] is nn.Identity and kinds["ups.2.up"] is nn.Identity
    assert not any(k.startswith(("downs.0.attn.", "downs.2.down.", "ups.2.up."))
                   for k in m.state_dict())
    m2 = Unet(dim=8, dim_mults=(1, 2), groups=4, heads=2, attention_at=())
    assert type(dict(m2.named_modules())["downs.1.attn"]) is nn.Identity
    assert m.downsampling_factor == 4 and m.widths == (8, 16, 32)


def test_unet_state_dict_keys_are_stable():
    """The keys (and order) that checkpoints hold: levels without attention, the last down and
    the first up have no weights of their own."""
    m = Unet(dim=8, dim_mults=(1, 2), in_channels=1, groups=4, attention_at=(), dropout=0.1)
    res = ["norm1", "conv1", "time_proj", "norm2", "conv2"]
    prefixes = (["time_mlp.1", "time_mlp.3", "init_conv"]
                + [f"downs.0.block.{n}" for n in res] + ["downs.0.down"]
                + [f"downs.1.block.{n}" for n in res + ["skip"]]
                + [f"mid_block1.{n}" for n in res]
                + ["mid_attn.norm", "mid_attn.to_qkv", "mid_attn.to_out"]
                + [f"mid_block2.{n}" for n in res]
                + [f"ups.0.block.{n}" for n in res + ["skip"]] + ["ups.0.up"]
                + [f"ups.1.block.{n}" for n in res + ["skip"]] + ["final_norm", "final_conv"])
    expect = [f"{p}.{w}" for p in prefixes for w in ("weight", "bias")
              if (p, w) != ("mid_attn.to_qkv", "bias")]
    assert list(m.state_dict()) == expect


def test_widths_spellings_build_the_same_models():
    an.manual_seed(0)
    a = Unet(dim=8, dim_mults=(1, 2, 4), groups=4).state_dict()
    an.manual_seed(0)
    b = Unet(widths=(8, 16, 32), groups=4).state_dict()
    assert list(a) == list(b)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    an.manual_seed(0)
    with pytest.warns(FutureWarning, match=r"SimpleUnet\(channels=...\) is deprecated and will "
                                           r"be removed on 2027-06-30"):
        c = SimpleUnet(channels=(4, 8), time_emb_dim=8).state_dict()  # the older keyword
    an.manual_seed(0)
    d = SimpleUnet((4, 8), time_emb_dim=8).state_dict()
    assert list(c) == list(d) and all(np.array_equal(c[k].numpy(), d[k].numpy()) for k in c)
    assert SimpleUnet().widths == (32, 64, 128) and Unet().widths == (64, 128, 256)
    with pytest.raises(TypeError, match="not both"):
        SimpleUnet(widths=(4, 8), channels=(4, 8))
    with pytest.raises(TypeError, match="not both"):
        Unet(dim=8, widths=(8, 16))
    with pytest.raises(ValueError, match="multiples of the first"):
        Unet(widths=(8, 12), groups=4)


def test_sampling_with_a_unet_and_its_ema():
    model = TINY["SimpleUnet"](1)
    d = GaussianDiffusion(model, timesteps=30)
    d(an.randn(2, 1, 8, 8)).backward()  # one training forward moves the BN statistics
    ema = EMA(d, decay=0.9)
    ema.update()
    for name, b in model.named_buffers():
        np.testing.assert_array_equal(dict(ema.ema_model.model.named_buffers())[name].numpy(),
                                      b.numpy())
    x = ema.ema_model.sample(2, 8, channels=1, sampler="ddim", steps=4, progress=False)
    assert x.shape == (2, 1, 8, 8) and np.isfinite(x.numpy()).all()
    x = d.sample(1, 8, channels=1, progress=False)
    assert x.shape == (1, 1, 8, 8) and model.training


def test_error_messages():
    for model in (TINY["SimpleUnet"](3), TINY["Unet"](3)):
        with pytest.raises(ValueError, match="downsampling factor 4"):
            model(an.randn(1, 3, 10, 12), an.tensor([1]))
        with pytest.raises(ValueError, match="3 input channel"):
            model(an.randn(1, 1, 8, 8), an.tensor([1]))
        with pytest.raises(ValueError, match="timesteps of shape"):
            model(an.randn(2, 3, 8, 8), an.tensor([1, 2, 3]))
        with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
            model(an.randn(3, 8, 8), an.tensor([1]))
    with pytest.raises(ValueError, match="divisible by groups=8"):
        Unet(dim=12, groups=8)
    with pytest.raises(ValueError, match="out of range"):
        Unet(dim=8, groups=4, attention_at=(5,))


def test_models_and_samplers_use_only_the_array_api():
    xps = pytest.importorskip("array_api_strict")
    dev = an.Tensor(xps.asarray(np.zeros(1, np.float32))).device
    for make in TINY.values():
        d = GaussianDiffusion(make(1).to(dev), timesteps=30)
        assert d.device is dev
        d(an.Tensor(xps.asarray(np.random.rand(2, 1, 8, 8).astype(np.float32)))).backward()
        ema = EMA(d)
        ema.update()
        x = ema.ema_model.sample(2, 8, channels=1, sampler="ddim", steps=3, progress=False)
        assert type(x.array).__module__.startswith("array_api_strict")
        assert d.sample(1, 8, channels=1, progress=False).shape == (1, 1, 8, 8)
