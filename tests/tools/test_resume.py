# Copyright (c) mmdeepmad authors. All rights reserved.
"""Resume without loss: a run killed with SIGKILL part-way, resumed with
``tools/train.py --resume``, ends with exactly the weights and optimizer
state of an uninterrupted run with the same seed, with the recipe's real
randomness on (Mixup/CutMix, random resized crop, RandAugment, random
erasing)."""
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from mmdeepmad.engine import launch
from mmdeepmad.engine.hooks import RandomStateHook
from mmdeepmad.engine.hooks.random_state_hook import capture, restore
from ..configs.on_disk import write_imagenet
from ..configs.shrink import shrink

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'deepmad',
                  'deepmad-r18_8xb256-480e_in1k.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
EPOCHS = 4


def tiny_config(tmp_path) -> str:
    data = dict(
        imagenet=write_imagenet(
            str(tmp_path / 'imagenet'), num_classes=2, per_class=12))
    cfg = launch.load_config(CONFIG)
    shrink(cfg, data, str(tmp_path / 'unused'))
    cfg.train_cfg.max_epochs = EPOCHS
    cfg.train_cfg.val_interval = 1  # validation must not disturb training
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=-1)
    cfg.randomness = dict(seed=0, deterministic=True)
    assert cfg.model.train_cfg.augments  # Mixup / CutMix stay on
    path = str(tmp_path / 'tiny_r18.py')
    cfg.dump(path)
    return path


def train(config, work_dir, *extra):
    result = subprocess.run(
        [sys.executable, TRAIN, config, '--work-dir',
         str(work_dir), *extra],
        capture_output=True,
        text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def final_state(work_dir):
    checkpoint = torch.load(
        osp.join(work_dir, f'epoch_{EPOCHS}.pth'), weights_only=True)
    return checkpoint['state_dict'], checkpoint['optimizer']


def assert_equal_nested(a, b, where=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal_nested(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_equal_nested(x, y, f'{where}[{index}]')
    else:
        assert a == b, where


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    config = tiny_config(tmp_path)
    straight = tmp_path / 'straight'
    train(config, straight)

    resumed = tmp_path / 'resumed'
    process = subprocess.Popen(
        [sys.executable, TRAIN, config, '--work-dir',
         str(resumed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (resumed / 'epoch_2.pth').exists():
        assert process.poll() is None, 'training ended before the kill'
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (resumed / f'epoch_{EPOCHS}.pth').exists()

    train(config, resumed, '--resume')
    straight_weights, straight_optimizer = final_state(straight)
    resumed_weights, resumed_optimizer = final_state(resumed)
    assert_equal_nested(straight_weights, resumed_weights, 'state_dict')
    assert_equal_nested(straight_optimizer, resumed_optimizer, 'optimizer')
    # and training did move the weights
    first = torch.load(
        osp.join(straight, 'epoch_1.pth'), weights_only=True)['state_dict']
    assert any(not torch.equal(first[k], straight_weights[k]) for k in first
               if first[k].is_floating_point())


def test_resume_without_checkpoint_starts_from_scratch(tmp_path):
    """``--resume`` in an empty work dir trains from the beginning (what
    mmengine does) and the run still completes."""
    config = tiny_config(tmp_path)
    train(config, tmp_path / 'fresh', '--resume', '--cfg-options',
          'train_cfg.max_epochs=1')
    assert (tmp_path / 'fresh' / 'epoch_1.pth').exists()


def test_capture_restore_repeats_every_stream():
    state = capture()
    first = (random.random(), np.random.rand(), torch.rand(3))
    restore(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


def test_validation_does_not_consume_training_random_numbers():
    hook = RandomStateHook()
    state = capture()
    hook.before_val_epoch(runner=None)
    torch.rand(100), np.random.rand(100), random.random()  # "validation"
    hook.after_val_epoch(runner=None)
    after = torch.rand(3)
    restore(state)
    assert torch.equal(after, torch.rand(3))


def test_states_restored_only_when_resuming():

    class Runner:
        _resume = False

    hook = RandomStateHook()
    checkpoint = dict(meta={})
    hook.before_save_checkpoint(Runner(), checkpoint)
    assert len(checkpoint['meta']['random_states']) == 1
    hook.after_load_checkpoint(Runner(), checkpoint)  # load_from: ignored
    assert hook._pending is None
    Runner._resume = True
    hook.after_load_checkpoint(Runner(), checkpoint)
    expected = torch.rand(2)
    hook.before_train(Runner())
    assert torch.equal(torch.rand(2), expected)
