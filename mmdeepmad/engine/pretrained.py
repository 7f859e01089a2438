# Copyright (c) mmdeepmad authors. All rights reserved.
"""``Pretrained`` init_cfg of the DeepMAD backbone: a clear error when the
file is missing, and strict loading.

Downstream configs (detection, segmentation, action recognition) start from
the ImageNet-trained backbone through ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')``. Without the file check a missing file
surfaces as a stack trace from inside mmengine's weight initialisation, after
datasets were built. mmengine's ``PretrainedInit`` loads with
``strict=False``: a checkpoint of another architecture loads where names and
shapes happen to agree, with a warning in the log only. The backbone loads
its ``Pretrained`` init_cfg with :func:`load_pretrained` instead: every
tensor must fit unless the init_cfg says ``strict=False``.
"""
import logging
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from .checkpoint import (StateDictFit, check_state_dict_fits, fitting_part,
                         read_state_dict, state_dict_fit)
from .errors import CheckpointMismatchError, ConfigError, InputError

#: checkpoint prefixes that mmengine resolves itself (not local files)
REMOTE_PREFIXES = ('http://', 'https://', 'torchvision://', 'open-mmlab://',
                   'openmmlab://', 'mmcls://', 'modelzoo://', 's3://',
                   'pavi://')


class MissingPretrainedError(InputError, FileNotFoundError):
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
    if arch is not None and arch.startswith('tinynas-'):
        # the official networks: their released weights convert by name
        lines.append(
            '  * convert the official TinyNAS release of this network: '
            'python tools/model_converters/tinynas2mmdeepmad.py --preset '
            f'{arch} RELEASE.pth {checkpoint} --mmpretrain;')
    elif arch is None or arch.endswith('.json'):
        lines.append(
            '  * convert an official TinyNAS release of the same structure: '
            'python tools/model_converters/tinynas2mmdeepmad.py RELEASE.pth '
            f'{checkpoint} --structure STRUCTURE.txt --mmpretrain;')
    lines.append(
        f'  * or pass another file: --cfg-options {key_path}.checkpoint=PATH '
        f'(or train from scratch with --cfg-options {key_path}=None).')
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


#: the keys a ``Pretrained`` init_cfg takes (mmengine's plus ``strict``)
PRETRAINED_KEYS = ('type', 'checkpoint', 'prefix', 'map_location', 'strict')


def is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def split_pretrained(init_cfg) -> Tuple[list, list]:
    """``(Pretrained init_cfgs, the others)`` of an init_cfg (dict, list or
    None)."""
    if not init_cfg:
        return [], []
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return ([c for c in cfgs
             if is_pretrained(c)], [c for c in cfgs if not is_pretrained(c)])


def _strict(init_cfg: dict, key_path: str) -> bool:
    unknown = sorted(set(init_cfg) - set(PRETRAINED_KEYS))
    if unknown:
        raise ConfigError(
            f'{key_path}.init_cfg (Pretrained): unknown key(s) {unknown}; '
            f'it takes {", ".join(PRETRAINED_KEYS[1:])}')
    strict = init_cfg.get('strict', True)
    if not isinstance(strict, bool):
        raise ConfigError(f'{key_path}.init_cfg.strict must be True or '
                          f'False, got {strict!r}')
    return strict


def _target(module) -> str:
    name = getattr(module, 'arch_name', None)
    if name is None and getattr(module, 'arch_spec', None) is not None:
        name = module.arch_spec.name
    kind = type(module).__name__
    return f'{kind}(arch={name!r})' if name else kind


def _source(init_cfg: dict) -> str:
    text = f'checkpoint {init_cfg["checkpoint"]!r}'
    prefix = init_cfg.get('prefix')
    return f'{text} (tensors under {prefix!r})' if prefix else text


def _partial_hint(key_path: str) -> str:
    return ('To load only the tensors that fit, add strict=False to the '
            'Pretrained init_cfg (e.g. --cfg-options '
            f'+{key_path}.init_cfg.strict=False).')


def pretrained_fit(
        module,
        init_cfg: dict,
        key_path: str = 'model.backbone') -> Tuple[StateDictFit, dict]:
    """Read the checkpoint of a ``Pretrained`` init_cfg and compare it with
    ``module``; raise :class:`CheckpointMismatchError` if it does not fit and
    the init_cfg is strict (the default). Returns the comparison and the
    state dict (prefix removed). ``key_path`` is the module's config key,
    used in the messages."""
    strict = _strict(init_cfg, key_path)
    prefix = init_cfg.get('prefix')
    state_dict = read_state_dict(
        init_cfg['checkpoint'],
        map_location=init_cfg.get('map_location', 'cpu'),
        prefix=prefix)
    if strict and prefix and not state_dict:
        raise CheckpointMismatchError(
            f'{_source(init_cfg)} does not fit {_target(module)}: the '
            f'checkpoint has no tensor under {prefix!r} (is it the right '
            'file, or is another prefix meant?).\n' + _partial_hint(key_path))
    if strict:
        fit = check_state_dict_fits(
            module,
            state_dict,
            what=_source(init_cfg),
            target=_target(module),
            hint=_partial_hint(key_path))
    else:
        fit = state_dict_fit(module, state_dict)
    return fit, state_dict


def check_pretrained_fits(module, key_path: str = 'model.backbone') -> None:
    """Check every ``Pretrained`` init_cfg of ``module`` against it without
    loading anything (the tools call it before a run starts)."""
    for init_cfg in split_pretrained(getattr(module, 'init_cfg', None))[0]:
        pretrained_fit(module, init_cfg, key_path)


def load_pretrained(module,
                    init_cfg: dict,
                    key_path: str = 'model.backbone') -> StateDictFit:
    """Load a ``Pretrained`` init_cfg into ``module``: every tensor must fit
    (:class:`CheckpointMismatchError` otherwise) unless ``strict=False``,
    which loads the tensors that fit and logs a warning naming the rest."""
    from mmengine.logging import print_log
    from mmengine.model.weight_init import update_init_info
    prefix = init_cfg.get('prefix')
    print_log(
        f'load {prefix + " " if prefix else ""}in model from: '
        f'{init_cfg["checkpoint"]}',
        logger='current')
    fit, state_dict = pretrained_fit(module, init_cfg, key_path)
    if not fit.fits:
        print_log(
            f'{_target(module)}: strict=False, loaded {fit.loaded} of '
            f'{fit.expected} tensors from {_source(init_cfg)}; '
            f'{fit.summary()}',
            logger='current',
            level=logging.WARNING)
    module.load_state_dict(fitting_part(module, state_dict), strict=False)
    if hasattr(module, '_params_init_info'):
        update_init_info(
            module,
            init_info=f'PretrainedInit: load from {init_cfg["checkpoint"]}')
    return fit
