# Copyright (c) mmdeepmad authors. All rights reserved.
"""mmdeepmad: DeepMAD (CVPR 2023) CNN backbone design for OpenMMLab 2.x.

``import mmdeepmad`` (or ``custom_imports=dict(imports=['mmdeepmad'])`` in an
OpenMMLab config) applies the stack's compatibility fixes, which are cheap and
import nothing heavy (see :mod:`mmdeepmad.compat`), then registers the
project's models when torch is installed. ``mmdeepmad.design`` needs no torch.
"""
from .compat import apply_all as _apply_compat
from .compat import module_available as _module_available
from .version import __version__, version_info

_apply_compat()

# --- models (owned by the backbone team) ----------------------------------
# Registers the DeepMAD backbone in the OpenMMLab registries. Only when torch
# is installed, so the torch-free design tools keep working without it.
if _module_available('torch'):
    from . import models  # noqa: F401,E402

__all__ = ['__version__', 'version_info']
