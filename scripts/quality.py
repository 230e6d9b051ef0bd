#!/usr/bin/env python
"""Measure sample quality with the classifier yardstick: ``python scripts/quality.py --help``.

The command itself is ``diffusion/cli/quality.py``, installed as ``arrayneedle-quality`` by
``pip install -e .``; this file keeps the checkout's ``python scripts/quality.py`` working.
"""
import sys

from diffusion.cli.quality import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
