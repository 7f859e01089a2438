# Copyright (c) mmdeepmad authors. All rights reserved.
"""Turn what a config gives as ``arch`` into an :class:`ArchSpec`.

Accepted forms (:func:`resolve_arch`):

* a preset name: ``'deepmad-r50'`` reads
  ``mmdeepmad/presets/deepmad-r50.json``;
* an :class:`ArchSpec`, or its ``to_dict()`` form (a dict with ``stem`` and
  ``stages``);
* a path to an arch JSON file, or to a TinyNAS structure file (``.txt``
  ``best_structures`` file, JSON list, or TinyNAS config ``.py``);
* a TinyNAS structure: a list of block dicts, or
  ``dict(structure=[...], resolution=224, name='')``;
* budgets: ``dict(flops=..., params=..., rho=..., block=..., resolution=...)``
  (any other key is passed on as a design option); the network is designed at
  build time by :func:`mmdeepmad.design.api.design_arch`, imported only then
  (it needs cvxpy; training a given spec does not).

The caller's object is never modified.
"""
import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any, List

from mmdeepmad.design.spec import ArchSpec, SpecError
from mmdeepmad.design.tinynas_format import (load_tinynas,
                                             parse_tinynas_structures,
                                             spec_from_tinynas)

#: Where the preset arch JSON files live (``<name>.json``).
PRESET_DIR = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'presets')

#: Keys that mark a dict as design budgets.
BUDGET_KEYS = ('flops', 'params', 'rho')


def list_presets() -> List[str]:
    """Names of the presets present in :data:`PRESET_DIR`, sorted."""
    if not osp.isdir(PRESET_DIR):
        return []
    return sorted(name[:-len('.json')] for name in os.listdir(PRESET_DIR)
                  if name.endswith('.json'))


def load_preset(name: str) -> ArchSpec:
    """The spec of a preset; an unknown name lists the presets there are."""
    path = osp.join(PRESET_DIR, f'{name}.json')
    if not osp.isfile(path):
        presets = list_presets()
        available = ', '.join(presets) if presets else '(none installed)'
        raise SpecError(
            f'unknown DeepMAD preset {name!r}; available presets: '
            f'{available}. `arch` also accepts a path to an arch JSON or '
            'TinyNAS structure file, an ArchSpec dict, a TinyNAS structure '
            '(list of block dicts) or budgets dict(flops=..., params=..., '
            'rho=..., block=...)')
    return ArchSpec.load(path)


def _plain(obj: Any) -> Any:
    """A deep copy made of builtin containers (ConfigDict -> dict)."""
    if isinstance(obj, Mapping):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    return obj


def load_arch_file(path: str) -> ArchSpec:
    """An arch JSON file (``ArchSpec.to_json()``), else a TinyNAS file."""
    if path.endswith('.json'):
        with open(path, encoding='utf-8') as handle:
            try:
                data = json.load(handle)
            except json.JSONDecodeError as error:
                raise SpecError(f'{path}: malformed JSON: {error}') from None
        if isinstance(data, dict) and 'stem' in data:
            return ArchSpec.load(path)
    name = osp.splitext(osp.basename(path))[0]
    return load_tinynas(path, name=name)


def _from_string(arch: str) -> ArchSpec:
    if osp.isfile(arch):
        return load_arch_file(arch)
    if os.sep in arch or arch.endswith(('.json', '.txt', '.py')):
        raise SpecError(f'arch file {arch!r} does not exist')
    return load_preset(arch)


def _from_budgets(budgets: dict) -> ArchSpec:
    from mmdeepmad.design.api import design_arch  # lazy: needs cvxpy
    return design_arch(**budgets)


def _from_mapping(arch: dict) -> ArchSpec:
    if 'stem' in arch and 'stages' in arch:
        return ArchSpec.from_dict(arch)
    if 'structure' in arch:
        unknown = sorted(set(arch) - {'structure', 'resolution', 'name'})
        if unknown:
            raise SpecError(f'unknown key(s) {unknown} next to a TinyNAS '
                            "'structure'; allowed: resolution, name")
        return spec_from_tinynas(
            arch['structure'],
            resolution=arch.get('resolution', 224),
            name=arch.get('name', ''))
    if 'best_structures' in arch or 'structure_info' in arch:
        structures = parse_tinynas_structures(json.dumps(arch), 'arch')
        return spec_from_tinynas(structures[0])
    if any(key in arch for key in BUDGET_KEYS):
        return _from_budgets(arch)
    raise SpecError(
        f'cannot read an arch from a dict with keys {sorted(arch)}: expected '
        "an ArchSpec dict ('stem', 'stages', ...), a TinyNAS "
        "dict(structure=[...]) or budgets dict(flops=..., params=..., "
        'rho=..., block=...)')


def resolve_arch(arch: Any) -> ArchSpec:
    """The :class:`ArchSpec` that ``arch`` names or describes (see the
    module docstring)."""
    if isinstance(arch, ArchSpec):
        return arch
    if isinstance(arch, str):
        return _from_string(arch)
    if isinstance(arch, Mapping):
        return _from_mapping(_plain(arch))
    if isinstance(arch, Sequence) and all(
            isinstance(block, Mapping) for block in arch):
        return spec_from_tinynas(_plain(arch))
    raise SpecError(
        'arch must be a preset name, a path, an ArchSpec or its dict, a '
        'TinyNAS structure (list of block dicts) or a budgets dict; got '
        f'{type(arch).__name__}')
