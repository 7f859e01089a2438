# Copyright (c) mmdeepmad authors. All rights reserved.
"""tools/model_converters/tinynas2mmdeepmad.py maps TinyNAS's CnnNet keys
onto DeepMAD's, and refuses what does not fit with the key's name.

(Against TinyNAS's own model code, run from its repository beside the
project, the converted released DeepMAD-R50 and -29M give bitwise-equal
outputs; that check needs TinyNAS's sources and is not part of the suite.)
"""
import importlib.util
import os.path as osp
import re

import pytest
import torch

from mmdeepmad.arch.spec import SpecError
from mmdeepmad.arch.tinynas_format import save_tinynas, spec_to_tinynas
from mmdeepmad.models import DeepMAD
from .deepmad_specs import REPO_ROOT, tiny_spec

SCRIPT = osp.join(REPO_ROOT, 'tools', 'model_converters',
                  'tinynas2mmdeepmad.py')


@pytest.fixture(scope='module')
def converter():
    spec = importlib.util.spec_from_file_location('tinynas2mmdeepmad', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# DeepMAD name -> TinyNAS name, written out independently of the converter
TO_TINYNAS = [
    (r'^stem\.', 'block_list.0.'),
    (r'^head_conv\.', 'block_list.6.'),
    (r'^stage(\d)\.(\d+)\.',
     lambda m: f'block_list.{m.group(1)}.block_list.{m.group(2)}.'),
    (r'\.expand_conv\.', '.conv1.'),
    (r'\.depthwise_conv\.', '.conv2.'),
    (r'\.project_conv\.', '.conv3.'),
    (r'\.se\.', '.se2.'),
    (r'\.shortcut\.conv\.', '.residual_proj.'),
    (r'\.conv\.weight$', '.conv1.weight'),
    (r'\.bn\.', '.bn1.'),
]


def tinynas_state_dict(model):
    state = {}
    for key, value in model.state_dict().items():
        for pattern, replacement in TO_TINYNAS:
            key = re.sub(pattern, replacement, key)
        state[key] = value
    return state


def randomized(spec):
    model = DeepMAD(spec)
    with torch.no_grad():
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize('block', ['bottleneck', 'mbv2-se'])
def test_round_trip(converter, block):
    spec = tiny_spec(
        block,
        head_conv=block == 'mbv2-se',
        act='silu' if block == 'mbv2-se' else 'relu')
    model = randomized(spec)
    tinynas = tinynas_state_dict(model)
    # a few names as TinyNAS writes them
    if block == 'bottleneck':
        assert 'block_list.1.block_list.0.residual_proj.bn1.running_var' in \
            tinynas
        assert 'block_list.5.block_list.1.conv3.conv1.weight' in tinynas
    else:
        assert 'block_list.2.block_list.1.se2.conv1.conv1.weight' in tinynas
        assert 'block_list.6.bn1.num_batches_tracked' in tinynas
    # as saved from DataParallel inside a training checkpoint
    checkpoint = {'state_dict': {'module.' + k: v for k, v in tinynas.items()}}
    converted, notes = converter.convert(
        converter.extract_state_dict(checkpoint), spec)
    assert notes == []
    assert converted.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(converted[key], value), key


def test_a_key_that_does_not_fit_is_named(converter):
    spec = tiny_spec()
    state = tinynas_state_dict(randomized(spec))
    extra = dict(
        state,
        **{'block_list.1.block_list.7.conv1.conv1.weight': torch.zeros(1)})
    with pytest.raises(
            converter.ConversionError,
            match=r"'block_list\.1\.block_list\.7\.conv1"):
        converter.convert(extra, spec)
    wrong = dict(state)
    wrong['block_list.2.block_list.0.conv2.conv1.weight'] = torch.zeros(3)
    with pytest.raises(
            converter.ConversionError,
            match=r"block_list\.2\.block_list\.0\.conv2\.conv1"
            r"\.weight' has shape"):
        converter.convert(wrong, spec)
    missing = dict(state)
    del missing['block_list.0.bn1.running_mean']
    with pytest.raises(
            converter.ConversionError, match=r"stem\.bn\.running_mean"):
        converter.convert(missing, spec)


def test_structures_tinynas_builds_differently_are_refused(converter):
    with pytest.raises(converter.ConversionError, match='stride-2 basic'):
        converter.convert({}, tiny_spec('basic'))
    with pytest.raises(SpecError, match='style'):
        converter.convert({}, tiny_spec(style='torchvision'))


def test_command_line_to_an_mmpretrain_checkpoint(converter, tmp_path):
    spec = tiny_spec('mbv2-se', head_conv=True, act='silu')
    model = randomized(spec)
    tinynas = tinynas_state_dict(model)
    tinynas['fc_linear.weight'] = torch.ones(10, 32)
    tinynas['fc_linear.bias'] = torch.zeros(10)
    src, structure = tmp_path / 'tinynas.pth', tmp_path / 'tiny.txt'
    torch.save({'state_dict': tinynas, 'epoch': 3}, src)
    save_tinynas(spec_to_tinynas(spec), str(structure))

    backbone_only = tmp_path / 'backbone.pth'
    converter.main([
        str(src),
        str(backbone_only), '--structure',
        str(structure), '--resolution', '64'
    ])
    checkpoint = torch.load(backbone_only, weights_only=True)
    assert checkpoint['meta']['backbone_kwargs'] == dict(
        stem_act_cfg=dict(type='ReLU'), head_act_cfg=dict(type='ReLU'))
    assert 'fc_linear.weight' not in checkpoint['state_dict']
    rebuilt = DeepMAD(checkpoint['meta']['arch'],
                      **checkpoint['meta']['backbone_kwargs'])
    rebuilt.load_state_dict(checkpoint['state_dict'])  # strict

    classifier = tmp_path / 'classifier.pth'
    converter.main([
        str(src),
        str(classifier), '--structure',
        str(structure), '--mmpretrain'
    ])
    state = torch.load(classifier, weights_only=True)['state_dict']
    assert torch.equal(state['head.fc.weight'], torch.ones(10, 32))
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in state)
    pretrained = DeepMAD(
        spec,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(classifier), prefix='backbone.'))
    pretrained.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(pretrained.state_dict()[key], value), key
