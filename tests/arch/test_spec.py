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
