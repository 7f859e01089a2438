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
from mmdeepmad.conventions.counters import count
from mmdeepmad.design.presets import preset_names
from mmdeepmad.zoo import build_zoo, generated_paths, metafiles
from mmdeepmad.zoo.measure import design_quantities

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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
    for name, model in imagenet.items():
        spec = load_preset(name)
        analytic = count(spec, num_classes=1000)
        assert model['Metadata']['Parameters'] == analytic.params, name
        assert model['Metadata']['FLOPs'] == analytic.flops, name
        assert model['Metadata']['Resolution'] == spec.resolution
        assert model['Config'].endswith(f'{name}_8xb256-480e_in1k.py')
        assert 'paper' in model['Results Source']
        assert model['Metadata']['Architecture file'] == \
            f'mmdeepmad/presets/{name}.json'


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
    for name in preset_names():
        assert f'config id: {name}\n' in result.stdout
    assert 'config id: fcos_deepmad-r50_fpn_gn-head_ms-640-800-2x_coco' in \
        result.stdout
