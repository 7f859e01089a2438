"""The design command line, ``tools/design.py``: it parses, calls the
library (:mod:`mmdeepmad.design.api`) and prints.

* :mod:`.command`: options, the design and ``--evaluate`` runs, exit codes;
* :mod:`.report`: the printed tables; :mod:`.plots`: the PNGs;
  :mod:`.fragment`: the OpenMMLab config fragment;
* :mod:`.outputs`: every file of a run written together, atomically.
"""
from .command import CLIError, design_command, main

__all__ = ['CLIError', 'design_command', 'main']
