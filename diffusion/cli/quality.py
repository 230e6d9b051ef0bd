"""Measure sample quality: a classifier trained on real images scores generated ones.

    python scripts/quality.py                                   # the yardstick's floor and ceiling
    python scripts/quality.py --checkpoint runs/digits/checkpoint.npz --sampler dpm++2m --steps 20
    python scripts/quality.py --checkpoint CK --sampler ddpm,ddim,dpm++2m --steps 5,10,20,25,50
    python scripts/quality.py --train-digits runs/digits/checkpoint.npz   # the default recipe

Reports the classifier's mean confidence on the samples, class coverage (entropy of the
predicted classes / log 10) and the Fréchet distance in the classifier's feature space (FD),
next to real held-out images (floor) and pure noise (ceiling). Data: scikit-learn's bundled 8x8
digits (needs scikit-learn), or --dataset mnist / cifar10 with --data FOLDER. ``ddpm`` always
runs all T steps. Bad flags exit with code 2 and one line.
"""
import argparse
import json
import os
import sys
import time

from diffusion import quality
from diffusion.schedulers import SCHEDULERS


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        print(f"quality.py: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv=None):
    p = _Parser(description=__doc__.split("\n")[1],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="a checkpoint to sample from")
    p.add_argument("--sampler", default="dpm++2m",
                   help="comma-separated scheduler names: " + ", ".join(SCHEDULERS))
    p.add_argument("--steps", default="20", help="comma-separated step counts")
    p.add_argument("--n", type=int, default=250, help="samples per sampler and step count")
    p.add_argument("--batch-size", type=int, default=None, help="images per sampling batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", choices=quality.DATASETS, default="digits")
    p.add_argument("--data", default=None, help="folder with the MNIST / CIFAR-10 files")
    p.add_argument("--epochs", type=int, default=20, help="classifier training epochs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also append one JSON line per result here")
    p.add_argument("--train-digits", default=None, metavar="PATH",
                   help="train the default recipe on the digits, save it at PATH and exit")
    p.add_argument("--train-steps", type=int, default=None,
                   help="optimizer steps for --train-digits (default: the recipe's 2000)")
    return p.parse_args(argv)


def _int_list(text, what):
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--{what} must be comma-separated integers, got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise UsageError(f"--{what} must be positive integers, got {text!r}")
    return vals


def _check(a):
    samplers = [s.strip() for s in a.sampler.split(",") if s.strip()]
    bad = [s for s in samplers if s not in SCHEDULERS]
    if bad or not samplers:
        raise UsageError(f"--sampler {','.join(bad) or a.sampler!r}: unknown; choose from "
                         f"{', '.join(SCHEDULERS)}")
    steps = _int_list(a.steps, "steps")
    if a.n < 4:
        raise UsageError(f"--n must be at least 4 (a covariance needs samples), got {a.n}")
    if a.epochs <= 0:
        raise UsageError(f"--epochs must be positive, got {a.epochs}")
    if a.checkpoint and not os.path.exists(a.checkpoint):
        raise UsageError(f"--checkpoint {a.checkpoint}: no such file")
    if a.dataset != "digits" and not (a.data and os.path.isdir(a.data)):
        raise UsageError(f"--dataset {a.dataset} needs --data FOLDER with its files")
    return samplers, steps


def _row(label, steps, evals, s, secs=None, cpu=None):
    t = "" if secs is None else f" {secs:8.1f}s wall {cpu:8.1f}s cpu"
    return (f"{label:<20} {steps!s:>5} {evals!s:>5}  "
            f"conf {s['confidence']:.3f}±{s['confidence_se']:.3f}  "
            f"coverage {s['coverage']:.3f}  FD {s['fd']:8.2f}{t}")


def _emit(path, record):
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def main(argv=None):
    a = parse_args(argv)
    try:
        samplers, steps_list = _check(a)
        if a.train_digits:
            kw = {} if a.train_steps is None else {"steps": a.train_steps}
            quality.train_digits_diffusion(a.train_digits, device=a.device, **kw)
            print(f"wrote {a.train_digits}")
            return 0
        real = quality.load_real_split(a.dataset, a.data, seed=a.seed)
        model = cfg = diffusion = None
        if a.checkpoint:
            model, cfg, diffusion = quality.load_sampling_model(a.checkpoint, a.device)
    except ImportError as e:
        print(f"quality.py: error: {e}", file=sys.stderr)
        return 2
    except (UsageError, ValueError, OSError) as e:
        print(f"quality.py: error: {e}", file=sys.stderr)
        return 2
    yard = quality.QualityYardstick(*real, num_classes=int(real[0][1].max()) + 1,
                                    epochs=a.epochs, seed=a.seed, device=a.device)
    print(f"classifier held-out accuracy {yard.test_accuracy:.3f}")
    for label, s in (("floor (real)", yard.floor()), ("ceiling (noise)", yard.ceiling())):
        print(_row(label, "-", "-", s))
        _emit(a.json, {"sampler": label, **s})
    if model is None:
        return 0
    shape = yard.image_shape
    for name in samplers:
        for steps in ([None] if name == "ddpm" else steps_list):
            t0, c0 = time.perf_counter(), time.process_time()
            imgs, evals = quality.sample_with(diffusion, name, steps, a.n, shape, seed=a.seed,
                                              batch_size=a.batch_size)
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            s = yard.score(imgs)
            print(_row(name, steps or cfg["timesteps"], evals, s, secs, cpu), flush=True)
            _emit(a.json, {"sampler": name, "steps": steps or cfg["timesteps"], "evals": evals,
                           "seconds": secs, "cpu_seconds": cpu, **s})
    return 0


if __name__ == "__main__":
    sys.exit(main())
