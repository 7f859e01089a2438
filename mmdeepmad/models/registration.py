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
"""
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


def _register(module, cls) -> None:
    registry = getattr(module, 'MODELS', None)
    if registry is None or 'DeepMAD' in registry.module_dict:
        return
    registry.register_module(name='DeepMAD', module=cls)


def register_into(module) -> None:
    """Register into one library's registry module (one of DOWNSTREAM)."""
    _register(module, DOWNSTREAM[module.__name__])


def register_downstream() -> None:
    """Register into each library's ``MODELS`` once its registry module
    is imported."""
    for module_name, cls in DOWNSTREAM.items():
        when_imported(module_name, partial(_register, cls=cls))
