# Copyright (c) mmdeepmad authors. All rights reserved.
"""Two processes on the CPU through torchrun (gloo): ``tools/dist_train.sh``
trains a classifier config on tiny data, ``tools/dist_test.sh`` evaluates
the checkpoint."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

from mmdeepmad.engine import launch
from ..configs.on_disk import write_imagenet
from ..configs.shrink import shrink

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'deepmad',
                  'deepmad-mb_8xb256-480e_in1k.py')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run(script, *args, cwd):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()))
    env['OMP_NUM_THREADS'] = '1'
    result = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout + result.stderr


def test_two_process_train_and_test(tmp_path):
    data = dict(
        imagenet=write_imagenet(
            str(tmp_path / 'imagenet'), num_classes=2, per_class=4))
    cfg = launch.load_config(CONFIG)
    shrink(cfg, data, str(tmp_path / 'unused'))
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 1
    config = str(tmp_path / 'tiny_mb.py')
    cfg.dump(config)

    work_dir = tmp_path / 'work'
    log = run(
        'dist_train.sh',
        config,
        '2',
        '--work-dir',
        str(work_dir),
        cwd=tmp_path)
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert "dist_cfg: {'backend': 'gloo'}" in log
    # 8 training images over 2 processes x 2 per batch: 2 iterations/epoch
    assert 'Epoch(train) [2][2/2]' in log
    assert (work_dir / 'epoch_2.pth').is_file()
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    # RandomStateHook gathered one random state per process
    states = checkpoint['meta']['random_states']
    assert len(states) == 2
    assert all(isinstance(s['torch'], torch.Tensor) for s in states)
    scalars = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        records = [json.loads(line) for line in f]
    assert any('accuracy/top1' in r for r in records)
    # every rank logged to the same run, only rank 0 wrote the log files
    assert len(glob.glob(str(work_dir / '*' / '*.log'))) == 1

    log = run(
        'dist_test.sh',
        config,
        str(work_dir / 'epoch_2.pth'),
        '2',
        '--work-dir',
        str(tmp_path / 'test'),
        cwd=tmp_path)
    assert 'Distributed training: True' in log
    assert 'accuracy/top1' in log
