"""Train a DDPM image generator.

    python scripts/train.py                               # built-in landscapes, CPU
    python scripts/train.py --data ~/photos --device cuda --image-size 64 --steps 20000
    python scripts/train.py --init-from ddpm-cifar10-32 --data ~/photos --steps 500  # fine-tune
    python scripts/train.py --model diffusers --unet-config unet.json   # diffusers' UNet2DModel

Writes to --out: checkpoint.npz (resumable), log.jsonl (loss per step), samples_*.png grids
from the EMA weights, and a final samples.png. Bad flags or data exit with code 2 without
touching existing files.

    mpiexec -n 2 python scripts/train.py --batch-size 64    # data-parallel over 2 ranks

Under an MPI launcher the ranks train one model together: --batch-size is the global batch
(split evenly over the ranks), rank 0 alone writes --out, and checkpoints resume on any
number of ranks.
"""
import argparse
import sys

from diffusion.parallel import BACKENDS, launcher_rank
from diffusion.training import (
    CHOICES,
    DEFAULT_STEPS,
    DEFAULT_WIDTHS,
    DEFAULTS,
    RunError,
    UsageError,
    train,
)


def build_parser():
    d = DEFAULTS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default=d["device"], help="cpu, cuda or cuda:N")
    p.add_argument("--data", default=None,
                   help="folder of images (JPEG/PNG/BMP/WebP, recursive); default: the built-in "
                        "SyntheticLandscapes")
    p.add_argument("--image-size", type=int, default=None,
                   help=f"default {d['image_size']}, or the sample_size of --init-from / "
                        f"--unet-config")
    p.add_argument("--grayscale", action="store_true", help="train on 1-channel images")
    p.add_argument("--model", choices=CHOICES["model"], default=None,
                   help="simple: the original needle UNet; unet: residual UNet with attention; "
                        "diffusers: diffusers' UNet2DModel (with --unet-config or --init-from); "
                        "default unet")
    p.add_argument("--unet-config", default=None, metavar="JSON",
                   help="a diffusers UNet2DModel config.json: train that architecture")
    p.add_argument("--init-from", default=None, metavar="FOLDER",
                   help="a diffusers model folder (config.json + diffusion_pytorch_model."
                        "safetensors, [scheduler_config.json]; a pipeline folder or a Hub "
                        "snapshot): fine-tune it, with its noise schedule")
    widths = ",".join(map(str, DEFAULT_WIDTHS[d["model"]]))
    p.add_argument("--widths", "--channels", dest="widths", default=None,
                   help=f"comma-separated layer widths per level (default {widths}; the image "
                        f"size must divide by 2**(levels-1))")
    p.add_argument("--timesteps", type=int, default=None,
                   help=f"default {d['timesteps']}, or --init-from's")
    p.add_argument("--schedule", choices=CHOICES["schedule"], default=d["schedule"])
    p.add_argument("--loss", choices=CHOICES["loss"], default=d["loss"])
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, default=None,
                   help=f"optimizer steps (default {DEFAULT_STEPS} unless --epochs)")
    g.add_argument("--epochs", type=int, default=None)
    # None: the default on a fresh run, the checkpoint's value on --resume (given: takes effect)
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d['lr']})")
    p.add_argument("--warmup", type=int, default=None,
                   help=f"linear lr warm-up steps (default {d['warmup']})")
    p.add_argument("--ema-decay", type=float, default=None,
                   help=f"EMA decay (default {d['ema_decay']})")
    p.add_argument("--grad-clip", type=float, default=None,
                   help=f"clip the gradient norm to this (0: no clipping; default "
                        f"{d['grad_clip']})")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--out", default=d["out"])
    p.add_argument("--sample-every", type=int, default=d["sample_every"],
                   help="write a sample grid every N steps (0: only at the end)")
    p.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"],
                   help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--samples", type=int, default=d["samples"], help="images per grid")
    p.add_argument("--sampler", choices=CHOICES["sampler"], default=d["sampler"])
    p.add_argument("--sample-steps", type=int, default=d["sample_steps"],
                   help="sampling steps for the grids (all T for ddpm)")
    p.add_argument("--dataset-size", type=int, default=d["dataset_size"],
                   help="images in the built-in dataset")
    p.add_argument("--resume", default=None, metavar="PATH|auto",
                   help="continue from a checkpoint; 'auto' uses --out/checkpoint.npz if any")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--dist-backend", default=None, metavar="|".join(BACKENDS),
                   help="under mpiexec: how the ranks communicate (default: nccl for CUDA "
                        "devices, else mpi; use mpi for ranks sharing one GPU)")
    return p


def parse_args(argv=None):
    parser = build_parser()
    if launcher_rank() != 0:  # every rank exits 2 on a bad flag; rank 0 alone says why
        def error(message):
            sys.exit(2)
        parser.error = error
    return parser.parse_args(argv)


def _say(message):
    if launcher_rank() == 0:
        print(message, file=sys.stderr)


def main(argv=None):
    a = parse_args(argv)
    cfg = {k: v for k, v in vars(a).items() if k not in ("grayscale", "no_progress")}
    cfg["in_channels"] = 1 if a.grayscale else 3
    cfg["progress"] = not a.no_progress
    try:
        train(cfg)
    except UsageError as e:
        _say(f"train.py: error: {e}")
        return 2
    except RunError as e:  # divergence, a failed checkpoint write: the last checkpoint is kept
        _say(f"train.py: {e}")
        return 1
    except OSError as e:  # a full disk or a vanished folder while writing logs or grids
        print(f"train.py: error: {e}; the last checkpoint is kept", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _say("train.py: interrupted; the last checkpoint is kept")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
