# Copyright (c) mmdeepmad authors. All rights reserved.
"""Torch models: the :class:`DeepMAD` backbone and its residual units.

Importing this package registers ``DeepMAD`` in mmdeepmad's registry and,
lazily, in the registries of mmpretrain, mmdet, mmseg and mmaction2 (see
:mod:`.registration`).
"""
from mmdeepmad.arch.loader import list_presets, load_arch
from .backbones import DeepMAD, DeepMADForMMAction
from .blocks import (BasicBlock, Bottleneck, InvertedResidual,
                     InvertedResidualSE, ResidualUnit, SqueezeExcitation)
from .fusion import fuse_conv_bn
from .registration import register_downstream

register_downstream()

__all__ = [
    'DeepMAD', 'DeepMADForMMAction', 'ResidualUnit', 'Bottleneck',
    'BasicBlock', 'InvertedResidual', 'InvertedResidualSE',
    'SqueezeExcitation', 'fuse_conv_bn', 'list_presets', 'load_arch',
    'register_downstream'
]
