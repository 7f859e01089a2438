# Copyright (c) mmdeepmad authors. All rights reserved.
"""A tiny post-import hook: run a callback right after a module is imported.

Used to apply fixes that need a heavy library (torch, mmengine) only once that
library is actually imported by someone, so ``import mmdeepmad`` stays light.
"""
import importlib.abc
import sys
import threading
from typing import Callable, Dict, List

_Callback = Callable[[object], None]


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Meta path finder that never finds anything itself; it asks the other
    finders for the spec of a hooked module and wraps its ``exec_module`` so
    the callbacks run once the module body has executed."""

    def __init__(self) -> None:
        self.hooks: Dict[str, List[_Callback]] = {}
        self._busy = set()
        self._lock = threading.RLock()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.hooks or fullname in self._busy:
            return None
        with self._lock:
            self._busy.add(fullname)
            try:
                spec = None
                for finder in sys.meta_path:
                    if finder is self or not hasattr(finder, 'find_spec'):
                        continue
                    spec = finder.find_spec(fullname, path, target)
                    if spec is not None:
                        break
            finally:
                self._busy.discard(fullname)
        loader = getattr(spec, 'loader', None) if spec else None
        if loader is None or not hasattr(loader, 'exec_module'):
            return spec
        orig_exec = loader.exec_module

        def exec_module(module, _orig=orig_exec, _name=fullname):
            _orig(module)
            if getattr(module, '__name__', None) == _name:
                _run_hooks(_name, module)

        try:
            loader.exec_module = exec_module
        except (AttributeError, TypeError):  # pragma: no cover - exotic loader
            pass
        return spec


_FINDER = _PostImportFinder()


def _run_hooks(name: str, module) -> None:
    for cb in _FINDER.hooks.pop(name, []):
        cb(module)


def when_imported(name: str, callback: _Callback) -> None:
    """Call ``callback(module)`` now if ``name`` is already imported, else
    right after it gets imported (once)."""
    module = sys.modules.get(name)
    if module is not None and getattr(module, '__spec__', None) is not None \
            and not getattr(module.__spec__, '_initializing', False):
        callback(module)
        return
    _FINDER.hooks.setdefault(name, []).append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
