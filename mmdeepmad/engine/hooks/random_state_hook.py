# Copyright (c) mmdeepmad authors. All rights reserved.
"""Resume a run exactly: random-number states travel with the checkpoint.

mmengine's ``--resume`` restores weights, optimizer, schedulers and the
epoch, then re-seeds nothing: the random streams behind Mixup/CutMix, random
crops, RandAugment, random erasing, dropout and stochastic depth restart
from the run's initial seed, so a resumed run diverges from an uninterrupted
one. This hook saves the python, numpy and torch (CPU and CUDA) generator
states of every process in the checkpoint and restores them on resume, and
keeps validation from consuming training's random numbers (states are put
back after each validation), so a run killed at any epoch boundary and
resumed finishes with the same weights as a run never stopped.

Exact for epoch-based loops with dataloader workers that restart each epoch
(``num_workers=0`` or ``persistent_workers=False``): persistent workers keep
their own streams, which live outside the checkpoint.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmdeepmad.registry import HOOKS

#: the checkpoint meta key holding one state per process
META_KEY = 'random_states'


def capture() -> dict:
    """The random states of this process (picklable, weights_only-safe)."""
    version, mt_state, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    state = dict(
        python=dict(
            version=version, state=torch.tensor(mt_state), gauss=gauss),
        numpy=dict(
            name=name,
            keys=torch.from_numpy(keys.astype(np.int64)),
            position=int(position),
            has_gauss=int(has_gauss),
            cached=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict) -> None:
    """Put back what :func:`capture` returned."""
    python = state['python']
    random.setstate(
        (python['version'], tuple(python['state'].tolist()), python['gauss']))
    numpy = state['numpy']
    np.random.set_state(
        (numpy['name'], numpy['keys'].numpy().astype(np.uint32),
         numpy['position'], numpy['has_gauss'], numpy['cached']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save random states in checkpoints; restore them on ``--resume``.

    Use it from any library's config::

        custom_hooks = [dict(type='mmdeepmad.RandomStateHook')]
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._before_val: Optional[dict] = None
        self._gathered: Optional[tuple] = None

    # ---- checkpoints --------------------------------------------------------
    def after_train_epoch(self, runner) -> None:
        # Runs on every process before CheckpointHook (priority VERY_LOW),
        # whose save_checkpoint runs on rank 0 only: gather here.
        self._gathered = (runner.epoch, all_gather_object(capture()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        gathered = self._gathered
        if gathered is not None and gathered[0] == runner.epoch:
            states = gathered[1]
        elif get_world_size() == 1:
            states = [capture()]
        else:  # mid-epoch save of a multi-process run: states not gathered
            return
        checkpoint.setdefault('meta', {})[META_KEY] = states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('meta', {}).get(META_KEY)
        if not getattr(runner, '_resume', False) or states is None:
            return  # loading weights only (load_from), not resuming
        if len(states) != get_world_size():
            print_log(
                f'RandomStateHook: the checkpoint holds random states of '
                f'{len(states)} processes, this run has {get_world_size()}; '
                'the random streams are not restored, so the resumed run '
                'will not repeat an uninterrupted one exactly.',
                logger='current',
                level=30)
            return
        # applied when training starts: mmengine may re-seed after loading
        self._pending = states[get_rank()]

    def before_train(self, runner) -> None:
        if self._pending is not None:
            restore(self._pending)
            self._pending = None

    # ---- validation does not consume training's random numbers --------------
    def before_val_epoch(self, runner) -> None:
        self._before_val = capture()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._before_val is not None:
            restore(self._before_val)
            self._before_val = None
