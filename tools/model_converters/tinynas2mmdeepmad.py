# Copyright (c) mmdeepmad authors. All rights reserved.
"""Convert a TinyNAS ``CnnNet`` checkpoint into a ``DeepMAD`` state dict.

TinyNAS (the official DeepMAD code) names its modules::

    block_list.0.{conv1.weight, bn1.*}                         stem
    block_list.<s>.block_list.<u>.<conv>.{conv1.weight, bn1.*}  stage s, unit u
        <conv> = conv1, conv2, conv3 (main path), residual_proj (shortcut),
                 se2.conv1, se2.conv2 (SE branch)
    block_list.<M+1>.{conv1.weight, bn1.*}                     head conv
    fc_linear.{weight, bias}                                   classifier

and mmdeepmad's :class:`DeepMAD` names them ``stem``, ``stage<s>.<u>.<conv>``
(``conv1``/``conv2``/``conv3`` for bottleneck and basic units,
``expand_conv``/``depthwise_conv``/``project_conv`` and ``se.conv1``/
``se.conv2`` for mbv2 units, ``shortcut.conv`` for the projection) and
``head_conv``, each a ConvModule with ``conv.weight`` and ``bn.*``.

Every key is mapped and shape-checked against the DeepMAD model of the same
structure; a key that does not fit is an error naming it. Example::

    python tools/model_converters/tinynas2mmdeepmad.py \\
        deepmad-R50.pth deepmad-r50_mmdeepmad.pth \\
        --structure configs/classification/models/deepmad-R50.txt

``--mmpretrain`` writes an ``ImageClassifier`` checkpoint instead
(``backbone.*`` plus TinyNAS's ``fc_linear`` as ``head.fc.*``). The output is
``{'state_dict': ..., 'meta': {...}}`` and loads with
``torch.load(weights_only=True)``.
"""
import argparse
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from mmdeepmad.arch.layout import build_layout
from mmdeepmad.arch.loader import load_arch
from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.arch.tinynas_format import spec_to_tinynas
from mmdeepmad.models import DeepMAD

#: names of the main-path convs of a unit: TinyNAS's, then DeepMAD's
MAIN_CONV_NAMES = {
    'bottleneck': (('conv1', 'conv2', 'conv3'), ('conv1', 'conv2', 'conv3')),
    'basic': (('conv1', 'conv2'), ('conv1', 'conv2')),
    'mbv2': (('conv1', 'conv2', 'conv3'), ('expand_conv', 'depthwise_conv',
                                           'project_conv')),
    'mbv2-se': (('conv1', 'conv2', 'conv3'), ('expand_conv', 'depthwise_conv',
                                              'project_conv')),
}
#: TinyNAS ConvKXBN leaf -> ConvModule leaf
LEAVES = {
    'conv1.weight': 'conv.weight',
    'bn1.weight': 'bn.weight',
    'bn1.bias': 'bn.bias',
    'bn1.running_mean': 'bn.running_mean',
    'bn1.running_var': 'bn.running_var',
    'bn1.num_batches_tracked': 'bn.num_batches_tracked',
}
HEAD_KEYS = {
    'fc_linear.weight': 'head.fc.weight',
    'fc_linear.bias': 'head.fc.bias'
}


class ConversionError(ValueError):
    """A checkpoint key that does not fit the structure (the message names
    it)."""


def check_convertible(spec: ArchSpec) -> None:
    """Raise unless TinyNAS builds ``spec`` the way DeepMAD does."""
    spec_to_tinynas(spec)  # style, stem pool, expansion conv, activation
    for index, stage in enumerate(spec.stages):
        if stage.block == 'basic' and stage.stride == 2:
            raise ConversionError(
                f'stages[{index}] is a stride-2 basic stage: TinyNAS\'s '
                'ResKXKX strides its second kxk conv, DeepMAD (like ResNet) '
                'its first; the weights would load but compute another '
                'function')


def module_map(spec: ArchSpec) -> Dict[str, str]:
    """TinyNAS module prefix -> DeepMAD module prefix, for every conv + BN."""
    layout = build_layout(spec)
    mapping = {'block_list.0.': 'stem.'}
    for unit in layout.units:
        tinynas_unit = f'block_list.{unit.stage + 1}.block_list.{unit.index}.'
        deepmad_unit = f'stage{unit.stage + 1}.{unit.index}.'
        tinynas_names, deepmad_names = MAIN_CONV_NAMES[unit.block]
        for source, target in zip(tinynas_names, deepmad_names):
            mapping[f'{tinynas_unit}{source}.'] = f'{deepmad_unit}{target}.'
        if unit.se:
            for conv in ('conv1', 'conv2'):
                mapping[f'{tinynas_unit}se2.{conv}.'] = \
                    f'{deepmad_unit}se.{conv}.'
        if unit.shortcut_conv is not None:
            mapping[f'{tinynas_unit}residual_proj.'] = \
                f'{deepmad_unit}shortcut.conv.'
    if layout.head_conv is not None:
        mapping[f'block_list.{spec.num_stages + 1}.'] = 'head_conv.'
    return mapping


def extract_state_dict(checkpoint) -> Dict[str, torch.Tensor]:
    """The state dict of a checkpoint (``state_dict``/``model`` wrappers and
    DataParallel's ``module.`` prefix removed)."""
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict):
        raise ConversionError('the checkpoint holds no state dict')
    return OrderedDict((re.sub(r'^module\.', '', key), value)
                       for key, value in checkpoint.items())


def convert(
        state_dict: Dict[str, torch.Tensor],
        spec: ArchSpec,
        mmpretrain: bool = False) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """DeepMAD's state dict (or an ImageClassifier's with ``mmpretrain``) and
    notes on what was dropped."""
    check_convertible(spec)
    mapping = module_map(spec)
    with torch.device('meta'):
        reference = DeepMAD(spec).state_dict()
    converted, notes = OrderedDict(), []
    for key, value in state_dict.items():
        if key in HEAD_KEYS:
            if mmpretrain:
                converted[HEAD_KEYS[key]] = value
            else:
                notes.append(f'dropped {key} (classifier; use --mmpretrain '
                             'to keep it as head.fc)')
            continue
        target = _target(key, mapping)
        if target not in reference:
            raise ConversionError(
                f'TinyNAS key {key!r} maps to {target!r}, which DeepMAD '
                'does not have')
        if tuple(value.shape) != tuple(reference[target].shape):
            raise ConversionError(
                f'TinyNAS key {key!r} has shape {tuple(value.shape)}, but '
                f'DeepMAD\'s {target!r} has {tuple(reference[target].shape)}'
                ': the checkpoint is for another structure')
        if target in converted:
            raise ConversionError(f'TinyNAS key {key!r} maps to {target!r} '
                                  'a second time')
        converted[target] = value
    missing = [key for key in reference if key not in converted]
    if missing:
        raise ConversionError(
            f'{len(missing)} DeepMAD key(s) have no TinyNAS counterpart in '
            f'the checkpoint, e.g. {missing[:5]}')
    if mmpretrain:
        converted = OrderedDict(
            (key if key.startswith('head.') else f'backbone.{key}', value)
            for key, value in converted.items())
    return converted, notes


def _target(key: str, mapping: Dict[str, str]) -> str:
    for prefix, target in mapping.items():
        if key.startswith(prefix):
            leaf = key[len(prefix):]
            if leaf in LEAVES:
                return target + LEAVES[leaf]
    raise ConversionError(
        f'TinyNAS key {key!r} does not fit the structure: no conv or BN of '
        'this structure is named so')


def backbone_kwargs(spec: ArchSpec) -> dict:
    """DeepMAD arguments that reproduce TinyNAS: its plain ConvKXBNRELU stem
    and head conv use ReLU even in SiLU networks."""
    if spec.act == 'relu':
        return {}
    kwargs = dict(stem_act_cfg=dict(type='ReLU'))
    if spec.head_conv is not None:
        kwargs['head_act_cfg'] = dict(type='ReLU')
    return kwargs


def parse_args(argv: Optional[List[str]] = None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='TinyNAS checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the DeepMAD checkpoint')
    parser.add_argument(
        '--structure',
        required=True,
        help='the network: a TinyNAS structure file (models/*.txt, JSON '
        'list, config .py), an arch JSON or a preset name')
    parser.add_argument(
        '--resolution',
        type=int,
        default=None,
        help='image size recorded in the spec (default: the file\'s, or 224)')
    parser.add_argument(
        '--mmpretrain',
        action='store_true',
        help='write an ImageClassifier checkpoint: backbone.* and head.fc.*')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    spec = load_arch(args.structure)
    if args.resolution is not None:
        spec = spec.replace(resolution=args.resolution)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state_dict, notes = convert(
        extract_state_dict(checkpoint), spec, mmpretrain=args.mmpretrain)
    kwargs = backbone_kwargs(spec)
    torch.save(
        dict(
            state_dict=state_dict,
            meta=dict(
                converted_from='TinyNAS CnnNet',
                source=str(args.src),
                arch=spec.to_dict(),
                backbone_kwargs=kwargs)), args.dst)
    for note in notes:
        print(note)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')
    if kwargs:
        print('TinyNAS uses ReLU in its stem/head conv here; build the '
              f'backbone with {kwargs} to reproduce it exactly')


if __name__ == '__main__':
    main()
