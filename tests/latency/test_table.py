"""The LUT file: a round trip, every malformed field named, and the device
check (refused for measuring, warned about for designing)."""
import json
import math

import pytest

from mmdeepmad.latency.device import (DeviceError, DeviceSettings,
                                      describe_device, device_mismatches)
from mmdeepmad.latency.model import LatencyModel
from mmdeepmad.latency.table import (LatencyTable, LutError, check_device,
                                     load_lut, save_lut)
from mmdeepmad.latency.terms import KINDS

SETTINGS = DeviceSettings(device='cpu', batch=1, threads=2)
KNOTS = [7, 14, 28]


def make_table(**device_changes) -> LatencyTable:
    model = LatencyModel(KNOTS, {
        kind: [1e-9 * (i + 1)] * 3
        for i, kind in enumerate(KINDS)
    })
    device = dict(describe_device(SETTINGS), **device_changes)
    fit = dict(heldout_median=0.05, heldout_max=0.2, samples=10)
    samples = [
        dict(part='stem', features=[['memory', 224, 1.0]], seconds=1e-3)
    ]
    return LatencyTable('bottleneck', device, model, fit, samples)


@pytest.fixture
def lut(tmp_path):
    path = tmp_path / 'lut.json'
    save_lut(make_table(), str(path))
    return path


def test_round_trip(lut):
    table = load_lut(str(lut))
    assert table.block == 'bottleneck'
    assert table.model.knots == tuple(float(k) for k in KNOTS)
    assert table.model.theta('dense', 14) == pytest.approx(2e-9)
    assert table.device == describe_device(SETTINGS)
    assert table.fit['samples'] == 10 and len(table.samples) == 1
    assert not list(lut.parent.glob('*.tmp'))  # written atomically


def rewrite(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def set_in(*keys, value):

    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def drop(*keys):

    def change(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


@pytest.mark.parametrize('change, field', [
    (set_in('format', value='something-else'), 'format'),
    (set_in('version', value=2), 'version'),
    (set_in('block', value='vit'), 'block'),
    (drop('knots'), 'knots'),
    (set_in('knots', value=[7, 7, 28]), 'knots[1]'),
    (set_in('knots', value=[7, -14, 28]), 'knots[1]'),
    (set_in('coefficients', 'dense', 1, value=-1.0), 'coefficients.dense[1]'),
    (set_in('coefficients', 'memory', 0,
            value=math.inf), 'coefficients.memory[0]'),
    (set_in('coefficients', 'overhead', 2,
            value='fast'), 'coefficients.overhead[2]'),
    (set_in('coefficients', 'pointwise', value=[1e-9
                                                ]), 'coefficients.pointwise'),
    (drop('coefficients', 'se'), 'coefficients.se'),
    (set_in('coefficients', 'winograd', value=[0, 0, 0
                                               ]), 'coefficients.winograd'),
    (drop('device', 'torch'), 'device.torch'),
    (set_in('device', 'batch', value='1'), 'device.batch'),
    (set_in('device', 'channels_last', value=0), 'device.channels_last'),
    (drop('fit', 'heldout_median'), 'fit.heldout_median'),
    (set_in('samples', value={}), 'samples'),
])
def test_malformed_field_is_named(lut, change, field):
    rewrite(lut, change)
    with pytest.raises(LutError) as error:
        load_lut(str(lut))
    message = str(error.value)
    assert str(lut) in message
    assert f'{field} ' in message
    assert 'profile_latency.py' in message  # the fix


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(LutError, match='no such LUT file'):
        load_lut(str(tmp_path / 'absent.json'))
    broken = tmp_path / 'broken.json'
    broken.write_text('{"format": ')
    with pytest.raises(LutError, match='not JSON'):
        load_lut(str(broken))
    listed = tmp_path / 'list.json'
    listed.write_text('[]')
    with pytest.raises(LutError, match='JSON object'):
        load_lut(str(listed))


def test_same_device_passes_both_purposes():
    table = make_table()
    assert check_device(table, SETTINGS, 'design') == []
    assert check_device(table, SETTINGS, 'measure') == []


@pytest.mark.parametrize('field, value', [
    ('name', 'Some Other CPU'),
    ('dtype', 'fp16'),
    ('batch', 32),
    ('channels_last', True),
    ('device', 'cuda'),
])
def test_other_device_is_refused_for_measure_warned_for_design(field, value):
    table = make_table(**{field: value})
    warnings = check_device(table, SETTINGS, 'design')
    assert len(warnings) == 1
    assert warnings[0].startswith(f'device.{field}: the LUT was measured')
    assert "predictions are for the LUT's setup" in warnings[0]
    with pytest.raises(LutError, match=f'device.{field}: '):
        check_device(table, SETTINGS, 'measure')


@pytest.mark.parametrize('field, value, text', [
    ('torch', '2.13.0', 'with torch 2.13.0; this machine has'),
    ('threads', 8, 'with 8 threads; these settings are with 2 threads'),
])
def test_torch_and_threads_only_warn(field, value, text):
    table = make_table(**{field: value})
    for purpose in ('design', 'measure'):
        warnings = check_device(table, SETTINGS, purpose)
        assert len(warnings) == 1 and warnings[0].startswith(f'device.'
                                                             f'{field}:')
        assert text in warnings[0]


def test_device_mismatches_and_settings():
    here = describe_device(SETTINGS)
    assert device_mismatches(here, dict(here)) == []
    assert device_mismatches(here, dict(here, batch=4)) == [('batch', 1, 4)]
    with pytest.raises(DeviceError, match='dtype'):
        DeviceSettings(dtype='int8')
    with pytest.raises(DeviceError, match='threads'):
        DeviceSettings(threads=0)
    with pytest.raises(ValueError, match='purpose'):
        check_device(make_table(), SETTINGS, 'train')


def test_cuda_without_a_gpu_is_a_clear_error():
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    with pytest.raises(DeviceError, match='no CUDA device'):
        describe_device(DeviceSettings(device='cuda'))


def test_the_device_of_a_cpu_design_is_described_without_torch():
    """A design with a LUT checks the device without importing torch (it
    takes seconds); the version read is torch's own, local tag included."""
    import subprocess
    import sys
    code = ('import sys\n'
            'from mmdeepmad.latency.device import DeviceSettings, '
            'describe_device\n'
            'version = describe_device(DeviceSettings())["torch"]\n'
            'assert "torch" not in sys.modules\n'
            'import torch\n'
            'assert version == torch.__version__, (version, '
            'torch.__version__)\n')
    subprocess.run([sys.executable, '-c', code], check=True)
