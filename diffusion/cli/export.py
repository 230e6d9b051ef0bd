"""Export the weights of a training checkpoint as .safetensors or as a diffusers folder.

    python scripts/export.py runs/landscapes/checkpoint.npz runs/landscapes/model.safetensors

Writes the EMA weights (the raw ones with --raw, or when the checkpoint has no EMA) with the
model configuration and step in the file's metadata, so that
``scripts/sample.py --checkpoint model.safetensors`` needs nothing else. ``--format diffusers``
(for runs of ``--model diffusers`` or ``--init-from``) writes a DDPM pipeline folder
(model_index.json, unet/, scheduler/) that diffusers' ``DDPMPipeline.from_pretrained`` loads.
Bad arguments exit with code 2 and one line.
"""
import argparse
import json
import os
import sys

import arrayneedle as an
from diffusion.interop import export_diffusers
from diffusion.training import MODEL_KEYS, UsageError, load_checkpoint
from diffusion.validate import check_out_file

CONFIG_KEY = "arrayneedle.config"


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("checkpoint", help="checkpoint.npz written by train.py")
    p.add_argument("out", help="the .safetensors file (or, with --format diffusers, the "
                               "folder) to write")
    p.add_argument("--format", choices=("safetensors", "diffusers"), default="safetensors")
    p.add_argument("--raw", action="store_true", help="the raw weights instead of the EMA")
    return p


def export(checkpoint, out, raw=False, fmt="safetensors"):
    """Write ``out`` from ``checkpoint``; returns which weights ("EMA" or "raw")."""
    if fmt == "diffusers":
        return _export_diffusers(checkpoint, out, raw)
    if not out.endswith(".safetensors"):
        raise UsageError(f"{out}: the output must end in .safetensors")
    check_out_file(out)
    ck = load_checkpoint(checkpoint)
    weights, kind = _weights(ck, raw)
    cfg = {k: ck["config"][k] for k in MODEL_KEYS + ("in_channels",) if k in ck["config"]}
    try:
        an.save_file(weights, out, metadata={CONFIG_KEY: json.dumps(cfg),
                                             "arrayneedle.step": str(ck["step"]),
                                             "arrayneedle.weights": kind})
    except (ValueError, TypeError) as e:
        raise UsageError(f"{checkpoint}: its weights cannot be exported ({e})") from None
    return kind


def _weights(ck, raw):
    """(weights, "EMA" or "raw"): the EMA weights unless ``raw`` or the checkpoint has none."""
    ema = ck.get("ema")
    weights = None if raw or not isinstance(ema, dict) else ema.get("ema_model")
    return (ck["model"], "raw") if weights is None else (weights, "EMA")


def _export_diffusers(checkpoint, out, raw):
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise UsageError(f"{out}: exists and is not an empty folder; the diffusers folder is "
                         f"written to a new or empty one")
    ck = load_checkpoint(checkpoint)
    weights, kind = _weights(ck, raw)
    export_diffusers(ck["config"], weights, out)
    return kind


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        kind = export(a.checkpoint, a.out, a.raw, a.format)
    except UsageError as e:
        print(f"export.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"export.py: error: cannot write {a.out}: {e}", file=sys.stderr)
        return 1
    print(f"wrote the {kind} weights to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
