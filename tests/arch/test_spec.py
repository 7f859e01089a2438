"""The architecture spec: JSON round trip, validation, canonical output."""
import json

import pytest

from mmdeepmad.arch.classics import CLASSICS
from mmdeepmad.arch.spec import (ArchSpec, HeadConvSpec, SpecError, StageSpec,
                                 StemSpec)


def small_spec(**changes):
    spec = ArchSpec(
        stem=StemSpec(out_channels=16),
        stages=(StageSpec('bottleneck', 32, 8, 3, 2,
                          2), StageSpec('bottleneck', 64, 16, 5, 3, 2)),
        name='small')
    return spec.replace(**changes) if changes else spec


@pytest.mark.parametrize('name', sorted(CLASSICS))
def test_json_round_trip_is_identity(name):
    spec = CLASSICS[name]()
    text = spec.to_json()
    again = ArchSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text


def test_json_is_canonical_and_keeps_meta():
    spec = small_spec(meta={'budgets': {'flops': 1e9}, 'command': 'x'})
    text = spec.to_json()
    assert text.endswith('\n')
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert ArchSpec.from_json(text).meta == spec.meta


def test_head_conv_and_derived_facts():
    spec = small_spec(head_conv=HeadConvSpec(out_channels=128))
    assert spec.depths == (2, 3)
    assert spec.stage_channels == (32, 128)
    assert spec.num_stages == 2


@pytest.mark.parametrize('mutate, field', [
    (lambda d: d['stages'][0].update(block='resnext'), 'stages[0].block'),
    (lambda d: d['stages'][1].update(depth=0), 'stages[1].depth'),
    (lambda d: d['stages'][0].update(kernel_size=4), 'stages[0].kernel_size'),
    (lambda d: d['stages'][0].update(stride=3), 'stages[0].stride'),
    (lambda d: d['stem'].update(out_channels=-1), 'stem.out_channels'),
    (lambda d: d.update(style='keras'), 'style'),
    (lambda d: d.update(colour='red'), 'colour'),
    (lambda d: d['stages'][0].update(width=3), 'width'),
    (lambda d: d.pop('stem'), 'stem'),
    (lambda d: d['stages'][0].update(out_channels='64'),
     'stages[0].out_channels'),
    (lambda d: d.update(head_conv=dict(out_channels=64, kernel_size=2)),
     'head_conv.kernel_size must be odd, got 2'),
    (lambda d: d['stages'][1].update(depth=10**9),
     'stages[1].depth is 1000000000, above the limit 1000 units per stage'),
    (lambda d: d['stages'][0].update(mid_channels=70000),
     'stages[0].mid_channels is 70000, above the limit 65536 channels'),
    (lambda d: d['stem'].update(kernel_size=65),
     'stem.kernel_size is 65, above the limit 63'),
    (lambda d: d.update(resolution=20000),
     'resolution is 20000, above the limit 16384 pixels'),
    (lambda d: d.update(in_channels=10**6),
     'in_channels is 1000000, above the limit 65536 channels'),
    (lambda d: d.update(stages=d['stages'] * 17),
     'stages holds 34 stages, above the limit 32'),
    (lambda d: d.update(resolution=7), 'resolution 7 is smaller than the '
     'total stride 8 (stem 2, stages 2,2): the last feature map would be 7/8 '
     'of a pixel; give a resolution of at least 8 or fewer stride-2 stages'),
    (lambda d: d['stem'].update(max_pool=True) or d.update(resolution=8),
     'resolution 8 is smaller than the total stride 16 (stem 4 with its max '
     'pool, stages 2,2)'),
])
def test_bad_specs_name_the_field(mutate, field):
    data = small_spec().to_dict()
    mutate(data)
    with pytest.raises(SpecError) as error:
        ArchSpec.from_dict(data)
    assert field in str(error.value)


def test_malformed_json_is_a_spec_error(tmp_path):
    path = tmp_path / 'arch.json'
    path.write_text('{"stem": ')
    with pytest.raises(SpecError, match='malformed'):
        ArchSpec.load(str(path))


def test_replace_rejects_unknown_fields():
    with pytest.raises(TypeError):
        small_spec().replace(colour='red')


def test_limits_are_not_reached_by_real_networks():
    """The largest classic and released networks pass with room to spare;
    the smallest legal side is the total stride (a 1x1 last map)."""
    for make in CLASSICS.values():
        spec = make()
        assert max(spec.depths) < 100 and spec.resolution <= 512
    assert small_spec(resolution=8).resolution == 8


def test_one_pixel_stages():
    assert small_spec().one_pixel_stages == ()
    assert small_spec(resolution=8).one_pixel_stages == (1, )
    spec = small_spec(resolution=8).replace_stage(1, stride=1)
    assert spec.one_pixel_stages == ()
    flat = small_spec().replace_stage(1, stride=1).replace(resolution=4)
    assert flat.one_pixel_stages == (0, 1)
    assert flat.down_sampling == (2, 2, 1)
