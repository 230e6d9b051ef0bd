"""Schedulers and pipelines against diffusers: scheduler_config.json both ways, the same
timesteps, and the same trajectory from the same initial noise."""
from unittest import mock

import diffusers  # first: importing torch alone takes seconds
import numpy as np
import pytest
import torch

import arrayneedle as an
from diffusers_helpers import DDPM_CIFAR10_32_SCHEDULER, TINY, perturbed_diffusers_unet, rel_err
from diffusion import schedulers as S
from diffusion.pipelines import DDIMPipeline, DDPMPipeline
from diffusion.pretrained import FolderError
from diffusion.unets import UNet2DModel

NAMES = ["DDPMScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler",
         "EulerDiscreteScheduler"]
CONFIGS = [{}, {"timestep_spacing": "trailing", "beta_schedule": "squaredcos_cap_v2"},
           {"timestep_spacing": "linspace", "steps_offset": 1,
            "prediction_type": "v_prediction", "beta_schedule": "scaled_linear"},
           {"timestep_spacing": "leading", "steps_offset": 1, "num_train_timesteps": 500}]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("config", CONFIGS)
def test_scheduler_configs_cross_both_ways_with_the_same_timesteps(name, config, tmp_path):
    ref = getattr(diffusers, name)(**config)
    ref.save_pretrained(tmp_path / "theirs")
    ours = S.scheduler_from_pretrained(tmp_path / "theirs")
    assert type(ours).__name__ == name
    assert type(getattr(S, name).from_pretrained(tmp_path / "theirs")) is type(ours)
    for n in (1, 10, 37, 50):
        ref.set_timesteps(n)
        ours.set_timesteps(n)
        np.testing.assert_allclose(np.asarray(ours.timesteps, dtype=np.float64),
                                   ref.timesteps.numpy().astype(np.float64), atol=1e-4)
    ours.save_pretrained(tmp_path / "ours")
    back = getattr(diffusers, name).from_pretrained(tmp_path / "ours")
    for k, v in ref.config.items():
        if not k.startswith("_"):
            assert back.config[k] == v, k


def test_step_to_visited_is_written_only_where_it_departs_from_diffusers(tmp_path):
    """DDIM's own option (not a diffusers key) stays out of a folder that behaves as
    diffusers'; set, it is written and read back, and diffusers (which ignores it) loads it."""
    import json
    S.DDIMScheduler().save_pretrained(tmp_path / "plain")
    assert "step_to_visited" not in json.loads((tmp_path / "plain" /
                                                "scheduler_config.json").read_text())
    S.DDIMScheduler(step_to_visited=True).save_pretrained(tmp_path / "own")
    assert S.scheduler_from_pretrained(tmp_path / "own").config["step_to_visited"] is True
    assert diffusers.DDIMScheduler.from_pretrained(tmp_path / "own").config[
        "num_train_timesteps"] == 1000
    # a DDPM config with it builds a DDPM scheduler (the key is another scheduler's: dropped)
    assert isinstance(S.DDPMScheduler.from_config(S.DDIMScheduler(step_to_visited=True)),
                      S.DDPMScheduler)


def test_the_ddpm_cifar10_scheduler_config_loads(tmp_path):
    import json
    (tmp_path / "scheduler_config.json").write_text(json.dumps(DDPM_CIFAR10_32_SCHEDULER))
    s = S.scheduler_from_pretrained(tmp_path)
    assert isinstance(s, S.DDPMScheduler) and s.config.variance_type == "fixed_large"
    # a DDPM config builds a DDIM scheduler (DDPM-only keys dropped), as in diffusers
    ddim = S.DDIMScheduler.from_config(s.config)
    ref = diffusers.DDIMScheduler.from_config(diffusers.DDPMScheduler(
        **{k: v for k, v in DDPM_CIFAR10_32_SCHEDULER.items() if not k.startswith("_")}).config)
    ddim.set_timesteps(50)
    ref.set_timesteps(50)
    np.testing.assert_array_equal(ddim.timesteps, ref.timesteps.numpy())


@pytest.mark.parametrize("key,value,words", [
    ("not_a_key", 1, "unknown key 'not_a_key'"),
    ("thresholding", True, "thresholding=True is not supported"),
    ("rescale_betas_zero_snr", True, "rescale_betas_zero_snr=True"),
    ("variance_type", "learned_range", "variance_type='learned_range'"),
    ("beta_schedule", "warped", "beta_schedule"),
])
def test_scheduler_config_problems_are_named(key, value, words):
    with pytest.raises(FolderError) as e:
        S.DDPMScheduler.from_config({"_class_name": "DDPMScheduler", key: value})
    assert words in str(e.value)


def test_inert_diffusers_keys_at_their_defaults_are_accepted():
    ref = diffusers.DPMSolverMultistepScheduler()
    ours = S.DPMSolverMultistepScheduler.from_config(ref.config)  # every key diffusers writes
    ours.set_timesteps(20)
    ref.set_timesteps(20)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())


@pytest.fixture(scope="module")
def tiny_unet():
    return perturbed_diffusers_unet(TINY)


def _patched_noise(seed):
    """diffusers' randn_tensor drawing from a NumPy generator: the noise ours draws from the
    same generator, in the same order."""
    rng = np.random.default_rng(seed)

    def fake(shape, generator=None, device=None, dtype=None, layout=None):
        return torch.from_numpy(rng.standard_normal(tuple(shape), dtype=np.float32))
    return mock.patch.multiple("diffusers.pipelines.ddpm.pipeline_ddpm", randn_tensor=fake), \
        mock.patch.multiple("diffusers.pipelines.ddim.pipeline_ddim", randn_tensor=fake), \
        mock.patch.multiple("diffusers.schedulers.scheduling_ddpm", randn_tensor=fake), \
        mock.patch.multiple("diffusers.schedulers.scheduling_ddim", randn_tensor=fake)


@pytest.mark.parametrize("kind,config,call", [
    ("ddim", {}, {"eta": 0.0}),
    ("ddim", {"timestep_spacing": "trailing", "clip_sample": False}, {"eta": 0.0}),
    ("ddim", {"prediction_type": "v_prediction"}, {"eta": 1.0}),
    # 25 steps do not divide 199: diffusers steps each to t - T // n, not the next visited t
    ("ddim", {"timestep_spacing": "linspace", "num_train_timesteps": 199}, {"eta": 0.0}),
    ("ddpm", {"variance_type": "fixed_large"}, {}),
    ("ddpm", {"timestep_spacing": "trailing"}, {}),
    ("ddpm", {"timestep_spacing": "trailing", "num_train_timesteps": 199}, {}),
])
def test_pipelines_follow_diffusers_trajectory_from_the_same_noise(kind, config, call,
                                                                    tiny_unet, tmp_path):
    ref_cls, our_cls, sched = {
        "ddim": (diffusers.DDIMPipeline, DDIMPipeline, diffusers.DDIMScheduler),
        "ddpm": (diffusers.DDPMPipeline, DDPMPipeline, diffusers.DDPMScheduler)}[kind]
    ref = ref_cls(tiny_unet, sched(**{"num_train_timesteps": 200, **config}))
    ref.save_pretrained(tmp_path)
    ours = our_cls.from_pretrained(tmp_path)
    ref.set_progress_bar_config(disable=True)
    p1, p2, p3, p4 = _patched_noise(7)
    with p1, p2, p3, p4:
        expected = ref(batch_size=2, num_inference_steps=25, output_type="np", **call).images
    got = ours(batch_size=2, num_inference_steps=25, generator=np.random.default_rng(7),
               output_type="np", **call).images
    assert got.shape == expected.shape == (2, 8, 8, 3) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.parametrize("name,config", [
    ("DPMSolverMultistepScheduler", {}),
    ("DPMSolverMultistepScheduler", {"solver_order": 3, "use_karras_sigmas": True}),
    ("EulerDiscreteScheduler", {}),
    ("EulerDiscreteScheduler", {"timestep_spacing": "trailing", "use_karras_sigmas": True}),
])
def test_solver_trajectories_match_diffusers(name, config, tiny_unet, tmp_path):
    """The loop of diffusers' docs (scale_model_input, step) from the same initial noise."""
    ref_s = getattr(diffusers, name)(**config)
    ref_s.save_pretrained(tmp_path)
    tiny_unet.save_pretrained(tmp_path)
    ours = DDPMPipeline.from_pretrained(tmp_path)
    assert type(ours.scheduler).__name__ == name
    noise = np.random.default_rng(3).standard_normal((2, 3, 8, 8), dtype=np.float32)
    ref_s.set_timesteps(12)
    x = torch.from_numpy(noise) * ref_s.init_noise_sigma
    with torch.no_grad():
        for t in ref_s.timesteps:
            out = tiny_unet(ref_s.scale_model_input(x, t), t).sample
            x = ref_s.step(out, t, x).prev_sample
    got = S.sample_loop(lambda a, t: ours.unet(a, t).sample, ours.scheduler, noise.shape, 12,
                        x_T=an.tensor(noise))
    assert rel_err(got.numpy(), x.numpy()) <= 1e-4


def test_pipeline_pil_output_and_a_folder_diffusers_loads(tiny_unet, tmp_path):
    unet = UNet2DModel(**TINY)
    pipe = DDPMPipeline(unet, S.DDIMScheduler(num_train_timesteps=100))
    images = pipe(batch_size=3, num_inference_steps=4, generator=0).images
    assert len(images) == 3 and images[0].size == (8, 8) and images[0].mode == "RGB"
    again = pipe(batch_size=3, num_inference_steps=4, generator=0, output_type="np").images
    np.testing.assert_array_equal(np.asarray(images[1]),
                                  (again[1] * 255).round().astype(np.uint8))
    pipe.save_pretrained(tmp_path)
    loaded = diffusers.DiffusionPipeline.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "DDPMPipeline"
    assert type(loaded.scheduler).__name__ == "DDIMScheduler"
    with pytest.raises(ValueError, match="output_type"):
        pipe(output_type="latent")
