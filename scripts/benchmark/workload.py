"""The arrayneedle side of the benchmark: SimpleUnet or Unet + GaussianDiffusion + Adam on one
device, with fixed inputs, and a cProfile of its training step."""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from contextlib import contextmanager

import arrayneedle as an  # before NumPy: see arrayneedle's startup settings  # noqa: I001
import numpy as np
from diffusion import GaussianDiffusion, SimpleUnet, Unet

from . import CHANNELS, T_STEPS, TIME_EMB, UNET_GROUPS, UNET_WIDTHS

# the schedule coefficients the PyTorch twin's sampling step needs (GaussianDiffusion buffers)
_SAMPLE_COEFS = ("sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
                 "posterior_mean_coef1", "posterior_mean_coef2",
                 "posterior_log_variance_clipped")


def build_model(name):
    """The benchmarked network: ``"simple"`` (SimpleUnet) or ``"unet"`` (the trainer's default
    residual Unet)."""
    if name == "unet":
        return Unet(widths=UNET_WIDTHS, in_channels=3, groups=UNET_GROUPS)
    return SimpleUnet(CHANNELS, in_channels=3, time_emb_dim=TIME_EMB)


class AnWorkload:
    """SimpleUnet or Unet (``model``) + GaussianDiffusion + Adam on one device, with fixed
    inputs."""

    def __init__(self, dev, size, batch, seed=0, model="simple"):
        an.manual_seed(seed)
        self.dev = dev
        self.model_name = model
        self.model = build_model(model).to(dev)
        self.diff = GaussianDiffusion(self.model, timesteps=T_STEPS)
        self.opt = an.optim.Adam(self.model.parameters(), lr=1e-4)
        rng = np.random.default_rng(seed)
        self.x0_np = rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
        self.noise_np = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        self.t_np = rng.integers(0, T_STEPS, (batch,)).astype(np.int64)
        self.x0 = an.Tensor(self.x0_np, device=dev)
        self.noise = an.Tensor(self.noise_np, device=dev)
        self.t = an.Tensor(self.t_np, device=dev)
        self.shape = (batch, 3, size, size)

    def train_step(self, timer=None):
        self.opt.zero_grad()
        t0 = time.perf_counter()
        loss = self.diff.p_losses(self.x0, self.t, self.noise)
        if timer:
            timer.sync()
            t1 = time.perf_counter()
        loss.backward()
        if timer:
            timer.sync()
            t2 = time.perf_counter()
        self.opt.step()
        if timer:
            timer.sync()
            t3 = time.perf_counter()
            timer.phase["forward (incl. loss)"] += t1 - t0
            timer.phase["backward"] += t2 - t1
            timer.phase["optimizer (Adam)"] += t3 - t2
        return loss

    @contextmanager
    def sampling(self):
        """no_grad with the model in eval mode, as GaussianDiffusion's samplers run it."""
        self.model.eval()
        try:
            with an.no_grad():
                yield
        finally:
            self.model.train()

    def sample_step(self):
        with self.sampling():
            return self.diff.p_sample(self.noise, T_STEPS // 2)

    def ddim_two_steps(self):
        return self.diff.ddim_sample(self.shape, steps=2, progress=False, x_T=self.noise)

    def export(self, path):
        """Write what the PyTorch twin needs (weights, inputs, schedule, and the output of one
        train-mode forward run now) to ``path`` (.npz); returns the schedule coefficients of
        the sampling step."""
        arrays = {"sd/" + k: np.asarray(v.numpy()) for k, v in self.model.state_dict().items()}
        with an.no_grad():
            arrays["an_out"] = self.model(self.x0, self.t).detach().numpy()
        want = _SAMPLE_COEFS + ("sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod")
        sched = {k: np.asarray(v.numpy(), np.float64) for k, v in self.diff.named_buffers()
                 if k in want}
        arrays.update(x0=self.x0_np, noise=self.noise_np, t=self.t_np,
                      sqrt_alphas_cumprod=sched["sqrt_alphas_cumprod"].astype(np.float32),
                      sqrt_one_minus_alphas_cumprod=sched[
                          "sqrt_one_minus_alphas_cumprod"].astype(np.float32))
        np.savez(path, **arrays)
        tt = T_STEPS // 2
        return {k: float(sched[k][tt]) for k in _SAMPLE_COEFS}


def profile_steps(work, n, top):
    """cProfile of ``n`` training steps (after one unprofiled step): per-step totals and the
    ``top`` functions by own time."""
    pr = cProfile.Profile()
    work.train_step()
    pr.enable()
    for _ in range(n):
        work.train_step()
    pr.disable()
    st = pstats.Stats(pr)
    total = st.total_tt
    rows = []
    for (fname, line, func), (_cc, nc, tt, ct, _) in st.stats.items():
        rows.append({"function": f"{os.path.relpath(fname) if fname.startswith('/') else fname}"
                                 f":{line}({func})", "ncalls": nc / n, "tottime_s": tt / n,
                     "cumtime_s": ct / n})
    rows.sort(key=lambda r: -r["tottime_s"])
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    return {"steps": n, "total_s_per_step": total / n, "top": rows[:top], "text": s.getvalue()}
