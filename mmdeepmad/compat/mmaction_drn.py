# Copyright (c) mmdeepmad authors. All rights reserved.
"""Provide ``mmaction.models.localizers.drn`` when the installed mmaction2
lacks it.

mmaction2 1.2.0 as published on PyPI ships ``mmaction/models/localizers/
__init__.py`` with ``from .drn.drn import DRN`` but not the ``drn`` package
itself, so ``import mmaction.models`` fails with ``ModuleNotFoundError``.

The fix edits nothing in site-packages: :func:`install` appends a finder to
the END of ``sys.meta_path``. Python consults it only after every regular
finder failed to find ``mmaction.models.localizers.drn`` (or ``.drn.drn``),
i.e. only when the module is genuinely missing. It then creates

* ``mmaction.models.localizers.drn`` -- an empty package, and
* ``mmaction.models.localizers.drn.drn`` -- a module exposing a placeholder
  ``DRN`` class, registered in mmaction's ``MODELS`` registry, whose
  constructor raises :class:`DRNUnavailableError` with a clear message.

Nothing is imported from mmaction until mmaction itself imports the module.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os.path as osp
import sys

PACKAGE = 'mmaction.models.localizers.drn'
MODULE = PACKAGE + '.drn'
_STUB_FLAG = '__mmdeepmad_stub__'


class DRNUnavailableError(NotImplementedError):
    """Raised when somebody tries to build the placeholder ``DRN``."""


_MESSAGE = (
    'DRN (mmaction.models.localizers.drn) is not available: the installed '
    'mmaction2 release ships without the `mmaction/models/localizers/drn` '
    'package, and mmdeepmad only provides a placeholder so that '
    '`import mmaction.models` works. Install mmaction2 from its source '
    'repository if you need the DRN localizer.')


class DRN:
    """Placeholder for mmaction's DRN localizer; building it raises."""

    def __init__(self, *args, **kwargs):
        raise DRNUnavailableError(_MESSAGE)


class _DRNStubLoader(importlib.abc.Loader):

    def create_module(self, spec):
        return None  # default module creation

    def exec_module(self, module):
        setattr(module, _STUB_FLAG, True)
        module.__doc__ = 'mmdeepmad placeholder: ' + _MESSAGE
        if module.__name__ == PACKAGE:
            module.__all__ = []
            return
        module.DRN = DRN
        module.DRNUnavailableError = DRNUnavailableError
        module.__all__ = ['DRN']
        try:  # make `MODELS.build(dict(type='DRN'))` fail with our message
            from mmaction.registry import MODELS
            if MODELS.get('DRN') is None:
                MODELS.register_module(name='DRN', module=DRN)
        except Exception:  # pragma: no cover - registry layout changed
            pass


class _DRNStubFinder(importlib.abc.MetaPathFinder):
    """Last-resort finder for the two missing DRN modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == PACKAGE:
            return importlib.machinery.ModuleSpec(
                fullname, _LOADER, is_package=True)
        if fullname == MODULE:
            return importlib.machinery.ModuleSpec(fullname, _LOADER)
        return None


_LOADER = _DRNStubLoader()
_FINDER = _DRNStubFinder()


def drn_is_missing() -> bool:
    """True if mmaction is installed but has no ``models/localizers/drn``.

    Cheap: locates the mmaction package without importing it.
    """
    if 'mmaction' in sys.modules:
        spec = getattr(sys.modules['mmaction'], '__spec__', None)
    else:
        try:
            spec = importlib.util.find_spec('mmaction')
        except (ImportError, ValueError):
            return False
    if spec is None or not spec.submodule_search_locations:
        return False
    for root in spec.submodule_search_locations:
        localizers = osp.join(root, 'models', 'localizers')
        if osp.isdir(localizers):
            return not (osp.isdir(osp.join(localizers, 'drn'))
                        or osp.isfile(osp.join(localizers, 'drn.py')))
    return False


def is_stub(module) -> bool:
    """Whether ``module`` is the placeholder created here."""
    return bool(getattr(module, _STUB_FLAG, False))


def install() -> bool:
    """Install the fallback finder if needed; return whether it is active."""
    if _FINDER in sys.meta_path:
        return True
    if not drn_is_missing():
        return False
    sys.meta_path.append(_FINDER)
    # A failed `import mmaction.models` before this point leaves no partial
    # `mmaction.models` in sys.modules, so a retry now succeeds.
    return True
