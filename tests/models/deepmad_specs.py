# Copyright (c) mmdeepmad authors. All rights reserved.
"""Specs the model tests share: tiny hand-written ones, the TinyNAS releases,
the classics, the presets present, and a seeded random generator."""
import os.path as osp
import random
from typing import Dict, List

from mmdeepmad.arch.classics import CLASSICS
from mmdeepmad.arch.loader import list_presets, load_preset
from mmdeepmad.arch.spec import (ACTIVATIONS, BLOCK_FAMILIES,
                                 DEPTHWISE_FAMILIES, UNIT_STYLES, ArchSpec,
                                 HeadConvSpec, StageSpec, StemSpec)
from mmdeepmad.arch.tinynas_format import spec_from_tinynas
from mmdeepmad.reference import tinynas_releases

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The released structures (TinyNAS configs/classification/models/*.txt) with
# the values TinyNAS computes for them, as committed in the package.
RELEASED = {entry['name']: entry for entry in tinynas_releases()['structures']}
# The released DeepMAD-R50 structure (TinyNAS models/deepmad-R50.txt).
DEEPMAD_R50_STRUCTURE = RELEASED['deepmad-R50']['structure']


def num_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny_spec(block: str = 'bottleneck',
              style: str = 'tinynas',
              head_conv: bool = False,
              resolution: int = 64,
              act: str = 'relu') -> ArchSpec:
    """A 5-stage network of <= 32 channels (strides 2, 2, 2, 1, 2 after a
    stride-2 stem: outputs at strides 4, 8, 16, 16, 32)."""
    depthwise = block in DEPTHWISE_FAMILIES
    widths = (8, 16, 16, 24, 32)
    stages = tuple(
        StageSpec(
            block=block,
            out_channels=out,
            mid_channels=out * 2 if depthwise else max(8, out // 2),
            kernel_size=3,
            depth=2,
            stride=stride) for out, stride in zip(widths, (2, 2, 2, 1, 2)))
    return ArchSpec(
        stem=StemSpec(out_channels=8, kernel_size=3, stride=2),
        stages=stages,
        head_conv=HeadConvSpec(out_channels=32) if head_conv else None,
        resolution=resolution,
        style=style,
        act=act,
        name=f'tiny-{block}')


def released_specs() -> Dict[str, ArchSpec]:
    """The four released structures of tinynas_released.json."""
    return {
        name:
        spec_from_tinynas(
            entry['structure'], resolution=entry['image_size'], name=name)
        for name, entry in RELEASED.items()
    }


def classic_specs() -> Dict[str, ArchSpec]:
    return {name: make() for name, make in CLASSICS.items()}


def preset_specs() -> Dict[str, ArchSpec]:
    return {name: load_preset(name) for name in list_presets()}


def random_spec(rng: random.Random) -> ArchSpec:
    """A random valid spec: any family per stage, both styles, every
    activation, optional stem max pool / head conv / expansion conv, odd and
    even resolutions, shapes that do and do not keep the channels."""
    style = rng.choice(UNIT_STYLES)
    family = rng.choice(BLOCK_FAMILIES)
    mixed = rng.random() < 0.3
    stem = StemSpec(
        out_channels=rng.randint(3, 16),
        kernel_size=rng.choice((1, 3, 5, 7)),
        stride=rng.choice((1, 2)),
        max_pool=rng.random() < 0.3)
    channels = stem.out_channels
    stages: List[StageSpec] = []
    for _ in range(rng.randint(1, 5)):
        block = rng.choice(BLOCK_FAMILIES) if mixed else family
        out = channels if rng.random() < 0.3 else rng.randint(3, 24)
        stages.append(
            StageSpec(
                block=block,
                out_channels=out,
                mid_channels=rng.randint(3, 32),
                kernel_size=rng.choice((1, 3, 5)),
                depth=rng.randint(1, 3),
                stride=rng.choice((1, 2)),
                expand_conv=not (block in DEPTHWISE_FAMILIES
                                 and rng.random() < 0.3)))
        channels = out
    head = None
    if rng.random() < 0.4:
        head = HeadConvSpec(
            out_channels=rng.randint(8, 48), kernel_size=rng.choice((1, 3)))
    return ArchSpec(
        stem=stem,
        stages=tuple(stages),
        head_conv=head,
        in_channels=rng.choice((1, 3, 4)),
        resolution=rng.randint(9, 48),
        style=style,
        act=rng.choice(ACTIVATIONS),
        name='random')


def random_specs(count: int, seed: int = 0) -> List[ArchSpec]:
    rng = random.Random(seed)
    return [random_spec(rng) for _ in range(count)]
