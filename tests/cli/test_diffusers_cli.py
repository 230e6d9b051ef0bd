"""The commands with diffusers folders: sample one, fine-tune one (resume as any run), train
diffusers' architecture from a config, export a run so diffusers loads it; hostile folders
exit 2 with one line."""
import json
import os

import diffusers  # first: importing torch alone takes seconds
import numpy as np
import pytest
import torch

import arrayneedle as an
from diffusers_helpers import perturbed_diffusers_unet, rel_err
from diffusion.cli import export as export_script  # the commands scripts/*.py run
from diffusion.cli import sample as sample_script
from diffusion.cli import train as train_script

UNET = {"sample_size": 8, "block_out_channels": [8, 16], "norm_num_groups": 4,
        "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "attention_head_dim": 8,
        "up_block_types": ["AttnUpBlock2D", "UpBlock2D"], "layers_per_block": 1}
RUN = ["--batch-size", "4", "--dataset-size", "16", "--samples", "4", "--sample-steps", "3",
       "--no-progress"]


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    """A diffusers DDPM pipeline made on the spot: model_index.json, unet/, scheduler/."""
    folder = tmp_path_factory.mktemp("tiny-ddpm")
    diffusers.DDPMPipeline(perturbed_diffusers_unet(UNET), diffusers.DDPMScheduler(
        num_train_timesteps=50, variance_type="fixed_large")).save_pretrained(folder)
    return folder


def test_sample_a_diffusers_folder(pipeline_folder, tmp_path, capsys):
    out, gif = tmp_path / "grid.png", tmp_path / "d.gif"
    assert sample_script.main(["--checkpoint", str(pipeline_folder), "--n", "4", "--sampler",
                               "ddim", "--steps", "5", "--out", str(out), "--gif", str(gif),
                               "--no-progress"]) == 0
    assert out.exists() and gif.exists()
    assert "diffusers folder" in capsys.readouterr().out
    # the flat layout (config.json + weights + scheduler_config.json in one folder)
    flat = tmp_path / "flat"
    flat.mkdir()
    for sub in ("unet", "scheduler"):
        for f in (pipeline_folder / sub).iterdir():
            (flat / f.name).write_bytes(f.read_bytes())
    assert sample_script.main(["--checkpoint", str(flat), "--n", "2", "--sampler", "dpm++2m",
                               "--steps", "4", "--out", str(tmp_path / "g2.png"),
                               "--no-progress"]) == 0


def test_fine_tune_resume_and_export_to_diffusers(pipeline_folder, tmp_path):
    run = tmp_path / "ft"
    args = RUN + ["--init-from", str(pipeline_folder), "--out", str(run)]
    # a negligible learning rate: the run starts from the folder's weights and stays there
    assert train_script.main(args + ["--steps", "2", "--lr", "1e-12"]) == 0
    ck = an.load(run / "checkpoint.npz")
    cfg = ck["config"]
    assert cfg["model"] == "diffusers" and cfg["timesteps"] == 50 and cfg["image_size"] == 8
    assert cfg["scheduler_config"]["variance_type"] == "fixed_large"
    ref = diffusers.UNet2DModel.from_pretrained(pipeline_folder, subfolder="unet")
    ref_state = ref.state_dict()
    for k, v in ck["model"].items():
        np.testing.assert_allclose(v.numpy(), ref_state[k].numpy(), atol=1e-6, err_msg=k)
    # resume as any run
    assert train_script.main(args + ["--steps", "4", "--resume", "auto"]) == 0
    ck = an.load(run / "checkpoint.npz")
    assert ck["step"] == 4
    # export: diffusers loads the folder, with our EMA weights and the folder's scheduler
    out = tmp_path / "exported"
    assert export_script.main([str(run / "checkpoint.npz"), str(out), "--format",
                               "diffusers"]) == 0
    pipe = diffusers.DDPMPipeline.from_pretrained(out)
    assert pipe.scheduler.config.variance_type == "fixed_large"
    assert pipe.scheduler.config.num_train_timesteps == 50
    ema = ck["ema"]["ema_model"]
    state = pipe.unet.state_dict()
    assert set(state) == set(ema)
    for k, v in ema.items():
        np.testing.assert_array_equal(state[k].numpy(), v.numpy(), err_msg=k)


def test_train_diffusers_architecture_from_a_config(tmp_path):
    config = tmp_path / "unet.json"
    config.write_text(json.dumps({**UNET, "_class_name": "UNet2DModel", "sample_size": 16}))
    run = tmp_path / "scratch"
    assert train_script.main(RUN + ["--model", "diffusers", "--unet-config", str(config),
                                    "--timesteps", "100", "--steps", "3", "--out",
                                    str(run)]) == 0
    ck = an.load(run / "checkpoint.npz")
    assert ck["config"]["image_size"] == 16 and ck["config"]["unet_config"]["layers_per_block"] \
        == 1
    assert "down_blocks.1.attentions.0.to_q.weight" in ck["model"]
    # sampled from its checkpoint; exported, diffusers gives the same prediction as ours
    assert sample_script.main(["--checkpoint", str(run / "checkpoint.npz"), "--n", "2",
                               "--steps", "3", "--out", str(tmp_path / "g.png"),
                               "--no-progress"]) == 0
    out = tmp_path / "exported"
    assert export_script.main([str(run / "checkpoint.npz"), str(out), "--format",
                               "diffusers", "--raw"]) == 0
    from diffusion.unets import UNet2DModel
    ours = UNet2DModel.from_pretrained(out)
    theirs = diffusers.UNet2DModel.from_pretrained(out, subfolder="unet").eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x), 7).sample.numpy()
    with an.no_grad():
        assert rel_err(ours(an.tensor(x), 7).sample.numpy(), ref) <= 1e-4
    sched = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert sched["_class_name"] == "DDPMScheduler" and len(sched["trained_betas"]) == 100


def _one_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def test_hostile_folders_exit_2_with_one_line(pipeline_folder, tmp_path, capsys):
    bad = tmp_path / "bin-only"
    bad.mkdir()
    (bad / "config.json").write_bytes((pipeline_folder / "unet" / "config.json").read_bytes())
    (bad / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    out = tmp_path / "never.png"
    assert sample_script.main(["--checkpoint", str(bad), "--out", str(out)]) == 2
    _one_error(capsys, "pickle", "safe_serialization=True")
    assert not out.exists()
    (bad / "config.json").write_text("{nope")
    assert sample_script.main(["--checkpoint", str(bad), "--out", str(out)]) == 2
    _one_error(capsys, "not a JSON config")
    run = tmp_path / "never-run"
    assert train_script.main(RUN + ["--init-from", str(bad), "--out", str(run)]) == 2
    _one_error(capsys, "--init-from")
    assert not run.exists()
    # weights that do not fit the config: refused before the run folder exists
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "config.json").write_text(json.dumps({**UNET, "block_out_channels": [8, 24]}))
    os.link(pipeline_folder / "unet" / "diffusion_pytorch_model.safetensors",
            wrong / "diffusion_pytorch_model.safetensors")
    assert train_script.main(RUN + ["--init-from", str(wrong), "--out", str(run)]) == 2
    _one_error(capsys, "do not match")
    assert not run.exists()
    assert train_script.main(RUN + ["--init-from", str(tmp_path / "missing"), "--out",
                                    str(run)]) == 2
    _one_error(capsys, "no such folder")
    assert train_script.main(RUN + ["--model", "unet", "--init-from", str(pipeline_folder),
                                    "--out", str(run)]) == 2
    _one_error(capsys, "--model unet")
    assert train_script.main(RUN + ["--model", "diffusers", "--out", str(run)]) == 2
    _one_error(capsys, "--unet-config")
    assert not run.exists()


def test_export_diffusers_needs_a_diffusers_model(tmp_path, capsys):
    run = tmp_path / "ours"
    assert train_script.main(RUN + ["--image-size", "8", "--widths", "4,8", "--timesteps", "50",
                                    "--steps", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "exported"
    assert export_script.main([str(run / "checkpoint.npz"), str(out), "--format",
                               "diffusers"]) == 2
    _one_error(capsys, "--model diffusers")
    assert not out.exists()
