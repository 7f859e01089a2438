# Copyright (c) mmdeepmad authors. All rights reserved.
"""Specs the model tests share: tiny hand-written ones, the TinyNAS releases,
the classics, the presets present, and a seeded random generator."""
import json
import os.path as osp
import random
from typing import Dict, List

from mmdeepmad.design.classics import CLASSICS
from mmdeepmad.design.spec import (ACTIVATIONS, BLOCK_FAMILIES,
                                   DEPTHWISE_FAMILIES, UNIT_STYLES, ArchSpec,
                                   HeadConvSpec, StageSpec, StemSpec)
from mmdeepmad.design.tinynas_format import spec_from_tinynas
from mmdeepmad.models.archs import list_presets, load_preset

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The project's shared/ folder sits beside the repository.
RELEASED_JSON = osp.join(REPO_ROOT, '..', 'shared', 'reference',
                         'tinynas_released.json')

# The released DeepMAD-R50 and DeepMAD-29M structures (TinyNAS
# configs/classification/models/deepmad-R50.txt, deepmad-29M-224.txt).
DEEPMAD_R50_STRUCTURE = [
    {'class': 'ConvKXBNRELU', 'in': 3, 'k': 3, 'out': 32, 's': 2},
    {'class': 'SuperResK1KXK1', 'in': 32, 'out': 128, 'k': 5, 's': 2, 'L': 1, 'btn': 40},  # noqa: E501
    {'class': 'SuperResK1KXK1', 'in': 128, 'out': 512, 'k': 5, 's': 2, 'L': 11, 'btn': 48},  # noqa: E501
    {'class': 'SuperResK1KXK1', 'in': 512, 'out': 872, 'k': 5, 's': 2, 'L': 12, 'btn': 88},  # noqa: E501
    {'class': 'SuperResK1KXK1', 'in': 872, 'out': 1024, 'k': 5, 's': 1, 'L': 13, 'btn': 104},  # noqa: E501
    {'class': 'SuperResK1KXK1', 'in': 1024, 'out': 1232, 'k': 5, 's': 2, 'L': 15, 'btn': 120},  # noqa: E501
]  # yapf: disable
DEEPMAD_29M_STRUCTURE = [
    {'class': 'ConvKXBNRELU', 'in': 3, 'k': 3, 'out': 40, 's': 2},
    {'class': 'SuperResK1DWSEK1', 'in': 40, 'out': 40, 'k': 5, 's': 1, 'L': 2, 'btn': 240},  # noqa: E501
    {'class': 'SuperResK1DWSEK1', 'in': 40, 'out': 85, 'k': 5, 's': 2, 'L': 4, 'btn': 512},  # noqa: E501
    {'class': 'SuperResK1DWSEK1', 'in': 85, 'out': 134, 'k': 5, 's': 2, 'L': 6, 'btn': 800},  # noqa: E501
    {'class': 'SuperResK1DWSEK1', 'in': 134, 'out': 201, 'k': 5, 's': 2, 'L': 6, 'btn': 1208},  # noqa: E501
    {'class': 'SuperResK1DWSEK1', 'in': 201, 'out': 312, 'k': 5, 's': 2, 'L': 5, 'btn': 1872},  # noqa: E501
    {'class': 'ConvKXBNRELU', 'in': 312, 'k': 1, 'out': 1792, 's': 1},
]  # yapf: disable


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
    """The four released structures of tinynas_released.json (or the two
    written above if the shared file is missing)."""
    if osp.isfile(RELEASED_JSON):
        with open(RELEASED_JSON, encoding='utf-8') as handle:
            data = json.load(handle)
        return {
            item['name']:
            spec_from_tinynas(
                item['structure'],
                resolution=item.get('image_size', 224),
                name=item['name'])
            for item in data['structures']
        }
    return {
        'deepmad-R50': spec_from_tinynas(DEEPMAD_R50_STRUCTURE, name='R50'),
        'deepmad-29M-224':
        spec_from_tinynas(DEEPMAD_29M_STRUCTURE, name='29M'),
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
