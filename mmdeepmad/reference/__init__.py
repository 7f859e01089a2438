# Copyright (c) mmdeepmad authors. All rights reserved.
"""Reference data committed with mmdeepmad (standard library only).

``tinynas_released.json`` beside this file holds facts about TinyNAS (the
official DeepMAD code, alibaba/lightweight-neural-architecture-search at
8ccaf88): the DeepMAD structures it released
(``configs/classification/models/*.txt``), their search budgets, and the
values TinyNAS's own code computes for them (params, FLOPs, rho, score,
depth penalty, penalised score, per-stage score, stage info). The
``tinynas`` convention (:mod:`mmdeepmad.conventions.tinynas`) must reproduce
them; the tests, the model zoo and ``tools/analysis/benchmark_design.py``
read them through :func:`tinynas_releases`.

The file layout::

    {"source": "<where the values come from>",
     "structures": [{"name": "deepmad-R50", "structure": [...],
                     "budgets": {...}, "params": ..., ...}, ...]}

The environment variable ``MMDEEPMAD_TINYNAS_REFERENCE`` may name another
file of the same layout; it is used when no path is given.
"""
from __future__ import annotations
import json
import os
import os.path as osp
from typing import Any, Dict, Optional

__all__ = [
    'ENV_VAR', 'TINYNAS_RELEASED_JSON', 'ReferenceDataError', 'reference_path',
    'tinynas_releases'
]

#: the committed file (``mmdeepmad/reference/tinynas_released.json``)
TINYNAS_RELEASED_JSON = osp.join(
    osp.dirname(osp.abspath(__file__)), 'tinynas_released.json')
#: an optional override of the file's location
ENV_VAR = 'MMDEEPMAD_TINYNAS_REFERENCE'

#: keys every entry of ``structures`` holds
_ENTRY_KEYS = ('name', 'image_size', 'budgets', 'structure', 'params', 'flops',
               'rho', 'score', 'penalised_score', 'depth_penalty',
               'satisfies_budgets', 'per_stage_score', 'stage_info')


class ReferenceDataError(ValueError):
    """The reference file is missing, unreadable or not of its layout."""


def reference_path(path: Optional[str] = None) -> str:
    """``path``, else ``$MMDEEPMAD_TINYNAS_REFERENCE`` when set (and not
    empty), else the committed :data:`TINYNAS_RELEASED_JSON`."""
    return path or os.environ.get(ENV_VAR) or TINYNAS_RELEASED_JSON


def tinynas_releases(path: Optional[str] = None) -> Dict[str, Any]:
    """The TinyNAS reference data: ``{'source': str, 'structures': [entry,
    ...]}`` as stored (a fresh object on every call; callers may modify it).

    ``path`` defaults to :func:`reference_path` (the committed file unless
    ``$MMDEEPMAD_TINYNAS_REFERENCE`` is set). Raises
    :class:`ReferenceDataError` naming the file when it is missing,
    unreadable, not JSON, or not of the layout above.
    """
    named = os.environ.get(ENV_VAR)
    from_env = bool(named) and (not path or path == named)
    path = reference_path(path)
    where = f'TinyNAS reference data {path}' + (f' (named by ${ENV_VAR})'
                                                if from_env else '')
    if not osp.isfile(path):
        raise ReferenceDataError(
            f'{where} does not exist; the committed copy is '
            f'{TINYNAS_RELEASED_JSON}')
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError) as error:
        raise ReferenceDataError(f'{where} cannot be read: {error}') from error
    except json.JSONDecodeError as error:
        raise ReferenceDataError(f'{where} is not valid JSON: {error}') \
            from error
    _check_layout(data, where)
    return data


def _check_layout(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise ReferenceDataError(
            f'{where} must hold a JSON object with "source" and '
            f'"structures"; got {type(data).__name__}')
    if not isinstance(data.get('source'), str):
        raise ReferenceDataError(f'{where}: "source" must be a string')
    entries = data.get('structures')
    if not isinstance(entries, list) or not entries:
        raise ReferenceDataError(
            f'{where}: "structures" must be a non-empty list')
    seen = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ReferenceDataError(
                f'{where}: structures[{index}] must be an object')
        missing = [key for key in _ENTRY_KEYS if key not in entry]
        if missing:
            raise ReferenceDataError(
                f'{where}: structures[{index}] '
                f"({entry.get('name', 'unnamed')}) lacks {missing}")
        if not isinstance(entry['structure'], list) or not all(
                isinstance(block, dict) for block in entry['structure']):
            raise ReferenceDataError(
                f"{where}: structures[{index}] ({entry['name']}): "
                '"structure" must be a list of block objects')
        if not isinstance(entry['budgets'], dict):
            raise ReferenceDataError(
                f"{where}: structures[{index}] ({entry['name']}): "
                '"budgets" must be an object')
        if entry['name'] in seen:
            raise ReferenceDataError(
                f"{where}: the name {entry['name']!r} appears twice")
        seen.add(entry['name'])
