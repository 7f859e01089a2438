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

# --- models ------------------------------------------------------------------
# The backbone needs torch and mmcv, which take seconds to import; the design
# tools need neither. So the models are imported (and ``DeepMAD`` registered)
# as soon as an OpenMMLab library's registry is imported -- at once if one
# already is, as under ``custom_imports`` -- and mmdeepmad's own registry
# (scope ``mmdeepmad``, for ``type='mmdeepmad.DeepMAD'``) with mmengine's.
if _module_available('torch'):
    import importlib as _importlib

    from .compat._hooks import when_imported as _when_imported

    def _import_registry(_module):
        _importlib.import_module('mmdeepmad.registry')

    def _register_into(module):
        registration = _importlib.import_module(
            'mmdeepmad.models.registration')
        registration.register_into(module)

    _when_imported('mmengine.registry', _import_registry)
    for _library in ('mmpretrain', 'mmdet', 'mmseg', 'mmaction'):
        _when_imported(f'{_library}.registry', _register_into)

__all__ = ['__version__', 'version_info']
