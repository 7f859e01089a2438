"""Reading and writing TinyNAS's structure format."""
# flake8: noqa: E501
import json
import os
import subprocess

import numpy as np
import pytest

from mmdeepmad.arch.spec import (ArchSpec, HeadConvSpec, SpecError, StageSpec,
                                 StemSpec)
from mmdeepmad.arch.tinynas_format import (load_tinynas,
                                           load_tinynas_structures,
                                           parse_tinynas_structures,
                                           save_tinynas, spec_from_tinynas,
                                           spec_to_tinynas, tinynas_to_text,
                                           validate_structure)
from mmdeepmad.reference import tinynas_releases

# The released DeepMAD structures (TinyNAS configs/classification/models/*.txt,
# as committed in mmdeepmad/reference/tinynas_released.json).
RELEASED_STRUCTURES = {
    entry['name']: entry['structure']
    for entry in tinynas_releases()['structures']
}


def _models_txt(structure):
    """``structure`` in the layout of TinyNAS's models/*.txt: a Python
    literal, not JSON; one block per line, keys sorted, every block after the
    stem opened with '{ '."""
    blocks = [repr(dict(sorted(block.items()))) for block in structure]
    blocks = blocks[:1] + ['{ ' + block[1:] for block in blocks[1:]]
    return ("{ 'best_structures':[ [\n    " + ',\n    '.join(blocks) +
            "]],\n'space_arch': 'CnnNet'}\n\n\n")


# The released R18 in the layout of TinyNAS's models/deepmad-R18.txt.
R18_TXT = _models_txt(RELEASED_STRUCTURES['deepmad-R18'])

# The older releases have no inner_class and spread a dict over many lines.
R18_LIKE_TXT = """{ 'best_structures':[ [
                  {'class': 'ConvKXBNRELU', 'in': 3, 'k': 3, 'out': 40, 's': 2},
                  { 'L': 2,
                    'btn': 64,
                    'class': 'SuperResK1KXK1',
                    'in': 40,
                    'k': 3,
                    'out': 256,
                    's': 2}]],
'space_arch': 'CnnNet'}
"""

CONFIG_PY = """
image_size = 224
model = dict(
    type = 'CnnNet',
    structure_info = [
        {'class': 'ConvKXBNRELU', 'in': 3, 'out': 32, 's': 2, 'k': 3}, \\
        {'class': 'SuperResK1DWSEK1', 'in': 32, 'out': 72, 's': 2, 'k': 3, 'L': 1, 'btn': 432}, \\
        {'class': 'ConvKXBNRELU', 'in': 72, 'out': 1792, 's': 1, 'k': 1}, \\
    ]
)
budgets = [dict(type = "flops", budget = 4.5e9)]
"""


def _canon(structure):
    return [sorted(block.items()) for block in structure]


def _copy(name):
    return [dict(block) for block in RELEASED_STRUCTURES[name]]


# ---- mapping -----------------------------------------------------------------
def test_r18_spec():
    spec = spec_from_tinynas(
        RELEASED_STRUCTURES['deepmad-R18'], name='deepmad-R18')
    assert spec.style == 'tinynas' and spec.act == 'relu'
    assert spec.name == 'deepmad-R18' and spec.resolution == 224
    assert spec.stem == StemSpec(out_channels=32, kernel_size=3, stride=2)
    assert spec.head_conv is None
    assert spec.blocks == ('bottleneck', ) * 5
    assert spec.stages[0] == StageSpec('bottleneck', 96, 40, 5, 1, 2)
    assert spec.depths == (1, 6, 9, 10, 12)
    assert [s.stride for s in spec.stages] == [2, 2, 2, 1, 2]


def test_depthwise_spec():
    spec = spec_from_tinynas(
        RELEASED_STRUCTURES['deepmad-29M-224'], resolution=224)
    assert spec.act == 'silu'
    assert spec.blocks == ('mbv2-se', ) * 5
    assert spec.head_conv == HeadConvSpec(out_channels=1792, kernel_size=1)
    assert spec.stem.out_channels == 40
    assert spec.stages[1].mid_channels == 512
    assert spec.stages[1].out_channels == 85


def test_other_families_and_activations():
    structure = _copy('deepmad-R18')
    for block in structure[1:]:
        block['class'] = 'SuperResKXKX'
        block['inner_class'] = 'ResKXKX'
    spec = spec_from_tinynas(structure)
    assert spec.blocks == ('basic', ) * 5 and spec.act == 'relu'
    assert _canon(spec_to_tinynas(spec)) == _canon(structure)
    structure = _copy('deepmad-29M-224')
    for block in structure[1:-1]:
        block['class'] = 'SuperResK1DWK1'
        block['inner_class'] = 'ResK1DWK1'
    spec = spec_from_tinynas(structure)
    assert spec.blocks == ('mbv2', ) * 5
    assert spec.act == 'relu'  # TinyNAS's ResK1DWK1 uses ReLU
    assert _canon(spec_to_tinynas(spec)) == _canon(structure)


# ---- round trips -------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(RELEASED_STRUCTURES))
def test_tinynas_spec_tinynas(name):
    structure = RELEASED_STRUCTURES[name]
    spec = spec_from_tinynas(structure, 224, name)
    assert _canon(spec_to_tinynas(spec)) == _canon(structure)
    assert spec_from_tinynas(spec_to_tinynas(spec), 224, name) == spec


def test_without_inner_class():
    (structure, ) = parse_tinynas_structures(R18_LIKE_TXT)
    spec = spec_from_tinynas(structure)
    assert _canon(spec_to_tinynas(spec,
                                  inner_class=False)) == _canon(structure)
    assert spec_to_tinynas(spec)[1]['inner_class'] == 'ResK1KXK1'


def test_missing_stride_means_one():
    structure = _copy('deepmad-R18')
    del structure[4]['s']
    assert spec_from_tinynas(structure).stages[3].stride == 1


def _random_spec(rng):
    block = str(rng.choice(['bottleneck', 'basic', 'mbv2', 'mbv2-se']))
    act = 'silu' if block == 'mbv2-se' else 'relu'
    stages = tuple(
        StageSpec(
            block=block,
            out_channels=int(rng.integers(1, 300)),
            mid_channels=int(rng.integers(1, 900)),
            kernel_size=int(rng.choice([1, 3, 5, 7])),
            depth=int(rng.integers(1, 20)),
            stride=int(rng.choice([1, 2])))
        for _ in range(int(rng.integers(1, 8))))
    head = (
        HeadConvSpec(out_channels=int(rng.integers(1, 3000)))
        if rng.random() < 0.5 else None)
    return ArchSpec(
        stem=StemSpec(
            out_channels=int(rng.integers(1, 80)),
            kernel_size=int(rng.choice([3, 5, 7])),
            stride=int(rng.choice([1, 2]))),
        stages=stages,
        head_conv=head,
        in_channels=int(rng.choice([1, 3, 4])),
        resolution=int(rng.choice([160, 224, 288])),
        style='tinynas',
        act=act,
        name=f'random-{rng.integers(1000)}')


def test_spec_tinynas_spec_identity():
    rng = np.random.default_rng(0)
    for _ in range(500):
        spec = _random_spec(rng)
        structure = spec_to_tinynas(spec)
        assert spec_from_tinynas(structure, spec.resolution, spec.name) == spec
        # and through JSON text
        text = json.dumps(structure)
        (again, ) = parse_tinynas_structures(text)
        assert spec_from_tinynas(again, spec.resolution, spec.name) == spec


def test_spec_to_tinynas_returns_fresh_dicts():
    spec = spec_from_tinynas(RELEASED_STRUCTURES['deepmad-R18'])
    first = spec_to_tinynas(spec)
    first[1]['out'] = 1
    assert spec_to_tinynas(spec)[1]['out'] == 96


# ---- text and files ------------------------------------------------------------
def test_parse_models_txt():
    (structure, ) = parse_tinynas_structures(R18_TXT)
    assert _canon(structure) == _canon(RELEASED_STRUCTURES['deepmad-R18'])


def test_load_files(tmp_path):
    path = tmp_path / 'deepmad-R18.txt'
    path.write_text(R18_TXT)
    spec = load_tinynas(str(path))
    assert spec.name == 'deepmad-R18'
    assert len(load_tinynas_structures(str(path))) == 1
    assert _canon(spec_to_tinynas(spec)) == _canon(
        RELEASED_STRUCTURES['deepmad-R18'])
    as_json = tmp_path / 'r18.json'
    as_json.write_text(json.dumps(RELEASED_STRUCTURES['deepmad-R18']))
    assert load_tinynas(str(as_json), name='deepmad-R18') == spec
    wrapped = tmp_path / 'wrapped.json'
    wrapped.write_text(
        json.dumps({'structure': RELEASED_STRUCTURES['deepmad-R18']}))
    assert load_tinynas(str(wrapped), name='deepmad-R18') == spec
    config = tmp_path / 'deepmad_29M_224.py'
    config.write_text(CONFIG_PY)
    spec = load_tinynas(str(config), resolution=224)
    assert spec.blocks == ('mbv2-se', ) and spec.head_conv.out_channels == 1792
    with pytest.raises(SpecError, match='index 1'):
        load_tinynas(str(path), index=1)


def test_save_and_text_round_trip(tmp_path):
    for name, structure in RELEASED_STRUCTURES.items():
        spec = spec_from_tinynas(structure, name=name)
        for suffix in ('.txt', '.json'):
            path = tmp_path / (name + suffix)
            save_tinynas(spec, str(path))
            assert load_tinynas(str(path)) == spec
        text = tinynas_to_text(spec)
        assert "'best_structures'" in text and "'space_arch': 'CnnNet'" in text
        (again, ) = parse_tinynas_structures(text)
        assert _canon(again) == _canon(structure)
    several = tinynas_to_text(list(RELEASED_STRUCTURES.values()))
    assert len(parse_tinynas_structures(several)) == 4


def test_never_evaluates_code(tmp_path):
    marker = tmp_path / 'pwned'
    text = f"__import__('os').system('touch {marker}')"
    with pytest.raises(SpecError, match='not a JSON value'):
        parse_tinynas_structures(text)
    config = f"import os\nos.system('touch {marker}')\nmodel = dict(structure_info=[x for x in y])\n"
    with pytest.raises(SpecError):
        parse_tinynas_structures(config)
    assert not marker.exists()


def test_released_txt_files_of_a_tinynas_checkout():
    """Every ``models/*.txt`` of a TinyNAS git checkout round-trips; runs
    where ``MMDEEPMAD_TINYNAS_REPO`` names one (nothing outside the
    repository is read otherwise)."""
    repo = os.environ.get('MMDEEPMAD_TINYNAS_REPO')
    if not repo or not os.path.isdir(repo):
        pytest.skip('set MMDEEPMAD_TINYNAS_REPO to a TinyNAS git checkout')
    names = subprocess.run([
        'git', '-C', repo, 'ls-tree', '--name-only', 'HEAD',
        'configs/classification/models/'
    ],
                           capture_output=True,
                           text=True,
                           check=True).stdout.split()
    assert names
    for name in names:
        text = subprocess.run(['git', '-C', repo, 'show', f'HEAD:{name}'],
                              capture_output=True,
                              text=True,
                              check=True).stdout
        (structure, ) = parse_tinynas_structures(text, where=name)
        spec = spec_from_tinynas(structure)
        out = spec_to_tinynas(spec, inner_class='inner_class' in structure[1])
        assert _canon(out) == _canon(structure), name
        short = os.path.splitext(os.path.basename(name))[0]
        if short in RELEASED_STRUCTURES:
            assert _canon(structure) == _canon(RELEASED_STRUCTURES[short])


# ---- errors name the block and the key -----------------------------------------
def _error(structure):
    with pytest.raises(SpecError) as info:
        spec_from_tinynas(structure)
    return str(info.value)


@pytest.mark.parametrize('index,key', [(0, 'in'),
                                       (0, 'out'), (0, 'k'), (1, 'L'),
                                       (2, 'btn'), (3, 'k'), (4, 'in'),
                                       (5, 'out'), (2, 'class')])
def test_missing_key(index, key):
    structure = _copy('deepmad-R18')
    del structure[index][key]
    message = _error(structure)
    assert f'block {index}' in message and repr(key) in message
    assert 'missing' in message


def test_unknown_class():
    structure = _copy('deepmad-R18')
    structure[3]['class'] = 'SuperResK1KX'
    message = _error(structure)
    assert 'block 3' in message and "'class'" in message
    assert 'SuperResK1KX' in message


def test_channel_chaining_mismatch():
    structure = _copy('deepmad-R18')
    structure[2]['in'] = 95
    message = _error(structure)
    assert 'block 2' in message and "'in'" in message and '96' in message


@pytest.mark.parametrize('index,key,value,words', [
    (1, 'L', 0, 'positive integer'),
    (1, 'btn', 40.0, 'positive integer'),
    (2, 'out', '384', 'positive integer'),
    (3, 's', 3, '1 or 2'),
    (3, 'k', 4, 'odd'),
    (0, 's', True, 'positive integer'),
    (1, 'inner_class', 'ResK1DWK1', 'ResK1KXK1'),
    (1, 'g', 2, 'not supported'),
    (0, 'act', 'relu', 'not supported'),
    (4, 'nbitsA', [8, 8, 8], 'not supported'),
])
def test_bad_values(index, key, value, words):
    structure = _copy('deepmad-R18')
    structure[index][key] = value
    message = _error(structure)
    assert f'block {index}' in message and repr(key) in message
    assert words in message


def test_misplaced_plain_conv():
    structure = _copy('deepmad-R18')
    structure.insert(3, {
        'class': 'ConvKXBNRELU',
        'in': 384,
        'out': 384,
        'k': 3,
        's': 1
    })
    structure[4]['in'] = 384
    message = _error(structure)
    assert 'block 3' in message and "'class'" in message
    assert 'stem' in message and 'head conv' in message


def test_head_conv_stride():
    structure = _copy('deepmad-29M-224')
    structure[-1]['s'] = 2
    message = _error(structure)
    assert 'block 6' in message and "'s'" in message


def test_stem_must_be_plain_conv():
    structure = _copy('deepmad-R18')[1:]
    message = _error(structure)
    assert 'block 0' in message and "'class'" in message


def test_mixed_activations():
    structure = _copy('deepmad-R18')
    structure[3]['class'] = 'SuperResK1DWSEK1'
    structure[3]['inner_class'] = 'ResK1DWSEK1'
    message = _error(structure)
    assert 'block 3' in message and "'class'" in message
    assert 'activation' in message


def test_structure_shape_errors():
    with pytest.raises(SpecError, match='list of block dicts'):
        spec_from_tinynas({'class': 'ConvKXBNRELU'})
    with pytest.raises(SpecError, match='at least one super-block'):
        spec_from_tinynas(_copy('deepmad-R18')[:1])
    structure = _copy('deepmad-R18')
    structure[2] = ['not', 'a', 'dict']
    with pytest.raises(SpecError, match='block 2: must be a dict'):
        validate_structure(structure)
    with pytest.raises(SpecError, match="'best_structures'"):
        parse_tinynas_structures("{'best_structures': 3}")
    with pytest.raises(SpecError, match='best_structures'):
        parse_tinynas_structures("{'other': []}")


def test_spec_to_tinynas_errors():
    spec = spec_from_tinynas(RELEASED_STRUCTURES['deepmad-R18'])
    with pytest.raises(SpecError, match='style'):
        spec_to_tinynas(spec.replace(style='torchvision'))
    with pytest.raises(SpecError, match='stem.max_pool'):
        spec_to_tinynas(
            spec.replace(stem=StemSpec(out_channels=32, max_pool=True)))
    with pytest.raises(SpecError, match='act'):
        spec_to_tinynas(spec.replace(act='silu'))
    dw = spec_from_tinynas(RELEASED_STRUCTURES['deepmad-29M-224'])
    with pytest.raises(SpecError, match='act'):
        spec_to_tinynas(dw.replace(act='relu'))
    with pytest.raises(SpecError, match=r'stages\[0\].expand_conv'):
        spec_to_tinynas(dw.replace_stage(0, expand_conv=False))
    with pytest.raises(SpecError, match='head_conv.kernel_size'):
        spec_to_tinynas(dw.replace(head_conv=HeadConvSpec(1792, 2)))
