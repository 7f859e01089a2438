"""The design command line (tools/design.py -> mmdeepmad.design.cli).

Most tests call ``cli.main([...])`` in-process; one runs ``tools/design.py
--help`` and one a real (default, DeepMAD-R50) design in a subprocess. The
designs are shared through module fixtures so the file stays well under a
minute on two cores.
"""
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys

import pytest

from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.design import cli
from mmdeepmad.design.cli.outputs import AtomicOutputs, OutputError
from mmdeepmad.design.units import (UnitError, format_compact, parse_count,
                                    parse_float_list, parse_int_list,
                                    parse_rho_list, rho_tag)
from mmdeepmad.reference import tinynas_releases

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'design.py')
R50_BUDGETS = ['--flops', '4.13G', '--params', '25.55M', '--rho', '0.3']
#: A small, quick problem for the in-process designs (R50 runs in a subprocess
#: and in the sweep).
SMALL_BUDGETS = [
    '--flops', '600M', '--params', '3M', '--rho', '0.3', '--stages', '4'
]


def run(argv):
    """``cli.main(argv)`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def stage_rows(text):
    """{label: [block, out, mid, kernel, depth, stride, side, FLOPs, params]}
    of the printed stage table."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith('stage  block'))
    rows = {}
    for line in lines[start + 2:]:
        if line.startswith('-----'):
            continue
        fields = line.split()
        if fields[0] == 'total':
            rows['total'] = fields[1:]
            break
        rows[fields[0]] = fields[1:]
    return rows


def figures(text):
    """Exact totals and the objective as printed."""
    found = {}
    for key, pattern in (('flops', r'^FLOPs\s+([\d,]+(?:\.\d+)?) \('),
                         ('params', r'^params\s+([\d,]+) \('),
                         ('rho', r'^rho\s+([\d.]+)\s'),
                         ('score', r'^(?:score = entropy - penalty \(Eq\. 5\)|'
                          r'penalised score = S - penalty)\s+(-?[\d.]+)$')):
        match = re.search(pattern, text, re.M)
        assert match, f'{key} not printed:\n{text}'
        found[key] = float(match.group(1).replace(',', ''))
    return found


# ---- units ------------------------------------------------------------------
@pytest.mark.parametrize('text, value', [
    ('4.13G', 4.13e9),
    ('4130M', 4.13e9),
    ('4.13e9', 4.13e9),
    ('4.13g', 4.13e9),
    ('4130000000', 4.13e9),
    ('25.55M', 25.55e6),
    ('25550k', 25.55e6),
    ('10K', 1e4),
    ('1T', 1e12),
    ('0.5G', 5e8),
    ('.5G', 5e8),
    (' 2G ', 2e9),
    ('1_000M', 1e9),
    ('1.5e3M', 1.5e9),
])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize('text, words', [
    ('4.1X', ["'X'", 'K (1e3)']),
    ('abc', ['not a number']),
    ('', ['not a number']),
    ('-4G', ['positive']),
    ('0', ['positive']),
    ('inf', ['not a number']),
    ('nan', ['not a number']),
    ('4.13GB', ['not a number']),
    ('4..1G', ['not a number']),
])
def test_parse_count_errors(text, words):
    with pytest.raises(UnitError) as error:
        parse_count(text, 'flops', name='--flops')
    message = str(error.value)
    assert message.startswith('--flops: ')
    assert '4.13G' in message  # the fix: how to write it
    for word in words:
        assert word in message


def test_parse_lists():
    assert parse_rho_list('0.3') == (0.3, )
    assert parse_rho_list('0.1, 0.3,0.5,1.0') == (0.1, 0.3, 0.5, 1.0)
    assert parse_int_list('2,2,2,1,2', allowed=(1, 2)) == (2, 2, 2, 1, 2)
    assert parse_float_list('1,1,1,1,8') == (1.0, 1.0, 1.0, 1.0, 8.0)
    for bad in ('0', '-0.3', 'x', '0.3,0.3', '0.3,', '1G', 'nan'):
        with pytest.raises(UnitError, match='--rho'):
            parse_rho_list(bad, '--rho')
    with pytest.raises(UnitError, match='entry 3'):
        parse_int_list('2,3', '--strides', allowed=(1, 2))
    with pytest.raises(UnitError, match='entry'):
        parse_float_list('1,-1', '--alpha')
    assert rho_tag(0.3) == 'rho0.3' and rho_tag(1.0) == 'rho1.0'
    assert format_compact(4.13e9) == '4.13G'
    assert format_compact(25.55e6) == '25.55M'


# ---- a real design ----------------------------------------------------------
SMALL_ARGV = ['--out', 'r50.json', '--export-tinynas', 'r50.txt'
              ] + SMALL_BUDGETS


@pytest.fixture(scope='module')
def r50(tmp_path_factory):
    """A 4-stage bottleneck design in the paper convention: JSON, PNG,
    TinyNAS export (written with relative paths from inside the folder)."""
    folder = tmp_path_factory.mktemp('r50')
    here = os.getcwd()
    os.chdir(folder)
    try:
        code, stdout, stderr = run(SMALL_ARGV)
    finally:
        os.chdir(here)
    assert code == 0, stderr
    return dict(
        folder=folder, out=folder / 'r50.json', stdout=stdout, stderr=stderr)


def test_design_writes_json_png_and_tinynas(r50):
    folder = r50['folder']
    assert sorted(os.listdir(folder)) == ['r50.json', 'r50.png', 'r50.txt']
    png = (folder / 'r50.png').read_bytes()
    assert png.startswith(b'\x89PNG\r\n\x1a\n') and len(png) > 10000
    spec = ArchSpec.load(str(r50['out']))
    assert r50['out'].read_text() == spec.to_json()  # canonical
    assert spec.meta['budgets'] == dict(flops=6e8, params=3e6, rho=0.3)
    assert spec.meta['convention'] == 'paper' and spec.num_stages == 4
    assert 'solve_time' not in r50['out'].read_text()
    assert spec.meta['command'] == ('python tools/design.py --out r50.json ' +
                                    ' '.join(SMALL_BUDGETS))
    from mmdeepmad.arch.tinynas_format import load_tinynas, spec_to_tinynas
    exported = load_tinynas(str(folder / 'r50.txt'))
    assert spec_to_tinynas(exported) == spec_to_tinynas(spec)
    for name in ('r50.json', 'r50.png', 'r50.txt'):
        assert f'wrote {name}' in r50['stdout']


def test_printed_numbers_equal_the_json(r50):
    from mmdeepmad.arch.layout import build_layout
    from mmdeepmad.conventions.counters import count
    from mmdeepmad.conventions.paper import paper_score
    spec = ArchSpec.load(str(r50['out']))
    rows = stage_rows(r50['stdout'])
    layout = build_layout(spec)
    for index, stage in enumerate(spec.stages):
        block, out, mid, kernel, depth, stride, side = rows[str(index + 1)][:7]
        assert (block, int(out), int(mid), int(kernel), int(depth),
                int(stride)) == (stage.block, stage.out_channels,
                                 stage.mid_channels, stage.kernel_size,
                                 stage.depth, stage.stride)
        size = layout.stage_output_size(index)
        assert side == f'{size}x{size}'
    assert int(rows['stem'][1]) == spec.stem.out_channels
    assert int(rows['total'][0]) == sum(spec.depths)
    counts, scored = count(spec), paper_score(spec)
    printed = figures(r50['stdout'])
    assert printed['params'] == counts.params
    assert printed['flops'] == counts.flops
    assert printed['flops'] <= 6e8 and printed['params'] <= 3e6
    assert printed['rho'] == pytest.approx(scored.rho, abs=1e-6)
    assert printed['rho'] <= 0.3
    assert printed['score'] == pytest.approx(scored.score, abs=1e-6)
    text = r50['stdout']
    assert 'paper convention: FLOPs = multiply-accumulates' in text
    for word in ('relaxed value', 'gap', 'solve time', 'solver status', 'OK',
                 '% '):
        assert word in text
    # the config fragment: last four stages, their channels
    assert "type='DeepMAD'" in text
    assert "arch='r50.json'" in text
    assert 'out_indices=(0, 1, 2, 3)' in text  # the last four of four
    assert f'in_channels={list(spec.stage_channels)!r}' in text
    # progress went to stderr, results to stdout
    assert 'searching depths' in r50['stderr']
    assert 'searching depths' not in text


def test_same_input_gives_identical_bytes(r50, tmp_path, monkeypatch):
    """Same design options -> same bytes (printing and plot options are not
    part of the recorded command)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(['-q', '--no-plot'] + SMALL_ARGV)
    assert code == 0, err
    assert (tmp_path / 'r50.json').read_bytes() == r50['out'].read_bytes()
    assert (tmp_path / 'r50.txt').read_bytes() == \
        (r50['folder'] / 'r50.txt').read_bytes()
    assert sorted(os.listdir(tmp_path)) == ['r50.json', 'r50.txt']


def test_recorded_command_leaves_out_output_options():
    assert cli.design_command([]) == 'python tools/design.py'
    assert cli.design_command(
        ['-q', '--plot', 'a.png', '--flops', '4.13G', '--export-tinynas=a.txt',
         '--no-plot', '--name', 'my net', '--quiet']) == \
        "python tools/design.py --flops 4.13G --name 'my net'"


def test_preset_commands_design_the_presets(monkeypatch):
    """The command stored in each preset (meta.command) asks the engine for
    exactly what mmdeepmad.design.presets designs (no solve: the engine is
    intercepted)."""
    import inspect

    from mmdeepmad.design import api, presets
    signature = inspect.signature(api.design)
    calls = []

    class Intercepted(Exception):
        pass

    def fake_design(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        bound.arguments.pop('progress')
        calls.append(dict(bound.arguments))
        raise Intercepted

    monkeypatch.setattr(api, 'design', fake_design)
    for name in presets.preset_names():
        calls.clear()
        with pytest.raises(Intercepted):
            presets.design_preset(name)
        argv = presets.preset_arguments(name) + [
            '--out', f'mmdeepmad/presets/{name}.json'
        ]
        with pytest.raises(Intercepted):
            run(argv)
        assert len(calls) == 2
        ours, theirs = calls[1], calls[0]
        assert ours['command'] == theirs['command'] == \
            presets.preset_command(name)
        for key in ('strides', 'alpha', 'kernels'):
            for call in calls:
                if call[key] is not None:
                    call[key] = tuple(call[key])
        assert ours == theirs


# ---- --evaluate -------------------------------------------------------------
def test_evaluate_written_json(r50):
    code, out, err = run(['--evaluate', r50['out']])
    assert code == 0, err
    # same convention and budgets (from the file's meta): the same table
    assert stage_rows(out) == stage_rows(r50['stdout'])
    assert figures(out) == figures(r50['stdout'])
    assert 'no solve' in out and 'solve time' not in out
    assert sorted(os.listdir(
        r50['folder'])) == ['r50.json', 'r50.png', 'r50.txt']


@pytest.fixture(scope='module')
def released_r50():
    return next(e for e in tinynas_releases()['structures']
                if e['name'] == 'deepmad-R50')


@pytest.mark.parametrize('suffix', ['.txt', '.json'])
def test_evaluate_tinynas_structure_equals_reference(released_r50, tmp_path,
                                                     suffix):
    from mmdeepmad.arch.tinynas_format import save_tinynas
    path = tmp_path / f'deepmad-r50{suffix}'
    save_tinynas(released_r50['structure'], str(path))
    budgets = released_r50['budgets']
    code, out, err = run([
        '--evaluate', path, '--convention', 'tinynas', '--flops',
        budgets['flops'], '--params', budgets['params'], '--rho',
        budgets['rho'], '--out', tmp_path / 'converted.json'
    ])
    assert code == 0, err
    printed = figures(out)
    assert printed['params'] == released_r50['params']
    assert printed['flops'] == released_r50['flops']
    assert printed['rho'] == pytest.approx(released_r50['rho'], abs=1e-6)
    assert printed['score'] == pytest.approx(
        released_r50['penalised_score'], abs=1e-6)
    assert 'tinynas convention' in out
    rows = stage_rows(out)
    assert [int(rows[str(i)][4]) for i in range(1, 6)
            ] == [b['L'] for b in released_r50['structure'][1:]]
    # per-stage TinyNAS figures add up to the total
    assert 'rows add up to the total' in out
    converted = ArchSpec.load(str(tmp_path / 'converted.json'))
    assert converted.depths == tuple(b['L']
                                     for b in released_r50['structure'][1:])


# ---- rho sweep --------------------------------------------------------------
def test_rho_sweep(tmp_path):
    rhos = ['0.1', '0.3', '0.5', '1.0']
    code, out, err = run([
        '-q', '--flops', '4.13G', '--params', '25.55M', '--rho',
        ','.join(rhos), '--out', tmp_path / 'r50.json'
    ])
    assert code == 0, err
    assert sorted(
        os.listdir(tmp_path)) == sorted([f'r50-rho{r}.json' for r in rhos] +
                                        ['r50-rho-sweep.png'])
    specs = [ArchSpec.load(str(tmp_path / f'r50-rho{r}.json')) for r in rhos]
    depths = [sum(spec.depths) for spec in specs]
    # the paper's Fig. 5: depth grows with rho (here strictly, in fact)
    assert all(a <= b for a, b in zip(depths, depths[1:])), depths
    assert 'non-decreasing in rho (paper Fig. 5): holds' in out
    for spec, rho in zip(specs, rhos):
        assert spec.meta['budgets']['rho'] == float(rho)
        assert f'{sum(spec.depths)}' in out
    png = (tmp_path / 'r50-rho-sweep.png').read_bytes()
    assert png.startswith(b'\x89PNG')


# ---- bad input: exit code, the field named, nothing written -----------------
BAD = [
    (['--flops', '4.1X', '--params', '25M', '--rho', '0.3'], 2, '--flops'),
    (['--flops', 'abc', '--params', '25M', '--rho', '0.3'], 2, '--flops'),
    (['--flops', '-4G', '--params', '25M', '--rho', '0.3'], 2, '--flops'),
    (['--flops', '4G', '--params', '0', '--rho', '0.3'], 2, '--params'),
    (['--flops', '4G', '--params', '25M', '--rho', '0'], 2, '--rho'),
    (['--flops', '4G', '--params', '25M', '--rho', '-0.3'], 2, '--rho'),
    (['--flops', '4G', '--params', '25M', '--rho', 'high'], 2, '--rho'),
    (['--block', 'resnet'], 2, '--block'),
    (['--flops', '4G'], 2, '--params'),
    (['--strides', '2,2,3,1,2'], 2, '--strides'),
    (['--stages', '4', '--strides', '2,2,2,1,2'], 2, '--strides'),
    (['--alpha', '1,1,8'], 2, '--alpha'),
    (['--kernels', '3,4'], 2, '--kernels'),
    (['--out-indices', '5'], 2, '--out-indices'),
    (['--no-such-option'], 2, '--no-such-option'),
]


@pytest.mark.parametrize('argv, code, field', BAD)
def test_bad_input(tmp_path, argv, code, field):
    got, out, err = run(argv + ['--out', tmp_path / 'x.json'])
    assert got == code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('design.py: error: ')
    assert field in lines[0]
    assert out == ''
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('budget, smallest', [('--params', '1K'),
                                              ('--flops', '1M')])
def test_infeasible_budget_names_it_and_the_smallest(tmp_path, budget,
                                                     smallest):
    argv = list(R50_BUDGETS)
    argv[argv.index(budget) + 1] = smallest
    code, out, err = run(argv + ['-q', '--out', tmp_path / 'x.json'])
    assert code == 1
    message = err.strip()
    assert message.startswith('design.py: error: ') and '\n' not in message
    name = 'params' if budget == '--params' else 'FLOPs'
    assert f'the {name} budget {smallest} cannot be met' in message
    assert re.search(rf'use {budget} [\d.]+[KMG]? or more', message)
    assert os.listdir(tmp_path) == []


def test_params_10k_is_infeasible(tmp_path):
    argv = list(R50_BUDGETS)
    argv[argv.index('--params') + 1] = '10K'
    code, _, err = run(argv + ['-q', '--out', tmp_path / 'x.json'])
    assert code != 0
    assert 'params' in err and '10K' in err
    assert os.listdir(tmp_path) == []


def _arch_dict():
    from mmdeepmad.arch.tinynas_format import spec_from_tinynas
    structure = [
        dict({'class': 'ConvKXBNRELU'}, **{
            'in': 3,
            'out': 32,
            'k': 3,
            's': 2
        }),
        dict({'class': 'SuperResK1KXK1'}, **{
            'in': 32,
            'out': 64,
            'k': 3,
            's': 2,
            'L': 2,
            'btn': 16
        }),
        dict({'class': 'SuperResK1KXK1'}, **{
            'in': 64,
            'out': 128,
            'k': 3,
            's': 2,
            'L': 2,
            'btn': 32
        }),
    ]
    return spec_from_tinynas(structure, name='tiny').to_dict()


def _bad_json(tmp_path):
    path = tmp_path / 'truncated.json'
    path.write_text(json.dumps(_arch_dict())[:120])
    return path, 'not valid JSON'


def _unknown_field(tmp_path):
    data = _arch_dict()
    data['stages'][1]['widht'] = 3
    path = tmp_path / 'unknown.json'
    path.write_text(json.dumps(data))
    return path, "stages[1]: ['widht']"


def _wrong_type(tmp_path):
    data = _arch_dict()
    data['stages'][0]['depth'] = '2'
    path = tmp_path / 'wrong.json'
    path.write_text(json.dumps(data))
    return path, 'stages[0].depth must be a positive integer'


def _bad_structure(tmp_path):
    path = tmp_path / 'structure.txt'
    path.write_text(
        repr([{
            'class': 'ConvKXBNRELU',
            'in': 3,
            'out': 32,
            'k': 3,
            's': 2
        }, {
            'class': 'SuperResK1KXK1',
            'in': 32,
            'out': 64,
            'k': 4,
            's': 2,
            'L': 1,
            'btn': 16
        }]))
    return path, "key 'k' must be odd"


@pytest.mark.parametrize(
    'make', [_bad_json, _unknown_field, _wrong_type, _bad_structure])
def test_malformed_arch_file(tmp_path, make):
    source, words = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    code, out, err = run([
        '--evaluate', source, '--out', tmp_path / 'out.json', '--plot',
        tmp_path / 'out.png'
    ])
    assert code == 2
    message = err.strip()
    assert '\n' not in message
    assert message.startswith(f'design.py: error: --evaluate {source}: ')
    assert words in message
    assert out == ''
    assert sorted(os.listdir(tmp_path)) == before


def test_outputs_are_all_or_nothing(tmp_path):
    outputs = AtomicOutputs()
    outputs.add(str(tmp_path / 'a.json'), b'{}\n')
    (tmp_path / 'blocker').write_text('a file, not a folder')
    outputs.add(str(tmp_path / 'blocker' / 'b.png'), b'png')
    with pytest.raises(OutputError) as error:
        outputs.commit()
    assert error.value.written and 'nothing written' in str(error.value)
    assert sorted(os.listdir(tmp_path)) == ['blocker']  # no a.json, no temps
    good = AtomicOutputs()
    good.add(str(tmp_path / 'c.json'), b'{}\n')
    good.add(str(tmp_path / 'd.txt'), lambda p: open(p, 'w').write('x'))
    assert good.commit() == [str(tmp_path / 'c.json'), str(tmp_path / 'd.txt')]
    assert sorted(os.listdir(tmp_path)) == ['blocker', 'c.json', 'd.txt']


# ---- the script -------------------------------------------------------------
def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = ''  # tools/design.py must find the checkout itself
    env.setdefault('MPLBACKEND', 'Agg')
    return env


PROBE = """
import contextlib, io, runpy, sys
tool = sys.argv[1]
sys.argv = [tool, '--help']
try:
    runpy.run_path(tool, run_name='__main__')
    code = None
except SystemExit as done:
    code = done.code
from mmdeepmad.design import cli
with contextlib.redirect_stderr(io.StringIO()):
    bad = cli.main(['--flops', '4.1X'])
print('PROBE', code, bad, 'cvxpy' in sys.modules, 'matplotlib' in sys.modules)
"""


def test_script_help_is_light(tmp_path):
    """``tools/design.py --help`` from a checkout (no PYTHONPATH); neither it
    nor an option error loads cvxpy or matplotlib."""
    result = subprocess.run([sys.executable, '-c', PROBE, TOOL],
                            cwd=tmp_path,
                            env=_env(),
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: design.py')
    for option in ('--flops', '--params', '--rho', '--block', '--convention',
                   '--evaluate', '--export-tinynas', '--plot', '4.13G'):
        assert option in result.stdout
    assert result.stdout.splitlines()[-1].split() == [
        'PROBE', '0', '2', 'False', 'False'
    ], result.stdout
    assert os.listdir(tmp_path) == []


def test_script_default_run(tmp_path):
    """No arguments: the paper's DeepMAD-R50 budget, written under
    work_dirs/design/ of the working directory."""
    result = subprocess.run([sys.executable, TOOL],
                            cwd=tmp_path,
                            env=_env(),
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / 'work_dirs' / 'design'
    assert sorted(
        os.listdir(folder)) == ['deepmad-r50.json', 'deepmad-r50.png']
    spec = ArchSpec.load(str(folder / 'deepmad-r50.json'))
    assert spec.name == 'deepmad-r50'
    assert spec.meta['budgets'] == dict(flops=4.13e9, params=25.55e6, rho=0.3)
    assert spec.meta['block'] == 'bottleneck' and spec.resolution == 224
    assert 'wrote work_dirs/design/deepmad-r50.json' in result.stdout.replace(
        os.sep, '/')
    printed = figures(result.stdout)
    assert printed['flops'] <= 4.13e9 and printed['params'] <= 25.55e6
    assert printed['rho'] <= 0.3 and math.isfinite(printed['score'])
    assert 'design.py: searching depths' in result.stderr
    assert 'searching depths' not in result.stdout
