"""diffusers' UNet2DModel here: the same network and parameter names as diffusers, folders that
cross both ways, against diffusers itself (the oracle, from the test extra)."""
import json
import os

import diffusers  # first: importing torch alone takes seconds
import numpy as np
import pytest
import torch

import arrayneedle as an
from diffusion.pretrained import FolderError
from diffusion.unets import UNet2DModel, unet2d_parameter_count
from diffusers_helpers import (
    DDPM_CIFAR10_32,
    SMALL_CONFIGS,
    TINY,
    inputs,
    perturbed_diffusers_unet,
    rel_err,
)


def _class_labels(config, batch):
    if config.get("num_class_embeds"):
        return np.arange(batch) % config["num_class_embeds"]
    if config.get("class_embed_type") == "timestep":
        return np.arange(batch) * 37 + 5
    return None


def _diffusers_out(model, x, t, labels):
    kw = {} if labels is None else {"class_labels": torch.from_numpy(labels)}
    with torch.no_grad():
        return model(torch.from_numpy(x), torch.from_numpy(t), **kw).sample.numpy()


def _our_out(model, x, t, labels):
    kw = {} if labels is None else {"class_labels": an.tensor(labels)}
    with an.no_grad():
        return model(an.tensor(x), an.tensor(t), **kw).sample.numpy()


@pytest.mark.parametrize("name", list(SMALL_CONFIGS))
def test_a_diffusers_folder_loads_with_the_same_output(name, tmp_path):
    config = SMALL_CONFIGS[name]
    ref_model = perturbed_diffusers_unet(config)
    ref_model.save_pretrained(tmp_path)
    model = UNet2DModel.from_pretrained(tmp_path)
    assert sum(p.numel() for p in ref_model.parameters()) == unet2d_parameter_count(config) \
        == sum(int(np.prod(p.shape)) for p in model.parameters())
    assert set(model.state_dict()) == set(ref_model.state_dict())
    x, t = inputs(config)
    labels = _class_labels(config, len(t))
    out = _our_out(model, x, t, labels)
    assert out.dtype == np.float32 and out.shape[1] == config.get("out_channels", 3)
    assert rel_err(out, _diffusers_out(ref_model, x, t, labels)) <= 1e-4


@pytest.fixture(scope="module")
def cifar10_folder(tmp_path_factory):
    """google/ddpm-cifar10-32's architecture with random weights, saved by diffusers."""
    folder = tmp_path_factory.mktemp("ddpm-cifar10-32")
    model = perturbed_diffusers_unet(DDPM_CIFAR10_32, scale=0.01)
    model.save_pretrained(folder)
    return folder, model


def test_ddpm_cifar10_32_architecture_loads_and_saves_with_the_same_output(cifar10_folder,
                                                                          tmp_path):
    folder, ref_model = cifar10_folder
    with open(folder / "config.json") as f:
        saved = json.load(f)
    assert saved["block_out_channels"] == [128, 256, 256, 256]
    model = UNet2DModel.from_pretrained(folder)
    assert model.config.sample_size == 32 and model.config["freq_shift"] == 1
    x, t = inputs(DDPM_CIFAR10_32, batch=2)
    ref = _diffusers_out(ref_model, x, t, None)
    assert rel_err(_our_out(model, x, t, None), ref) <= 1e-4
    # and back: ours saved, diffusers loads it with nothing missing or left over
    model.save_pretrained(tmp_path / "ours")
    back, info = diffusers.UNet2DModel.from_pretrained(tmp_path / "ours",
                                                        output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert rel_err(_diffusers_out(back.eval(), x, t, None), ref) <= 1e-4


@pytest.mark.parametrize("name", list(SMALL_CONFIGS))
def test_ours_saved_loads_in_diffusers_with_the_same_output(name, tmp_path):
    config = SMALL_CONFIGS[name]
    an.manual_seed(1)
    model = UNet2DModel(**config)
    with an.no_grad():  # norms and biases off their initial 1 and 0
        for p in model.parameters():
            p += an.randn(*p.shape) * 0.05
    model.save_pretrained(tmp_path)
    ref_model, info = diffusers.UNet2DModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    x, t = inputs(config)
    labels = _class_labels(config, len(t))
    assert rel_err(_our_out(model.eval(), x, t, labels),
                   _diffusers_out(ref_model.eval(), x, t, labels)) <= 1e-4


def test_timestep_forms_match_diffusers(tmp_path):
    ref_model = perturbed_diffusers_unet(TINY)
    ref_model.save_pretrained(tmp_path)
    model = UNet2DModel.from_pretrained(tmp_path)
    x, _ = inputs(TINY, batch=3)
    for t in (7, 250.5, np.array([9]), np.array([0, 500, 999])):
        with torch.no_grad():
            tt = torch.tensor(t) if not isinstance(t, int) else t
            ref = ref_model(torch.from_numpy(x), tt).sample.numpy()
        with an.no_grad():
            out = model(an.tensor(x), an.tensor(t) if isinstance(t, np.ndarray) else t)
        assert rel_err(out.sample.numpy(), ref) <= 1e-4
    (out,) = model(an.tensor(x), 3, return_dict=False)
    assert out.shape == x.shape


def test_gradients_match_diffusers(tmp_path):
    """Fine-tuning starts here: the input and parameter gradients are PyTorch's."""
    config = dict(SMALL_CONFIGS["three-levels-scale-shift-classes"])
    ref_model = perturbed_diffusers_unet(config)
    ref_model.save_pretrained(tmp_path)
    model = UNet2DModel.from_pretrained(tmp_path).train()
    x, t = inputs(config)
    labels = _class_labels(config, len(t))
    w = np.random.default_rng(3).standard_normal((2, 2, 16, 16)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_(True)
    (ref_model(tx, torch.from_numpy(t), class_labels=torch.from_numpy(labels)).sample
     * torch.from_numpy(w)).sum().backward()
    ax = an.tensor(x, requires_grad=True)
    (model(ax, an.tensor(t), class_labels=an.tensor(labels)).sample * an.tensor(w)).sum() \
        .backward()
    assert rel_err(ax.grad.numpy(), tx.grad.numpy()) <= 1e-4
    ref = {k: p.grad.numpy() for k, p in ref_model.named_parameters()}
    largest = max(np.abs(g).max() for g in ref.values())
    for name, p in model.named_parameters():
        # to_k.bias: softmax ignores a shift of the keys, so its gradient is 0 up to rounding
        scale = max(np.abs(ref[name]).max(), 1e-4 * largest)
        assert np.abs(p.grad.numpy() - ref[name]).max() <= 1e-3 * scale, name


def test_old_attention_names_load_as_diffusers_converts_them(tmp_path):
    """Files from diffusers < 0.15 call the attention projections query/key/value/proj_attn."""
    ref_model = perturbed_diffusers_unet(TINY)
    ref_model.save_pretrained(tmp_path)
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    state = an.load_file(path)
    old = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    renamed = {}
    for k, v in state.items():
        for new, was in old.items():
            k = k.replace(f".{new}.", f".{was}.")
        renamed[k] = v
    assert any(".proj_attn." in k for k in renamed)
    an.save_file(renamed, path)
    model = UNet2DModel.from_pretrained(tmp_path)
    x, t = inputs(TINY)
    assert rel_err(_our_out(model, x, t, None), _diffusers_out(ref_model, x, t, None)) <= 1e-4


def test_a_hub_cache_snapshot_loads(tmp_path):
    """The Hub cache layout: snapshots/<commit>/ files are symlinks into blobs/."""
    ref_model = perturbed_diffusers_unet(TINY)
    ref_model.save_pretrained(tmp_path / "plain")
    repo = tmp_path / "models--google--tiny"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for i, name in enumerate(["config.json", "diffusion_pytorch_model.safetensors"]):
        blob = repo / "blobs" / f"blob{i}"
        blob.write_bytes((tmp_path / "plain" / name).read_bytes())
        os.symlink(os.path.relpath(blob, snap), snap / name)
    x, t = inputs(TINY)
    ref = _diffusers_out(ref_model, x, t, None)
    for path in (snap, repo):
        assert rel_err(_our_out(UNet2DModel.from_pretrained(path), x, t, None), ref) <= 1e-4


@pytest.mark.parametrize("key,value,words", [
    ("cross_attention_dim", 768, "unknown key 'cross_attention_dim'"),
    ("time_embedding_type", "fourier", "time_embedding_type='fourier'"),
    ("down_block_types", ["SkipDownBlock2D", "AttnDownBlock2D"], "SkipDownBlock2D"),
    ("downsample_type", "resnet", "downsample_type='resnet'"),
    ("resnet_time_scale_shift", "spatial", "resnet_time_scale_shift='spatial'"),
    ("norm_num_groups", 5, "norm_num_groups=5"),
    ("block_out_channels", [16, 32, 64], "down_block_types"),
    ("layers_per_block", 0, "layers_per_block=0"),
])
def test_unsupported_or_unknown_config_keys_are_named(key, value, words):
    with pytest.raises(FolderError) as e:
        UNet2DModel(**{**TINY, key: value})
    assert words in str(e.value) and "\n" not in str(e.value)


def test_parameter_count_refuses_absurd_sizes_before_allocating():
    import tracemalloc
    huge = {**TINY, "block_out_channels": [65536, 65536]}
    assert unet2d_parameter_count(huge) > 10 ** 11
    tracemalloc.start()
    try:
        with pytest.raises(FolderError, match="max_parameters"):
            UNet2DModel(**huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2 ** 20


@pytest.mark.parametrize("name", list(SMALL_CONFIGS))
def test_runs_on_array_api_strict_arrays(name):
    """Only the array API standard (what CuPy runs): array-api-strict arrays give NumPy's
    result."""
    xps = pytest.importorskip("array_api_strict")
    config = SMALL_CONFIGS[name]
    an.manual_seed(0)
    model = UNet2DModel(**config).eval()
    x, t = inputs(config)
    labels = _class_labels(config, len(t))
    ref = _our_out(model, x, t, labels)
    xs = an.Tensor(xps.asarray(x))
    model.to(xs.device)
    kw = {} if labels is None else {"class_labels": an.Tensor(xps.asarray(labels))}
    with an.no_grad():
        out = model(xs, an.Tensor(xps.asarray(t)), **kw).sample
    assert type(out.array).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_identity_class_embedding_matches_diffusers(tmp_path):
    """class_embed_type "identity": the labels are (B, time_embed_dim) vectors added to the
    time embedding."""
    config = {**TINY, "class_embed_type": "identity"}
    ref_model = perturbed_diffusers_unet(config)
    ref_model.save_pretrained(tmp_path)
    model = UNet2DModel.from_pretrained(tmp_path)
    x, t = inputs(config)
    labels = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    with torch.no_grad():
        ref = ref_model(torch.from_numpy(x), torch.from_numpy(t),
                        class_labels=torch.from_numpy(labels)).sample.numpy()
    assert rel_err(_our_out(model, x, t, labels), ref) <= 1e-4
    with pytest.raises(ValueError, match="class_labels should be provided"):
        model(an.tensor(x), an.tensor(t))


def test_float16_files_load_as_float32(tmp_path):
    """A folder saved in half precision (as many Hub uploads are) loads widened to float32."""
    ref_model = perturbed_diffusers_unet(TINY)
    x, t = inputs(TINY)
    ref_model.half().save_pretrained(tmp_path)
    model = UNet2DModel.from_pretrained(tmp_path)
    assert all(p.dtype == an.float32 for p in model.parameters())
    halves = {k: v.float().numpy() for k, v in ref_model.state_dict().items()}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), halves[k], err_msg=k)
    assert _our_out(model, x, t, None).dtype == np.float32
