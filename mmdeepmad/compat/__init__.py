# Copyright (c) mmdeepmad authors. All rights reserved.
"""Compatibility fixes for the pinned OpenMMLab stack, applied by
``import mmdeepmad`` without importing torch or any OpenMMLab library.

* :mod:`.mmaction_drn` -- provides ``mmaction.models.localizers.drn``, which
  the mmaction2 1.2.0 PyPI release lacks, so ``import mmaction.models`` works.
* :mod:`.torch_load` -- registers the safe globals that mmengine checkpoints
  need under torch >= 2.6's ``torch.load(weights_only=True)`` default.
"""
import importlib.util
import sys


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it.

    ``sys.modules[name] = None`` (the standard way to block a module) counts
    as unavailable.
    """
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


from . import mmaction_drn, torch_load  # noqa: E402

_applied = {}


def apply_all() -> dict:
    """Apply every fix once; return ``{name: active}``. Idempotent."""
    if not _applied:
        _applied['mmaction_drn'] = mmaction_drn.install()
        _applied['torch_load'] = torch_load.install()
    return dict(_applied)


__all__ = ['apply_all', 'module_available', 'mmaction_drn', 'torch_load']
