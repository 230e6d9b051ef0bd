#!/usr/bin/env python
"""Export a training checkpoint's weights as .safetensors: ``python scripts/export.py --help``.

The command itself is ``diffusion/cli/export.py``, installed as ``arrayneedle-export`` by
``pip install -e .``; this file keeps the checkout's ``python scripts/export.py`` working.
"""
import sys

from diffusion.cli.export import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
