# Copyright (c) mmdeepmad authors. All rights reserved.
"""Every form ``arch`` takes builds the same network, and bad input fails with
a message that says what would work."""
import copy
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmdeepmad.arch.loader import PRESET_DIR, list_presets, load_arch
from mmdeepmad.arch.spec import ArchSpec, SpecError
from mmdeepmad.arch.tinynas_format import save_tinynas, spec_to_tinynas
from mmdeepmad.conventions.counters import count
from mmdeepmad.design import api
from mmdeepmad.models import DeepMAD
from .deepmad_specs import DEEPMAD_R50_STRUCTURE, tiny_spec

EXPECTED_PRESETS = ('deepmad-r18', 'deepmad-r34', 'deepmad-r50', 'deepmad-b0',
                    'deepmad-mb', 'deepmad-29m', 'deepmad-29m-288',
                    'deepmad-50m', 'deepmad-89m')


def test_presets_by_name():
    presets = list_presets()
    assert presets, f'no preset JSON in {PRESET_DIR}'
    for name in presets:
        spec = load_arch(name)
        assert spec == ArchSpec.load(f'{PRESET_DIR}/{name}.json')
    # the backbone builds the preset it is named after
    name = presets[0]
    assert DeepMAD(name).arch_spec == load_arch(name)


@pytest.mark.parametrize('name', EXPECTED_PRESETS)
def test_the_released_presets_are_shipped(name):
    if not list_presets():
        pytest.skip('presets not shipped yet')
    assert name in list_presets()


def test_unknown_preset_lists_the_presets():
    with pytest.raises(SpecError) as error:
        DeepMAD('deepmad-r51')
    message = str(error.value)
    assert "unknown DeepMAD preset 'deepmad-r51'" in message
    for name in list_presets():
        assert name in message


def test_spec_dict_and_configdict_equal_the_spec():
    spec = tiny_spec('mbv2-se', head_conv=True)
    data = spec.to_dict()
    original = copy.deepcopy(data)
    assert DeepMAD(data).arch_spec == spec
    assert data == original  # the caller's dict is untouched
    assert DeepMAD(spec).arch_spec == spec
    cfg = Config(dict(model=dict(type='DeepMAD', arch=data)))
    assert load_arch(cfg.model.arch) == spec


def test_arch_json_file(tmp_path):
    spec = tiny_spec('basic')
    path = tmp_path / 'arch.json'
    path.write_text(spec.to_json())
    assert DeepMAD(str(path)).arch_spec == spec
    with pytest.raises(SpecError, match='does not exist'):
        DeepMAD(str(tmp_path / 'missing.json'))


def test_tinynas_structures():
    expected = load_arch(DEEPMAD_R50_STRUCTURE)
    assert expected.style == 'tinynas' and expected.num_stages == 5
    assert [s.depth for s in expected.stages] == [1, 11, 12, 13, 15]
    structure = copy.deepcopy(DEEPMAD_R50_STRUCTURE)
    assert load_arch(structure) == expected
    assert structure == DEEPMAD_R50_STRUCTURE  # untouched
    at_288 = load_arch(dict(structure=structure, resolution=288))
    assert at_288 == expected.replace(resolution=288)


@pytest.mark.parametrize('suffix', ['.txt', '.json'])
def test_tinynas_files(tmp_path, suffix):
    spec = tiny_spec('mbv2-se', act='silu', head_conv=True)
    path = tmp_path / f'tiny{suffix}'
    save_tinynas(spec_to_tinynas(spec), str(path))
    built = DeepMAD(str(path)).arch_spec
    assert built.replace(name='', resolution=64) == spec.replace(name='')


def test_budgets_are_designed_at_build_time(monkeypatch):
    calls = []

    def fake_design_arch(**kwargs):
        calls.append(kwargs)
        return tiny_spec()

    monkeypatch.setattr(api, 'design_arch', fake_design_arch)
    budgets = dict(
        flops=1e8, params=1e6, rho=0.5, block='mbv2', resolution=64, stages=5)
    original = copy.deepcopy(budgets)
    model = DeepMAD(budgets)
    assert calls == [original]
    assert budgets == original
    assert model.arch_spec == tiny_spec()


def test_budgets_with_the_real_solver():
    budgets = dict(
        flops=0.2e9, params=2e6, rho=0.5, block='bottleneck', resolution=64)
    model = DeepMAD(budgets)
    counts = count(model.arch_spec)
    assert counts.flops <= budgets['flops']
    assert counts.params <= budgets['params']
    assert model.arch_spec.resolution == 64


def test_bad_arch_messages():
    with pytest.raises(SpecError, match='budgets'):
        DeepMAD(dict(depth=50))
    with pytest.raises(SpecError, match='preset name'):
        DeepMAD(50)
    with pytest.raises(SpecError, match='stages'):
        DeepMAD(dict(stem=dict(out_channels=8), stages=[]))


def test_importing_the_models_imports_no_solver_and_no_downstream_library():
    """``import mmdeepmad`` stays light: no cvxpy, and the OpenMMLab
    libraries are registered into only once something imports them."""
    code = ('import sys, mmdeepmad\n'
            "heavy = [m for m in ('cvxpy', 'mmdet', 'mmseg', 'mmaction', "
            "'mmpretrain') if m in sys.modules]\n"
            'assert not heavy, heavy\n'
            'import mmdet.registry\n'
            "assert 'DeepMAD' in mmdet.registry.MODELS.module_dict\n"
            "assert 'cvxpy' not in sys.modules\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith('ok')
