"""Hostile diffusers folders: each problem is one FolderError line naming the file, raised
before anything large is allocated."""
import json
import os
import tracemalloc

import diffusers  # noqa: F401  first: importing torch alone takes seconds
import numpy as np
import pytest

import arrayneedle as an
from diffusers_helpers import TINY, perturbed_diffusers_unet
from diffusion.pipelines import DDPMPipeline
from diffusion.pretrained import FolderError
from diffusion.schedulers import DDPMScheduler, scheduler_from_pretrained
from diffusion.unets import UNet2DModel

WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    perturbed_diffusers_unet(TINY).save_pretrained(folder)
    DDPMScheduler(num_train_timesteps=50).save_pretrained(folder)
    return folder


def _copy(good, dest):
    dest.mkdir()
    for name in os.listdir(good):
        (dest / name).write_bytes((good / name).read_bytes())
    return dest


def _config(folder, **changes):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


def _refused(path, *words, loader=UNet2DModel.from_pretrained):
    tracemalloc.start()
    try:
        with pytest.raises(FolderError) as e:
            loader(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    assert peak < 16 * 2 ** 20, f"{peak} bytes allocated before refusing"
    return msg


def test_missing_folder_and_missing_files(good, tmp_path):
    _refused(tmp_path / "nope", "no such folder")
    (tmp_path / "file").write_text("x")
    _refused(tmp_path / "file", "not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(empty, "no config.json")
    no_weights = _copy(good, tmp_path / "no-weights")
    os.remove(no_weights / WEIGHTS)
    _refused(no_weights, f"no {WEIGHTS}")
    no_sched = _copy(good, tmp_path / "no-scheduler")
    os.remove(no_sched / "scheduler_config.json")
    _refused(no_sched, "scheduler_config.json", loader=DDPMPipeline.from_pretrained)


@pytest.mark.parametrize("content,words", [
    (b"{not json", "not a JSON config"),
    (b"[1, 2, 3]", "expected a JSON object"),
    (b"\xff\xfe\x00garbage", "not a JSON config"),
    (b'{"block_out_channels": NaN}', "not a JSON config"),
    (b"[" * 100000 + b"]" * 100000, "not a JSON config"),
])
def test_config_that_is_not_a_json_object(good, tmp_path, content, words):
    folder = _copy(good, tmp_path / "f")
    (folder / "config.json").write_bytes(content)
    _refused(folder, "config.json", words)


def test_huge_config_fifo_and_directory_configs(good, tmp_path):
    folder = _copy(good, tmp_path / "huge")
    (folder / "config.json").write_bytes(b" " * (2 << 20) + b"{}")
    _refused(folder, "more than the")
    fifo = _copy(good, tmp_path / "fifo")
    os.remove(fifo / "config.json")
    os.mkfifo(fifo / "config.json")
    _refused(fifo, "not a regular file")  # never opened: reading a FIFO would block


def test_config_and_weights_that_do_not_match(good, tmp_path):
    wider = _copy(good, tmp_path / "wider")
    _config(wider, block_out_channels=[16, 48])
    _refused(wider, "do not match", "numbers")
    # the same number of values, one tensor shaped otherwise
    reshaped = _copy(good, tmp_path / "reshaped")
    state = an.load_file(reshaped / WEIGHTS)
    state["conv_in.weight"] = an.reshape(state["conv_in.weight"], (16, 27, 1, 1))
    an.save_file(state, reshaped / WEIGHTS)
    _refused(reshaped, "conv_in.weight", "[16, 27, 1, 1]")
    # a tensor renamed
    renamed = _copy(good, tmp_path / "renamed")
    state = an.load_file(renamed / WEIGHTS)
    state["conv_in.weights"] = state.pop("conv_in.weight")
    an.save_file(state, renamed / WEIGHTS)
    _refused(renamed, "conv_in.weight", "do not match")


def test_absurd_sizes_are_refused_from_the_config(good, tmp_path):
    folder = _copy(good, tmp_path / "absurd")
    _config(folder, block_out_channels=[65536, 65536], norm_num_groups=8)
    _refused(folder, "do not match")  # the file cannot hold 10^11 parameters: nothing built
    _config(folder, block_out_channels=[10 ** 9, 10 ** 9])
    _refused(folder, "block_out_channels")
    _config(folder, block_out_channels=[16, 32], layers_per_block=10 ** 6)
    _refused(folder, "layers_per_block")
    _config(folder, layers_per_block=1, sample_size=10 ** 9)
    _refused(folder, "sample_size")


def test_a_pickle_bin_alone_is_refused_with_how_to_convert(good, tmp_path):
    folder = _copy(good, tmp_path / "bin")
    os.remove(folder / WEIGHTS)
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04not read")
    msg = _refused(folder, "pickle", "save_pretrained", "safe_serialization=True")
    assert "diffusion_pytorch_model.bin" in msg


@pytest.mark.parametrize("damage", ["truncate", "header", "empty"])
def test_broken_safetensors_files(good, tmp_path, damage):
    folder = _copy(good, tmp_path / damage)
    data = (folder / WEIGHTS).read_bytes()
    data = {"truncate": data[:len(data) // 2], "header": b"\xff" * 8 + data[8:],
            "empty": b""}[damage]
    (folder / WEIGHTS).write_bytes(data)
    _refused(folder, WEIGHTS, "not a valid safetensors file")


def test_hostile_scheduler_configs(good, tmp_path):
    folder = _copy(good, tmp_path / "s")
    (folder / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "KarrasVeScheduler"}))
    _refused(folder, "KarrasVeScheduler", loader=scheduler_from_pretrained)
    (folder / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "DDPMScheduler", "num_train_timesteps": 10 ** 12}))
    _refused(folder, "num_train_timesteps", loader=scheduler_from_pretrained)
    (folder / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "DDPMScheduler", "trained_betas": [2.0, 3.0]}))
    _refused(folder, "trained_betas", loader=scheduler_from_pretrained)


def test_the_good_folder_loads(good):
    pipe = DDPMPipeline.from_pretrained(good)
    out = pipe(batch_size=1, num_inference_steps=2, generator=0, output_type="np").images
    assert out.shape == (1, 8, 8, 3) and np.isfinite(out).all()


def test_integer_or_nan_weights(good, tmp_path, capsys):
    ints = _copy(good, tmp_path / "ints")
    state = {k: v.numpy() for k, v in an.load_file(ints / WEIGHTS).items()}
    state["conv_in.bias"] = state["conv_in.bias"].astype(np.int32)
    an.save_file(state, ints / WEIGHTS)
    _refused(ints, "conv_in.bias", "I32", "floating point")
    # NaN weights load in the library (as diffusers), the commands refuse them
    nan = _copy(good, tmp_path / "nan")
    state = {k: v.numpy() for k, v in an.load_file(nan / WEIGHTS).items()}
    state["conv_out.weight"][0, 0, 0, 0] = np.nan
    an.save_file(state, nan / WEIGHTS)
    from diffusion.interop import read_diffusers_folder
    from diffusion.validate import UsageError
    with pytest.raises(UsageError, match="conv_out.weight.*NaN"):
        read_diffusers_folder(str(nan))
