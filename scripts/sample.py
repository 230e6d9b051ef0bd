#!/usr/bin/env python
"""Sample images from a checkpoint or a .safetensors file: ``python scripts/sample.py --help``.

The command itself is ``diffusion/cli/sample.py``, installed as ``arrayneedle-sample`` by
``pip install -e .``; this file keeps the checkout's ``python scripts/sample.py`` working.
"""
import sys

from diffusion.cli.sample import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
