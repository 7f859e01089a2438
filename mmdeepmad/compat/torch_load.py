# Copyright (c) mmdeepmad authors. All rights reserved.
"""Let mmengine checkpoints load with ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. mmengine
0.10.7 calls ``torch.load(filename, map_location=...)`` without the argument,
so loading a checkpoint written by its ``Runner`` (``load_from=``,
``resume=True``) fails with ``Weights only load failed ... Unsupported
global``. Found by saving a checkpoint with ``Runner`` + ``CheckpointHook``
and disassembling its pickle, the checkpoint holds, besides tensors:

* ``message_hub.log_scalars``: :class:`mmengine.logging.HistoryBuffer`
  objects holding numpy arrays (``numpy._core.multiarray._reconstruct``,
  ``numpy.ndarray``, ``numpy.dtype`` and the concrete ``numpy.dtypes.*DType``
  classes) and a dict of statistics methods pickled as
  ``getattr(HistoryBuffer, 'min')`` (``builtins.getattr``);
* ``message_hub.runtime_info``: numpy scalars
  (``numpy._core.multiarray.scalar``), e.g. ``eta``.

Instead of turning ``weights_only`` off, :func:`register_safe_globals` adds
exactly these to ``torch.serialization.add_safe_globals``. ``getattr`` is NOT
allowed in general: ``builtins.getattr`` is mapped to :func:`safe_getattr`,
which only returns the statistics methods of ``HistoryBuffer`` (min, max,
current, mean and ones registered via ``HistoryBuffer.register_statistics``)
and raises for anything else. Aliases under the numpy 1.x module names
(``numpy.core.multiarray.*``) are registered too, so checkpoints written with
numpy 1.x load as well. ``mmengine.config.ConfigDict`` is allowed for
checkpoints whose meta carries config dicts.

:func:`install` applies this lazily: when ``torch`` is imported (or right away
if it already is), and adds the mmengine classes once
``mmengine.logging.history_buffer`` / ``mmengine.config.config`` are imported.
"""
import pickle
from typing import Any, List

from ._hooks import when_imported

_DEFAULT_STATS = ('min', 'max', 'current', 'mean')
_state = {'numpy': False, 'history_buffer': False, 'config': False}


def _available(name: str) -> bool:
    from . import module_available
    return module_available(name)


def _history_buffer_cls():
    import sys
    mod = sys.modules.get('mmengine.logging.history_buffer')
    return getattr(mod, 'HistoryBuffer', None) if mod else None


def safe_getattr(obj: Any, name: str, *default):
    """Restricted ``getattr`` for the weights-only unpickler.

    Only ``getattr(HistoryBuffer, <statistics method>)`` is allowed; this is
    how pickle protocol 2 stores the unbound methods in
    ``HistoryBuffer._statistics_methods``.
    """
    hb = _history_buffer_cls()
    if hb is not None and isinstance(obj, type) and issubclass(obj, hb):
        allowed = set(_DEFAULT_STATS) | set(
            getattr(hb, '_statistics_methods', {}))
        if name in allowed and not name.startswith('_'):
            value = getattr(obj, name, *default)
            if callable(value):
                return value
    raise pickle.UnpicklingError(
        f'mmdeepmad weights-only loading: getattr({obj!r}, {name!r}) is not '
        'allowed; only statistics methods of mmengine HistoryBuffer are. '
        'Load with weights_only=False only if you trust the file.')


def _numpy_globals() -> List[Any]:
    import numpy as np
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        multiarray = np.core.multiarray
    out: List[Any] = [
        multiarray._reconstruct,
        multiarray.scalar,
        np.ndarray,
        np.dtype,
        # checkpoints written with numpy 1.x name the old module path
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
    ]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                out.append(obj)
    return out


def _add(globs: List[Any]) -> None:
    import torch
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch >= 2.4
        add(globs)


def _on_torch(_module=None) -> None:
    if _state['numpy']:
        return
    if _available('numpy'):
        _add(_numpy_globals())
    _state['numpy'] = True


def _on_history_buffer(module) -> None:
    if _state['history_buffer']:
        return
    _add([module.HistoryBuffer, (safe_getattr, 'builtins.getattr')])
    _state['history_buffer'] = True


def _on_config(module) -> None:
    if _state['config']:
        return
    _add([module.ConfigDict])
    _state['config'] = True


def register_safe_globals() -> None:
    """Register everything now (imports torch, numpy and mmengine)."""
    import importlib
    importlib.import_module('torch')
    _on_torch()
    if _available('mmengine'):
        _on_history_buffer(
            importlib.import_module('mmengine.logging.history_buffer'))
        _on_config(importlib.import_module('mmengine.config.config'))


def install() -> bool:
    """Register lazily, as torch / mmengine get imported. Cheap."""
    if not _available('torch'):
        return False
    # The mmengine hooks import torch themselves (torch is installed).
    when_imported('torch', _on_torch)
    if _available('mmengine'):
        when_imported('mmengine.logging.history_buffer', _on_history_buffer)
        when_imported('mmengine.config.config', _on_config)
    return True


def registered() -> dict:
    """Which groups of safe globals are registered (for tests/debugging)."""
    return dict(_state)
