# Copyright (c) mmdeepmad authors. All rights reserved.
"""Find the configs that use each preset (task, framework, dataset)."""
from __future__ import annotations
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from .facts import Progress

_ARCH_RE = re.compile(
    r"""arch\s*=\s*['"]((?:tinynas-)?deepmad-[A-Za-z0-9_.-]+)['"]""")


def _dataset_of(text: str) -> Optional[str]:
    lowered = text.lower()
    if 'ucf101' in lowered or 'ucf-101' in lowered:
        return 'UCF101'
    if 'kinetics' in lowered or 'k400' in lowered:
        return 'Kinetics-400'
    if 'ade20k' in lowered or 'ade/' in lowered:
        return 'ADE20K'
    if 'coco' in lowered:
        return 'COCO'
    if 'imagenet' in lowered:
        return 'ImageNet-1k'
    return None


def _framework_of(model: dict, text: str) -> Tuple[Optional[str], str]:
    """(task key, framework name) of a config's ``model``."""
    mtype = str(model.get('type', '')).split('.')[-1]
    if mtype == 'ImageClassifier':
        return 'classification', 'ImageClassifier'
    if mtype == 'EncoderDecoder':
        head = str((model.get('decode_head') or {}).get('type', ''))
        return 'segmentation', 'UperNet' if 'UPer' in head else head
    if mtype.startswith('Recognizer'):
        head = str((model.get('cls_head') or {}).get('type', ''))
        return 'action', 'TSN' if head.startswith('TSN') else (head or mtype)
    if mtype:
        return 'detection', mtype
    # text fallback
    for key, framework in (('FCOS', 'FCOS'), ('GFL', 'GFL')):
        if f"type='{key}'" in text or f'type="{key}"' in text:
            return 'detection', framework
    if 'UPerHead' in text:
        return 'segmentation', 'UperNet'
    if 'TSNHead' in text:
        return 'action', 'TSN'
    if 'ImageClassifier' in text:
        return 'classification', 'ImageClassifier'
    return None, ''


def discover_configs(root: str, progress: Progress = None) -> List[dict]:
    """Every ``configs/**/*.py`` whose backbone ``arch`` is a preset (one of
    our designs or an official network).

    Reads ``model.backbone.arch`` with mmengine's ``Config.fromfile``; when a
    config cannot be loaded, falls back to the text ``arch='deepmad-...'``.
    """
    from mmdeepmad.design.presets import PRESETS
    from .facts import official_presets
    known = set(PRESETS) | set(official_presets())
    found = []
    config_dir = osp.join(root, 'configs')
    paths = []
    for dirpath, dirnames, filenames in os.walk(config_dir):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(('_', '.')))
        if osp.samefile(dirpath, config_dir):
            continue  # configs/*.py are short aliases (see find_aliases)
        for filename in sorted(filenames):
            if filename.endswith('.py') and not filename.startswith('_'):
                paths.append(osp.join(dirpath, filename))
    for path in sorted(paths):
        rel = osp.relpath(path, root).replace(os.sep, '/')
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        model: dict = {}
        arch = None
        data_text = text
        try:
            from mmengine.config import Config
            cfg = Config.fromfile(path)
            model = cfg.get('model') or {}
            backbone = model.get('backbone') or {}
            arch = backbone.get('arch') if hasattr(backbone, 'get') else None
            data_text = str(cfg.get('train_dataloader', '')) + str(
                cfg.get('test_dataloader', '')) + str(
                    cfg.get('dataset_type', '')) + str(
                        cfg.get('data_root', ''))
            model = model.to_dict() if hasattr(model, 'to_dict') else model
        except Exception as error:  # noqa: BLE001 - fall back to the text
            if progress:
                progress(f'note: {rel}: Config.fromfile failed ({error!r}); '
                         'reading the arch from the text')
            match = _ARCH_RE.search(text)
            arch = match.group(1) if match else None
        if not isinstance(arch, str) or arch not in known:
            continue
        task, framework = _framework_of(model, text)
        if task is None:
            continue
        dataset = _dataset_of(data_text) or _dataset_of(text) or _dataset_of(
            rel)
        if task == 'classification' and dataset is None:
            dataset = 'ImageNet-1k'
        found.append(
            dict(
                config=rel,
                name=osp.splitext(osp.basename(rel))[0],
                folder=osp.dirname(rel),
                preset=arch,
                task=task,
                framework=framework,
                dataset=dataset or 'unknown'))
    return found


def find_aliases(root: str) -> Dict[str, str]:
    """``configs/<short>.py`` files that only inherit a full config:
    full config path -> alias path (both relative to ``root``)."""
    aliases = {}
    config_dir = osp.join(root, 'configs')
    for filename in sorted(os.listdir(config_dir)):
        if not filename.endswith('.py'):
            continue
        with open(osp.join(config_dir, filename), encoding='utf-8') as f:
            match = re.search(r"_base_\s*=\s*['\"]\./([^'\"]+)['\"]", f.read())
        if match:
            aliases[f'configs/{match.group(1)}'] = f'configs/{filename}'
    return aliases
