#!/usr/bin/env python
"""Train a DDPM image generator: ``python scripts/train.py --help``.

The command itself is ``diffusion/cli/train.py``, installed as ``arrayneedle-train`` by
``pip install -e .``; this file keeps the checkout's ``python scripts/train.py`` working.
"""
import sys

from diffusion.cli.train import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
