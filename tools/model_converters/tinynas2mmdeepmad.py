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
structure; a key that does not fit is an error naming it. The official
DeepMAD networks are presets, so their releases convert by name::

    python tools/model_converters/tinynas2mmdeepmad.py \\
        --preset tinynas-deepmad-r50 --mmpretrain R50.pth.tar \\
        checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth

Any other TinyNAS network converts with its structure file::

    python tools/model_converters/tinynas2mmdeepmad.py \\
        my-net.pth my-net_mmdeepmad.pth --structure models/my-net.txt

``--mmpretrain`` writes an ``ImageClassifier`` checkpoint instead
(``backbone.*`` plus TinyNAS's ``fc_linear`` as ``head.fc.*``), the file the
downstream configs load as ``pretrained``. The output is
``{'state_dict': ..., 'meta': {...}}`` and loads with
``torch.load(weights_only=True)``.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import sys
import tempfile
import textwrap
import traceback
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from mmdeepmad.arch.layout import build_layout
from mmdeepmad.arch.loader import list_presets, load_arch, load_preset
from mmdeepmad.arch.spec import ArchSpec, SpecError
from mmdeepmad.arch.tinynas_format import spec_to_tinynas
from mmdeepmad.models import DeepMAD

PROG = 'tinynas2mmdeepmad.py'

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
#: wrappers of a training checkpoint's state dict, in the order they are
#: tried: the EMA weights first (timm-style checkpoints report the EMA
#: model's accuracy), then the raw weights
WRAPPER_KEYS = ('state_dict_ema', 'state_dict', 'model')
#: the BN counter torch >= 0.4.1 saves and older checkpoints lack
BN_COUNTER = 'num_batches_tracked'

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class ConversionError(ValueError):
    """A checkpoint key that does not fit the structure (the message names
    it)."""


class BadInput(ValueError):
    """A command-line input that cannot be used (exit status 2)."""


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


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(key, str) and isinstance(value, torch.Tensor)
        for key, value in obj.items())


def unwrap_checkpoint(
    checkpoint,
    key: Optional[str] = None
) -> Tuple[Dict[str, torch.Tensor], Optional[str], List[str]]:
    """``(state dict, wrapper key used or None, other wrappers present)``.

    A training checkpoint holds its weights under ``state_dict_ema``,
    ``state_dict`` or ``model`` (tried in this order unless ``key`` names
    one); a bare state dict is used as it is. DataParallel's ``module.``
    prefix is removed."""
    if not isinstance(checkpoint, dict):
        raise ConversionError('the checkpoint holds no state dict (it is a '
                              f'{type(checkpoint).__name__}, not a dict)')
    present = [k for k in WRAPPER_KEYS if _is_state_dict(checkpoint.get(k))]
    if key is not None:
        if not _is_state_dict(checkpoint.get(key)):
            found = present or sorted(map(str, checkpoint))[:10]
            raise ConversionError(
                f'the checkpoint has no state dict under {key!r}; it holds '
                f'{found}')
        used = key
    elif present:
        used = present[0]
    elif _is_state_dict(checkpoint):
        used = None
    else:
        raise ConversionError(
            'the checkpoint holds no state dict: none of '
            f'{list(WRAPPER_KEYS)} and not a dict of tensors (top-level keys '
            f'{sorted(map(str, checkpoint))[:10]}); name it with --key')
    state = checkpoint[used] if used else checkpoint
    others = [k for k in present if k != used]
    return OrderedDict((re.sub(r'^module\.', '', name), value)
                       for name, value in state.items()), used, others


def extract_state_dict(checkpoint) -> Dict[str, torch.Tensor]:
    """The state dict of a checkpoint (see :func:`unwrap_checkpoint`)."""
    return unwrap_checkpoint(checkpoint)[0]


def convert(
        state_dict: Dict[str, torch.Tensor],
        spec: ArchSpec,
        mmpretrain: bool = False) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """DeepMAD's state dict (or an ImageClassifier's with ``mmpretrain``) and
    notes on what was dropped or filled in.

    BN counters (``num_batches_tracked``) missing from the checkpoint, as in
    checkpoints saved by torch < 0.4.1, are filled with 0 (they only matter
    for BN with ``momentum=None``); any other missing key is an error."""
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
    counters = [key for key in missing if key.endswith(BN_COUNTER)]
    missing = [key for key in missing if not key.endswith(BN_COUNTER)]
    if missing:
        raise ConversionError(
            f'{len(missing)} DeepMAD key(s) have no TinyNAS counterpart in '
            f'the checkpoint, e.g. {missing[:5]}')
    if counters:
        filled = OrderedDict()
        for key in reference:  # keep DeepMAD's key order
            filled[key] = converted[key] if key in converted else \
                torch.tensor(0, dtype=torch.long)
        filled.update((k, v) for k, v in converted.items() if k not in filled)
        converted = filled
        notes.append(f'filled {len(counters)} BN counter(s) '
                     f'({BN_COUNTER} = 0) the checkpoint lacks (saved by an '
                     'older torch)')
    if mmpretrain:
        if not any(key.startswith('head.') for key in converted):
            notes.append('the checkpoint has no classifier (fc_linear): '
                         'only backbone.* written')
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
    and head conv use ReLU even in SiLU networks (DeepMAD's default under the
    ``tinynas`` style; recorded so the checkpoint says so)."""
    if spec.act == 'relu':
        return {}
    kwargs = dict(stem_act_cfg=dict(type='ReLU'))
    if spec.head_conv is not None:
        kwargs['head_act_cfg'] = dict(type='ReLU')
    return kwargs


def official_presets() -> List[str]:
    return [name for name in list_presets() if name.startswith('tinynas-')]


def parse_args(argv: Optional[List[str]] = None):
    official = textwrap.fill(
        ', '.join(official_presets()) or '(none installed)',
        76,
        initial_indent='  ',
        subsequent_indent='  ',
        break_on_hyphens=False)
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Convert a TinyNAS CnnNet checkpoint (an official DeepMAD release
            or any TinyNAS network) into a DeepMAD state dict.

            examples:
              # the official DeepMAD-R50 release, as the classifier that
              # downstream configs load as `pretrained`
              %(prog)s --preset tinynas-deepmad-r50 --mmpretrain \\
                  R50.pth.tar \\
                  checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth
              # another TinyNAS network, by its structure file
              %(prog)s my-net.pth my-net_mmdeepmad.pth \\
                  --structure models/my-net.txt
            """),
        epilog=textwrap.dedent("""\
            The output folder is created only after the checkpoint has been
            read and converted; the file is written under a temporary name
            and then renamed, so a failed run leaves nothing behind.

            Exit status: 0 written; 2 bad input (missing or unreadable file,
            unknown preset, weights that do not fit the structure); 1
            anything else. Errors are one or two lines on stderr; --debug
            adds the traceback.

            official networks (--preset):
            """) + official)
    parser.add_argument('src', help='TinyNAS checkpoint (.pth, .pth.tar)')
    parser.add_argument(
        'dst',
        help='where to write the DeepMAD checkpoint (its folder is created '
        'after a successful conversion)')
    network = parser.add_mutually_exclusive_group(required=True)
    network.add_argument(
        '--preset',
        metavar='NAME',
        help='the network as a preset name, e.g. tinynas-deepmad-r50 for '
        'the official DeepMAD-R50 (any name in mmdeepmad/presets)')
    network.add_argument(
        '--structure',
        metavar='FILE',
        help='the network as a file: a released TinyNAS structure '
        '(configs/classification/models/*.txt) or a JSON list of its '
        'blocks, or an mmdeepmad arch JSON. Not a TinyNAS search config '
        '(configs/classification/*.py): its structure_info is where the '
        'search starts, not the released network')
    parser.add_argument(
        '--resolution',
        type=int,
        default=None,
        help='image size recorded in the spec (default: the preset\'s or '
        'file\'s, or 224)')
    parser.add_argument(
        '--key',
        choices=WRAPPER_KEYS,
        default=None,
        help='take the weights from this entry of the checkpoint (default: '
        'the first present of ' + ', '.join(WRAPPER_KEYS) +
        ', else the checkpoint itself)')
    parser.add_argument(
        '--mmpretrain',
        action='store_true',
        help='write an ImageClassifier checkpoint: backbone.* and head.fc.*')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='load the checkpoint with torch.load(weights_only=False), for '
        'checkpoints that pickle other objects (e.g. training arguments); '
        'only for files you trust')
    parser.add_argument(
        '--debug', action='store_true', help='show the traceback of an error')
    return parser.parse_args(argv)


def load_spec(args) -> Tuple[ArchSpec, str]:
    """The network to convert to, and how it was named."""
    if args.preset is not None:
        spec, label = load_preset(args.preset), f'preset {args.preset}'
    else:
        path = args.structure
        if path.endswith('.py'):
            raise BadInput(
                f'{path} is a TinyNAS search config: its structure_info is '
                "where the search starts, not a released network.\nGive the "
                'released structure (configs/classification/models/<name>'
                '.txt) or --preset (' + ', '.join(official_presets()) + ')')
        spec, label = load_arch(path), f'structure {path}'
    if args.resolution is not None:
        spec = spec.replace(resolution=args.resolution)
    return spec, label


def load_checkpoint(path: str, unsafe: bool = False):
    if not osp.isfile(path):
        raise BadInput(f'{path}: no such checkpoint file' +
                       (' (it is a directory)' if osp.isdir(path) else ''))
    try:
        return torch.load(path, map_location='cpu', weights_only=not unsafe)
    except pickle.UnpicklingError as error:
        if unsafe:
            raise BadInput(f'{path}: not a torch checkpoint ({error})')
        reason = str(error).strip().splitlines()[0][:200] if str(
            error).strip() else type(error).__name__
        raise BadInput(
            f'{path}: torch.load(weights_only=True) refused it ({reason}).\n'
            'If it is a checkpoint you trust that pickles other objects, '
            'rerun with --unsafe-load') from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise BadInput(f'{path}: not a readable torch checkpoint '
                       f'({str(error).strip().splitlines()[0][:200]})')


def check_destination(dst: str) -> None:
    if osp.isdir(dst):
        raise BadInput(f'{dst}: is a directory; give the output file name')
    parent = osp.dirname(osp.abspath(dst))
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise BadInput(f'{dst}: cannot create its folder ({parent} is a '
                       'file)')


def save_atomically(obj, dst: str) -> bool:
    """Write ``obj`` to a temporary file beside ``dst`` and rename it;
    return whether the folder had to be created."""
    folder = osp.dirname(osp.abspath(dst))
    created = not osp.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(dst)}.', suffix='.tmp')
    os.close(handle)
    try:
        torch.save(obj, temporary)
        os.replace(temporary, dst)
    except BaseException:
        if osp.exists(temporary):
            os.remove(temporary)
        raise
    return created


def run(args) -> None:
    spec, label = load_spec(args)  # names a bad preset/structure first
    check_destination(args.dst)
    checkpoint = load_checkpoint(args.src, unsafe=args.unsafe_load)
    state, used, others = unwrap_checkpoint(checkpoint, args.key)
    state_dict, notes = convert(state, spec, mmpretrain=args.mmpretrain)
    kwargs = backbone_kwargs(spec)
    meta = dict(
        converted_from='TinyNAS CnnNet',
        source=str(args.src),
        checkpoint_key=used,
        arch=spec.to_dict(),
        backbone_kwargs=kwargs)
    if args.preset is not None:
        meta['preset'] = args.preset
    created = save_atomically(dict(state_dict=state_dict, meta=meta), args.dst)
    where = f"'{used}'" if used else 'the checkpoint itself (a bare state ' \
        'dict)'
    print(f'weights: {where} of {args.src}' +
          (f"; also present: {', '.join(repr(k) for k in others)} (--key to "
           'use it)' if others else ''))
    print(f'network: {label} ({spec.num_stages} stages, {spec.blocks[0]}, '
          f'{spec.resolution} px)')
    for note in notes:
        print(note)
    if created:
        print(f'created {osp.dirname(osp.abspath(args.dst))}')
    print(f'wrote {len(state_dict)} tensors to {args.dst}')
    if kwargs:
        print('TinyNAS uses ReLU in its stem/head conv here, as DeepMAD '
              f'does by default for this spec ({kwargs})')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (BadInput, ConversionError, SpecError) as error:
        if args.debug:
            traceback.print_exc()
        print(f'{PROG}: error: {error}', file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 - one line, not a traceback
        if args.debug:
            traceback.print_exc()
        message = str(error).strip().splitlines()
        print(
            f'{PROG}: error: {type(error).__name__}: '
            f"{message[0] if message else ''}\n"
            '(unexpected; rerun with --debug for the traceback)',
            file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == '__main__':
    sys.exit(main())
