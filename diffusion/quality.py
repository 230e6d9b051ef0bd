"""A sample-quality yardstick: a small classifier trained on real images, and what it says about
generated ones.

``QualityYardstick`` holds a real image set split into a training part and a held-out part, and a
small convolutional classifier trained (with arrayneedle) on the training part. For a batch of
samples it reports

- ``confidence``: the classifier's mean top-class probability (real digits score high, noise low);
- ``coverage``: the entropy of the predicted-class histogram divided by log(classes) (1: every
  class equally often, 0: one class only);
- ``fd``: the Fréchet distance between Gaussians fitted to the classifier's penultimate features
  of the samples and of the held-out real images (an FID for this domain).

``floor()`` scores real training images the same way (the best a generator can do, up to sampling
noise) and ``ceiling()`` scores pure Gaussian noise. Data: scikit-learn's bundled 8x8 digits
(``load_digits``, an optional dependency that ships its data, no download), or MNIST / CIFAR-10
files through ``diffusion.datasets``. Images are float32 NCHW in [-1, 1], as the diffusion uses.
"""
from __future__ import annotations

import math
import time

import numpy as np

import arrayneedle as an
from arrayneedle import nn, ops
from arrayneedle.autograd import Tensor

__all__ = [
    "DATASETS",
    "DigitClassifier",
    "QualityYardstick",
    "class_coverage",
    "frechet_distance",
    "gaussian_stats",
    "load_digits_split",
    "load_real_split",
    "train_classifier",
    "train_digits_diffusion",
]

DATASETS = ("digits", "mnist", "cifar10")


# ---- the statistics (pure array math, tested without any data set) ----
def gaussian_stats(features):
    """Mean (D,) and covariance (D, D) of (N, D) features, in float64 (host NumPy)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrtm_psd(a):
    w, v = np.linalg.eigh((a + a.T) * 0.5)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2):
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), the squared 2-Wasserstein distance
    between two Gaussians. tr((C1 C2)^(1/2)) is computed as tr((S C2 S)^(1/2)) with
    S = C1^(1/2): a symmetric PSD matrix, so its square root comes from an eigendecomposition
    and stays real (scipy's sqrtm on C1 C2 can return complex noise)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != mu1.shape * 2:
        raise ValueError(f"frechet_distance: shapes disagree: mu {mu1.shape} / {mu2.shape}, "
                         f"cov {cov1.shape} / {cov2.shape}")
    s = _sqrtm_psd(cov1)
    w = np.linalg.eigvalsh(s @ cov2 @ s)
    tr_sqrt = float(np.sqrt(np.clip(w, 0.0, None)).sum())
    d = mu1 - mu2
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)


def class_coverage(predicted, num_classes):
    """Entropy of the histogram of predicted classes over log(num_classes): 1.0 when every class
    is predicted equally often, 0.0 when all predictions are one class."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    p = np.bincount(np.asarray(predicted, dtype=np.int64).reshape(-1), minlength=num_classes)
    if p.sum() == 0:
        raise ValueError("class_coverage: no predictions given")
    p = p[:num_classes] / p.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(num_classes))


# ---- data ----
def load_digits_split(held_out=0.25, seed=0):
    """scikit-learn's 1,797 8x8 digits as ((x_train, y_train), (x_test, y_test)): float32
    (N, 1, 8, 8) in [-1, 1] and int64 labels; a seeded stratification-free random split."""
    images, y = _digits_arrays()
    x = (images.astype(np.float32) / 16.0 * 2.0 - 1.0).reshape(-1, 1, 8, 8)
    return _split(x, y, held_out, seed)


def _digits_arrays():
    """(pixels 0..16 (N, 64), labels) from the digits.csv.gz that ships inside scikit-learn,
    read directly (importing sklearn.datasets takes seconds), else through load_digits."""
    import importlib.util
    import os
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("the digits yardstick needs scikit-learn (pip install scikit-learn); "
                          "it ships the 8x8 digits, nothing is downloaded. Or use --dataset "
                          "mnist/cifar10 with --data FOLDER")
    for root in spec.submodule_search_locations or ():
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.exists(path):
            d = np.loadtxt(path, delimiter=",")
            return d[:, :-1], d[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.data, d.target.astype(np.int64)


def _split(x, y, held_out, seed):
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(2, round(len(x) * held_out))
    te, tr = order[:n_test], order[n_test:]
    return (x[tr], y[tr]), (x[te], y[te])


def load_real_split(dataset="digits", data=None, image_size=None, held_out=0.25, seed=0,
                    limit=None):
    """The real image set for the yardstick: ``digits`` (scikit-learn), or ``mnist`` / ``cifar10``
    from the folder ``data`` (the files ``diffusion.datasets`` reads; their train split is
    split again into a classifier-training part and a held-out part). ``limit`` keeps the first
    ``limit`` images (after a seeded shuffle) to bound the cost."""
    if dataset == "digits":
        return load_digits_split(held_out, seed)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if data is None:
        raise ValueError(f"dataset {dataset!r} needs the folder holding its files (data=...)")
    from .datasets import CIFAR10Dataset, MNISTDataset
    cls = MNISTDataset if dataset == "mnist" else CIFAR10Dataset
    ds = cls(data, train=True, image_size=image_size, return_labels=True)
    idx = np.random.default_rng(seed).permutation(len(ds))
    if limit:
        idx = idx[:int(limit)]
    x, y = ds.get_batch(idx)
    return _split(np.asarray(x, np.float32), np.asarray(y, np.int64), held_out, seed)


# ---- the classifier ----
class DigitClassifier(nn.Module):
    """conv 3x3 (``width`` channels) -> ReLU -> flatten -> Linear(features) -> ReLU (the
    feature space of the Fréchet distance) -> Linear(classes). Small on purpose: the
    yardstick must train in seconds on a CPU."""

    def __init__(self, image_shape=(1, 8, 8), num_classes=10, width=8, features=64):
        super().__init__()
        c, h, w = (int(v) for v in image_shape)
        self.image_shape, self.num_classes = (c, h, w), int(num_classes)
        self.conv = nn.Conv2d(c, width, 3, padding=1)
        self.fc = nn.Linear(width * h * w, features)
        self.head = nn.Linear(features, num_classes)

    def features(self, x):
        h = ops.relu(self.conv(x))
        return ops.relu(self.fc(ops.reshape(h, (x.shape[0], -1))))

    def forward(self, x):
        return self.head(self.features(x))


def _batches(n, size):
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def train_classifier(x, y, num_classes=10, epochs=30, batch_size=64, lr=3e-3, seed=0,
                     device="cpu", log=None):
    """A ``DigitClassifier`` trained with Adam on float32 NCHW images ``x`` and labels ``y``."""
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int64)
    dev = an.device(device)
    an.manual_seed(seed)
    model = DigitClassifier(x.shape[1:], num_classes).to(dev)
    opt = an.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    model.train()
    for epoch in range(int(epochs)):
        order = rng.permutation(len(x))
        for a, b in _batches(len(x), batch_size):
            idx = order[a:b]
            opt.zero_grad()
            loss = nn.cross_entropy(model(Tensor(x[idx], device=dev)), Tensor(y[idx], device=dev))
            loss.backward()
            opt.step()
        if log:
            log(f"classifier epoch {epoch + 1}/{epochs} loss {loss.item():.4f}")
    model.eval()
    return model


class QualityYardstick:
    """Scores image batches against a held-out real set with a classifier trained on the
    training part. Build with ``QualityYardstick.digits()`` or from arrays:
    ``QualityYardstick((x_train, y_train), (x_held_out, y_held_out))``, images float32 NCHW
    in [-1, 1]. The Fréchet distance depends on the number of samples (its estimate is
    biased upwards for few): compare scores of equally many images."""

    def __init__(self, train, held_out, num_classes=10, epochs=30, seed=0, device="cpu",
                 log=None):
        (self.x_train, self.y_train), (self.x_test, self.y_test) = train, held_out
        self.num_classes, self.seed, self.device = int(num_classes), seed, an.device(device)
        self.image_shape = tuple(self.x_test.shape[1:])
        self.classifier = train_classifier(self.x_train, self.y_train, num_classes, epochs,
                                           seed=seed, device=device, log=log)
        probs, feats = self._forward(self.x_test)
        self.test_accuracy = float((probs.argmax(1) == self.y_test).mean())
        # the held-out set in two halves: the first is the reference of the Fréchet distance,
        # the second scores as the floor (real images the classifier has never seen)
        self._half = len(self.x_test) // 2
        self.ref_stats = gaussian_stats(feats[:self._half])

    @classmethod
    def digits(cls, held_out=0.25, seed=0, epochs=30, device="cpu", log=None):
        return cls(*load_digits_split(held_out, seed), num_classes=10, epochs=epochs, seed=seed,
                   device=device, log=log)

    def _forward(self, images, batch_size=512):
        x = images.numpy() if isinstance(images, Tensor) else np.asarray(images)
        x = x.astype(np.float32, copy=False)
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"images must have shape (N, {', '.join(map(str, self.image_shape))}"
                             f"), got {x.shape}")
        probs, feats = [], []
        with an.no_grad():
            for a, b in _batches(len(x), batch_size):
                f = self.classifier.features(Tensor(x[a:b], device=self.device))
                probs.append(ops.softmax(self.classifier.head(f), axis=1).numpy())
                feats.append(f.numpy())
        return np.concatenate(probs), np.concatenate(feats)

    def score(self, images):
        """{"confidence", "confidence_se" (its standard error over the images), "coverage",
        "fd", "n"} for images in [-1, 1] (N, C, H, W)."""
        probs, feats = self._forward(images)
        top = probs.max(1)
        return {"confidence": float(top.mean()),
                "confidence_se": float(top.std(ddof=1) / math.sqrt(len(top))),
                "coverage": class_coverage(probs.argmax(1), self.num_classes),
                "fd": frechet_distance(*gaussian_stats(feats), *self.ref_stats),
                "n": len(probs)}

    def floor(self):
        """The score of the second half of the held-out images against the first: what a
        perfect generator would get with as many samples, up to sampling noise."""
        return self.score(self.x_test[self._half:])

    def ceiling(self, n=None):
        """The score of ``n`` images (default: as many as the floor's) of Gaussian noise
        clipped to [-1, 1]."""
        n = len(self.x_test) - self._half if n is None else int(n)
        noise = np.random.default_rng(self.seed + 2).standard_normal((n,) + self.image_shape)
        return self.score(np.clip(noise, -1, 1).astype(np.float32))


# ---- the default recipe on the digits, for the benchmark table ----
# the residual Unet + EMA recipe of scripts/train.py's defaults (widths 32,64,128, Adam 1e-3,
# EMA 0.995, gradient clipping at 1, batch 32, 2,000 steps), on 8x8 grayscale digits
RECIPE = dict(model="unet", channels=[32, 64, 128], channels_in=1, image_size=8,
              timesteps=1000, schedule="linear", loss="l2", objective="eps", batch_size=32,
              steps=2000, lr=1e-3, ema_decay=0.995, grad_clip=1.0, seed=0, data="digits")


def build_recipe_model(cfg):
    """The residual Unet described by a ``RECIPE``-like config."""
    from .unet import Unet
    ch = list(cfg["channels"])
    return Unet(dim=ch[0], dim_mults=tuple(c // ch[0] for c in ch),
                in_channels=cfg["channels_in"], groups=8 if ch[0] % 8 == 0 else 1)


def train_digits_diffusion(path, log=print, device="cpu", **overrides):
    """Train the default recipe on the digits' training part and save a checkpoint at ``path``
    ({"config", "step", "model", "ema"}: what scripts/sample.py reads). Returns the config."""
    from .ema import EMA
    from .gaussian import GaussianDiffusion
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise ValueError(f"unknown recipe settings {unknown}; known: {', '.join(RECIPE)}")
    cfg = {**RECIPE, **overrides}
    dev = an.device(device)
    (x_train, _), _ = load_digits_split(seed=cfg["seed"])
    an.manual_seed(cfg["seed"])
    model = build_recipe_model(cfg).to(dev)
    diffusion = GaussianDiffusion(model, timesteps=cfg["timesteps"],
                                  beta_schedule=cfg["schedule"], loss_type=cfg["loss"],
                                  objective=cfg["objective"]).to(dev)
    ema = EMA(model, decay=cfg["ema_decay"])
    opt = an.optim.Adam(model.parameters(), lr=cfg["lr"])
    rng = np.random.default_rng(cfg["seed"])
    bs, step, t0, c0 = cfg["batch_size"], 0, time.perf_counter(), time.process_time()
    model.train()
    while step < cfg["steps"]:
        order = rng.permutation(len(x_train))  # an epoch of full batches, reshuffled
        for a in range(0, len(order) - bs + 1, bs):
            opt.zero_grad()
            loss = diffusion.p_losses(Tensor(x_train[order[a:a + bs]], device=dev))
            loss.backward()
            an.optim.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            opt.step()
            ema.update()
            step += 1
            if step % 50 == 0:
                log(f"step {step}/{cfg['steps']} loss {loss.item():.4f} "
                    f"{time.perf_counter() - t0:.0f}s wall {time.process_time() - c0:.0f}s cpu")
            if step >= cfg["steps"]:
                break
    an.save({"config": cfg, "step": step, "model": model.state_dict(),
             "ema": ema.state_dict()}, path)
    return cfg


# ---- sampling a checkpoint with any scheduler, scored ----
def load_sampling_model(path, device="cpu"):
    """(model with the EMA weights where the checkpoint has them, its config, a
    GaussianDiffusion around it) from a checkpoint of scripts/train.py or
    ``train_digits_diffusion``."""
    from .gaussian import GaussianDiffusion
    from .unet import SimpleUnet
    ck = an.load(path)
    if not isinstance(ck, dict) or not {"config", "model"} <= set(ck):
        raise ValueError(f"{path} is not a training checkpoint (no config / model)")
    cfg = ck["config"]
    if cfg.get("model", "unet") == "simple":
        model = SimpleUnet(widths=tuple(cfg["channels"]), in_channels=cfg["channels_in"])
    else:
        model = build_recipe_model(cfg)
    ema = ck.get("ema")
    weights = ema.get("ema_model") if isinstance(ema, dict) else None
    model.load_state_dict(weights if weights is not None else ck["model"])
    model.to(an.device(device)).eval()
    diffusion = GaussianDiffusion(model, timesteps=cfg["timesteps"],
                                  beta_schedule=cfg["schedule"],
                                  objective=cfg.get("objective", "eps"))
    return model, cfg, diffusion


def sample_with(diffusion, sampler, steps, n, image_shape, seed=0, batch_size=None):
    """``n`` images (N, *image_shape) in [-1, 1] (host float32) from a ``GaussianDiffusion``'s
    model with the
    scheduler ``sampler`` (a name of ``diffusion.schedulers.SCHEDULERS``) in ``steps`` steps
    (``None``: all T), and the number of model evaluations made."""
    from .schedulers import from_diffusion, sample_loop
    model, shape = diffusion.model, tuple(int(s) for s in image_shape)
    steps = diffusion.num_timesteps if steps is None else int(steps)
    batch_size = int(batch_size or n)
    out, evals = [], 0
    an.manual_seed(seed)
    for a, b in _batches(int(n), batch_size):
        sched = from_diffusion(diffusion, sampler)
        x = sample_loop(model, sched, (b - a,) + shape, num_inference_steps=steps)
        evals = len(sched.timesteps)
        out.append(np.clip(x.numpy(), -1.0, 1.0))
    return np.concatenate(out), evals
