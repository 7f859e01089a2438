# Copyright (c) mmdeepmad authors. All rights reserved.
"""``switch_to_deploy()`` folds every BN into its conv (SE convs included) and
computes what the unfused model computes in eval mode."""
import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdeepmad.models import DeepMAD
from .deepmad_specs import released_specs, tiny_spec


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics, so a wrong fold cannot pass."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                n = module.num_features
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
                assert module.running_var.shape == (n, )
            elif isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(
                    0, (1 / fan_in)**0.5, generator=generator)
    return model.eval()


CASES = {
    'bottleneck':
    tiny_spec('bottleneck'),
    'basic-torchvision':
    tiny_spec('basic', style='torchvision'),
    'mbv2-torchvision':
    tiny_spec('mbv2', style='torchvision', head_conv=True, act='relu6'),
    'mbv2-se-head':
    tiny_spec('mbv2-se', head_conv=True, act='silu'),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_fused_equals_unfused(name):
    spec = CASES[name]
    model = randomize(DeepMAD(spec, out_indices=(0, 2, 4)))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        fused = model.switch_to_deploy()
        actual = model(x)
    assert fused == len(model.layout.convs)  # every conv had a BN
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert model.deploy
    for a, b in zip(actual, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_deploy_built_model_loads_fused_weights():
    spec = CASES['mbv2-se-head']
    model = randomize(DeepMAD(spec))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
        model.switch_to_deploy()
    deployed = DeepMAD(spec, deploy=True).eval()
    deployed.load_state_dict(model.state_dict())  # strict: same keys
    with torch.no_grad():
        torch.testing.assert_close(deployed(x)[0], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize('name', ['deepmad-R50', 'deepmad-29M-224'])
def test_fused_released_network(name):
    """A deep network (53 and 23 units): the folds do not add up to more
    than 1e-5 either."""
    spec = released_specs()[name].replace(resolution=64)
    model = randomize(DeepMAD(spec))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
        model.switch_to_deploy()
        actual = model(x)[0]
    scale = expected.abs().max().item()
    assert (actual - expected).abs().max().item() <= 1e-5 * max(1, scale)


def test_gn_is_left_alone():
    model = DeepMAD(tiny_spec(), norm_cfg=dict(type='GN', num_groups=4))
    assert model.switch_to_deploy() == 0
