"""The one way to get an :class:`ArchSpec`: :func:`load_arch`.

Accepted forms:

* a preset name: ``'deepmad-r50'`` reads ``mmdeepmad/presets/deepmad-r50.json``
  (:func:`list_presets` names them);
* an :class:`ArchSpec`, or its ``to_dict()`` form (a dict with ``stem`` and
  ``stages``);
* a path to an arch JSON file, or to a TinyNAS structure file (``.txt``
  ``best_structures`` file, JSON list): :func:`read_arch_file`;
* a TinyNAS structure: a list of block dicts, or
  ``dict(structure=[...], resolution=224, name='')``;
* budgets: ``dict(flops=..., params=..., rho=..., block=..., resolution=...)``
  (any other key is passed on as a design option); the network is designed
  then by :func:`mmdeepmad.design.api.design_arch`, imported only then (it
  needs cvxpy; building a given spec does not).

Every error is a :class:`SpecError` naming the file or field. The caller's
object is never modified. Standard library only.
"""
from __future__ import annotations
import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any, List, Optional

from .spec import ArchSpec, SpecError
from .tinynas_format import (load_tinynas, parse_tinynas_structures,
                             spec_from_tinynas)

#: The preset folder: one arch JSON per preset, ``<name>.json``.
PRESET_DIR = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'presets')

#: Keys that mark a dict as design budgets.
BUDGET_KEYS = ('flops', 'params', 'rho')

#: Keys that mark a JSON object as an arch JSON (not a TinyNAS file).
_ARCH_JSON_KEYS = {'stem', 'stages', 'schema_version'}


def list_presets() -> List[str]:
    """Names of the presets in :data:`PRESET_DIR`, sorted."""
    if not osp.isdir(PRESET_DIR):
        return []
    return sorted(name[:-len('.json')] for name in os.listdir(PRESET_DIR)
                  if name.endswith('.json'))


def preset_path(name: str) -> str:
    """Where a preset's arch JSON is (whether or not it exists)."""
    return osp.join(PRESET_DIR, f'{name}.json')


def load_preset(name: str) -> ArchSpec:
    """The spec of a preset; an unknown name lists the presets there are."""
    path = preset_path(name)
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


def read_arch_file(path: str,
                   index: int = 0,
                   resolution: Optional[int] = None) -> ArchSpec:
    """An arch JSON file (a JSON object with ``stem``, ``stages`` or
    ``schema_version``), else a TinyNAS structure file, of which the
    ``index``-th structure is read. ``resolution`` overrides the file's (a
    TinyNAS file holds none: 224 then)."""
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except OSError as error:
        raise SpecError(f'{path}: cannot read it ({error.strerror})') from None
    except UnicodeDecodeError:
        raise SpecError(f'{path}: not a text file (expected an arch JSON or '
                        'a TinyNAS structure)') from None
    try:
        data = json.loads(text)
    except ValueError as error:
        data = None
        if path.lower().endswith('.json') or text.lstrip().startswith('{"'):
            raise SpecError(f'{path}: not valid JSON ({error}); fix the file '
                            'or write it again with design.py') from None
    if isinstance(data, dict) and _ARCH_JSON_KEYS & set(data):
        if index not in (0, -1):
            raise SpecError(f'{path}: an arch JSON holds one network; index '
                            f'{index} is out of range (give 0; an index picks '
                            'a structure of a TinyNAS file)')
        try:
            spec = ArchSpec.from_dict(data)
            return spec if resolution is None else spec.replace(
                resolution=resolution)
        except SpecError as error:
            raise SpecError(f'{path}: {error}') from None
    return load_tinynas(path, index=index, resolution=resolution or 224)


def _plain(obj: Any) -> Any:
    """A deep copy made of builtin containers (ConfigDict -> dict)."""
    if isinstance(obj, Mapping):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(item) for item in obj]
    return obj


def _from_string(arch: str) -> ArchSpec:
    if osp.isfile(arch):
        return read_arch_file(arch)
    if os.sep in arch or arch.endswith(('.json', '.txt', '.py')):
        raise SpecError(f'arch file {arch!r} does not exist')
    return load_preset(arch)


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
        from mmdeepmad.design.api import design_arch  # lazy: needs cvxpy
        return design_arch(**arch)
    raise SpecError(
        f'cannot read an arch from a dict with keys {sorted(arch)}: expected '
        "an ArchSpec dict ('stem', 'stages', ...), a TinyNAS "
        "dict(structure=[...]) or budgets dict(flops=..., params=..., "
        'rho=..., block=...)')


def load_arch(arch: Any) -> ArchSpec:
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
