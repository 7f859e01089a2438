# Copyright (c) mmdeepmad authors. All rights reserved.
"""``tools/train.py`` then ``tools/test.py`` as a user runs them, one config
of each library (the scope comes from the config), on tiny on-disk data; and
``tools/analysis/get_flops.py``."""
import os.path as osp
import pickle
import runpy
import subprocess
import sys

import pytest

from mmdeepmad.conventions.counters import count
from mmdeepmad.engine import launch
from mmdeepmad.models import DeepMAD
from ..configs.on_disk import write_all
from ..configs.shrink import shrink

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CASES = {
    'mmpretrain': ('configs/deepmad/deepmad-b0_8xb256-480e_in1k.py',
                   'accuracy/top1'),
    'mmdet': ('configs/fcos_deepmad_r50.py', 'coco/bbox_mAP'),
    'mmseg': ('configs/upernet/'
              'upernet_deepmad-r50_4xb4-160k_ade20k-512x512.py', 'mIoU'),
    'mmaction': ('configs/tsn/'
                 'tsn_deepmad-r50_8xb32-1x1x3-75e_ucf101-split1-rgb.py',
                 'acc/top1'),
}  # yapf: disable


def run_tool(*args, cwd):
    result = subprocess.run([sys.executable, *args],
                            cwd=cwd,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return write_all(str(tmp_path_factory.mktemp('data')))


@pytest.mark.parametrize('scope', sorted(CASES))
def test_train_then_test(scope, tiny_data, tmp_path):
    config, metric = CASES[scope]
    cfg = launch.load_config(osp.join(REPO_ROOT, config))
    assert cfg.default_scope == scope
    shrink(cfg, tiny_data, str(tmp_path / 'unused'))
    small_config = str(tmp_path / f'{scope}_tiny.py')
    cfg.dump(small_config)
    work_dir = tmp_path / 'work'
    run_tool(
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        small_config,
        '--work-dir',
        str(work_dir),
        cwd=tmp_path)
    checkpoint = work_dir / ('iter_2.pth'
                             if scope == 'mmseg' else 'epoch_1.pth')
    assert checkpoint.is_file()

    out = tmp_path / 'predictions.pkl'
    result = run_tool(
        osp.join(REPO_ROOT, 'tools', 'test.py'),
        small_config,
        str(checkpoint),
        '--work-dir',
        str(tmp_path / 'test'),
        '--out',
        str(out),
        cwd=tmp_path)
    assert metric in result.stdout + result.stderr
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) > 0


def test_test_tool_refuses_a_missing_checkpoint(tmp_path):
    missing = str(tmp_path / 'nothing.pth')
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'),
        osp.join(REPO_ROOT, CASES['mmpretrain'][0]), missing
    ],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr == (f'test.py: error: checkpoint {missing!r} does '
                             'not exist\n')
    assert not (tmp_path / 'work_dirs').exists()


def test_get_flops_backbone_equals_the_counters(capsys):
    """The backbone line of get_flops equals the analytic counts that the
    design solver uses (params exactly, FLOPs within norms' share)."""
    tool = runpy.run_path(
        osp.join(REPO_ROOT, 'tools', 'analysis', 'get_flops.py'))
    config = osp.join(REPO_ROOT, 'configs', 'deepmad',
                      'deepmad-r18_8xb256-480e_in1k.py')
    numbers = tool['main']([config])
    printed = capsys.readouterr().out
    assert 'backbone' in printed and '1 FLOP = 1 multiply-accumulate' in \
        printed
    analytic = count(DeepMAD('deepmad-r18').arch_spec)
    assert numbers['backbone_params'] == analytic.params
    assert abs(numbers['backbone_flops'] - analytic.flops) <= \
        0.01 * analytic.flops
    assert numbers['model_params'] > numbers['backbone_params']
