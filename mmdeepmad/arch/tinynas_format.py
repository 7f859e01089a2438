"""Read and write TinyNAS's structure format.

A TinyNAS structure (``structure_info`` in its configs, ``best_structures`` in
its ``configs/classification/models/*.txt`` files) is a list of block dicts:

* ``{'class': 'ConvKXBNRELU', 'in', 'out', 'k', 's'}``: a plain conv + BN +
  ReLU. The first block is the stem; a last one (stride 1) is the head conv of
  the depthwise models.
* super-blocks ``{'class': 'SuperResK1KXK1' | 'SuperResK1DWSEK1' |
  'SuperResK1DWK1' | 'SuperResKXKX', 'in', 'out', 'k', 's', 'L', 'btn'}`` with
  an optional ``'inner_class'`` (``'ResK1KXK1'``, ...): ``L`` residual units,
  the first ``in -> out`` with stride ``s``, the others ``out -> out``.

Mapping onto :class:`~mmdeepmad.arch.spec.ArchSpec` (one super-block = one
stage, ``btn`` = ``mid_channels``, ``style='tinynas'``):

=================== ============ ==========================================
TinyNAS class       block family activation of the units in TinyNAS
=================== ============ ==========================================
SuperResK1KXK1      bottleneck   ReLU
SuperResKXKX        basic        ReLU
SuperResK1DWK1      mbv2         ReLU
SuperResK1DWSEK1    mbv2-se      SiLU (SE inner activation SiLU too)
=================== ============ ==========================================

The spec's ``act`` is the units' activation. (TinyNAS's ``ConvKXBNRELU`` stem
and head conv always use ReLU, also in the SiLU networks; the spec has one
``act`` for the whole network.)

``s`` may be absent from a TinyNAS block (TinyNAS then uses stride 1); every
other key is required, and keys TinyNAS would use to change the block (``g``,
``p``, ``act``, quantisation bits, ...) are rejected because the spec cannot
express them. Every error is a :class:`~mmdeepmad.arch.spec.SpecError` naming
the block index and the key.
"""
from __future__ import annotations
import ast
import json
import os
import pprint
from typing import Any, Dict, List, Optional, Sequence, Union

from .spec import ArchSpec, HeadConvSpec, SpecError, StageSpec, StemSpec

PLAIN_CLASS = 'ConvKXBNRELU'

#: TinyNAS super-block class -> spec block family.
FAMILY_OF_CLASS: Dict[str, str] = {
    'SuperResK1KXK1': 'bottleneck',
    'SuperResKXKX': 'basic',
    'SuperResK1DWK1': 'mbv2',
    'SuperResK1DWSEK1': 'mbv2-se',
}
#: spec block family -> TinyNAS super-block class.
CLASS_OF_FAMILY: Dict[str, str] = {v: k for k, v in FAMILY_OF_CLASS.items()}
#: TinyNAS super-block class -> its inner (unit) class.
INNER_CLASS: Dict[str, str] = {
    name: name[len('Super'):]
    for name in FAMILY_OF_CLASS
}
#: The activation TinyNAS's units of each family use (their default ``act``).
ACT_OF_FAMILY: Dict[str, str] = {
    'bottleneck': 'relu',
    'basic': 'relu',
    'mbv2': 'relu',
    'mbv2-se': 'silu',
}

_PLAIN_KEYS = ('in', 'out', 'k')
_SUPER_KEYS = ('in', 'out', 'k', 'L', 'btn')
_OPTIONAL_KEYS = ('s', )

Structure = List[Dict[str, Any]]


def _fail(index: int, block: Any, key: str, message: str) -> None:
    kind = block.get('class') if isinstance(block, dict) else None
    label = f'block {index}' + (f' ({kind})' if isinstance(kind, str) else '')
    raise SpecError(f'TinyNAS structure {label}: key {key!r} {message}')


def _check_block(index: int, block: Any) -> None:
    if not isinstance(block, dict):
        raise SpecError(f'TinyNAS structure block {index}: must be a dict, '
                        f'got {type(block).__name__}')
    if 'class' not in block:
        _fail(index, block, 'class', 'is missing')
    kind = block['class']
    if kind != PLAIN_CLASS and kind not in FAMILY_OF_CLASS:
        known = ', '.join([PLAIN_CLASS] + sorted(FAMILY_OF_CLASS))
        _fail(index, block, 'class',
              f'has the unsupported value {kind!r}; known: {known}')
    required = _PLAIN_KEYS if kind == PLAIN_CLASS else _SUPER_KEYS
    allowed = set(required) | set(_OPTIONAL_KEYS) | {'class'}
    if kind != PLAIN_CLASS:
        allowed.add('inner_class')
    for key in required:
        if key not in block:
            _fail(index, block, key, 'is missing')
    for key in sorted(set(block) - allowed, key=str):
        _fail(
            index, block, key,
            'is not supported (the spec cannot express it); allowed keys: '
            f'{sorted(allowed)}')
    for key in required + tuple(k for k in _OPTIONAL_KEYS if k in block):
        value = block[key]
        if not (isinstance(value, int) and not isinstance(value, bool)
                and value > 0):
            _fail(index, block, key,
                  f'must be a positive integer, got {value!r}')
    if block.get('s', 1) not in (1, 2):
        _fail(index, block, 's', f"must be 1 or 2, got {block['s']!r}")
    if block['k'] % 2 != 1:
        _fail(index, block, 'k', f"must be odd, got {block['k']!r}")
    if 'inner_class' in block and block['inner_class'] != INNER_CLASS[kind]:
        _fail(
            index, block, 'inner_class',
            f'must be {INNER_CLASS[kind]!r} for {kind}, '
            f"got {block['inner_class']!r}")


def validate_structure(structure: Any) -> None:
    """Check a TinyNAS structure against what an :class:`ArchSpec` can hold;
    raises :class:`SpecError` naming the block index and key."""
    if not isinstance(structure, (list, tuple)):
        raise SpecError('a TinyNAS structure must be a list of block dicts, '
                        f'got {type(structure).__name__}')
    if len(structure) < 2:
        raise SpecError(
            'a TinyNAS structure needs a ConvKXBNRELU stem and at '
            f'least one super-block; got {len(structure)} block(s)')
    for index, block in enumerate(structure):
        _check_block(index, block)
    last = len(structure) - 1
    for index, block in enumerate(structure):
        kind = block['class']
        if index == 0:
            if kind != PLAIN_CLASS:
                _fail(index, block, 'class',
                      f'must be {PLAIN_CLASS!r} (the stem), got {kind!r}')
            continue
        if block['in'] != structure[index - 1]['out']:
            _fail(
                index, block, 'in',
                f"is {block['in']} but block {index - 1} has "
                f"out {structure[index - 1]['out']} (channels must chain)")
        if kind == PLAIN_CLASS:
            if index != last or index == 1:
                _fail(
                    index, block, 'class',
                    f'{PLAIN_CLASS} is supported only as the stem (first '
                    'block) or the head conv (last block, after at least '
                    'one super-block)')
            if block.get('s', 1) != 1:
                _fail(index, block, 's',
                      f"must be 1 for the head conv, got {block['s']!r}")
    first_act = None  # (activation, block index) of the first super-block
    for index, block in enumerate(structure):
        if block['class'] in FAMILY_OF_CLASS:
            act = ACT_OF_FAMILY[FAMILY_OF_CLASS[block['class']]]
            if first_act is None:
                first_act = (act, index)
            elif act != first_act[0]:
                _fail(
                    index, block, 'class',
                    f"gives {act} units but block {first_act[1]} gives "
                    f'{first_act[0]} units; a spec has one activation')


def spec_from_tinynas(structure: Sequence[Dict[str, Any]],
                      resolution: int = 224,
                      name: str = '') -> ArchSpec:
    """The :class:`ArchSpec` of a TinyNAS structure (list of block dicts).

    ``resolution`` is the image size the network is meant for (TinyNAS keeps it
    in the config, not in the structure)."""
    validate_structure(structure)
    stem_block = structure[0]
    stem = StemSpec(
        out_channels=stem_block['out'],
        kernel_size=stem_block['k'],
        stride=stem_block.get('s', 1))
    stages = []
    head_conv = None
    act = None
    for block in structure[1:]:
        if block['class'] == PLAIN_CLASS:
            head_conv = HeadConvSpec(
                out_channels=block['out'], kernel_size=block['k'])
            continue
        family = FAMILY_OF_CLASS[block['class']]
        act = ACT_OF_FAMILY[family]
        stages.append(
            StageSpec(
                block=family,
                out_channels=block['out'],
                mid_channels=block['btn'],
                kernel_size=block['k'],
                depth=block['L'],
                stride=block.get('s', 1)))
    return ArchSpec(
        stem=stem,
        stages=tuple(stages),
        head_conv=head_conv,
        in_channels=stem_block['in'],
        resolution=resolution,
        style='tinynas',
        act=act,
        name=name)


def spec_to_tinynas(spec: ArchSpec, inner_class: bool = True) -> Structure:
    """The TinyNAS structure of a spec (a new list of new dicts).

    ``inner_class`` adds the ``'inner_class'`` key TinyNAS writes into its
    released structures. Raises :class:`SpecError` for what TinyNAS cannot
    build: another unit style, a stem max pool, an mbv2 unit without expansion
    conv, an activation other than the family's TinyNAS activation, a head
    conv's kernel."""
    if not isinstance(spec, ArchSpec):
        raise SpecError(f'expected an ArchSpec, got {type(spec).__name__}')
    if spec.style != 'tinynas':
        raise SpecError(f"style must be 'tinynas' to write a TinyNAS "
                        f'structure, got {spec.style!r}')
    if spec.stem.max_pool:
        raise SpecError('stem.max_pool must be false: TinyNAS has no stem '
                        'max pool')
    structure: Structure = [{
        'class': PLAIN_CLASS,
        'in': spec.in_channels,
        'out': spec.stem.out_channels,
        'k': spec.stem.kernel_size,
        's': spec.stem.stride,
    }]
    channels = spec.stem.out_channels
    for index, stage in enumerate(spec.stages):
        if not stage.expand_conv:
            raise SpecError(f'stages[{index}].expand_conv must be true: '
                            'TinyNAS units always have the 1x1 expansion')
        expected = ACT_OF_FAMILY[stage.block]
        if spec.act != expected:
            raise SpecError(
                f'act must be {expected!r} for {stage.block} units in TinyNAS '
                f'(stages[{index}]), got {spec.act!r}')
        kind = CLASS_OF_FAMILY[stage.block]
        block = {
            'class': kind,
            'in': channels,
            'out': stage.out_channels,
            'k': stage.kernel_size,
            's': stage.stride,
            'L': stage.depth,
            'btn': stage.mid_channels,
        }
        if inner_class:
            block['inner_class'] = INNER_CLASS[kind]
        structure.append(block)
        channels = stage.out_channels
    if spec.head_conv is not None:
        if spec.head_conv.kernel_size % 2 != 1:
            raise SpecError('head_conv.kernel_size must be odd for TinyNAS, '
                            f'got {spec.head_conv.kernel_size}')
        structure.append({
            'class': PLAIN_CLASS,
            'in': channels,
            'out': spec.head_conv.out_channels,
            'k': spec.head_conv.kernel_size,
            's': 1,
        })
    return structure


# ---- text and files
# ----------------------------------------------------------
def _literal(text: str, where: str) -> Any:
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    # A TinyNAS config (.py): find ``structure_info = [...]`` without
    # running it.
    found = _structure_from_config(stripped)
    if found is not None:
        return found
    raise SpecError(
        f'{where}: not a JSON value, a Python literal or a TinyNAS '
        'config holding structure_info')


def _structure_from_config(source: str) -> Optional[Structure]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'structure_info':
            value = node.value
        elif (isinstance(node, ast.Dict)):
            value = None
            for key, item in zip(node.keys, node.values):
                if (isinstance(key, ast.Constant)
                        and key.value == 'structure_info'):
                    value = item
            if value is None:
                continue
        else:
            continue
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError):
            return None
    return None


def parse_tinynas_structures(text: str,
                             where: str = 'TinyNAS text') -> List[Structure]:
    """Every structure in a text, without evaluating code.

    Accepted: a JSON or Python-literal list of block dicts (one structure); a
    dict with ``'best_structures'`` (TinyNAS's ``models/*.txt``, a list of
    structures), ``'structure_info'`` or ``'structure'`` (one structure); a
    TinyNAS config (``.py``) whose ``model`` holds ``structure_info``."""
    data = _literal(text, where)
    if isinstance(data, dict):
        if 'best_structures' in data:
            structures = data['best_structures']
            if (not isinstance(structures, (list, tuple)) or not structures or
                    not all(isinstance(s, (list, tuple)) for s in structures)):
                raise SpecError(f"{where}: 'best_structures' must be a "
                                'non-empty list of structures (lists)')
            return [list(s) for s in structures]
        for key in ('structure_info', 'structure'):
            if key in data:
                return [list(data[key])] if isinstance(
                    data[key], (list, tuple)) else _bad(where, key)
        raise SpecError(f"{where}: a dict must hold 'best_structures', "
                        f"'structure_info' or 'structure'; got keys "
                        f'{sorted(map(str, data))}')
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(item, (list, tuple)) for item in data):
            return [list(item) for item in data]
        return [list(data)]
    raise SpecError(f'{where}: expected a list of block dicts, got '
                    f'{type(data).__name__}')


def _bad(where: str, key: str):
    raise SpecError(f'{where}: {key!r} must be a list of block dicts')


def load_tinynas_structures(path: str) -> List[Structure]:
    """Every structure in a file (see :func:`parse_tinynas_structures`)."""
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    return parse_tinynas_structures(text, where=path)


def load_tinynas(path: str,
                 index: int = 0,
                 resolution: int = 224,
                 name: Optional[str] = None) -> ArchSpec:
    """The spec of structure ``index`` in a TinyNAS file (a ``models/*.txt``,
    a JSON list, or a config ``.py``); ``name`` defaults to the file's stem."""
    structures = load_tinynas_structures(path)
    if not -len(structures) <= index < len(structures):
        raise SpecError(f'{path}: holds {len(structures)} structure(s); '
                        f'index {index} is out of range (give 0..'
                        f'{len(structures) - 1})')
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    try:
        return spec_from_tinynas(
            structures[index], resolution=resolution, name=name)
    except SpecError as error:
        raise SpecError(f'{path}: {error}') from None


def tinynas_to_text(structures: Union[ArchSpec, Structure, List[Structure]],
                    space_arch: str = 'CnnNet') -> str:
    """TinyNAS's ``models/*.txt`` text: ``{'best_structures': [...],
    'space_arch': 'CnnNet'}`` as a Python literal (TinyNAS reads it with
    ``ast.literal_eval``)."""
    if isinstance(structures, ArchSpec):
        structures = [spec_to_tinynas(structures)]
    elif structures and isinstance(structures[0], dict):
        structures = [structures]
    for structure in structures:
        validate_structure(structure)
    data = {
        'best_structures': [list(s) for s in structures],
        'space_arch': space_arch
    }
    return pprint.pformat(data, indent=1, width=100, sort_dicts=True) + '\n'


def save_tinynas(spec_or_structure: Union[ArchSpec, Structure],
                 path: str) -> None:
    """Write one structure: a JSON list for ``*.json``, TinyNAS's ``.txt``
    format otherwise."""
    structure = (
        spec_to_tinynas(spec_or_structure) if isinstance(
            spec_or_structure, ArchSpec) else list(spec_or_structure))
    validate_structure(structure)
    if path.endswith('.json'):
        text = json.dumps(structure, indent=1, sort_keys=True) + '\n'
    else:
        text = tinynas_to_text([structure])
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
