"""tools/design.py with device budgets: --latency / --throughput with --lut,
and --measure. The LUT here is synthetic (plausible CPU coefficients) except
for the end-to-end test, which profiles this machine for a few seconds."""
import json

import numpy as np
import pytest

from mmdeepmad.design.cli.command import main
from mmdeepmad.latency.device import DeviceSettings, describe_device
from mmdeepmad.latency.model import LatencyModel
from mmdeepmad.latency.table import LatencyTable, load_lut, save_lut
from mmdeepmad.latency.terms import KINDS

KNOTS = (4, 14, 56, 112)
PER_UNIT = dict(
    pointwise=2e-11,
    dense=2.5e-11,
    depthwise=1.5e-10,
    se=1e-9,
    memory=1.5e-9,
    overhead=3e-5)


def synthetic_lut(path, block='bottleneck', batch=1, **device_changes):
    settings = DeviceSettings(batch=batch, threads=1)
    device = dict(describe_device(settings), **device_changes)
    model = LatencyModel(
        KNOTS, {kind: [PER_UNIT[kind] * batch] * len(KNOTS)
                for kind in KINDS})
    table = LatencyTable(
        block=block,
        device=device,
        model=model,
        fit=dict(heldout_median=0.05, heldout_max=0.2, samples=0))
    save_lut(table, str(path))
    return str(path)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize('argv, message', [
    (['--latency', '20ms'], '--latency/--throughput need --lut'),
    (['--latency', '20ms', '--throughput', '50', '--lut', 'x.json'
      ], 'give one of them'),
    (['--measure', '--flops', '1G', '--params', '5M', '--rho', '0.3'
      ], '--measure needs a device budget'),
    (['--latency', '20'], "'20' is not a latency"),
    (['--throughput', '-3', '--lut', 'x.json'], 'throughput'),
])
def test_device_budget_mistakes_are_one_line(argv, message, capsys, tmp_path):
    code, out, err = run(argv + ['--out', str(tmp_path / 'a.json')], capsys)
    assert code == 2
    assert message in err
    assert 'Traceback' not in err
    assert not (tmp_path / 'a.json').exists()


def test_lut_without_budget_and_malformed_lut(capsys, tmp_path):
    lut = synthetic_lut(tmp_path / 'lut.json')
    code, _, err = run(['--lut', lut], capsys)
    assert code == 2 and 'without --latency or --throughput' in err
    data = json.loads(open(lut).read())
    data['coefficients']['dense'][1] = -1.0
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(data))
    code, _, err = run(['--latency', '20ms', '--lut', str(bad)], capsys)
    assert code == 2
    assert 'coefficients.dense[1]' in err and 'Traceback' not in err
    other = synthetic_lut(tmp_path / 'mbv2.json', block='mbv2')
    code, _, err = run(['--latency', '20ms', '--lut', other], capsys)
    assert code == 2 and 'profiled for mbv2 units' in err


def test_latency_budget_design_records_the_prediction(capsys, tmp_path):
    lut = synthetic_lut(tmp_path / 'lut.json')
    out = tmp_path / 'lat.json'
    argv = [
        '--latency', '30ms', '--params', '25.55M', '--lut', lut, '--out',
        str(out), '--no-plot'
    ]
    code, text, err = run(argv, capsys)
    assert code == 0, err
    spec = json.loads(out.read_text())
    latency = spec['meta']['latency']
    assert latency['budget_ms'] == 30.0
    assert 0.95 * 30.0 <= latency['predicted_ms'] <= 30.0
    assert spec['meta']['budgets'] == dict(
        flops=None, params=25.55e6, rho=0.3, latency=0.03)
    predicted = load_lut(lut).model.predict(
        __import__('mmdeepmad.arch.spec',
                   fromlist=['ArchSpec']).ArchSpec.from_json(out.read_text()))
    assert predicted * 1e3 == pytest.approx(latency['predicted_ms'], abs=1e-6)
    assert 'latency (predicted)' in text and 'measured' not in text
    first = out.read_bytes()
    assert run(argv, capsys)[0] == 0
    assert out.read_bytes() == first  # same input, same bytes


def test_throughput_is_batch_over_latency(capsys, tmp_path):
    lut = synthetic_lut(tmp_path / 'lut32.json', batch=32)
    out = tmp_path / 'tp.json'
    code, _, err = run(
        ['--throughput', '100', '--lut', lut, '--out',
         str(out), '--no-plot'], capsys)
    assert code == 0, err
    latency = json.loads(out.read_text())['meta']['latency']
    assert latency['budget_ms'] == pytest.approx(320.0)
    assert latency['throughput_budget'] == 100
    assert latency['predicted_ms'] <= 320.0


def test_a_budget_below_every_network_cannot_be_met(capsys, tmp_path):
    lut = synthetic_lut(tmp_path / 'lut.json')
    code, _, err = run(['--latency', '10us', '--lut', lut, '--no-plot'],
                       capsys)
    assert code == 1
    assert 'the latency budget 10us cannot be met' in err


def test_measure_refuses_a_lut_of_another_device(capsys, tmp_path):
    lut = synthetic_lut(tmp_path / 'lut.json', name='Some Other CPU')
    code, _, err = run(
        ['--latency', '20ms', '--lut', lut, '--measure', '--no-plot'], capsys)
    assert code == 2
    assert 'device.name' in err and 'Some Other CPU' in err
    code, _, err = run([
        '--latency', '20ms', '--lut', lut, '--no-plot', '--out',
        str(tmp_path / 'x.json')
    ], capsys)
    assert code == 0
    assert 'warning: device.name' in err


def test_measure_never_returns_a_design_over_the_measured_budget(
        capsys, tmp_path):
    """End to end on this machine: a tiny real profile, a design at a small
    resolution, built and timed; the measurement must meet the budget (with
    the tolerance) or nothing is written."""
    from mmdeepmad.latency.profile import run_profile
    settings = DeviceSettings(batch=1, threads=1)
    lut = str(tmp_path / 'tiny.json')
    run_profile(
        'bottleneck',
        settings,
        samples=48,
        out_path=lut,
        warmup=1,
        repeats=3,
        resolutions=(64, ))
    out = tmp_path / 'measured.json'
    code, text, err = run([
        '--latency', '4ms', '--resolution', '64', '--lut', lut, '--measure',
        '--measure-tolerance', '0.1', '--out',
        str(out), '--no-plot'
    ], capsys)
    if code == 0:
        latency = json.loads(out.read_text())['meta']['latency']
        assert latency['measured_ms'] <= 4.0 * 1.1
        assert latency['rounds'][-1][2] == latency['measured_ms']
        assert latency['canary_ratio'] > 0  # the profile's canary, re-timed
        assert 'latency (measured)' in text
    else:
        assert code == 1 and 'by measurement' in err
        assert 'canary part runs' in err
        assert not out.exists()
    assert np.isfinite(load_lut(lut).fit['heldout_median'])
