#!/usr/bin/env python3
"""Design a DeepMAD backbone from FLOPs / params / rho budgets.

Thin wrapper over :func:`mmdeepmad.design.cli.command`; runs from a checkout
without installing (the repository root is put on ``sys.path``). See
``python tools/design.py --help``.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mmdeepmad.design.cli import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
