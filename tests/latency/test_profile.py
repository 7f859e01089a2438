"""A tiny end-to-end latency profile: it measures, resumes after an
interruption, refuses to resume with other arguments, fits and writes a
LUT that loads; and the command line around it."""
import json
import os.path as osp
import sys

import pytest

from mmdeepmad.latency.device import DeviceSettings
from mmdeepmad.latency.profile import (GROUP, ProfileError, build_part,
                                       part_features, partial_path,
                                       profile_samples, run_profile)
from mmdeepmad.latency.table import load_lut

SETTINGS = DeviceSettings(device='cpu', batch=1, threads=1)
#: small parts only: sides of a 32 px input, at most 2M MACs a part
TINY = dict(
    warmup=1, repeats=2, resolutions=(32, ), mac_cap=2e6, seed=3)
SAMPLES = GROUP + 4  # two groups

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis')


class Stop(Exception):
    """Raised by the progress hook to interrupt a run."""


def stop_after(count):

    def progress(state):
        if state.done >= count:
            raise Stop

    return progress


@pytest.mark.parametrize('block', ['bottleneck', 'basic', 'mbv2', 'mbv2-se'])
def test_samples_cover_the_family(block):
    parts = profile_samples(block, 200, seed=1)
    assert parts == profile_samples(block, 200, seed=1)  # deterministic
    kinds = {part['part'] for part in parts}
    assert kinds == ({'stem', 'unit', 'head', 'network'}
                     if block.startswith('mbv2') else
                     {'stem', 'unit', 'network'})
    units = [part for part in parts if part['part'] == 'unit']
    assert {part['style'] for part in units} == {'tinynas', 'torchvision'}
    assert {part['stride'] for part in units if part['first']} == {1, 2}
    assert any(not part['first'] for part in units)
    sides = {part['side'] for part in units}
    assert min(sides) <= 2 and max(sides) >= 112
    for part in parts[:16]:  # each builds, with the features of terms.py
        module, shape, features = build_part(part)
        assert features == part_features(part)
        whole = part['part'] in ('stem', 'network')
        assert shape[0] == (3 if whole else part['in'])


def test_profile_resumes_and_writes_a_lut(tmp_path):
    out = str(tmp_path / 'lut.json')
    with pytest.raises(Stop):
        run_profile('bottleneck', SETTINGS, SAMPLES, out,
                    progress=stop_after(1), **TINY)
    with open(partial_path(out)) as handle:
        lines = handle.read().splitlines()
    header = json.loads(lines[0])['header']
    assert header['samples'] == SAMPLES and header['block'] == 'bottleneck'
    assert [json.loads(line)['index'] for line in lines[1:]] == list(
        range(GROUP))
    replaced = dict(json.loads(lines[1]), seconds=0.5)  # measured again
    with open(partial_path(out), 'a') as handle:
        handle.write(json.dumps(replaced) + '\n')
        handle.write('{"index": 8, "part"')  # a torn last line
    states = []
    table = run_profile(
        'bottleneck', SETTINGS, SAMPLES, out, progress=states.append, **TINY)
    measured = [state for state in states if state.stage == 'measure']
    assert [state.resumed for state in measured] == [GROUP]
    assert measured[-1].done == SAMPLES
    assert not osp.exists(partial_path(out))
    loaded = load_lut(out)
    assert loaded.block == 'bottleneck'
    assert loaded.fit['samples'] == SAMPLES == len(loaded.samples)
    assert loaded.model.knots == table.model.knots
    assert all(sample['seconds'] > 0 and sample['canary'] > 0
               for sample in loaded.samples)
    # the first GROUP samples are the ones measured before the interruption
    # (the first as measured again)
    first = [json.loads(line) for line in lines[1:]]
    first[0] = replaced
    assert [s['seconds'] for s in loaded.samples[:GROUP]] == [
        record['seconds'] for record in first
    ]


def test_other_arguments_are_refused_until_restart(tmp_path):
    out = str(tmp_path / 'lut.json')
    with pytest.raises(Stop):
        run_profile('mbv2', SETTINGS, SAMPLES, out, progress=stop_after(1),
                    **TINY)
    changed = dict(TINY, seed=4, repeats=3)
    with pytest.raises(ProfileError) as error:
        run_profile('mbv2', SETTINGS, SAMPLES, out, **changed)
    message = str(error.value)
    assert '--seed: 3 in the partial file, 4 now' in message
    assert '--repeats: 2 in the partial file, 3 now' in message
    assert '--restart' in message
    with pytest.raises(ProfileError, match='--threads'):
        run_profile('mbv2', DeviceSettings(threads=2), SAMPLES, out, **TINY)
    states = []
    run_profile('mbv2', SETTINGS, SAMPLES, out, restart=True,
                progress=states.append, **changed)
    assert states[0].resumed == 0
    assert load_lut(out).block == 'mbv2'


def run_tool(argv):
    sys.path.insert(0, TOOL)
    try:
        import profile_latency
    finally:
        sys.path.remove(TOOL)
    return profile_latency.main(argv)


def test_tool_refuses_a_changed_run_in_one_line(tmp_path, capsys):
    out = str(tmp_path / 'lut.json')
    with pytest.raises(Stop):
        run_profile('basic', SETTINGS, SAMPLES, out, progress=stop_after(1),
                    **TINY)
    with pytest.raises(SystemExit) as exit_info:
        run_tool(['--block', 'basic', '--out', out, '--samples', '5',
                  '--threads', '1'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith('profile_latency.py: error: ')
    assert '--samples: 12 in the partial file, 5 now' in err[0]
    assert 'Traceback' not in err[0]


def test_tool_argument_errors(tmp_path, capsys):
    for argv, text in [
        (['--block', 'vit', '--out', 'x.json'], 'invalid choice'),
        (['--block', 'basic', '--out', 'x.txt'], '.json'),
        (['--block', 'basic', '--out', 'x.json', '--batch', '0'], '--batch'),
        (['--block', 'basic', '--out', 'x.json', '--resolutions', '16'],
         '--resolutions'),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            run_tool(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert text in err and 'Traceback' not in err


def test_disturbed_group_is_measured_again(tmp_path):
    """A group whose canary was slow (other processes stalled it) is
    measured again at the end of the run, and the new times replace the
    old ones (also when the partial file is read back)."""
    out = str(tmp_path / 'lut.json')
    samples = 2 * GROUP + 4
    with pytest.raises(Stop):
        run_profile('bottleneck', SETTINGS, samples, out,
                    progress=stop_after(GROUP + 1), **TINY)
    path = partial_path(out)
    with open(path) as handle:
        lines = handle.read().splitlines()
    records = [json.loads(line) for line in lines[1:]]
    assert len(records) == 2 * GROUP
    for record in records[:GROUP]:  # as if stalled: 100 times slower
        record['canary'] *= 100
        record['seconds'] *= 100
    with open(path, 'w') as handle:
        handle.write('\n'.join([lines[0]] + [json.dumps(r) for r in records])
                     + '\n')
    states = []
    run_profile('bottleneck', SETTINGS, samples, out,
                progress=states.append, **TINY)
    again = [state for state in states if state.stage == 'again']
    assert [(s.done, s.total) for s in again] == [(1, 1)]
    lut = load_lut(out)
    for old, new in zip(records[:GROUP], lut.samples[:GROUP]):
        assert new['canary'] != old['canary']
    for old, new in zip(records[GROUP:], lut.samples[GROUP:]):
        assert new['canary'] == old['canary']


def test_network_errors_compare_prediction_and_measurement(tmp_path):
    from mmdeepmad.design.search_space import SearchSpace
    from mmdeepmad.latency.fit import network_errors
    out = str(tmp_path / 'lut.json')
    table = run_profile('bottleneck', SETTINGS, GROUP, out, **TINY)
    space = SearchSpace.for_block('bottleneck', resolution=32)
    spec = space.to_spec(16, [16, 32, 32, 64, 64], [8, 8, 8, 16, 16],
                         [3] * 5, [1, 1, 1, 1, 1], name='tiny')
    plain, calibrated = (network_errors(
        table.model, [spec], SETTINGS, warmup=1, repeats=2, **extra)[0]
                         for extra in ({}, dict(
                             canary=table.fit['canary'],
                             canary_seconds=table.fit['canary_seconds'])))
    for entry in (plain, calibrated):
        assert entry['name'] == 'tiny'
        assert entry['measured'] > 0
        assert entry['predicted'] == pytest.approx(table.model.predict(spec))
        assert entry['error'] == pytest.approx(
            entry['predicted'] / entry['measured'] - 1)
    assert 'calibrated' not in plain
    assert calibrated['calibrated_error'] == pytest.approx(
        calibrated['predicted'] / calibrated['calibrated'] - 1)
