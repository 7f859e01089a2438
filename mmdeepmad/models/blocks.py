# Copyright (c) mmdeepmad authors. All rights reserved.
"""The residual units of the four block families, built from a
:class:`~mmdeepmad.arch.layout.UnitLayout`.

A unit builds exactly the convs its layout lists (``main``, ``se``,
``shortcut_conv``), each as an mmcv :class:`ConvModule` (conv without bias +
norm + optional activation), so ``norm_cfg``/``act_cfg`` from configs (BN,
SyncBN, GN; ReLU, SiLU, ...) apply everywhere. What a unit computes::

    y = main(x)                                  # conv, conv, (SE), conv
    y = drop_path(y) + shortcut(x)               # if the unit has a shortcut
    y = act(y)                                   # if layout.act_after_add

============== =========================== ================================
family         class                       main path (module names)
============== =========================== ================================
``bottleneck`` :class:`Bottleneck`         ``conv1`` 1x1, ``conv2`` kxk,
                                           ``conv3`` 1x1
``basic``      :class:`BasicBlock`         ``conv1`` kxk, ``conv2`` kxk
``mbv2``       :class:`InvertedResidual`   ``expand_conv`` 1x1 (optional),
                                           ``depthwise_conv`` kxk,
                                           ``project_conv`` 1x1
``mbv2-se``    :class:`InvertedResidualSE` as ``mbv2``, with ``se`` after
                                           the depthwise conv
============== =========================== ================================

Shortcut kinds (``layout.shortcut``): ``identity``; ``pool`` (2x2 average
pool, ceil mode, padding excluded); ``pool_proj`` (that pool, then 1x1 conv +
norm); ``proj`` (strided 1x1 conv + norm); ``none`` (no residual add).
"""
from typing import Dict, Optional, Tuple, Type

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, build_activation_layer
from mmcv.cnn.bricks import DropPath

from mmdeepmad.arch.layout import (IDENTITY, NO_SHORTCUT, POOL, POOL_PROJ,
                                   PROJ, ConvLayer, UnitLayout)


def _inplace(act_cfg: dict) -> dict:
    """``act_cfg`` with ``inplace=True`` where the activation takes it (as
    ConvModule does)."""
    act_cfg = dict(act_cfg)
    if act_cfg['type'] not in ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish',
                               'GELU'):
        act_cfg.setdefault('inplace', True)
    return act_cfg


def build_conv(layer: ConvLayer,
               conv_cfg: Optional[dict],
               norm_cfg: Optional[dict],
               act_cfg: Optional[dict],
               deploy: bool = False) -> ConvModule:
    """The ConvModule of one layout conv: 'same' padding, no bias, a norm,
    and ``act_cfg`` only where the layout says an activation follows.

    ``deploy=True`` builds the fused form instead: conv with bias, no norm.
    """
    return ConvModule(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.kernel_size // 2,
        groups=layer.groups,
        bias=deploy,
        conv_cfg=conv_cfg,
        norm_cfg=None if deploy else norm_cfg,
        act_cfg=act_cfg if layer.act else None)


class SqueezeExcitation(nn.Module):
    """TinyNAS's SE: global average pool -> ``conv1`` (C -> squeeze) + norm +
    act -> ``conv2`` (squeeze -> C) + norm -> sigmoid -> scale the input.
    The act is the network's ``act_cfg`` (SiLU for TinyNAS's SE networks,
    whose spec ``act`` is ``silu``).

    Note the norms run on 1x1 maps: training with a BatchNorm needs a batch of
    at least 2, as in TinyNAS.
    """

    def __init__(self, conv1: ConvModule, conv2: ConvModule) -> None:
        super().__init__()
        self.conv1 = conv1
        self.conv2 = conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = nn.functional.adaptive_avg_pool2d(x, 1)
        scale = self.conv2(self.conv1(scale))
        return x * torch.sigmoid(scale)


class Shortcut(nn.Module):
    """The residual path: identity, or an optional 2x2 average ``pool``
    followed by an optional 1x1 ``conv`` projection."""

    def __init__(self,
                 pool: bool = False,
                 conv: Optional[ConvModule] = None) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(
            2, 2, ceil_mode=True, count_include_pad=False) if pool else None
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        if self.conv is not None:
            x = self.conv(x)
        return x


class ResidualUnit(nn.Module):
    """What every family shares: shortcut, stochastic depth, activation after
    the add, gradient checkpointing. Subclasses build the main path from
    ``layout.main`` in :meth:`_build_main` and run it in :meth:`forward_main`.

    Args:
        layout (UnitLayout): the unit to build (from ``build_layout``).
        conv_cfg, norm_cfg, act_cfg (dict, optional): mmcv layer configs.
        drop_path_rate (float): stochastic depth rate of the main path (used
            only when the unit has a shortcut to fall back on).
        with_cp (bool): checkpoint the unit to save memory in training.
        deploy (bool): build convs with bias and no norm (fused form).
    """

    #: block families this class builds, and the number of main-path convs
    families: Tuple[str, ...] = ()

    def __init__(self,
                 layout: UnitLayout,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 drop_path_rate: float = 0.,
                 with_cp: bool = False,
                 deploy: bool = False) -> None:
        super().__init__()
        if layout.block not in self.families:
            raise ValueError(f'{type(self).__name__} builds '
                             f'{self.families} units, not {layout.block!r}')
        self.layout = layout
        self.with_cp = with_cp
        self._conv_kwargs = dict(
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, deploy=deploy)
        self._build_main(layout, act_cfg)

        if layout.shortcut == NO_SHORTCUT:
            self.shortcut = None
        elif layout.shortcut == IDENTITY:
            self.shortcut = Shortcut()
        elif layout.shortcut in (POOL, POOL_PROJ, PROJ):
            conv = None
            if layout.shortcut_conv is not None:
                conv = self._conv(layout.shortcut_conv, None)
            self.shortcut = Shortcut(
                pool=layout.shortcut in (POOL, POOL_PROJ), conv=conv)
        else:
            raise ValueError(f'unknown shortcut kind {layout.shortcut!r}')
        del self._conv_kwargs

        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0
            and self.shortcut is not None else nn.Identity())
        self.act = (
            build_activation_layer(_inplace(act_cfg))
            if layout.act_after_add and act_cfg is not None else None)

    def _conv(self, layer: ConvLayer, act_cfg: Optional[dict]) -> ConvModule:
        return build_conv(layer, act_cfg=act_cfg, **self._conv_kwargs)

    def _build_main(self, layout: UnitLayout, act_cfg: Optional[dict]) -> None:
        raise NotImplementedError

    def forward_main(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_conv(self) -> ConvModule:
        """The last main-path conv (its norm is zeroed by
        ``zero_init_residual``)."""
        raise NotImplementedError

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward_main(x)
        if self.shortcut is not None:
            out = self.drop_path(out) + self.shortcut(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._residual, x, use_reentrant=False)
        else:
            out = self._residual(x)
        if self.act is not None:
            out = self.act(out)
        return out


class Bottleneck(ResidualUnit):
    """1x1 -> kxk (stride) -> 1x1."""

    families = ('bottleneck', )

    def _build_main(self, layout, act_cfg):
        conv1, conv2, conv3 = layout.main
        self.conv1 = self._conv(conv1, act_cfg)
        self.conv2 = self._conv(conv2, act_cfg)
        self.conv3 = self._conv(conv3, act_cfg)

    def forward_main(self, x):
        return self.conv3(self.conv2(self.conv1(x)))

    @property
    def last_conv(self):
        return self.conv3


class BasicBlock(ResidualUnit):
    """kxk (stride) -> kxk."""

    families = ('basic', )

    def _build_main(self, layout, act_cfg):
        conv1, conv2 = layout.main
        self.conv1 = self._conv(conv1, act_cfg)
        self.conv2 = self._conv(conv2, act_cfg)

    def forward_main(self, x):
        return self.conv2(self.conv1(x))

    @property
    def last_conv(self):
        return self.conv2


class InvertedResidual(ResidualUnit):
    """MobileNetV2's unit: 1x1 expand (optional) -> kxk depthwise (stride) ->
    1x1 linear projection."""

    families = ('mbv2', )

    def _build_main(self, layout, act_cfg):
        *expand, depthwise, project = layout.main
        self.expand_conv = self._conv(expand[0], act_cfg) if expand else None
        self.depthwise_conv = self._conv(depthwise, act_cfg)
        self.se = self._build_se(layout, act_cfg)
        self.project_conv = self._conv(project, act_cfg)

    def _build_se(self, layout, act_cfg) -> Optional[SqueezeExcitation]:
        if layout.se:
            raise ValueError(f'{layout.block} units have no SE branch')
        return None

    def forward_main(self, x):
        if self.expand_conv is not None:
            x = self.expand_conv(x)
        x = self.depthwise_conv(x)
        if self.se is not None:
            x = self.se(x)
        return self.project_conv(x)

    @property
    def last_conv(self):
        return self.project_conv


class InvertedResidualSE(InvertedResidual):
    """MobileNetV2's unit with squeeze-and-excitation after the depthwise conv
    (TinyNAS's ResK1DWSEK1)."""

    families = ('mbv2-se', )

    def _build_se(self, layout, act_cfg):
        squeeze, excite = layout.se
        return SqueezeExcitation(
            self._conv(squeeze, act_cfg), self._conv(excite, act_cfg))


#: block family -> unit class
UNIT_CLASSES: Dict[str, Type[ResidualUnit]] = {
    family: cls
    for cls in (Bottleneck, BasicBlock, InvertedResidual, InvertedResidualSE)
    for family in cls.families
}


def build_unit(layout: UnitLayout, **kwargs) -> ResidualUnit:
    """The unit of ``layout.block``'s family."""
    return UNIT_CLASSES[layout.block](layout, **kwargs)
