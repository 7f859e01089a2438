# Copyright (c) mmdeepmad authors. All rights reserved.
"""Every config in ``configs/``: it parses, builds its real model (whose
stored neck/head channels equal the backbone's), and runs two training
iterations and a validation pass with its real evaluator on a tiny dataset
written in that benchmark's on-disk layout.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmdeepmad.engine import MissingPretrainedError, check_pretrained, launch
from mmdeepmad.models import DeepMAD
from .on_disk import write_all
from .shrink import shrink

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
ALIASES = {
    'fcos_deepmad_r50.py':
    'fcos/fcos_deepmad-r50_fpn_gn-head_ms-640-800-2x_coco.py',
    'gfl_deepmad_r50.py': 'gfl/gflv2_deepmad-r50_fpn_ms-2x_coco.py',
}
#: the metric each library's evaluator must report
METRIC_KEYS = {
    'mmpretrain': 'accuracy/top1',
    'mmdet': 'coco/bbox_mAP',
    'mmseg': 'mIoU',
    'mmaction': 'acc/top1',
}


def all_configs():
    paths = glob.glob(osp.join(CONFIG_DIR, '*', '*.py'))
    paths = [p for p in paths if '_base_' not in p.split(os.sep)]
    return sorted(osp.relpath(p, CONFIG_DIR) for p in paths)


CONFIGS = all_configs()


def load(name: str) -> Config:
    return launch.load_config(osp.join(CONFIG_DIR, name))


def backbone_consumers(model) -> dict:
    """What each neck/head stores as its input channels."""
    stored = {}
    if model.get('neck') and 'in_channels' in model.neck:
        stored['neck'] = list(model.neck.in_channels)
    for key in ('head', 'cls_head'):
        if model.get(key) and 'in_channels' in model[key]:
            stored[key] = [model[key].in_channels]
    if model.get('decode_head'):
        stored['decode_head'] = list(model.decode_head.in_channels)
    if model.get('auxiliary_head'):
        stored['auxiliary_head'] = [model.auxiliary_head.in_channels]
    return stored


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    return write_all(str(tmp_path_factory.mktemp('data')))


def test_configs_found():
    names = set(CONFIGS)
    assert len([n for n in names if n.startswith('deepmad/')]) >= 9
    for required in ('fcos/', 'gfl/', 'upernet/', 'tsn/'):
        assert any(n.startswith(required) for n in names), required


@pytest.mark.parametrize('alias', sorted(ALIASES))
def test_alias_is_its_target(alias):
    """``configs/fcos_deepmad_r50.py`` (the README's example) is the full
    config under a short name."""
    assert load(alias).to_dict() == load(ALIASES[alias]).to_dict()


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_with_matching_channels(name):
    """The real model builds, and every channel number a neck or head stores
    equals what the backbone outputs (``out_indices`` included)."""
    cfg = load(name)
    scope = launch.register_scope(cfg)
    launch.drop_pretrained(cfg)
    backbone_cfg = cfg.model.backbone
    backbone = DeepMAD(
        backbone_cfg.arch, out_indices=backbone_cfg.get('out_indices', -1))
    channels = list(backbone.out_channels)
    for consumer, stored in backbone_consumers(cfg.model).items():
        if consumer == 'auxiliary_head':
            expected = [channels[cfg.model.auxiliary_head.in_index]]
        elif consumer in ('head', 'cls_head'):
            expected = channels[-1:]
        else:
            expected = channels
        assert stored == expected, (name, consumer)
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__.startswith('DeepMAD')
    assert model.backbone.out_channels == backbone.out_channels


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_and_validates(name, tiny_data, tmp_path):
    """Two training iterations (losses finite, weights change) and one
    validation pass whose metric comes from the config's own evaluator;
    logs and the visualisation backends' files are written."""
    cfg = load(name)
    launch.register_scope(cfg)
    shrink(cfg, tiny_data, str(tmp_path / 'work'))
    runner = launch.build_runner(cfg)
    before = {
        k: v.clone()
        for k, v in runner.model.state_dict().items() if v.is_floating_point()
    }
    torch.set_num_threads(1)
    runner.train()
    assert runner.iter == 2
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    metrics = runner.val()
    key = METRIC_KEYS[cfg.default_scope]
    assert key in metrics and metrics[key] >= 0, metrics

    vis_dir = osp.join(runner.log_dir, 'vis_data')
    with open(osp.join(vis_dir, 'scalars.json')) as f:
        losses = [json.loads(line) for line in f if '"loss"' in line]
    assert len(losses) == 2
    assert all(torch.isfinite(torch.tensor(x['loss'])) for x in losses)
    assert glob.glob(osp.join(vis_dir, 'events.out.tfevents.*'))


DOWNSTREAM = [n for n in CONFIGS if not n.startswith(('deepmad/', 'digits/'))]


@pytest.mark.parametrize('name', DOWNSTREAM)
def test_downstream_names_its_pretrained_file(name, tmp_path):
    """The ImageNet checkpoint is set at the top of the config; a missing
    file gives an error naming it and how to produce it."""
    cfg = load(name)
    checkpoint = cfg.model.backbone.init_cfg.checkpoint
    assert checkpoint == cfg.pretrained
    # our designs (deepmad-*) or the official networks (tinynas-deepmad-*)
    arch = cfg.model.backbone.arch
    assert checkpoint == f'checkpoints/{arch}_8xb256-480e_in1k.pth'
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(MissingPretrainedError) as error:
            check_pretrained(cfg.model, prefix='model')
    finally:
        os.chdir(cwd)
    message = str(error.value)
    assert checkpoint in message
    assert 'model.backbone.init_cfg.checkpoint' in message
    classifier = f'configs/deepmad/{arch}_8xb256-480e_in1k.py'
    assert classifier in message and osp.isfile(
        osp.join(REPO_ROOT, classifier))
    if arch.startswith('tinynas-'):
        # the official networks: their released weights convert by name
        assert f'tinynas2mmdeepmad.py --preset {arch}' in message
    else:
        # our designs are other structures than any release: no conversion
        assert 'tinynas2mmdeepmad.py' not in message


def test_train_tool_missing_pretrained_is_one_clear_message(tmp_path):
    """``tools/train.py configs/fcos_deepmad_r50.py`` without the checkpoint:
    exit status 2 (bad input) and the message, no traceback."""
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        osp.join(CONFIG_DIR, 'fcos_deepmad_r50.py'), '--work-dir',
        str(tmp_path / 'work')
    ],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert "error: The pretrained checkpoint 'checkpoints/deepmad-r50" \
        in result.stderr
    assert 'configs/deepmad/deepmad-r50_8xb256-480e_in1k.py' in result.stderr


def test_29m_288_pipelines_differ_from_the_base_only_in_size():
    base = load('deepmad/deepmad-29m_8xb256-480e_in1k.py')
    big = load('deepmad/deepmad-29m-288_8xb256-480e_in1k.py')
    for key in ('train_pipeline', 'test_pipeline'):
        small_steps, big_steps = base[key], big[key]
        assert len(small_steps) == len(big_steps)
        for small, large in zip(small_steps, big_steps):
            differing = {
                k
                for k in set(small) | set(large)
                if small.get(k) != large.get(k)
            }
            assert differing <= {'scale', 'crop_size'}, (key, differing)
    assert big.train_pipeline[1]['scale'] == 288
    assert big.test_pipeline[-2]['crop_size'] == 288


def test_official_29m_288_pipelines_equal_the_designed_ones():
    """The official DeepMAD-29M* classifier config copies the 288 px
    pipelines of deepmad-29m-288's."""
    ours = load('deepmad/deepmad-29m-288_8xb256-480e_in1k.py')
    official = load('deepmad/tinynas-deepmad-29m-288_8xb256-480e_in1k.py')
    for key in ('train_pipeline', 'test_pipeline', 'train_dataloader',
                'val_dataloader', 'test_dataloader'):
        assert official[key] == ours[key], key


def test_backbone_init_names_a_missing_pretrained_file(tmp_path):
    """Any entry point (not only tools/train.py): the backbone's
    ``init_weights`` raises the same clear error."""
    missing = str(tmp_path / 'deepmad-r18_in1k.pth')
    backbone = DeepMAD(
        'deepmad-r18',
        init_cfg=dict(
            type='Pretrained', checkpoint=missing, prefix='backbone.'))
    with pytest.raises(MissingPretrainedError) as error:
        backbone.init_weights()
    assert missing in str(error.value)
    assert 'configs/deepmad/deepmad-r18_8xb256-480e_in1k.py' in str(
        error.value)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_resumes_exactly(name):
    """Every config saves random states for an exact ``--resume``
    (tests/tools/test_resume.py shows the difference it makes)."""
    hooks = [hook.type for hook in load(name).get('custom_hooks', [])]
    assert 'mmdeepmad.RandomStateHook' in hooks
