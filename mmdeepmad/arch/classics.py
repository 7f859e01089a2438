"""Hand-designed networks written as specs: ResNet-18/34/50 and MobileNetV2.

They pin the counters to published figures and the effectiveness of Eq. 2-3 to
the paper's Tables 1-2; they are also handy baselines next to a design.
"""
from __future__ import annotations
from typing import Callable, Dict, Sequence

from .spec import ArchSpec, HeadConvSpec, StageSpec, StemSpec

_RESNET_WIDTHS = (64, 128, 256, 512)


def _resnet(name: str, block: str, depths: Sequence[int]) -> ArchSpec:
    expansion = 4 if block == 'bottleneck' else 1
    stages = tuple(
        StageSpec(
            block=block,
            out_channels=width * expansion,
            mid_channels=width,
            kernel_size=3,
            depth=depth,
            stride=1 if index == 0 else 2)
        for index, (width, depth) in enumerate(zip(_RESNET_WIDTHS, depths)))
    return ArchSpec(
        stem=StemSpec(out_channels=64, kernel_size=7, stride=2, max_pool=True),
        stages=stages,
        style='torchvision',
        name=name)


def resnet18() -> ArchSpec:
    return _resnet('resnet18', 'basic', (2, 2, 2, 2))


def resnet34() -> ArchSpec:
    return _resnet('resnet34', 'basic', (3, 4, 6, 3))


def resnet50() -> ArchSpec:
    return _resnet('resnet50', 'bottleneck', (3, 4, 6, 3))


# (expansion t, out channels c, units n, stride s) of MobileNetV2, Table 2.
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2() -> ArchSpec:
    """MobileNetV2 1.0. Its expanded width is t times each unit's input, so the
    first unit of a group (input from the previous group) is a stage of its
    own."""
    stages = []
    channels = 32
    for expansion, out, units, stride in _MOBILENET_V2:
        stages.append(
            StageSpec(
                block='mbv2',
                out_channels=out,
                mid_channels=channels * expansion,
                kernel_size=3,
                depth=1,
                stride=stride,
                expand_conv=expansion != 1))
        if units > 1:
            stages.append(
                StageSpec(
                    block='mbv2',
                    out_channels=out,
                    mid_channels=out * expansion,
                    kernel_size=3,
                    depth=units - 1,
                    stride=1))
        channels = out
    return ArchSpec(
        stem=StemSpec(out_channels=32, kernel_size=3, stride=2),
        stages=tuple(stages),
        head_conv=HeadConvSpec(out_channels=1280),
        style='torchvision',
        act='relu6',
        name='mobilenet_v2')


CLASSICS: Dict[str, Callable[[], ArchSpec]] = {
    'resnet18': resnet18,
    'resnet34': resnet34,
    'resnet50': resnet50,
    'mobilenet_v2': mobilenet_v2,
}
