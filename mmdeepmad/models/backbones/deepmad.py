# Copyright (c) mmdeepmad authors. All rights reserved.
"""The DeepMAD backbone: builds exactly what an :class:`ArchSpec` says."""
import copy
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init
from torch.nn.modules.batchnorm import _BatchNorm

from mmdeepmad.arch.layout import NetworkLayout, build_layout
from mmdeepmad.arch.loader import list_presets, load_arch
from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions.counters import count
from mmdeepmad.engine.pretrained import (check_pretrained, load_pretrained,
                                         split_pretrained)
from mmdeepmad.registry import MODELS
from ..blocks import build_conv, build_unit
from ..fusion import fuse_conv_bn

#: The spec's activation name -> mmcv act_cfg.
ACT_CFGS = {
    'relu': dict(type='ReLU'),
    'relu6': dict(type='ReLU6'),
    'silu': dict(type='SiLU'),
}


@MODELS.register_module()
class DeepMAD(BaseModule):
    """DeepMAD backbone (`DeepMAD: Mathematical Architecture Design for Deep
    Convolutional Neural Network <https://arxiv.org/abs/2303.02165>`_, CVPR
    2023).

    A stem conv (+ optional 3x3/2 max pool), ``M`` stages of residual units
    (``stage1`` ... ``stageM``, each an ``nn.Sequential`` of units from
    :mod:`mmdeepmad.models.blocks`) and an optional 1x1 ``head_conv`` that
    belongs to the last stage. The built model's parameters equal
    ``mmdeepmad.conventions.counters.count(model.arch_spec).params`` exactly.

    Args:
        arch (str | dict | ArchSpec | list): what to build; see
            :func:`mmdeepmad.arch.loader.load_arch`: a preset name
            (``DeepMAD.list_presets()``), a path to an arch JSON or TinyNAS
            structure file, an ArchSpec or its dict, a TinyNAS structure (list
            of block dicts), or budgets ``dict(flops=..., params=..., rho=...,
            block=..., resolution=...)`` designed at build time (needs cvxpy).
        in_channels (int, optional): input channels; defaults to the spec's.
        out_indices (int | Sequence[int]): stages whose outputs are returned,
            0-based, negative counts from the end. Outputs are in stage order.
            Defaults to ``(-1, )``, the last stage (with the head conv).
        frozen_stages (int): ``-1`` freezes nothing, ``0`` the stem, ``i`` the
            stem and stages 1..i (``requires_grad=False`` and eval mode,
            re-applied in :meth:`train`). Defaults to -1.
        conv_cfg (dict, optional): conv layer config. Defaults to None.
        norm_cfg (dict): norm layer config (BN, SyncBN, GN, ...).
            Defaults to ``dict(type='BN', requires_grad=True)``.
        act_cfg (dict, optional): activation config; defaults to the spec's
            ``act`` (ReLU, ReLU6 or SiLU).
        stem_act_cfg (dict, optional): activation of the stem; defaults to
            ``act_cfg`` if given, else the spec's ``plain_conv_act`` (ReLU
            under the ``tinynas`` style, as TinyNAS's SiLU networks have).
        head_act_cfg (dict, optional): activation of the head conv; same
            default as ``stem_act_cfg``.
        norm_eval (bool): keep norm layers in eval mode during training
            (frozen running statistics). Defaults to False.
        with_cp (bool): checkpoint every unit (saves memory, costs time).
            Defaults to False.
        drop_path_rate (float): stochastic depth rate, increasing linearly
            over the units from 0 to this value; applied only to units that
            have a shortcut. Defaults to 0.
        zero_init_residual (bool): zero the last norm of every unit that has
            a shortcut, so each starts as its shortcut. Ignored when loading
            ``Pretrained`` weights. Defaults to True.
        deploy (bool): build the fused form (conv with bias, no norm) to load
            weights saved after :meth:`switch_to_deploy`. Defaults to False.
        init_cfg (dict | list[dict], optional): initialization config. The
            default is Kaiming for convs and constant 1 / 0 for norms; use
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
            to load a classifier's backbone. The checkpoint must fit: a
            tensor of the backbone missing from it, a tensor it has that the
            backbone lacks, or one of another shape (a checkpoint of another
            arch) raises :class:`~mmdeepmad.engine.errors.
            CheckpointMismatchError` naming them, where mmengine would load
            what happens to match and only log a warning. Add
            ``strict=False`` to the ``Pretrained`` dict to load the tensors
            that fit (the rest keep their initialisation, with a warning).

    Attributes:
        arch_spec (ArchSpec): the spec that was built.
        layout (NetworkLayout): its layout (every unit and conv).
        out_channels (tuple[int]): channels of each output.
        out_strides (tuple[int]): stride of each output w.r.t. the input.

    Example:
        >>> import torch
        >>> from mmdeepmad.models import DeepMAD
        >>> model = DeepMAD('deepmad-r50', out_indices=(1, 2, 4)).eval()
        >>> model.out_channels, model.out_strides
        ((240, 864, 1232), (8, 16, 32))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 224, 224))]
        [(1, 240, 28, 28), (1, 864, 14, 14), (1, 1232, 7, 7)]
    """

    def __init__(
        self,
        arch: Union[str, dict, ArchSpec, list],
        in_channels: Optional[int] = None,
        out_indices: Union[int, Sequence[int]] = (-1, ),
        frozen_stages: int = -1,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN', requires_grad=True),
        act_cfg: Optional[dict] = None,
        stem_act_cfg: Optional[dict] = None,
        head_act_cfg: Optional[dict] = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        drop_path_rate: float = 0.,
        zero_init_residual: bool = True,
        deploy: bool = False,
        init_cfg: Optional[Union[dict, list]] = [
            dict(type='Kaiming', layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]
    ) -> None:
        super().__init__(init_cfg=copy.deepcopy(init_cfg))
        spec = load_arch(arch)
        #: the preset name or file the spec came from (None otherwise)
        self.arch_name: Optional[str] = arch if isinstance(arch, str) else None
        if in_channels is not None and in_channels != spec.in_channels:
            spec = spec.replace(in_channels=in_channels)
        self.arch_spec: ArchSpec = spec
        self.layout: NetworkLayout = build_layout(spec)
        self.num_stages = spec.num_stages
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, '
                             f'{self.num_stages}], got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.deploy = deploy

        # the stem and head conv follow the spec (TinyNAS's ConvKXBNRELU is
        # ReLU in every network) unless an activation is configured
        plain_act_cfg = copy.deepcopy(
            act_cfg if act_cfg is not None else ACT_CFGS[spec.plain_conv_act])
        act_cfg = copy.deepcopy(
            act_cfg if act_cfg is not None else ACT_CFGS[spec.act])
        conv_kwargs = dict(
            conv_cfg=conv_cfg, norm_cfg=copy.deepcopy(norm_cfg), deploy=deploy)
        layout = self.layout

        self.stem = build_conv(
            layout.stem,
            act_cfg=(stem_act_cfg
                     if stem_act_cfg is not None else plain_act_cfg),
            **conv_kwargs)
        self.stem_pool = (
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            if spec.stem.max_pool else None)

        rates = np.linspace(0, drop_path_rate, len(layout.units)).tolist()
        stage_units = [[] for _ in range(self.num_stages)]
        for unit, rate in zip(layout.units, rates):
            stage_units[unit.stage].append(
                build_unit(
                    unit,
                    act_cfg=act_cfg,
                    drop_path_rate=rate,
                    with_cp=with_cp,
                    **conv_kwargs))
        self.stage_names = []
        for stage_index, units in enumerate(stage_units):
            name = f'stage{stage_index + 1}'
            self.add_module(name, nn.Sequential(*units))
            self.stage_names.append(name)
        self.head_conv = (
            build_conv(
                layout.head_conv,
                act_cfg=(head_act_cfg
                         if head_act_cfg is not None else plain_act_cfg),
                **conv_kwargs) if layout.head_conv is not None else None)

        channels = spec.stage_channels
        strides = self._stage_strides()
        self.out_channels: Tuple[int, ...] = tuple(channels[i]
                                                   for i in self.out_indices)
        self.out_strides: Tuple[int, ...] = tuple(strides[i]
                                                  for i in self.out_indices)
        self._freeze_stages()

    # ---- construction helpers ----------------------------------------------
    @staticmethod
    def list_presets():
        """Names of the preset architectures shipped in mmdeepmad/presets."""
        return list_presets()

    def _check_out_indices(self, out_indices) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, Sequence) or not out_indices:
            raise TypeError('out_indices must be an int or a non-empty '
                            f'sequence of ints, got {out_indices!r}')
        indices = []
        for index in out_indices:
            if not -self.num_stages <= index < self.num_stages:
                raise ValueError(
                    f'out_indices entry {index} is out of range for '
                    f'{self.num_stages} stages')
            indices.append(index % self.num_stages)
        if len(set(indices)) != len(indices):
            raise ValueError(f'out_indices {tuple(out_indices)} names a '
                             'stage twice')
        return tuple(sorted(indices))

    def _stage_strides(self) -> Tuple[int, ...]:
        stride = self.arch_spec.stem.stride * (
            2 if self.arch_spec.stem.max_pool else 1)
        strides = []
        for stage_index in range(self.num_stages):
            for unit in self.layout.stage_units(stage_index):
                stride *= unit.stride
            strides.append(stride)
        return tuple(strides)

    # ---- structure ----------------------------------------------------------
    @property
    def stages(self) -> Tuple[nn.Sequential, ...]:
        return tuple(getattr(self, name) for name in self.stage_names)

    def units(self):
        """Every residual unit, in order."""
        for stage in self.stages:
            yield from stage

    def expected_params(self) -> int:
        """Parameter count by the design package's counters (it equals
        ``sum(p.numel() for p in self.parameters())`` unless deployed)."""
        return count(self.arch_spec).params

    # ---- OpenMMLab conventions ---------------------------------------------
    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for stage_index in range(self.frozen_stages):
            yield self.stages[stage_index]
        if self.frozen_stages == self.num_stages and \
                self.head_conv is not None:
            yield self.head_conv

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'DeepMAD':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _loads_pretrained(self) -> bool:
        return bool(split_pretrained(self.init_cfg)[0])

    def init_weights(self) -> None:
        # mmengine runs ``init_weights()`` of direct children after applying
        # ``init_cfg``; ConvModule's would re-initialise the stem and head
        # conv with its own Kaiming. Mark them so ``init_cfg`` governs every
        # layer alike.
        for module in self.children():
            if isinstance(module, ConvModule):
                module.is_init = True
        if self.is_init:
            super().init_weights()  # mmengine warns about the second call
            return
        # a missing local file gets an error saying how to produce it
        check_pretrained(
            dict(arch=self.arch_name, init_cfg=self.init_cfg),
            prefix='model.backbone')
        # ``Pretrained`` is loaded here, strictly unless ``strict=False``
        # (mmengine's PretrainedInit loads whatever matches), after the other
        # initialisers, as mmengine orders them
        pretrained, others = split_pretrained(self.init_cfg)
        init_cfg = self.init_cfg
        if pretrained:
            self.init_cfg = others or None
        try:
            super().init_weights()
        finally:
            self.init_cfg = init_cfg
        for cfg in pretrained:
            load_pretrained(self, cfg, key_path='model.backbone')
        if self.zero_init_residual and not pretrained:
            for unit in self.units():
                if unit.shortcut is not None and unit.last_conv.with_norm:
                    constant_init(unit.last_conv.norm, 0)

    # ---- forward ------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        if self.stem_pool is not None:
            x = self.stem_pool(x)
        outs = []
        for stage_index, stage in enumerate(self.stages):
            x = stage(x)
            if stage_index == self.num_stages - 1 and \
                    self.head_conv is not None:
                x = self.head_conv(x)
            if stage_index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # ---- deployment ---------------------------------------------------------
    def switch_to_deploy(self) -> int:
        """Fold every BatchNorm into its conv (SE convs included), in place.

        The fused model computes what this one computes in eval mode. Returns
        the number of fused conv + BN pairs."""
        fused = fuse_conv_bn(self)
        self.deploy = True
        return fused


class DeepMADForMMAction(DeepMAD):
    """:class:`DeepMAD` with mmaction2's backbone convention: a single output
    is returned as a tensor, several as a tuple (as mmaction's own ResNet
    and MobileNetV2 do). Registered as ``DeepMAD`` in mmaction2's registry
    only, so ``Recognizer2D`` + ``TSNHead`` work with ``type='DeepMAD'``
    under ``default_scope='mmaction'``."""

    def forward(self, x: torch.Tensor) -> Any:
        outs = super().forward(x)
        return outs[0] if len(outs) == 1 else outs
