"""Expand an :class:`ArchSpec` into the units and conv layers it builds.

This is the single description of what every block family contains; the
counters, the paper's quantities (Eq. 2-4) and the backbone builder all read
it, so they cannot disagree. A layer's *width* in the sense of Eq. 4 is
``in_channels * kernel_size**2 / groups`` (a depthwise conv has groups =
channels).
"""
from __future__ import annotations
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .spec import DEPTHWISE_FAMILIES, ArchSpec, StageSpec

#: Roles of a conv: on the main path (counted by Eq. 2-4), in a shortcut
#: projection, or inside a squeeze-and-excitation branch (run at 1x1).
MAIN, SHORTCUT, SE = 'main', 'shortcut', 'se'

#: Shortcut kinds of a unit.
NO_SHORTCUT = 'none'
IDENTITY = 'identity'
POOL = 'pool'  # 2x2 average pool (ceil mode), no projection
POOL_PROJ = 'pool_proj'  # 2x2 average pool then 1x1 conv + BN
PROJ = 'proj'  # 1x1 conv + BN carrying the unit's stride


def se_squeeze_channels(channels, ratio: float = 0.25):
    """Squeeze width of SE: ``max(1, round(C * ratio) // 8) * 8``.

    ``channels`` is an int (an int comes back) or a numpy array (the batched
    scorers; an array comes back). Rounding is half to even in both."""
    if isinstance(channels, int):
        return max(1, round(channels * ratio) // 8) * 8
    import numpy as np
    return np.maximum(1, np.round(np.asarray(channels) * ratio) // 8) * 8


def conv_output_size(size: int, kernel_size: int, stride: int) -> int:
    """Output side of a conv with 'same' padding ``k // 2``."""
    padding = kernel_size // 2
    return (size + 2 * padding - kernel_size) // stride + 1


@dataclass(frozen=True)
class ConvLayer:
    """One conv, always followed by BN (SE convs too); no conv has a bias."""

    role: str
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    groups: int
    in_size: int
    out_size: int
    act: bool

    @property
    def width(self) -> float:
        """Eq. 4's width ``c * k^2 / g``."""
        return self.in_channels * self.kernel_size**2 / self.groups

    @property
    def params(self) -> int:
        """Weights plus the BN's affine pair."""
        weights = (self.in_channels // self.groups) * self.out_channels * \
            self.kernel_size**2
        return weights + 2 * self.out_channels

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the conv alone."""
        return (self.in_channels // self.groups) * self.out_channels * \
            self.kernel_size**2 * self.out_size**2


@dataclass(frozen=True)
class UnitLayout:
    """One residual unit: its main-path convs, SE convs and shortcut."""

    stage: int
    index: int
    block: str
    in_channels: int
    out_channels: int
    mid_channels: int
    kernel_size: int
    stride: int
    in_size: int
    out_size: int
    main: Tuple[ConvLayer, ...]
    se: Tuple[ConvLayer, ...]
    shortcut: str
    shortcut_conv: Optional[ConvLayer]
    act_after_add: bool

    @property
    def convs(self) -> Tuple[ConvLayer, ...]:
        extra = (self.shortcut_conv, ) if self.shortcut_conv else ()
        return self.main + self.se + extra


@dataclass(frozen=True)
class NetworkLayout:
    """Everything the spec builds, in order."""

    spec: ArchSpec
    stem: ConvLayer
    stem_pool_size: Optional[int]  # output side of the stem max pool, if any
    units: Tuple[UnitLayout, ...]
    head_conv: Optional[ConvLayer]

    @property
    def convs(self) -> List[ConvLayer]:
        layers = [self.stem]
        for unit in self.units:
            layers.extend(unit.convs)
        if self.head_conv is not None:
            layers.append(self.head_conv)
        return layers

    @property
    def main_path(self) -> List[ConvLayer]:
        """The L layers of Eq. 2-4: stem, units' main convs, head conv."""
        return [conv for conv in self.convs if conv.role == MAIN]

    def stage_units(self, stage: int) -> Tuple[UnitLayout, ...]:
        return tuple(unit for unit in self.units if unit.stage == stage)

    def stage_output_size(self, stage: int) -> int:
        return self.stage_units(stage)[-1].out_size

    @property
    def final_channels(self) -> int:
        if self.head_conv is not None:
            return self.head_conv.out_channels
        return self.units[-1].out_channels

    @property
    def final_size(self) -> int:
        return self.units[-1].out_size


def _conv(role, c_in, c_out, k, stride, groups, size, act) -> ConvLayer:
    return ConvLayer(
        role=role,
        in_channels=c_in,
        out_channels=c_out,
        kernel_size=k,
        stride=stride,
        groups=groups,
        in_size=size,
        out_size=conv_output_size(size, k, stride),
        act=act)


def _main_convs(stage: StageSpec, style: str, c_in: int, stride: int,
                size: int) -> Tuple[ConvLayer, ...]:
    """The main path of one unit of the stage's family; the stride sits on the
    k x k conv (bottleneck, mbv2) or on one of the two k x k convs (basic)."""
    k, mid, out = stage.kernel_size, stage.mid_channels, stage.out_channels
    if stage.block == 'bottleneck':
        conv1 = _conv(MAIN, c_in, mid, 1, 1, 1, size, True)
        conv2 = _conv(MAIN, mid, mid, k, stride, 1, size, True)
        conv3 = _conv(MAIN, mid, out, 1, 1, 1, conv2.out_size, False)
        return conv1, conv2, conv3
    if stage.block == 'basic':
        # torchvision strides the first conv, TinyNAS's ResKXKX the second
        first, second = (1, stride) if style == 'tinynas' else (stride, 1)
        conv1 = _conv(MAIN, c_in, mid, k, first, 1, size, True)
        conv2 = _conv(MAIN, mid, out, k, second, 1, conv1.out_size, False)
        return conv1, conv2
    # mbv2 / mbv2-se: 1x1 expand -> k x k depthwise -> (SE) -> 1x1 project
    convs = []
    if stage.expand_conv:
        convs.append(_conv(MAIN, c_in, mid, 1, 1, 1, size, True))
        dw_in = mid
    else:
        dw_in = c_in
    dw = _conv(MAIN, dw_in, dw_in, k, stride, dw_in, size, True)
    convs.append(dw)
    convs.append(_conv(MAIN, dw_in, out, 1, 1, 1, dw.out_size, False))
    return tuple(convs)


def _shortcut(style: str, block: str, first: bool, c_in: int, c_out: int,
              stride: int) -> str:
    if block in DEPTHWISE_FAMILIES:
        if c_in != c_out:
            return NO_SHORTCUT
        if stride == 1:
            return IDENTITY
        return POOL if style == 'tinynas' else NO_SHORTCUT
    if style == 'tinynas':
        # TinyNAS forces the projection on the first bottleneck unit only
        if c_in != c_out or (first and block == 'bottleneck'):
            return POOL_PROJ if stride == 2 else PROJ
        return POOL if stride == 2 else IDENTITY
    if c_in != c_out or stride != 1:
        return PROJ
    return IDENTITY


def build_layout(spec: ArchSpec) -> NetworkLayout:
    """Lay out every unit of ``spec`` ('same' padding, floor division)."""
    stem_spec = spec.stem
    stem = _conv(MAIN, spec.in_channels, stem_spec.out_channels,
                 stem_spec.kernel_size, stem_spec.stride, 1, spec.resolution,
                 True)
    size = stem.out_size
    pool_size = None
    if stem_spec.max_pool:
        pool_size = conv_output_size(size, 3, 2)
        size = pool_size
    channels = stem_spec.out_channels
    units: List[UnitLayout] = []
    for stage_index, stage in enumerate(spec.stages):
        for unit_index in range(stage.depth):
            first = unit_index == 0
            stride = stage.stride if first else 1
            main = _main_convs(stage, spec.style, channels, stride, size)
            out_size = main[-1].out_size
            se: Tuple[ConvLayer, ...] = ()
            if stage.block == 'mbv2-se':
                width = main[-2].out_channels  # the depthwise conv's width
                squeeze = se_squeeze_channels(width)
                se = (_conv(SE, width, squeeze, 1, 1, 1, 1,
                            True), _conv(SE, squeeze, width, 1, 1, 1, 1,
                                         False))
            kind = _shortcut(spec.style, stage.block, first, channels,
                             stage.out_channels, stride)
            shortcut_conv = None
            if kind == PROJ:
                shortcut_conv = _conv(SHORTCUT, channels, stage.out_channels,
                                      1, stride, 1, size, False)
            elif kind == POOL_PROJ:
                shortcut_conv = _conv(SHORTCUT, channels, stage.out_channels,
                                      1, 1, 1, out_size, False)
            act_after_add = (
                spec.style == 'tinynas'
                or stage.block not in DEPTHWISE_FAMILIES)
            units.append(
                UnitLayout(
                    stage=stage_index,
                    index=unit_index,
                    block=stage.block,
                    in_channels=channels,
                    out_channels=stage.out_channels,
                    mid_channels=stage.mid_channels,
                    kernel_size=stage.kernel_size,
                    stride=stride,
                    in_size=size,
                    out_size=out_size,
                    main=main,
                    se=se,
                    shortcut=kind,
                    shortcut_conv=shortcut_conv,
                    act_after_add=act_after_add))
            channels, size = stage.out_channels, out_size
    head = None
    if spec.head_conv is not None:
        head = _conv(MAIN, channels, spec.head_conv.out_channels,
                     spec.head_conv.kernel_size, 1, 1, size, True)
    return NetworkLayout(
        spec=spec,
        stem=stem,
        stem_pool_size=pool_size,
        units=tuple(units),
        head_conv=head)
