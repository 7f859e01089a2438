# Copyright (c) mmdeepmad authors. All rights reserved.
"""The built model is exactly what the design package counts.

Params: ``sum(p.numel())`` of the built backbone equals
``counters.count(spec).params`` (and, for the classics, torchvision's count
without the classifier).

FLOPs: ``counters.count(spec).flops`` (multiply-accumulates of every conv)
equals the ``'conv'`` entry of mmengine's ``FlopAnalyzer(...).by_operator()``
(one FLOP per multiply-accumulate, grouped convs included). That analyzer
also reports ``'batch_norm'`` (and ``'adaptive_avg_pool2d'`` for the SE
branch's global pool), which the paper convention does not count; it does not
count activations, sigmoid, additions, multiplications or the 2x2 / 3x3
pools at all (unsupported ops, skipped). So the comparison is made on
``'conv'`` alone, and the test asserts no other operator is reported.

mmengine traces the model with ``torch.jit`` (about a second per network on
this machine), so it runs on a representative set: both released families,
every classic, and random specs covering every family and shortcut kind. The
rest (every preset and release at full resolution, many more random specs)
is counted by :func:`shape_conv_macs`, mmengine's conv formula applied to the
shapes of a forward pass on the ``meta`` device (no compute); the first test
checks it agrees with mmengine.
"""
import pytest
import torch
import torchvision
from mmengine.analysis import FlopAnalyzer

from mmdeepmad.arch.layout import build_layout
from mmdeepmad.conventions.counters import count
from mmdeepmad.models import DeepMAD
from .deepmad_specs import (classic_specs, num_params, preset_specs,
                            random_specs, released_specs)

#: operators FlopAnalyzer may report for a DeepMAD backbone
KNOWN_OPERATORS = {'conv', 'batch_norm', 'adaptive_avg_pool2d'}


def mmengine_conv_flops(model: DeepMAD) -> int:
    spec = model.arch_spec
    inputs = torch.zeros(1, spec.in_channels, spec.resolution, spec.resolution)
    analyzer = FlopAnalyzer(model.eval(), inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_operator = analyzer.by_operator()
    assert set(by_operator) <= KNOWN_OPERATORS, by_operator
    return by_operator['conv']


def shape_conv_macs(model: DeepMAD) -> int:
    """mmengine's conv count (``batch * prod(weight.shape) * out_h * out_w``)
    from the shapes of a forward pass; runs on the ``meta`` device."""
    spec = model.arch_spec
    macs = []

    def hook(conv, inputs, output):
        macs.append(conv.weight.numel() * output.shape[2] * output.shape[3])

    handles = [
        module.register_forward_hook(hook) for module in model.modules()
        if isinstance(module, torch.nn.Conv2d)
    ]
    try:
        model.eval()(
            torch.zeros(
                1,
                spec.in_channels,
                spec.resolution,
                spec.resolution,
                device=model.stem.conv.weight.device))
    finally:
        for handle in handles:
            handle.remove()
    return sum(macs)


def assert_exact(spec):
    """Params and FLOPs of the model built on the meta device (no memory, no
    compute) equal the counters' exactly."""
    with torch.device('meta'):
        model = DeepMAD(spec)
    counts = count(spec)
    assert num_params(model) == counts.params == model.expected_params()
    assert shape_conv_macs(model) == counts.flops
    return model


RANDOM_SPECS = random_specs(60, seed=2023)
MMENGINE_CASES = {
    'deepmad-R50': released_specs()['deepmad-R50'],
    'deepmad-29M-224': released_specs()['deepmad-29M-224'],
    **{
        f'random-{i}': RANDOM_SPECS[i]
        for i in range(8)
    },
}


@pytest.mark.parametrize('name', sorted(MMENGINE_CASES))
def test_mmengine_counts_what_the_counters_count(name):
    spec = MMENGINE_CASES[name]
    if spec.resolution > 64:
        spec = spec.replace(resolution=64)  # the same convs, less compute
    model = DeepMAD(spec)
    assert num_params(model) == count(spec).params
    flops = mmengine_conv_flops(model)
    assert flops == count(spec).flops
    with torch.device('meta'):
        assert shape_conv_macs(DeepMAD(spec)) == flops


def test_every_released_network():
    specs = released_specs()
    assert len(specs) >= 2
    for spec in specs.values():
        assert spec.resolution == 224
        assert_exact(spec)


def test_every_preset():
    """Every preset in mmdeepmad/presets (or, until the presets are shipped,
    the released structures instead, so this test never passes vacuously)."""
    specs = preset_specs() or released_specs()
    assert specs
    for spec in specs.values():
        assert_exact(spec)


TORCHVISION_HEADS = {
    'resnet18': lambda m: m.fc,
    'resnet34': lambda m: m.fc,
    'resnet50': lambda m: m.fc,
    'mobilenet_v2': lambda m: m.classifier,
}


@pytest.mark.parametrize('name', sorted(TORCHVISION_HEADS))
def test_classics_equal_torchvision(name):
    spec = classic_specs()[name]
    reference = getattr(torchvision.models, name)(weights=None)
    expected = num_params(reference) - num_params(
        TORCHVISION_HEADS[name](reference))
    assert num_params(assert_exact(spec)) == expected
    # mmengine agrees (at 64x64 for speed)
    small = spec.replace(resolution=64)
    model = DeepMAD(small)
    assert mmengine_conv_flops(model) == count(small).flops
    # and the feature map has torchvision's shape
    features = model(torch.zeros(1, 3, 64, 64))[-1]
    assert features.shape == (1, spec.stage_channels[-1], 2, 2)


def test_random_specs_cover_the_options():
    """The seeded generator reaches every family, style and option."""
    layouts = [build_layout(spec) for spec in RANDOM_SPECS]
    blocks = {unit.block for layout in layouts for unit in layout.units}
    shortcuts = {unit.shortcut for layout in layouts for unit in layout.units}
    assert blocks == {'bottleneck', 'basic', 'mbv2', 'mbv2-se'}
    assert shortcuts == {'none', 'identity', 'pool', 'pool_proj', 'proj'}
    assert {spec.style for spec in RANDOM_SPECS} == {'tinynas', 'torchvision'}
    assert any(spec.head_conv for spec in RANDOM_SPECS)
    assert any(not spec.head_conv for spec in RANDOM_SPECS)
    assert any(spec.stem.max_pool for spec in RANDOM_SPECS)
    assert any(not stage.expand_conv for spec in RANDOM_SPECS
               for stage in spec.stages)
    assert any(spec.resolution % 2 for spec in RANDOM_SPECS)


@pytest.mark.parametrize('index', range(len(RANDOM_SPECS)))
def test_random_spec(index):
    spec = RANDOM_SPECS[index]
    assert_exact(spec)
    # every stage's output has the layout's channels and side
    model = DeepMAD(spec, out_indices=range(spec.num_stages)).eval()
    layout = build_layout(spec)
    with torch.no_grad():
        outs = model(
            torch.rand(2, spec.in_channels, spec.resolution, spec.resolution))
    assert len(outs) == spec.num_stages
    for stage, out in enumerate(outs):
        side = layout.stage_output_size(stage)
        assert out.shape == (2, spec.stage_channels[stage], side, side)
