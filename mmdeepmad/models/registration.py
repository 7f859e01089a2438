# Copyright (c) mmdeepmad authors. All rights reserved.
"""Make ``type='DeepMAD'`` work in every installed OpenMMLab library's scope.

``DeepMAD`` lives in mmdeepmad's registry (scope ``mmdeepmad``, a child of
mmengine's root), so ``type='mmdeepmad.DeepMAD'`` resolves from any library.
A plain ``type='DeepMAD'`` is looked up in the *current* scope's registry
(mmdet's, mmseg's, ...) and its parents only, never in sibling scopes, so the
backbone is also registered into each library's own ``MODELS``:

============== ====================== =====================================
library        registry module        registered class
============== ====================== =====================================
mmpretrain     ``mmpretrain.registry``  :class:`DeepMAD` (tuple output)
mmdet          ``mmdet.registry``       :class:`DeepMAD`
mmseg          ``mmseg.registry``       :class:`DeepMAD`
mmaction2      ``mmaction.registry``    :class:`DeepMADForMMAction` (a single
                                        output is a tensor, mmaction's
                                        backbone convention)
============== ====================== =====================================

Registration is lazy: it happens when the library's registry module is
imported (right away if it already is), so ``import mmdeepmad`` imports none
of them and a library that is not installed is simply never registered into.

Models built on a library's own classes, like the mmdet head
:class:`~mmdeepmad.models.dense_heads.GFLV2Head` (``type='GFLV2Head'``), live
in modules that import that library's models (LIBRARY_MODULES). A library's
registry is usually first imported halfway through importing some other part
of it (its models, datasets, ...). Importing all its models right there would
nest a second partial import in the first (fragile, even if mmdet 3.3.0
copes) and import them with any part of the library; so these modules are
added to the registry's import ``locations`` instead, which it imports at its
first look-up or build, after its own models. If the library's models are
imported already, or the registry was looked up, they are imported at once.
"""
import importlib
import sys
from functools import partial

from mmdeepmad.compat._hooks import when_imported
from .backbones.deepmad import DeepMAD, DeepMADForMMAction

#: registry module of each library -> the class registered there as DeepMAD
DOWNSTREAM = {
    'mmpretrain.registry': DeepMAD,
    'mmdet.registry': DeepMAD,
    'mmseg.registry': DeepMAD,
    'mmaction.registry': DeepMADForMMAction,
}

#: registry module of each library -> modules that register more models into
#: that library's MODELS when imported (they import the library's models)
LIBRARY_MODULES = {
    'mmdet.registry': ('mmdeepmad.models.dense_heads', ),
}


def _register(module, cls) -> None:
    registry = getattr(module, 'MODELS', None)
    if registry is None or 'DeepMAD' in registry.module_dict:
        return
    registry.register_module(name='DeepMAD', module=cls)


def _imported(name: str) -> bool:
    """Whether module ``name`` is imported completely (not in progress)."""
    module = sys.modules.get(name)
    spec = getattr(module, '__spec__', None)
    return spec is not None and not getattr(spec, '_initializing', False)


def _register_library_modules(module) -> None:
    """Have the LIBRARY_MODULES of a registry module register their models
    into its ``MODELS``: now if the library's models are imported, else at
    the registry's first look-up."""
    names = LIBRARY_MODULES.get(module.__name__, ())
    registry = getattr(module, 'MODELS', None)
    if not names or registry is None:
        return
    locations = getattr(registry, '_locations', None)
    looked_up = getattr(registry, '_imported', True)
    models_imported = bool(locations) and all(map(_imported, locations))
    if isinstance(locations, list) and not looked_up and not models_imported:
        # imported at the registry's first look-up, after the library's models
        locations.extend(name for name in names if name not in locations)
        return
    for name in names:
        importlib.import_module(name)


def register_into(module) -> None:
    """Register into one library's registry module (one of DOWNSTREAM)."""
    _register(module, DOWNSTREAM[module.__name__])
    _register_library_modules(module)


def register_downstream() -> None:
    """Register into each library's ``MODELS`` once its registry module
    is imported."""
    for module_name, cls in DOWNSTREAM.items():
        when_imported(module_name, partial(_register, cls=cls))
    for module_name in LIBRARY_MODULES:
        when_imported(module_name, _register_library_modules)
