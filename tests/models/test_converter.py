# Copyright (c) mmdeepmad authors. All rights reserved.
"""tools/model_converters/tinynas2mmdeepmad.py maps TinyNAS's CnnNet keys
onto DeepMAD's, and refuses what does not fit with the key's name; as a
command it converts the official networks by preset name, unwraps training
checkpoints, fills missing BN counters, and fails with one or two lines
(exit status 2 for bad input, 1 otherwise) leaving nothing half-written.

(Against TinyNAS's own model code, all seven released DeepMAD structures
converted give bitwise-equal outputs:
tools/model_converters/check_tinynas_conversion.py --tinynas-root CHECKOUT;
that check needs TinyNAS's sources and is not part of the suite.)
"""
import argparse
import importlib.util
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from mmdeepmad.arch.loader import list_presets, load_preset
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


# ---- the command line: inputs, errors, wrappers, presets -------------------
def tiny_checkpoint(tmp_path, spec, wrap=None, counters=True, name='src'):
    """A TinyNAS-style checkpoint of ``spec`` (random weights, a classifier)
    saved to ``tmp_path``, and its structure file."""
    model = randomized(spec)
    state = tinynas_state_dict(model)
    if not counters:
        state = {
            k: v
            for k, v in state.items() if not k.endswith('num_batches_tracked')
        }
    state['fc_linear.weight'] = torch.ones(10, spec.stage_channels[-1])
    state['fc_linear.bias'] = torch.zeros(10)
    src = tmp_path / f'{name}.pth'
    torch.save(state if wrap is None else wrap(state), src)
    structure = tmp_path / f'{name}.txt'
    save_tinynas(spec_to_tinynas(spec), str(structure))
    return model, src, structure


def run_main(converter, capsys, *args):
    code = converter.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(err, *fragments):
    assert 'Traceback' not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith('tinynas2mmdeepmad.py: error: '), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_missing_input_file_exit_2_nothing_written(converter, capsys,
                                                   tmp_path):
    _, _, structure = tiny_checkpoint(tmp_path, tiny_spec())
    dst = tmp_path / 'new' / 'out.pth'
    code, _, err = run_main(converter, capsys, tmp_path / 'missing.pth', dst,
                            '--structure', structure)
    assert code == 2
    assert_one_error(err, 'missing.pth', 'no such checkpoint file')
    assert not (tmp_path / 'new').exists()


def test_missing_output_folder_is_created_after_conversion(
        converter, capsys, tmp_path):
    spec = tiny_spec()
    model, src, structure = tiny_checkpoint(tmp_path, spec)
    dst = tmp_path / 'a' / 'b' / 'out.pth'
    code, out, _ = run_main(converter, capsys, src, dst, '--structure',
                            structure)
    assert code == 0 and dst.is_file()
    assert f"created {tmp_path / 'a' / 'b'}" in out
    assert sorted(p.name for p in dst.parent.iterdir()) == ['out.pth']
    # a conversion that fails creates no folder and leaves nothing
    other = tiny_spec().replace_stage(1, mid_channels=16)
    other_structure = tmp_path / 'other.txt'
    save_tinynas(spec_to_tinynas(other), str(other_structure))
    failed = tmp_path / 'c' / 'out.pth'
    code, _, err = run_main(converter, capsys, src, failed, '--structure',
                            other_structure)
    assert code == 2 and not (tmp_path / 'c').exists()
    # a folder that cannot be made is bad input, named at once
    blocker = tmp_path / 'file'
    blocker.write_text('')
    code, _, err = run_main(converter, capsys, src, blocker / 'out.pth',
                            '--structure', structure)
    assert code == 2
    assert_one_error(err, 'is a file')


def test_structure_mismatch_names_key_shapes_and_cause(converter, capsys,
                                                       tmp_path):
    _, src, _ = tiny_checkpoint(tmp_path, tiny_spec())
    wider = tiny_spec().replace_stage(1, mid_channels=16)
    wrong = tmp_path / 'wider.txt'
    save_tinynas(spec_to_tinynas(wider), str(wrong))
    dst = tmp_path / 'out.pth'
    code, out, err = run_main(converter, capsys, src, dst, '--structure',
                              wrong)
    assert code == 2
    assert_one_error(err, "'block_list.2.block_list.0.conv1.conv1.weight'",
                     '(8, 8, 1, 1)', '(16, 8, 1, 1)',
                     'the checkpoint is for another structure')
    assert not any('out.pth' in p.name for p in tmp_path.iterdir())
    # --debug adds the traceback
    code, _, err = run_main(converter, capsys, src, dst, '--structure', wrong,
                            '--debug')
    assert code == 2 and 'Traceback' in err and 'ConversionError' in err


def test_a_failed_write_leaves_nothing(converter, capsys, tmp_path,
                                       monkeypatch):
    _, src, structure = tiny_checkpoint(tmp_path, tiny_spec())

    def interrupted(obj, path):
        with open(path, 'wb') as handle:
            handle.write(b'half a checkpoint')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(converter.torch, 'save', interrupted)
    dst = tmp_path / 'out' / 'out.pth'
    code, _, err = run_main(converter, capsys, src, dst, '--structure',
                            structure)
    assert code == 1
    assert_one_error(err, 'No space left on device', '--debug')
    assert list((tmp_path / 'out').iterdir()) == []


@pytest.mark.parametrize('wrappers', [('state_dict_ema', 'state_dict'),
                                      ('state_dict', ), ('model', ),
                                      ('state_dict', 'model')])
def test_wrapped_checkpoints_are_unwrapped(converter, capsys, tmp_path,
                                           wrappers):
    spec = tiny_spec()
    expected = randomized(spec)
    decoy = tinynas_state_dict(randomized(spec))  # other weights

    def wrap(state):
        # the first wrapper holds the real weights, the others a decoy
        checkpoint = {'epoch': 3, 'args': {'lr': 0.1}}
        for index, key in enumerate(wrappers):
            checkpoint[key] = state if index == 0 else decoy
        return checkpoint

    _, src, structure = tiny_checkpoint(tmp_path, spec)
    torch.save(wrap(tinynas_state_dict(expected)), src)
    dst = tmp_path / 'out.pth'
    code, out, _ = run_main(converter, capsys, src, dst, '--structure',
                            structure)
    assert code == 0
    assert f"weights: '{wrappers[0]}' of {src}" in out
    if len(wrappers) > 1:
        assert f"also present: '{wrappers[1]}'" in out
    checkpoint = torch.load(dst, weights_only=True)
    assert checkpoint['meta']['checkpoint_key'] == wrappers[0]
    rebuilt = DeepMAD(spec)
    rebuilt.load_state_dict(checkpoint['state_dict'])  # strict
    for key, value in expected.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    # --key picks another wrapper
    if len(wrappers) > 1:
        code, out, _ = run_main(converter, capsys, src, dst, '--structure',
                                structure, '--key', wrappers[1])
        assert code == 0 and f"weights: '{wrappers[1]}'" in out
        # an absent one is named
        absent = next(k for k in converter.WRAPPER_KEYS if k not in wrappers)
        code, _, err = run_main(converter, capsys, src, dst, '--structure',
                                structure, '--key', absent)
        assert code == 2
        assert_one_error(err, f'no state dict under {absent!r}')


def test_a_checkpoint_without_a_state_dict_is_named(converter, capsys,
                                                    tmp_path):
    spec = tiny_spec()
    _, src, structure = tiny_checkpoint(
        tmp_path, spec, wrap=lambda state: {
            'weights': state,
            'epoch': 1
        })
    code, _, err = run_main(converter, capsys, src, tmp_path / 'out.pth',
                            '--structure', structure)
    assert code == 2
    assert_one_error(err, 'holds no state dict', "'weights'", '--key')


def test_checkpoints_without_bn_counters_are_filled(converter, capsys,
                                                    tmp_path):
    spec = tiny_spec('mbv2-se', head_conv=True, act='silu')
    model, src, structure = tiny_checkpoint(tmp_path, spec, counters=False)
    dst = tmp_path / 'out.pth'
    code, out, _ = run_main(converter, capsys, src, dst, '--structure',
                            structure, '--mmpretrain')
    assert code == 0
    counters = [
        k for k in model.state_dict() if k.endswith('num_batches_tracked')
    ]
    assert f'filled {len(counters)} BN counter(s)' in out
    state = torch.load(dst, weights_only=True)['state_dict']
    rebuilt = DeepMAD(spec)
    backbone = {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }
    rebuilt.load_state_dict(backbone)  # strict: the counters are there
    for key in counters:
        assert backbone[key].dtype == torch.long and backbone[key] == 0
    assert list(backbone) == list(model.state_dict())  # DeepMAD's order
    assert torch.equal(state['head.fc.weight'], torch.ones(10, 32))


def test_not_a_checkpoint_and_unsafe_pickles(converter, capsys, tmp_path):
    _, _, structure = tiny_checkpoint(tmp_path, tiny_spec())
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint')
    code, _, err = run_main(converter, capsys, garbage, tmp_path / 'o.pth',
                            '--structure', structure)
    assert code == 2
    assert_one_error(err, 'garbage.pth')

    spec = tiny_spec()
    model, src, _ = tiny_checkpoint(tmp_path, spec)
    torch.save(
        {
            'state_dict': tinynas_state_dict(model),
            # e.g. the training script's arguments
            'args': argparse.Namespace(lr=0.1)
        },
        src)
    code, _, err = run_main(converter, capsys, src, tmp_path / 'o.pth',
                            '--structure', structure)
    assert code == 2
    assert_one_error(err, 'weights_only=True', '--unsafe-load')
    code, out, _ = run_main(converter, capsys, src, tmp_path / 'o.pth',
                            '--structure', structure, '--unsafe-load')
    assert code == 0 and "weights: 'state_dict'" in out


def test_a_search_config_is_not_a_structure(converter, capsys, tmp_path):
    config = tmp_path / 'deepmad_R50_FLOPs.py'
    config.write_text('model = dict(type="CnnNet", structure_info=[])\n')
    _, src, _ = tiny_checkpoint(tmp_path, tiny_spec())
    code, _, err = run_main(converter, capsys, src, tmp_path / 'o.pth',
                            '--structure', config)
    assert code == 2
    assert_one_error(err, 'search config', 'models/<name>.txt', '--preset')
    with pytest.raises(SystemExit):
        converter.parse_args(['--help'])
    out = ' '.join(capsys.readouterr().out.split())
    assert 'Not a TinyNAS search config' in out
    assert 'tinynas-deepmad-r50' in out and 'created only after' in out


def test_unknown_preset_lists_the_presets(converter, capsys, tmp_path):
    _, src, _ = tiny_checkpoint(tmp_path, tiny_spec())
    code, _, err = run_main(converter, capsys, src, tmp_path / 'o.pth',
                            '--preset', 'tinynas-deepmad-r51')
    assert code == 2
    assert_one_error(err, "'tinynas-deepmad-r51'", 'tinynas-deepmad-r50')


def test_command_line_exit_status_without_traceback(tmp_path):
    """As a process: exit status 2 and one line on stderr."""
    result = subprocess.run([
        sys.executable, SCRIPT,
        str(tmp_path / 'missing.pth'),
        str(tmp_path / 'out.pth'), '--preset', 'tinynas-deepmad-r50'
    ],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tinynas2mmdeepmad.py: error: {tmp_path / 'missing.pth'}: no such "
        'checkpoint file'
    ]


OFFICIAL = [name for name in list_presets() if name.startswith('tinynas-')]


def test_the_seven_official_networks_are_presets():
    assert OFFICIAL == [
        'tinynas-deepmad-29m', 'tinynas-deepmad-29m-288',
        'tinynas-deepmad-50m', 'tinynas-deepmad-89m', 'tinynas-deepmad-r18',
        'tinynas-deepmad-r34', 'tinynas-deepmad-r50'
    ]


@pytest.mark.parametrize('name', OFFICIAL)
def test_official_preset_converts_by_name(converter, name):
    """A checkpoint of the release's shapes (TinyNAS keys of the preset's
    own DeepMAD, on the meta device: shapes without memory) converts by
    preset name and loads strictly into ``DeepMAD(preset)``."""
    spec = converter.load_spec(
        converter.parse_args(['--preset', name, 'src.pth', 'dst.pth']))[0]
    assert spec == load_preset(name)
    with torch.device('meta'):
        model = DeepMAD(name)
        state = tinynas_state_dict(model)
        state['fc_linear.weight'] = torch.empty(1000, model.out_channels[-1])
        state['fc_linear.bias'] = torch.empty(1000)
    assert 'block_list.0.conv1.weight' in state
    converted, notes = converter.convert(state, spec, mmpretrain=True)
    assert notes == []
    with torch.device('meta'):
        rebuilt = DeepMAD(name)
    backbone = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    rebuilt.load_state_dict(backbone, strict=True)
    assert converted['head.fc.weight'].shape == (1000, model.out_channels[-1])


def test_official_r18_end_to_end_by_preset_name(converter, capsys, tmp_path):
    """The real thing for the smallest official network: random weights in
    TinyNAS's names, EMA-wrapped, converted with --preset and loaded
    strictly."""
    torch.manual_seed(0)
    name = 'tinynas-deepmad-r18'
    with torch.device('meta'):
        shapes = {
            k: (v.shape, v.dtype)
            for k, v in tinynas_state_dict(DeepMAD(name)).items()
        }
    state = {
        k: (torch.rand(shape) if dtype.is_floating_point else torch.zeros(
            shape, dtype=dtype))
        for k, (shape, dtype) in shapes.items()
    }
    src = tmp_path / 'R18.pth.tar'
    torch.save({'state_dict_ema': state, 'epoch': 480}, src)
    dst = tmp_path / 'checkpoints' / 'backbone.pth'
    code, out, err = run_main(converter, capsys, '--preset', name, src, dst)
    assert code == 0, err
    assert f'network: preset {name}' in out
    checkpoint = torch.load(dst, weights_only=True)
    assert checkpoint['meta']['preset'] == name
    model = DeepMAD(name)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    assert torch.equal(model.stem.conv.weight,
                       state['block_list.0.conv1.weight'])
