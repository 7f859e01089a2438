# Copyright (c) mmdeepmad authors. All rights reserved.
"""A clear error when a config's ``Pretrained`` checkpoint file is missing.

Downstream configs (detection, segmentation, action recognition) start from
the ImageNet-trained backbone through ``init_cfg=dict(type='Pretrained',
checkpoint=...)``. Without this check a missing file surfaces as a stack trace
from inside mmengine's weight initialisation, after datasets were built.
"""
import os.path as osp
from typing import Iterator, List, Optional, Tuple

#: checkpoint prefixes that mmengine resolves itself (not local files)
REMOTE_PREFIXES = ('http://', 'https://', 'torchvision://', 'open-mmlab://',
                   'openmmlab://', 'mmcls://', 'modelzoo://', 's3://',
                   'pavi://')


class MissingPretrainedError(FileNotFoundError):
    """A ``Pretrained`` init_cfg names a local file that does not exist."""


def iter_pretrained(cfg, path: str = '') -> Iterator[Tuple[str, dict]]:
    """Yield ``(key path, init_cfg)`` of every ``Pretrained`` init_cfg
    found anywhere in a config (dicts and lists are walked)."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'Pretrained' and 'checkpoint' in cfg:
            yield path, cfg
        for key, value in cfg.items():
            yield from iter_pretrained(value, f'{path}.{key}' if path else key)
    elif isinstance(cfg, (list, tuple)):
        for index, value in enumerate(cfg):
            yield from iter_pretrained(value, f'{path}[{index}]')


def _arch_of(cfg, key_path: str, prefix: str = '') -> Optional[str]:
    """The preset name of the DeepMAD backbone owning ``key_path``, if any."""
    node = cfg
    if prefix:
        key_path = key_path[len(prefix) + 1:]
    for key in key_path.split('.')[:-1]:
        if '[' in key or not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    arch = node.get('arch') if isinstance(node, dict) else None
    return arch if isinstance(arch, str) else None


def missing_message(checkpoint: str, key_path: str,
                    arch: Optional[str]) -> str:
    """The error text: the file, the config key, and how to produce it."""
    lines = [
        f'The pretrained checkpoint {checkpoint!r} (config key '
        f'`{key_path}.checkpoint`) does not exist.',
        'Produce it in one of these ways:',
    ]
    if arch is not None and not arch.endswith('.json'):
        lines.append(
            f'  * train the ImageNet classifier: python tools/train.py '
            f'configs/deepmad/{arch}_8xb256-480e_in1k.py (then point the '
            'key at its checkpoint, e.g. work_dirs/.../epoch_480.pth);')
    lines += [
        '  * convert an official TinyNAS release: python '
        'tools/model_converters/tinynas2mmdeepmad.py RELEASE.pth '
        f'{checkpoint} --structure STRUCTURE.txt --mmpretrain;',
        f'  * or pass another file: --cfg-options {key_path}.checkpoint=PATH '
        f'(or train from scratch with --cfg-options {key_path}=None).',
    ]
    return '\n'.join(lines)


def check_pretrained(cfg, prefix: str = '') -> List[str]:
    """Raise :class:`MissingPretrainedError` naming the first local
    ``Pretrained`` checkpoint of ``cfg`` that does not exist; return the
    checked local paths. ``prefix`` is the key path of ``cfg`` itself."""
    checked = []
    for key_path, init_cfg in iter_pretrained(cfg, prefix):
        checkpoint = init_cfg['checkpoint']
        if not isinstance(checkpoint,
                          str) or checkpoint.startswith(REMOTE_PREFIXES):
            continue
        if not osp.isfile(checkpoint):
            raise MissingPretrainedError(
                missing_message(checkpoint, key_path,
                                _arch_of(cfg, key_path, prefix)))
        checked.append(checkpoint)
    return checked
