"""``Trainer``: one training run of a ``TrainConfig`` in small steps (after lucidrains'
``Trainer``): ``setup`` (every check, then the model, diffusion, EMA, optimizer and loader),
``resume`` (a checkpoint's states and random stream), ``step`` (one optimizer step),
``checkpoint``, ``sample`` (a grid from the EMA weights) and ``fit`` (the loop).

A ``Trainer`` runs inside a started ``world`` (``diffusion.parallel``: one process, or the
ranks of ``mpiexec``) and a planned ``RunFolder``; ``diffusion.training.train`` sets both up.
Every rank checks everything and the ranks agree before rank 0 writes anything.
"""
from __future__ import annotations

import json
import math
import os
import time

import arrayneedle as an
from arrayneedle.data import DataLoader

from .config import DEFAULT_STEPS, MODEL_KEYS, RESUME_FLAGS
from .runfolder import CHECKPOINT, LOG, RunError, restore_rng, trim_log
from .validate import UsageError, check_memory

__all__ = ["Trainer", "TrainingDiverged"]


class TrainingDiverged(RunError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _quiet(*args, **kwargs):
    """The ``log`` of ranks other than 0."""


class Trainer:
    """Args:
        config: the run's ``TrainConfig`` (from its flags).
        world: ``diffusion.parallel.start(...)``'s result.
        run: the planned ``diffusion.runfolder.RunFolder``.
        given: the ``RESUME_FLAGS`` given explicitly (they override a checkpoint's).
        log: where progress lines go (rank 0 only).
    """

    def __init__(self, config, world, run, given=(), log=print):
        self.cfg = config
        self.world, self.run, self.given = world, run, set(given)
        self.log = log if world.main else _quiet
        self.device = world.device
        self.step_count = 0
        self.last_loss = float("nan")

    # ---- setup ----
    def setup(self):
        """Check everything (a checkpoint to resume, the data), agree across ranks, then build
        the model, diffusion, EMA, optimizer, lr schedule and loader, and resume when asked.
        Raises UsageError before anything is written."""
        from .training import build_diffusion, build_model, load_checkpoint, make_dataset
        from .ema import EMA
        ck = dataset = failure = None
        path = self.run.resume_path
        try:
            if path:
                ck = load_checkpoint(path)
                saved = ck["config"]
                self._check_same_config(saved, path)
                check_memory(saved, self.cfg.batch_size, device=self.device)
                # the checkpoint's optimizer values (validated as flags when loaded) continue
                # unless this run gives its own
                self.cfg = self.cfg.replace(**{k: saved[k] for k in RESUME_FLAGS
                                               if k not in self.given})
            dataset = make_dataset(self.cfg)
        except UsageError as e:
            failure = e
        self.world.agree(failure, UsageError)
        cfg = self.cfg
        an.manual_seed(cfg.seed)
        self.model = build_model(cfg)
        if ck is None and cfg.init_from:  # fine-tune: a fresh run starts from its weights
            from .interop import init_weights
            init_weights(self.model, cfg)
        self.model.to(self.device)
        self.diffusion = build_diffusion(cfg, self.model).to(self.device)
        self.ema = EMA(self.model, decay=cfg.ema_decay)
        self.opt = an.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.lr_schedule = an.optim.WarmupConstant(self.opt, cfg.warmup)
        self.loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                                 drop_last=True, seed=cfg.seed, device=self.device)
        if len(self.loader) == 0:
            raise UsageError(f"the dataset has {len(dataset)} images, fewer than one batch of "
                             f"{cfg.batch_size}; lower --batch-size")
        self.total = self._total_steps()
        if ck is not None:
            self._report_data_change(ck["config"])
            self.resume(ck, path)
        self.net = self.world.wrap(self.model)  # the model, or its DDP wrapper on N ranks
        if self.world.main:
            self.run.begin()  # the first write: everything above is checked
            trim_log(self.run.file(LOG), self.step_count)
        return self

    def _check_same_config(self, saved, path):
        def norm(v):
            return list(v) if isinstance(v, tuple) else v

        def same_folder(a, b):  # --data spelled another way (trailing slash, relative path)
            return isinstance(a, str) and isinstance(b, str) and (
                os.path.normpath(a) == os.path.normpath(b)
                or os.path.realpath(a) == os.path.realpath(b))
        diff = [f"{k}: checkpoint {norm(saved.get(k))!r}, now {norm(self.cfg.get(k))!r}"
                for k in MODEL_KEYS if norm(saved.get(k)) != norm(self.cfg.get(k))
                and not (k == "data" and same_folder(saved.get(k), self.cfg.get(k)))]
        if diff:
            raise UsageError(f"checkpoint {path} was made with a different configuration ("
                             + "; ".join(diff) + "); use a new --out folder")

    def _report_data_change(self, saved):
        before, now = saved.get("data_fingerprint"), self.cfg.data_fingerprint
        if before and now and before != now:
            self.log(f"warning: --data {self.cfg.data} changed since the checkpoint ({before} "
                     f"then, {now} now); the data-loader order continues over the current files")

    def _total_steps(self):
        if self.cfg.steps is not None:
            return self.cfg.steps
        if self.cfg.epochs is not None:
            return self.cfg.epochs * len(self.loader)
        return DEFAULT_STEPS

    # ---- resume ----
    def resume(self, ck, path):
        """Load every part of checkpoint ``ck`` (a part that does not fit is a UsageError
        naming it), apply this run's optimizer values and continue the random stream."""
        parts = (("model", self.model), ("ema", self.ema), ("optimizer", self.opt),
                 ("scheduler", self.lr_schedule), ("loader", self.loader))
        for name, obj in parts:
            try:
                obj.load_state_dict(ck[name])
            except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
                msg = str(e).strip("'\"").splitlines()[0] if str(e) else type(e).__name__
                if isinstance(e, KeyError) and msg.isidentifier():
                    msg = f"missing {msg!r}"
                raise UsageError(f"checkpoint {path}: its {name} state is malformed or does not "
                                 f"fit its config ({msg})") from None
        step = ck["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise UsageError(f"checkpoint {path}: step {step!r} is not a non-negative integer")
        cfg, sched = self.cfg, self.lr_schedule
        for g in self.opt.param_groups:  # --lr / --warmup / --ema-decay of this run take effect
            g["initial_lr"] = cfg.lr
        sched.base_lrs = [cfg.lr] * len(self.opt.param_groups)
        sched.warmup = cfg.warmup
        for g, lr in zip(self.opt.param_groups, sched.get_lr()):
            g["lr"] = lr
        self.ema.decay = cfg.ema_decay
        self.step_count = step
        restore_rng(self.device, ck.get("rng"), cfg.seed, step, self.log, f"checkpoint {path}")
        self.log(f"resumed from {path} at step {step}")

    # ---- one step ----
    def step(self, x0):
        """One optimizer step on the batch ``x0`` (this rank's slice of it on N ranks); returns
        the loss averaged over the ranks. Raises TrainingDiverged on a NaN or infinite loss,
        before the weights change."""
        self.opt.zero_grad()
        x, t, noise = self.world.split(x0, self.diffusion.num_timesteps)
        loss = self.diffusion.p_losses(x, t, noise, model=self.net)
        loss.backward()
        if self.cfg.grad_clip:
            an.optim.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        value = self.world.mean(loss)
        if not math.isfinite(value):
            raise TrainingDiverged(f"loss became {value} at step {self.step_count + 1}; "
                                   f"stopping. {self.run.no_checkpoint_note()}; try a lower --lr")
        self.opt.step()
        self.lr_schedule.step()
        self.ema.update()
        self.step_count += 1
        self.last_loss = value
        return value

    # ---- outputs ----
    def state_dict(self):
        """Everything a checkpoint holds (the config as a plain dict)."""
        return {"config": self.cfg.to_dict(), "step": self.step_count,
                "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(), "scheduler": self.lr_schedule.state_dict(),
                "loader": self.loader.state_dict(), "rng": self.device.get_rng_state()}

    def checkpoint(self):
        """Write the checkpoint (rank 0; atomically, see ``RunFolder.save_checkpoint``)."""
        if self.world.main:
            self.run.save_checkpoint(self.state_dict())

    def sample(self, name):
        """A grid from the EMA weights into the run folder's ``name``, drawn from a generator
        forked off the training stream so that sampling never changes the training run's
        random numbers. Every rank samples (the same images), so none waits for another;
        rank 0 alone writes. Returns the path."""
        from .images import save_grid
        cfg, path = self.cfg, self.run.file(name)
        with self.device.fork_rng(cfg.seed + 7919):
            imgs = self.diffusion.sample(
                batch_size=cfg.samples, image_size=cfg.image_size, channels=cfg.in_channels,
                sampler=cfg.sampler, steps=None if cfg.sampler == "ddpm" else cfg.sample_steps,
                progress=False, model=self.ema.ema_model)
        if self.world.main:
            save_grid(imgs, path, scale=max(1, 64 // cfg.image_size))
        return path

    # ---- the loop ----
    def _due(self, every):
        return every and self.step_count % every == 0 and self.step_count < self.total

    def fit(self):
        """Train to the configured length, with log lines, checkpoints and grids on their
        schedule, then the final checkpoint and grid; returns a summary dict."""
        from tqdm import tqdm
        cfg, main = self.cfg, self.world.main
        bar = tqdm(total=self.total, initial=self.step_count, unit="step", dynamic_ncols=True,
                   disable=not (cfg.progress and main))
        logf = self.run.open_log() if main else open(os.devnull, "a")
        t0, seen = time.perf_counter(), 0
        try:
            self.model.train()
            while self.step_count < self.total:
                for batch in self.loader:
                    x0 = batch[0] if isinstance(batch, (list, tuple)) else batch
                    loss = self.step(x0)
                    seen += x0.shape[0]
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}",
                                    img_s=f"{seen / max(time.perf_counter() - t0, 1e-9):.0f}")
                    logf.write(json.dumps({"step": self.step_count, "loss": loss,
                                           "lr": self.opt.param_groups[0]["lr"],
                                           "time": round(time.perf_counter() - t0, 3)}) + "\n")
                    if self._due(cfg.checkpoint_every):
                        logf.flush()
                        self.checkpoint()
                    if self._due(cfg.sample_every):
                        self.sample(f"samples_{self.step_count:06d}.png")
                    if self.step_count >= self.total:
                        break
        finally:
            bar.close()
            logf.close()
        self.checkpoint()
        grid = self.sample("samples.png")
        self.world.barrier()  # every rank returns once rank 0's files are there
        elapsed = time.perf_counter() - t0
        ck = os.path.join(cfg.out, CHECKPOINT)
        self.log(f"done: {self.step_count} steps, last loss {self.last_loss:.4f}, "
                 f"{elapsed:.0f}s; checkpoint {ck}, samples {grid}")
        return {"step": self.step_count, "loss": self.last_loss, "seconds": elapsed,
                "grid": grid, "checkpoint": ck}

