#!/usr/bin/env python3
"""Design a DeepMAD backbone from FLOPs / params / rho budgets.

Thin wrapper over :func:`mmdeepmad.design.cli.command`; runs from a checkout
without installing (the repository root is put on ``sys.path``). See
``python tools/design.py --help``. Ctrl-C ends it with one line and exit
status 130, whenever it comes.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

if __name__ == '__main__':
    try:
        from mmdeepmad.design.cli import main
    except KeyboardInterrupt:  # Ctrl-C while Python starts up
        print('design.py: interrupted; nothing written', file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
