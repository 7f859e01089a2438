# Copyright (c) mmdeepmad authors. All rights reserved.
"""The zoo is generated, current, consistent with the configs and the
counters, shows real checkpoints by sha256, and mim can list it."""
import glob
import hashlib
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import yaml

from mmdeepmad.arch.loader import load_preset
from mmdeepmad.conventions import evaluate
from mmdeepmad.conventions.counters import count
from mmdeepmad.design.presets import preset_names
from mmdeepmad.zoo import build_zoo, generated_paths, metafiles
from mmdeepmad.zoo.measure import design_quantities

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OFFICIAL = [
    'tinynas-deepmad-r18', 'tinynas-deepmad-r34', 'tinynas-deepmad-r50',
    'tinynas-deepmad-29m', 'tinynas-deepmad-29m-288', 'tinynas-deepmad-50m',
    'tinynas-deepmad-89m'
]


@pytest.fixture(scope='module')
def zoo():
    return build_zoo(REPO_ROOT)


def models(zoo):
    index = yaml.safe_load(zoo['model-index.yml'])
    return [
        model for path in index['Import']
        for model in yaml.safe_load(zoo[path])['Models']
    ]


def test_committed_zoo_is_current(zoo):
    """model_zoo.md, model-index.yml and every metafile equal what
    tools/misc/generate_zoo.py writes now (regenerate it if this fails)."""
    assert sorted(zoo) == generated_paths(REPO_ROOT)
    for path, text in zoo.items():
        with open(osp.join(REPO_ROOT, path), encoding='utf-8') as f:
            assert f.read() == text, f'{path} is stale'


def test_every_config_is_listed_and_exists(zoo):
    listed = {model['Config'] for model in models(zoo)}
    for config in listed:
        assert osp.isfile(osp.join(REPO_ROOT, config)), config
    on_disk = {
        osp.relpath(p, REPO_ROOT)
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
        if '_base_' not in p and '/digits/' not in p
    }
    assert on_disk == listed
    # the short aliases are recorded on their models, not as models
    aliases = {model['Metadata'].get('Alias Config')
               for model in models(zoo)} - {None}
    assert aliases == {
        'configs/fcos_deepmad_r50.py', 'configs/gfl_deepmad_r50.py'
    }


def test_imagenet_numbers_equal_the_counters(zoo):
    """Parameters and FLOPs measured on the built classifier equal the
    analytic counts (backbone + 1000-class linear head)."""
    imagenet = {
        m['Name']: m
        for m in models(zoo) if m['In Collection'] == 'DeepMAD'
    }
    assert sorted(imagenet) == sorted(preset_names())
    official = {
        m['Name']: m
        for m in models(zoo) if m['In Collection'] == 'DeepMAD-TinyNAS'
    }
    assert sorted(official) == sorted(OFFICIAL)
    for name, model in dict(imagenet, **official).items():
        spec = load_preset(name)
        analytic = count(spec, num_classes=1000)
        assert model['Metadata']['Parameters'] == analytic.params, name
        assert model['Metadata']['FLOPs'] == analytic.flops, name
        assert model['Metadata']['Resolution'] == spec.resolution
        assert model['Config'].endswith(f'{name}_8xb256-480e_in1k.py')
        assert 'paper' in model['Results Source']
        assert model['Metadata']['Architecture file'] == \
            f'mmdeepmad/presets/{name}.json'
    assert official['tinynas-deepmad-r50']['Metadata']['Parameters'] == \
        24_208_144 + 1232 * 1000 + 1000


def test_paper_results_belong_to_the_official_networks(zoo):
    """The paper's accuracies are listed on the official networks (and
    their downstream configs) only; our designs name the official network
    of the same budgets instead."""
    for model in models(zoo):
        backbone = model['Metadata'].get('Backbone', model['Name'])
        if model.get('Results'):
            assert backbone.startswith('tinynas-'), model['Name']
        elif model['In Collection'] == 'DeepMAD':
            assert 'none: an mmdeepmad design' in model['Results Source']
    by_name = {m['Name']: m for m in models(zoo)}
    for name in OFFICIAL:
        model = by_name[name]
        assert model['Results'][0]['Metrics']['Top 1 Accuracy'] > 75
        ours = name[len('tinynas-'):]
        assert model['Metadata']['Same Budgets As'] == ours
        assert by_name[ours]['Metadata']['Same Budgets As'] == name
        assert name in by_name[ours]['Results Source']
    assert by_name['tinynas-deepmad-r50']['Results'][0]['Metrics'] == {
        'Top 1 Accuracy': 80.6
    }
    fcos = by_name['fcos_tinynas-deepmad-r50_fpn_gn-head_ms-640-800-2x_coco']
    assert fcos['Results'][0]['Metrics'] == {'box AP': 40.0}


def test_checkpoint_column_shows_file_and_sha256(tmp_path, monkeypatch):
    # the classifier's checkpoint, at the path downstream configs load
    fake = tmp_path / 'deepmad-r18_8xb256-480e_in1k.pth'
    fake.write_bytes(b'not really a checkpoint')
    monkeypatch.setattr(metafiles, 'CHECKPOINT_DIR', str(tmp_path))
    classifier = dict(
        task='classification',
        name='deepmad-r18_8xb256-480e_in1k',
        config='configs/deepmad/deepmad-r18_8xb256-480e_in1k.py')
    entry = metafiles._preset_entry(REPO_ROOT, 'deepmad-r18', (1, 1),
                                    design_quantities('deepmad-r18'),
                                    [classifier])
    assert entry['Weights'] == str(fake)
    assert entry['Weights SHA256'] == hashlib.sha256(
        fake.read_bytes()).hexdigest()
    monkeypatch.setattr(metafiles, 'CHECKPOINT_DIR', str(tmp_path / 'none'))
    entry = metafiles._preset_entry(REPO_ROOT, 'deepmad-r18', (1, 1),
                                    design_quantities('deepmad-r18'),
                                    [classifier])
    assert entry['Weights'] is None


def test_zoo_says_how_to_reproduce(zoo):
    text = zoo['model_zoo.md']
    for name in preset_names():
        assert f'--name {name} ' in text  # the tools/design.py command
    assert 'tinynas2mmdeepmad' in text or 'tools/train.py' in text
    assert 'Comparison with the official TinyNAS releases' in text
    assert '10-20 h' in text and 's ²' in text
    # the official networks: their section, scores, pairing, checkpoints
    assert '## Official DeepMAD networks (TinyNAS releases)' in text
    assert '### Same budgets: the official network and our design' in text
    for name in OFFICIAL:
        spec = load_preset(name)
        assert f'--preset {name} --mmpretrain' in text
        assert spec.meta['weights_url'] in text
        assert f"`{name}` | `{name[len('tinynas-'):]}` |" in text
        # as the metafile stores it (rounded to 2 decimals)
        score = round(evaluate(spec, 'tinynas').score, 2)
        assert f'{score:,.1f}' in text
    assert 'tinynas-deepmad-r50_8xb256-480e_in1k.pth' in text


def test_mim_lists_the_models(tmp_path):
    """Installed as a package (configs, tools and model-index.yml copied to
    mmdeepmad/.mim by setup.py), ``mim search mmdeepmad`` lists every
    model."""
    # build from a copy: a copy-mode build rewrites mmdeepmad/.mim, which
    # in the checkout holds the editable install's symlinks
    source = tmp_path / 'source'
    source.mkdir()
    for name in ('setup.py', 'setup.cfg', 'README.md', 'requirements.txt',
                 'model-index.yml'):
        shutil.copy(osp.join(REPO_ROOT, name), source / name)
    for name in ('mmdeepmad', 'configs', 'tools', 'requirements'):
        shutil.copytree(
            osp.join(REPO_ROOT, name),
            source / name,
            ignore=shutil.ignore_patterns('.mim', '__pycache__'))
    site = tmp_path / 'site'
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--no-build-isolation', '--target',
        str(site),
        str(source)
    ],
                   check=True,
                   capture_output=True)
    for shipped in ('model-index.yml', 'configs', 'tools'):
        assert (site / 'mmdeepmad' / '.mim' / shipped).exists(), shipped
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    result = subprocess.run([mim, 'search', 'mmdeepmad'],
                            cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(site)),
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in preset_names() + OFFICIAL:
        assert f'config id: {name}\n' in result.stdout
    assert 'config id: fcos_deepmad-r50_fpn_gn-head_ms-640-800-2x_coco' in \
        result.stdout
    assert 'config id: fcos_tinynas-deepmad-r50_fpn_gn-head_ms-640-800-2x_' \
        'coco' in result.stdout


# ---- tools/misc/generate_zoo.py: one line for expected errors --------------
@pytest.fixture(scope='module')
def generate_zoo():
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', 'misc', 'generate_zoo.py')
    spec = importlib.util.spec_from_file_location('generate_zoo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_error_line(err):
    lines = err.strip().splitlines()
    assert 'Traceback' not in err and len(lines) == 1, err
    assert lines[0].startswith('generate_zoo.py: error: ')
    return lines[0]


def test_generate_zoo_missing_or_malformed_reference(generate_zoo, capsys,
                                                     tmp_path, monkeypatch):
    monkeypatch.delenv('MMDEEPMAD_TINYNAS_REFERENCE', raising=False)
    missing = tmp_path / 'missing.json'
    assert generate_zoo.main(['--check', '--reference', str(missing)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(missing) in line and 'does not exist' in line
    malformed = tmp_path / 'malformed.json'
    malformed.write_text('{"source": "x", "structures": []}')
    assert generate_zoo.main(['--reference', str(malformed)]) == 2
    assert '"structures" must be a non-empty list' in one_error_line(
        capsys.readouterr().err)
    assert generate_zoo.main(['--reference', str(malformed), '--debug']) == 2
    assert 'Traceback' in capsys.readouterr().err


def test_generate_zoo_unwritable_output(generate_zoo, capsys, tmp_path,
                                        monkeypatch):
    monkeypatch.setattr(generate_zoo, 'build_zoo',
                        lambda *args, **kwargs: {'model_zoo.md': 'zoo\n'})
    blocker = tmp_path / 'file'
    blocker.write_text('')
    out_dir = blocker / 'zoo'
    assert generate_zoo.main(['--out-dir', str(out_dir)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(blocker) in line
    # a writable folder gets the files, and no temporary is left
    assert generate_zoo.main(['--out-dir', str(tmp_path / 'ok')]) == 0
    assert sorted(os.listdir(tmp_path / 'ok')) == ['model_zoo.md']


def test_generate_zoo_as_a_process_exit_status(tmp_path):
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'misc', 'generate_zoo.py'), '--check',
        '--reference',
        str(tmp_path / 'missing.json')
    ],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 2
    assert one_error_line(result.stderr).startswith(
        'generate_zoo.py: error: TinyNAS reference data')
