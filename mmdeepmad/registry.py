# Copyright (c) mmdeepmad authors. All rights reserved.
"""mmdeepmad's registries: children of mmengine's root ``MODELS`` and
``HOOKS`` in scope ``mmdeepmad``.

Being a child of the root registry is what makes ``type='mmdeepmad.DeepMAD'``
resolve from any OpenMMLab library (mmengine searches the root's children by
scope). Plain ``type='DeepMAD'`` in another library's default scope works
because :mod:`mmdeepmad.models.registration` also registers the backbone into
each installed library's own ``MODELS``.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmdeepmad',
    locations=['mmdeepmad.models'])

#: hooks, used from any library's config as ``type='mmdeepmad.<Hook>'``
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='mmdeepmad',
    locations=['mmdeepmad.engine.hooks'])

__all__ = ['MODELS', 'HOOKS']
