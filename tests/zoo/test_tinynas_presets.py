# Copyright (c) mmdeepmad authors. All rights reserved.
"""The official DeepMAD networks are presets (``tinynas-deepmad-*``): the
structures TinyNAS released, converted, with their provenance; where the
committed reference data holds the same release, the structures agree."""
import pytest
import torch

from mmdeepmad.arch.loader import (list_presets, load_arch, load_preset,
                                   preset_path)
from mmdeepmad.arch.tinynas_format import (ACT_OF_FAMILY, spec_from_tinynas,
                                           spec_to_tinynas)
from mmdeepmad.conventions import evaluate
from mmdeepmad.conventions.counters import count
from mmdeepmad.design.presets import PRESETS
from mmdeepmad.models import DeepMAD
from mmdeepmad.reference import tinynas_releases

#: preset -> (TinyNAS release, its search config, image size, budgets)
OFFICIAL = {
    'tinynas-deepmad-r18':
    ('deepmad-R18', 'deepmad_R18_FLOPs.py', 224, (1.82e9, 11.69e6, 0.3)),
    'tinynas-deepmad-r34':
    ('deepmad-R34', 'deepmad_R34_FLOPs.py', 224, (3.68e9, 21.80e6, 0.3)),
    'tinynas-deepmad-r50':
    ('deepmad-R50', 'deepmad_R50_FLOPs.py', 224, (4.13e9, 25.55e6, 0.3)),
    'tinynas-deepmad-29m':
    ('deepmad-29M-224', 'deepmad_29M_224.py', 224, (4.5e9, 29e6, 0.5)),
    'tinynas-deepmad-29m-288': ('deepmad-29M-288', 'deepmad_29M_288.py', 288,
                                (4.5e9, 29e6, 0.5)),
    'tinynas-deepmad-50m': ('deepmad-50M', 'deepmad_50M.py', 224, (8.7e9, 50e6,
                                                                   0.5)),
    'tinynas-deepmad-89m': ('deepmad-89M', 'deepmad_89M.py', 224, (15.4e9,
                                                                   89e6, 0.5)),
}
REFERENCE = {e['name']: e for e in tinynas_releases()['structures']}


def test_the_seven_are_shipped_and_named_apart_from_our_designs():
    shipped = [n for n in list_presets() if n.startswith('tinynas-')]
    assert sorted(shipped) == sorted(OFFICIAL)
    for name in OFFICIAL:
        # our design of the same budgets has the name without the prefix
        assert name[len('tinynas-'):] in PRESETS
        assert name not in PRESETS  # not a design problem


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_preset_records_its_source(name):
    release, config, image_size, (flops, params, rho) = OFFICIAL[name]
    spec = load_preset(name)
    assert spec.name == name
    assert spec.resolution == image_size
    assert spec.style == 'tinynas' and not spec.stem.max_pool
    assert spec.act == ACT_OF_FAMILY[spec.blocks[0]]  # relu or silu
    meta = spec.meta
    assert meta['convention'] == 'tinynas'
    assert meta['budgets'] == dict(flops=flops, params=params, rho=rho)
    assert meta['commit'].startswith('8ccaf88')
    assert meta['repository'] == \
        'alibaba/lightweight-neural-architecture-search'
    assert meta['release'] == release
    assert meta['source'] == f'configs/classification/models/{release}.txt'
    assert meta['config'] == f'configs/classification/{config}'
    assert meta['weights_url'].startswith('http')
    assert 'import_tinynas_presets.py' in meta['command']
    # canonical JSON, as the tool writes it
    with open(preset_path(name), encoding='utf-8') as f:
        assert f.read() == spec.to_json()


@pytest.mark.parametrize(
    'name', sorted(n for n, v in OFFICIAL.items() if v[0] in REFERENCE))
def test_equals_the_reference_structure(name):
    """The four releases in mmdeepmad/reference/tinynas_released.json: the
    same structure, resolution and budgets, and the tinynas convention
    gives the values TinyNAS's code computed for them."""
    reference = REFERENCE[OFFICIAL[name][0]]
    spec = load_preset(name)
    assert spec_to_tinynas(spec) == reference['structure']
    assert spec == spec_from_tinynas(
        reference['structure'], resolution=reference['image_size'], name=name)
    assert spec.meta['budgets'] == reference['budgets']
    assert spec.meta['config'] == reference['config']
    tinynas = evaluate(spec, 'tinynas')
    assert tinynas.params == reference['params']
    assert tinynas.flops == pytest.approx(reference['flops'], rel=1e-12)
    assert tinynas.score == pytest.approx(
        reference['penalised_score'], rel=1e-9)


def test_the_four_reference_releases_are_covered():
    covered = {v[0] for v in OFFICIAL.values()}
    assert set(REFERENCE) <= covered and len(REFERENCE) == 4


def test_official_r50_parameters_and_config_use():
    from mmdeepmad.registry import MODELS
    with torch.device('meta'):
        backbone = MODELS.build(
            dict(type='DeepMAD', arch='tinynas-deepmad-r50'))
    assert sum(p.numel() for p in backbone.parameters()) == 24_208_144
    assert count(load_arch('tinynas-deepmad-r50')).params == 24_208_144
    assert backbone.arch_spec == load_preset('tinynas-deepmad-r50')
    with torch.device('meta'):
        downstream = DeepMAD('tinynas-deepmad-r50', out_indices=(1, 3, 4))
    assert downstream.out_channels == (512, 1024, 1232)
