# Copyright (c) mmdeepmad authors. All rights reserved.
"""Config preparation shared by ``tools/train.py`` and ``tools/test.py``.

One entry for the four libraries: the config's ``default_scope`` (mmpretrain,
mmdet, mmseg or mmaction) decides which library's registries build it, and the
library's modules are registered before the Runner is built.

Every function raises :mod:`mmdeepmad.engine.errors` classes for what the
user can fix, which the tools print as one message.
"""
import importlib
import logging
import os.path as osp
from typing import Optional

from .cli import DictAction  # noqa: F401  (for the tools)
from .errors import (ArgumentError, ConfigError, EnvironmentFailure,
                     MissingFileError)

#: default_scope -> modules whose import registers that library's modules
SCOPE_MODULES = {
    'mmpretrain': ('mmpretrain.utils', 'register_all_modules'),
    'mmdet': ('mmdet.utils', 'register_all_modules'),
    'mmseg': ('mmseg.utils', 'register_all_modules'),
    'mmaction': ('mmaction.utils', 'register_all_modules'),
}


def load_config(path: str, cfg_options: Optional[dict] = None):
    """Read a config (``mmdeepmad`` is imported first so its compatibility
    fixes apply) and merge ``--cfg-options``: every key must exist in the
    config, except keys written ``+key`` (see
    :mod:`mmdeepmad.engine.config_check`)."""
    import mmdeepmad  # noqa: F401  (compat fixes, lazy registration)
    from .config_check import apply_cfg_options, read_config
    cfg = read_config(path)
    apply_cfg_options(cfg, cfg_options)
    return cfg


def register_scope(cfg) -> str:
    """Register the modules of the config's library; return its scope."""
    scope = cfg.get('default_scope', None)
    if scope is None:
        raise ConfigError(
            'the config sets no `default_scope`; set it to one of '
            f'{sorted(SCOPE_MODULES)} (configs that inherit a library base '
            'get it from there)')
    if scope not in SCOPE_MODULES:
        raise ConfigError(f'default_scope {scope!r} is not one of '
                          f'{sorted(SCOPE_MODULES)}')
    module, function = SCOPE_MODULES[scope]
    try:
        library = importlib.import_module(module)
    except ImportError as error:
        raise EnvironmentFailure(
            f'the config is for {scope} (default_scope), which cannot be '
            f'imported: {error}') from error
    getattr(library, function)(init_default_scope=True)
    return scope


def default_work_dir(cfg, config_path: str, work_dir: Optional[str]) -> None:
    """``--work-dir`` > the config's ``work_dir`` > ``work_dirs/<name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def use_amp_when_possible(cfg, amp: bool = False) -> None:
    """``--amp`` switches the optimizer wrapper to AMP; an AMP wrapper on a
    machine without CUDA falls back to fp32 with a warning (mmengine's
    ``AmpOptimWrapper`` refuses to start there)."""
    from mmengine.logging import print_log
    optim_wrapper = cfg.get('optim_wrapper', None)
    if optim_wrapper is None:
        return
    if amp:
        optim_wrapper.type = 'AmpOptimWrapper'
        optim_wrapper.setdefault('loss_scale', 'dynamic')
    import torch
    if optim_wrapper.get('type') == 'AmpOptimWrapper' and \
            not torch.cuda.is_available():
        print_log(
            'AMP needs a CUDA device; none is available, so training runs in '
            'fp32 (optim_wrapper.type = OptimWrapper).',
            logger='current',
            level=logging.WARNING)
        optim_wrapper.type = 'OptimWrapper'
        optim_wrapper.pop('loss_scale', None)


def init_cpu_distributed(cfg) -> None:
    """Distributed runs without CUDA: gloo instead of the configs' nccl, and
    the process group is created here, because mmengine's ``init_dist``
    calls ``torch.cuda.set_device`` unconditionally (a CUDA error on a
    CPU-only machine); the model wrapper gets no device ids. Call after
    the launcher has set RANK/WORLD_SIZE."""
    import torch
    import torch.distributed as torch_dist
    if torch.cuda.is_available() or cfg.get('launcher') != 'pytorch':
        return
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
        torch_dist.init_process_group(backend=dist_cfg['backend'], **kwargs)
    # mmengine's default wrapper passes device_ids=[LOCAL_RANK], which DDP
    # refuses for a CPU module
    wrapper = cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def set_resume(cfg, resume: Optional[str]) -> None:
    """``--resume`` (the latest checkpoint of the work dir) or
    ``--resume PATH``."""
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise MissingFileError(
                f'--resume {resume!r}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = resume


def enable_auto_scale_lr(cfg) -> None:
    """Scale the learning rate by ``real batch / base_batch_size``."""
    auto_scale_lr = cfg.get('auto_scale_lr', None)
    if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
        raise ConfigError(
            '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=N)` '
            'in the config (N: the total batch size the lr is tuned for)')
    auto_scale_lr.enable = True


def disable_validation(cfg) -> None:
    """``--no-validate``: train without the validation loop."""
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None


def drop_pretrained(cfg) -> None:
    """Remove every ``Pretrained`` init_cfg of the model (tests load a
    checkpoint with every weight, so the pretrained file is not needed)."""

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict) and \
                        value.get('type') == 'Pretrained':
                    node[key] = None
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(cfg.get('model', {}))


def add_dump_results(cfg, out: str) -> None:
    """Also write the raw test predictions to ``out`` (a .pkl file)."""
    if not out.endswith(('.pkl', '.pickle')):
        raise ArgumentError(f'--out {out!r}: the file must end with .pkl')
    evaluator = cfg.test_evaluator
    evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) \
        else [evaluator]
    evaluators.append(dict(type='mmengine.DumpResults', out_file_path=out))
    cfg.test_evaluator = evaluators


def build_runner(cfg):
    """Build the Runner (or the config's ``runner_type``)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
