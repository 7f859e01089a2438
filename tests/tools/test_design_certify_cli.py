"""tools/design.py --certify: the bound and gap are printed and recorded,
the bound is never below the design's score, and a bad value is one line."""
import json

from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions import evaluate
from mmdeepmad.design.cli.command import main

SMALL = [
    '--block', 'mbv2', '--flops', '300M', '--params', '3.4M', '--rho', '0.5',
    '--no-plot'
]


def test_certify_records_a_bound_at_least_the_score(capsys, tmp_path):
    out = tmp_path / 'certified.json'
    code = main(SMALL + ['--certify', '20', '--out', str(out)])
    text = capsys.readouterr().out
    assert code == 0
    spec = ArchSpec.from_json(out.read_text())
    certificate = spec.meta['certificate']
    assert set(certificate) == {'bound', 'gap', 'seconds', 'status'}
    score = evaluate(spec, 'paper').score
    assert certificate['bound'] >= score
    assert abs(certificate['gap'] - (certificate['bound'] - score) /
               abs(certificate['bound'])) < 1e-6
    assert certificate['seconds'] <= 20 + 5
    assert 'certified bound' in text and 'gap (bound - score)' in text
    uncertified = tmp_path / 'plain.json'
    assert main(SMALL + ['--out', str(uncertified)]) == 0
    capsys.readouterr()
    plain = json.loads(uncertified.read_text())
    assert 'certificate' not in plain['meta']
    assert evaluate(ArchSpec.from_json(uncertified.read_text()),
                    'paper').score <= score + 1e-9


def test_bad_certify_value_is_one_line(capsys):
    assert main(SMALL + ['--certify', '-1']) == 2
    err = capsys.readouterr().err
    assert '--certify' in err and 'positive number of seconds' in err
    assert 'Traceback' not in err
