# Copyright (c) mmdeepmad authors. All rights reserved.
"""DeepMAD speaks the OpenMMLab backbone vocabulary: each argument does what
mmpretrain's ResNet/RegNet make users expect."""
import logging

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from torch.nn.modules.batchnorm import _BatchNorm

from mmdeepmad.conventions.counters import count
from mmdeepmad.engine.errors import CheckpointMismatchError, ConfigError
from mmdeepmad.models import DeepMAD, DeepMADForMMAction
from .deepmad_specs import num_params, tiny_spec


def test_forward_returns_a_tuple_with_out_channels_and_strides():
    model = DeepMAD(tiny_spec(), out_indices=(0, 1, 2, 3, 4)).eval()
    outs = model(torch.rand(2, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 5
    assert model.out_channels == (8, 16, 16, 24, 32)
    assert model.out_strides == (4, 8, 16, 16, 32)
    for out, channels, stride in zip(outs, model.out_channels,
                                     model.out_strides):
        assert out.shape == (2, channels, 64 // stride, 64 // stride)


def test_default_out_indices_is_the_last_stage_with_head_conv():
    model = DeepMAD(tiny_spec('mbv2-se', head_conv=True)).eval()
    outs = model(torch.rand(2, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 1
    assert model.out_channels == (32, ) == (outs[0].shape[1], )
    assert model.arch_spec.stage_channels[-1] == 32


def test_out_indices_forms():
    spec = tiny_spec()
    assert DeepMAD(spec, out_indices=2).out_indices == (2, )
    assert DeepMAD(spec, out_indices=(-1, -4)).out_indices == (1, 4)
    assert DeepMAD(spec, out_indices=(4, 1)).out_channels == (16, 32)
    with pytest.raises(ValueError, match='out of range'):
        DeepMAD(spec, out_indices=(5, ))
    with pytest.raises(ValueError, match='twice'):
        DeepMAD(spec, out_indices=(4, -1))


def test_in_channels_overrides_the_spec():
    model = DeepMAD(tiny_spec(), in_channels=1).eval()
    assert model.arch_spec.in_channels == 1
    assert model.stem.conv.in_channels == 1
    assert num_params(model) == count(model.arch_spec).params
    assert model(torch.rand(2, 1, 32, 32))[0].shape == (2, 32, 1, 1)


def trainable(module):
    return {p.requires_grad for p in module.parameters()}


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 3, 5])
def test_frozen_stages(frozen_stages):
    model = DeepMAD(
        tiny_spec('mbv2-se', head_conv=True), frozen_stages=frozen_stages)
    model.train()
    frozen = frozen_stages >= 0
    assert trainable(model.stem) == {not frozen}
    assert model.stem.training is not frozen
    for index, stage in enumerate(model.stages, start=1):
        frozen = index <= frozen_stages
        assert trainable(stage) == {not frozen}
        assert all(m.training is not frozen for m in stage.modules())
    # the head conv belongs to the last stage
    assert trainable(model.head_conv) == {frozen_stages != 5}
    # train() re-applies it after the whole model was set to train mode
    model.train(True)
    if frozen_stages >= 1:
        assert not model.stage1.training


def test_frozen_stages_must_name_a_stage():
    with pytest.raises(ValueError, match='frozen_stages'):
        DeepMAD(tiny_spec(), frozen_stages=6)


def test_norm_cfg_gn_and_syncbn():
    spec = tiny_spec()
    gn = DeepMAD(spec, norm_cfg=dict(type='GN', num_groups=4)).train()
    assert not any(isinstance(m, _BatchNorm) for m in gn.modules())
    assert sum(isinstance(m, nn.GroupNorm)
               for m in gn.modules()) == len(gn.layout.convs)
    assert num_params(gn) == count(spec).params  # GN: 2 per channel too
    gn(torch.rand(1, 3, 32, 32))[0].sum().backward()
    sync = DeepMAD(spec, norm_cfg=dict(type='SyncBN'))
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in sync.modules()) == \
        len(sync.layout.convs)


def test_act_cfg_defaults_to_the_spec_and_can_be_overridden():
    # torchvision style: every conv takes the spec's activation
    silu = DeepMAD(
        tiny_spec('mbv2-se', style='torchvision', act='silu', head_conv=True))
    assert isinstance(silu.stem.activate, nn.SiLU)
    assert isinstance(silu.stage2[0].se.conv1.activate, nn.SiLU)
    assert not any(isinstance(m, nn.ReLU) for m in silu.modules())
    relu6 = DeepMAD(tiny_spec('mbv2', act='relu6'))
    assert isinstance(relu6.stage1[0].depthwise_conv.activate, nn.ReLU6)
    # TinyNAS's SiLU networks have a ReLU stem and head conv: the default of
    # the tinynas style (spec.plain_conv_act)
    tinynas = DeepMAD(tiny_spec('mbv2-se', act='silu', head_conv=True))
    assert isinstance(tinynas.stem.activate, nn.ReLU)
    assert isinstance(tinynas.head_conv.activate, nn.ReLU)
    assert isinstance(tinynas.stage1[0].act, nn.SiLU)
    overridden = DeepMAD(
        tiny_spec('mbv2-se', act='silu', head_conv=True),
        stem_act_cfg=dict(type='SiLU'),
        head_act_cfg=dict(type='SiLU'))
    assert isinstance(overridden.stem.activate, nn.SiLU)
    assert isinstance(overridden.head_conv.activate, nn.SiLU)
    assert isinstance(
        DeepMAD(tiny_spec(), act_cfg=dict(type='SiLU')).stem.activate, nn.SiLU)
    override = DeepMAD(tiny_spec(), act_cfg=dict(type='ReLU6'))
    assert isinstance(override.stage1[0].conv1.activate, nn.ReLU6)
    assert isinstance(override.stage1[0].act, nn.ReLU6)


def test_norm_eval_keeps_running_statistics():
    model = DeepMAD(tiny_spec(), norm_eval=True).train()
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
    before = model.stem.bn.running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(model.stem.bn.running_mean, before)
    updates = DeepMAD(tiny_spec(), norm_eval=False).train()
    updates(torch.rand(2, 3, 32, 32))
    assert not torch.equal(updates.stem.bn.running_mean, before)


def test_with_cp_checkpoints_every_unit_with_the_same_result(monkeypatch):
    torch.manual_seed(0)
    plain = DeepMAD(tiny_spec('mbv2-se'), out_indices=(2, 4))
    checkpointed = DeepMAD(
        tiny_spec('mbv2-se'), out_indices=(2, 4), with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    calls = []
    original = torch.utils.checkpoint.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, 'checkpoint', counting)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    outputs = []
    for model in (plain, checkpointed):
        outs = model.train()(x)
        sum(out.sum() for out in outs).backward()
        outputs.append((outs, model.stem.conv.weight.grad.clone()))
    assert len(calls) == len(checkpointed.layout.units)
    for a, b in zip(outputs[0][0], outputs[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(outputs[0][1], outputs[1][1])


def test_drop_path_increases_linearly_on_units_with_a_shortcut():
    model = DeepMAD(tiny_spec('mbv2'), drop_path_rate=0.2)
    units = list(model.units())
    expected = np.linspace(0, 0.2, len(units))
    for unit, rate in zip(units, expected):
        if unit.shortcut is None or rate == 0:
            assert isinstance(unit.drop_path, nn.Identity)
        else:
            assert isinstance(unit.drop_path, DropPath)
            assert unit.drop_path.drop_prob == pytest.approx(rate)
    # mbv2 units that change shape have no shortcut, hence no drop path
    assert any(u.shortcut is None for u in units)
    assert any(isinstance(u.drop_path, DropPath) for u in units)
    # eval mode is deterministic
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model(x))


def test_default_init_kaiming_and_zero_init_residual():
    model = DeepMAD(tiny_spec())
    model.init_weights()
    conv = model.stage3[0].conv2.conv
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx(
        np.sqrt(2 / fan_out), rel=0.2)
    assert torch.all(model.stem.bn.weight == 1)
    for unit in model.units():
        # every bottleneck unit has a shortcut: its last norm starts at 0
        assert torch.all(unit.conv3.bn.weight == 0)
        assert torch.all(unit.conv1.bn.weight == 1)


def test_zero_init_residual_skips_units_without_shortcut():
    model = DeepMAD(tiny_spec('mbv2'))
    model.init_weights()
    for unit in model.units():
        value = 0 if unit.shortcut is not None else 1
        assert torch.all(unit.project_conv.bn.weight == value)
    off = DeepMAD(tiny_spec('mbv2'), zero_init_residual=False)
    off.init_weights()
    assert all(
        torch.all(m.weight == 1) for m in off.modules()
        if isinstance(m, _BatchNorm))


def test_custom_init_cfg_reaches_every_conv():
    """The stem and head conv (ConvModules directly under the backbone) do
    not re-initialise themselves over ``init_cfg``."""
    model = DeepMAD(
        tiny_spec('mbv2', head_conv=True),
        init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
    model.init_weights()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(model.layout.convs)
    assert all(torch.all(conv.weight == 0.5) for conv in convs)


def test_pretrained_with_prefix(tmp_path):
    source = DeepMAD(tiny_spec('mbv2-se'))
    for param in source.parameters():
        nn.init.normal_(param)
    checkpoint = tmp_path / 'classifier.pth'
    torch.save(
        {
            'state_dict': {
                **{
                    f'backbone.{k}': v
                    for k, v in source.state_dict().items()
                },
                'head.fc.weight': torch.zeros(3, 32),
            }
        }, checkpoint)
    model = DeepMAD(
        tiny_spec('mbv2-se'),
        init_cfg=dict(
            type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.'))
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_arch_spec_and_layout_attributes():
    spec = tiny_spec('basic', style='torchvision')
    model = DeepMAD(spec)
    assert model.arch_spec == spec
    assert len(list(model.units())) == len(model.layout.units) == 10
    assert model.stage_names == [
        'stage1', 'stage2', 'stage3', 'stage4', 'stage5'
    ]


def test_mmaction_flavour_returns_a_tensor_for_one_output():
    model = DeepMADForMMAction(tiny_spec()).eval()
    out = model(torch.rand(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 32, 1, 1)
    outs = DeepMADForMMAction(
        tiny_spec(), out_indices=(3, 4))(
            torch.rand(2, 3, 32, 32))
    assert isinstance(outs, tuple) and len(outs) == 2


# ---- pretrained loading is strict -------------------------------------------
def _save_classifier(path, backbone, prefix='backbone.'):
    """A classifier-like checkpoint: the backbone under ``prefix`` and a
    head tensor next to it."""
    state_dict = {f'{prefix}{k}': v for k, v in backbone.state_dict().items()}
    state_dict['head.fc.weight'] = torch.zeros(3, 32)
    torch.save({'state_dict': state_dict}, path)
    return str(path)


def _randomised(model):
    for param in model.parameters():
        nn.init.normal_(param)
    return model


def _pretrained(spec, checkpoint, **kwargs):
    return DeepMAD(
        spec,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, **kwargs))


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_pretrained_of_another_arch_is_refused(tmp_path):
    """mmengine's PretrainedInit would copy the 70 tensors whose names and
    shapes agree and log a warning; the backbone refuses and copies none."""
    source = _randomised(DeepMAD(tiny_spec('basic')))
    checkpoint = _save_classifier(tmp_path / 'basic.pth', source)
    model = _pretrained(
        tiny_spec('bottleneck'), checkpoint, prefix='backbone.')
    with pytest.raises(CheckpointMismatchError) as error:
        model.init_weights()
    assert str(error.value).splitlines() == [
        f"checkpoint {checkpoint!r} (tensors under 'backbone.') does not "
        "fit DeepMAD(arch='tiny-bottleneck') (70 of its 180 tensors would "
        'load):',
        "  missing from the checkpoint (60 of the model's 180): "
        'stage1.0.conv3.conv.weight, stage1.0.conv3.bn.weight, '
        'stage1.0.conv3.bn.bias, ... (57 more)',
        '  another shape (50): stage1.0.conv1.conv.weight (checkpoint '
        '8x8x3x3, model 8x8x1x1), stage1.1.conv1.conv.weight (checkpoint '
        '8x8x3x3, model 8x8x1x1), stage2.0.conv1.conv.weight (checkpoint '
        '8x8x3x3, model 8x8x1x1), ... (47 more)',
        'To load only the tensors that fit, add strict=False to the '
        'Pretrained init_cfg (e.g. --cfg-options '
        '+model.backbone.init_cfg.strict=False).',
    ]
    # nothing was half-loaded: the stem (same name and shape) kept its init
    assert not torch.equal(model.stem.conv.weight, source.stem.conv.weight)


def test_pretrained_unexpected_keys_are_refused(tmp_path):
    source = _randomised(DeepMAD(tiny_spec('bottleneck', head_conv=True)))
    checkpoint = _save_classifier(tmp_path / 'head_conv.pth', source)
    model = _pretrained(
        tiny_spec('bottleneck'), checkpoint, prefix='backbone.')
    with pytest.raises(CheckpointMismatchError) as error:
        model.init_weights()
    assert '(180 of its 180 tensors would load)' in str(error.value)
    assert '  not in the model (6): head_conv.conv.weight, ' \
        'head_conv.bn.weight, head_conv.bn.bias, ... (3 more)' in \
        str(error.value).splitlines()


def test_pretrained_strict_false_loads_what_fits_with_a_warning(tmp_path):
    from mmengine.logging import MMLogger
    source = _randomised(DeepMAD(tiny_spec('basic')))
    checkpoint = _save_classifier(tmp_path / 'basic.pth', source)
    model = _pretrained(
        tiny_spec('bottleneck'), checkpoint, prefix='backbone.', strict=False)
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(records)
    assert torch.equal(model.stem.conv.weight, source.stem.conv.weight)
    assert model.stage1[0].conv1.conv.weight.shape != \
        source.stage1[0].conv1.conv.weight.shape
    assert len(records.messages) == 1
    assert records.messages[0].startswith(
        "DeepMAD(arch='tiny-bottleneck'): strict=False, loaded 70 of 180 "
        f"tensors from checkpoint {checkpoint!r} (tensors under "
        "'backbone.'); missing from the checkpoint (60 of the model's 180): ")


def test_pretrained_without_prefix_names_the_prefix(tmp_path):
    source = DeepMAD(tiny_spec('mbv2'))
    checkpoint = _save_classifier(tmp_path / 'classifier.pth', source)
    model = _pretrained(tiny_spec('mbv2'), checkpoint)
    with pytest.raises(CheckpointMismatchError) as error:
        model.init_weights()
    assert "(the checkpoint has these tensors under 'backbone.': load " \
        "them with prefix='backbone.')" in str(error.value).splitlines()


def test_pretrained_prefix_the_checkpoint_lacks(tmp_path):
    source = DeepMAD(tiny_spec('mbv2'))
    checkpoint = _save_classifier(tmp_path / 'raw.pth', source, prefix='')
    model = _pretrained(tiny_spec('mbv2'), checkpoint, prefix='backbone.')
    with pytest.raises(CheckpointMismatchError) as error:
        model.init_weights()
    assert str(error.value).splitlines()[0] == (
        f"checkpoint {checkpoint!r} (tensors under 'backbone.') does not fit "
        "DeepMAD(arch='tiny-mbv2'): the checkpoint has no tensor under "
        "'backbone.' (is it the right file, or is another prefix meant?).")


def test_pretrained_without_bn_step_counters_loads(tmp_path):
    """Converted releases have no ``num_batches_tracked``: not a misfit."""
    source = _randomised(DeepMAD(tiny_spec('mbv2')))
    state_dict = {
        f'backbone.{k}': v
        for k, v in source.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    torch.save({'state_dict': state_dict}, tmp_path / 'converted.pth')
    model = _pretrained(
        tiny_spec('mbv2'), str(tmp_path / 'converted.pth'), prefix='backbone.')
    model.init_weights()
    assert torch.equal(model.stem.conv.weight, source.stem.conv.weight)


def test_pretrained_unknown_option_is_an_error(tmp_path):
    checkpoint = _save_classifier(tmp_path / 'c.pth', DeepMAD(tiny_spec()))
    model = _pretrained(
        tiny_spec(), checkpoint, prefix='backbone.', stict=False)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['stict'\]"):
        model.init_weights()
