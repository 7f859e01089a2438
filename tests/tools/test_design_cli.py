"""The design command line (tools/design.py -> mmdeepmad.design.cli).

Most tests call ``cli.main([...])`` in-process; in a subprocess one runs
``tools/design.py --help``, one a real (default, DeepMAD-R50) design and one
interrupts that design with SIGINT. The designs are shared through module
fixtures so the file stays well under a minute on two cores. Every refusal is
checked with its exact one-line message, its exit status and an empty
folder afterwards.
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


INFEASIBLE = {
    '--params':
    ('1K', 'design.py: error: the params budget 1K cannot be met: the '
     'smallest params in this space is 4.392K, and every design of the space '
     'meeting FLOPs <= 4.13G and rho <= 0.3 has params > 39.73K (proven by '
     'branch and bound) (use --params 41.8K: checked, a design was solved '
     'with it)'),
    '--flops':
    ('1M', 'design.py: error: the FLOPs budget 1M cannot be met: the '
     'smallest FLOPs in this space is 6.858M, and every design of the space '
     'meeting params <= 25.55M and rho <= 0.3 has FLOPs > 19.7M (proven by '
     'branch and bound) (use --flops 19.8M: checked, a design was solved '
     'with it)'),
}


@pytest.mark.parametrize('budget', sorted(INFEASIBLE))
def test_infeasible_budget_names_it_and_a_value_that_works(tmp_path, budget):
    """The message names the budget, the exact smallest value of the space,
    the proven least value with the other budgets, and a value that was
    checked: re-running with it gives a design."""
    smallest, expected = INFEASIBLE[budget]
    argv = list(R50_BUDGETS)
    argv[argv.index(budget) + 1] = smallest
    code, out, err = run(argv + ['-q', '--out', tmp_path / 'x.json'])
    assert (code, out, err) == (1, '', expected + '\n')
    assert os.listdir(tmp_path) == []
    advised = re.search(rf'use {budget} (\S+): checked', err).group(1)
    argv[argv.index(budget) + 1] = advised
    code, _, err = run(argv +
                       ['-q', '--no-plot', '--out', tmp_path / 'x.json'])
    assert code == 0, err
    spec = ArchSpec.load(str(tmp_path / 'x.json'))
    assert spec.meta['budgets'][budget[2:]] == parse_count(advised)


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
    # the paper convention's design: named apart from the preset deepmad-r50
    # (a tinynas-convention design)
    assert sorted(os.listdir(folder)) == [
        'deepmad-r50-paper.json', 'deepmad-r50-paper.png'
    ]
    spec = ArchSpec.load(str(folder / 'deepmad-r50-paper.json'))
    assert spec.name == 'deepmad-r50-paper'
    assert spec.meta['convention'] == 'paper'
    assert spec.meta['budgets'] == dict(flops=4.13e9, params=25.55e6, rho=0.3)
    assert spec.meta['block'] == 'bottleneck' and spec.resolution == 224
    assert 'wrote work_dirs/design/deepmad-r50-paper.json' in \
        result.stdout.replace(os.sep, '/')
    printed = figures(result.stdout)
    assert printed['flops'] <= 4.13e9 and printed['params'] <= 25.55e6
    assert printed['rho'] <= 0.3 and math.isfinite(printed['score'])
    assert 'design.py: searching depths' in result.stderr
    assert 'searching depths' not in result.stdout


# ---- nonsense refused before designing: exact one-line messages -------------
SEE = ' (see design.py --help)'
REFUSED = [
    (['--resolution', '1'], 'design.py: error: --resolution 1 is smaller than '
     'the total stride 32 (stem 2, stages 2,2,2,1,2): the last feature map '
     'would be 1/32 of a pixel; give a resolution of at least 32 or fewer '
     'stride-2 stages'),
    (['--stages', '20'], 'design.py: error: --resolution 224 is smaller than '
     'the total stride 2097152 (stem 2, stages '
     '2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2): the last feature map would '
     'be 224/2097152 of a pixel; give a resolution of at least 2097152 or '
     'fewer stride-2 stages'),
    (['--alpha', '0,0,0,0,0'], 'design.py: error: argument --alpha: every '
     'weight is 0; at least one must be positive (the default is 1,...,1,8)' +
     SEE),
    (['--alpha', '1,1,-1,1,8'], "design.py: error: argument --alpha: entry "
     "'-1' must be a finite, non-negative number" + SEE),
    (['--index', '1'], 'design.py: error: argument --index: only with '
     '--evaluate (it picks one structure of a TinyNAS file)'),
    (['--out', ''], 'design.py: error: argument --out: empty; give a file '
     'name, or a folder ending in / to write <name>.json into'),
    (['--plot', ''], 'design.py: error: argument --plot: empty; give a file '
     'name'),
    (['--plot', 'figs/'], 'design.py: error: argument --plot: figs/ ends in '
     '/, a folder; give a file name'),
    (['--name', ' '], 'design.py: error: argument --name: empty; give a '
     'name, e.g. my-r50'),
    (['--resolution', '100000'], 'design.py: error: argument --resolution: '
     '100000 is above the limit 16384 pixels (no real network reaches it)' +
     SEE),
    (['--max-depth', '1000000000'], 'design.py: error: argument --max-depth: '
     '1000000000 is above the limit 1000 units per stage (no real network '
     'reaches it)' + SEE),
    (['--kernels', '3,65'], 'design.py: error: argument --kernels: entry 65 '
     'is above the limit 63 (no real network reaches it)' + SEE),
    (['--flops', 'inf', '--params', '25M', '--rho', '0.3'],
     "design.py: error: argument --flops: 'inf' is not a number with an "
     'optional K/M/G/T suffix; write e.g. 4.13G, 4130M or 4.13e9' + SEE),
    (['--flops', '4G', '--params', '25M', '--rho', 'inf'],
     "design.py: error: argument --rho: must be a finite positive number, "
     "got 'inf'; the paper uses 0.1 to 2.0 (0.3 for ResNet blocks, 0.5 for "
     'MobileNet blocks)' + SEE),
    (['--out', 'a-folder'], 'design.py: error: output a-folder is a '
     'directory; give a file name, or a-folder/ to write <name>.json into '
     'it'),
    (['--out', 'a-file/x.json'], 'design.py: error: cannot write '
     'a-file/x.json: {tmp}/a-file is a file, not a folder'),
    (['--out', 'a-file/new/'], 'design.py: error: cannot write '
     'a-file/new/deepmad-r50-paper.json: {tmp}/a-file is a file, not a '
     'folder'),
]


@pytest.mark.parametrize('argv, message', REFUSED)
def test_nonsense_is_refused_before_designing(tmp_path, monkeypatch, argv,
                                              message):
    """Exit 2, the exact one-line message, nothing on stdout, nothing
    written or left behind (not even work_dirs/)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'a-folder').mkdir()
    (tmp_path / 'a-file').write_text('a file, not a folder')
    code, out, err = run(argv)
    assert (code, out) == (2, '')
    assert err == message.format(tmp=tmp_path) + '\n'
    assert sorted(os.listdir(tmp_path)) == ['a-file', 'a-folder']
    assert os.listdir(tmp_path / 'a-folder') == []


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='needs /proc')
def test_unwritable_output_is_named_before_designing(tmp_path):
    code, out, err = run(['--out', '/proc/x.json'])
    assert (code, out) == (2, '')
    assert err == ('design.py: error: cannot write /proc/x.json: no file can '
                   'be created in /proc (No such file or directory)\n')


def _options(argv):
    from mmdeepmad.design.cli.command import _design_options, _member_name
    options = _design_options(cli.command.build_parser().parse_args(argv))
    return [
        _member_name(options, rho,
                     len(options['rhos']) > 1) for rho in options['rhos']
    ]


def test_made_up_names_end_with_the_convention():
    """The paper convention's DeepMAD-R50 is deepmad-r50-paper, apart from
    the preset deepmad-r50 (a tinynas design); every made-up name ends with
    its convention, in a sweep too; a given --name is kept."""
    assert _options([]) == ['deepmad-r50-paper']
    assert _options(['--convention', 'tinynas']) == ['deepmad-r50-tinynas']
    assert _options(SMALL_BUDGETS) == ['bottleneck-600M-3M-rho0.3-paper']
    assert _options([
        '--block', 'mbv2', '--flops', '300M', '--params', '3M', '--rho', '0.5',
        '--resolution', '160', '--convention', 'tinynas'
    ]) == ['mbv2-300M-3M-rho0.5-160px-tinynas']
    assert _options(
        ['--flops', '4.13G', '--params', '25.55M', '--rho', '0.1,1.0']) == [
            'bottleneck-4.13G-25.55M-rho0.1-paper',
            'bottleneck-4.13G-25.55M-rho1.0-paper'
        ]
    assert _options([
        '--name', 'mine', '--rho', '0.1,0.3', '--flops', '1G', '--params', '5M'
    ]) == ['mine-rho0.1', 'mine-rho0.3']
    assert _options(['--name', 'deepmad-r50']) == ['deepmad-r50']


def test_out_folder_with_trailing_slash(tmp_path):
    """``--out DIR/``: DIR/<name>.json (and the plot beside it), the
    folders made only when the outputs are written."""
    target = tmp_path / 'new' / 'sub'
    code, out, err = run(['-q', '--out', f'{target}{os.sep}'] + SMALL_BUDGETS)
    assert code == 0, err
    name = 'bottleneck-600M-3M-rho0.3-paper'
    assert sorted(os.listdir(target)) == [f'{name}.json', f'{name}.png']
    assert ArchSpec.load(str(target / f'{name}.json')).name == name
    assert f'wrote {target / name}.json' in out


def test_no_folder_is_left_when_the_design_fails(tmp_path):
    argv = ['-q', '--out', f'{tmp_path / "new"}{os.sep}'] + SMALL_BUDGETS
    argv[argv.index('--params') + 1] = '1K'
    code, out, err = run(argv)
    assert code == 1 and out == '' and err.count('\n') == 1
    assert os.listdir(tmp_path) == []


def test_resolution_with_one_pixel_stages_warns(tmp_path):
    """Stages after the last feature map reaches 1x1: allowed (the final map
    is one pixel), with a warning on stderr and a note in the report."""
    code, out, err = run([
        '-q', '--no-plot', '--resolution', '32', '--strides', '2,2,2,2,1',
        '--flops', '60M', '--params', '1M', '--rho', '0.5', '--out',
        tmp_path / 'small.json'
    ])
    assert code == 0, err
    assert err == ('design.py: warning: stages 4-5 of 5 run on 1x1 feature '
                   'maps at 32x32 input: their kernels see a single pixel; '
                   'give a larger --resolution or fewer stride-2 stages\n')
    assert ('note: stages 4-5 run on 1x1 feature maps at 32x32 input (stem '
            '2, stages 2,2,2,2,1): their kernels see a single pixel') in out


# ---- --evaluate: infinite penalty, absurd values ----------------------------
def _r50_with(tmp_path, name, change):
    from mmdeepmad.arch.loader import load_preset
    data = load_preset('deepmad-r50').to_dict()
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _depths(*depths):

    def change(data):
        for stage, depth in zip(data['stages'], depths):
            stage['depth'] = depth

    return change


def test_evaluate_reports_an_infinite_penalty(tmp_path):
    """Depths 72,1,4,5,6: beta exp(Var L) is beyond the largest float; the
    report, the score and the plot say so instead of failing."""
    path = _r50_with(tmp_path, 'deep.json', _depths(72, 1, 4, 5, 6))
    code, out, err = run([
        '--evaluate', path, '--convention', 'paper', '--plot',
        tmp_path / 'deep.png'
    ])
    assert code == 0 and err == ''
    lines = out.splitlines()
    penalty = next(line for line in lines if line.startswith('penalty'))
    assert penalty.split('  ')[-1].strip() == (
        'inf (Var(L) = 742.6: 10 x exp(742.6) is beyond the largest float; '
        'the stage depths are far apart)')
    score = next(line for line in lines if line.startswith('score'))
    assert score.split()[-1] == '-inf'
    assert ('note: the score is -inf: the depth penalty overflows, so this '
            'network loses to any other') in lines
    assert (tmp_path / 'deep.png').read_bytes().startswith(b'\x89PNG')


ABSURD = [
    ('huge.json', _depths(10**9), 'stages[0].depth is 1000000000, above the '
     'limit 1000 units per stage (no real network reaches it)'),
    ('wide.json', lambda d: d['stages'][2].update(out_channels=10**7),
     'stages[2].out_channels is 10000000, above the limit 65536 channels (no '
     'real network reaches it)'),
    ('kernel.json', lambda d: d['stages'][1].update(kernel_size=101),
     'stages[1].kernel_size is 101, above the limit 63 (no real network '
     'reaches it)'),
    ('big.json', lambda d: d.update(resolution=10**6), 'resolution is '
     '1000000, above the limit 16384 pixels (no real network reaches it)'),
    ('small.json', lambda d: d.update(resolution=16), 'resolution 16 is '
     'smaller than the total stride 32 (stem 2, stages 2,2,2,1,2): the last '
     'feature map would be 16/32 of a pixel; give a resolution of at least 32 '
     'or fewer stride-2 stages'),
    ('head.json',
     lambda d: d.update(head_conv=dict(out_channels=1792, kernel_size=2)),
     'head_conv.kernel_size must be '
     'odd, got 2'),
]


@pytest.mark.parametrize('name, change, words', ABSURD)
def test_evaluate_refuses_absurd_values_at_once(tmp_path, name, change, words):
    import time
    path = _r50_with(tmp_path, name, change)
    started = time.perf_counter()
    code, out, err = run(['--evaluate', path])
    assert time.perf_counter() - started < 5
    assert (code, out) == (2, '')
    assert err == f'design.py: error: --evaluate {path}: {words}\n'
    assert os.listdir(tmp_path) == [name]


def test_evaluate_refuses_a_huge_tinynas_depth(tmp_path):
    from mmdeepmad.arch.loader import load_preset
    from mmdeepmad.arch.tinynas_format import spec_to_tinynas
    structure = spec_to_tinynas(load_preset('deepmad-r50'))
    structure[1]['L'] = 10**9
    path = tmp_path / 'huge.txt'
    path.write_text(repr(structure))
    code, out, err = run(['--evaluate', path])
    assert (code, out) == (2, '')
    assert err == (f'design.py: error: --evaluate {path}: stages[0].depth is '
                   '1000000000, above the limit 1000 units per stage (no real '
                   'network reaches it)\n')


def test_evaluate_index_of_an_arch_json(tmp_path):
    path = _r50_with(tmp_path, 'r50.json', lambda d: None)
    code, out, err = run(['--evaluate', path, '--index', '2'])
    assert (code, out) == (2, '')
    assert err == (f'design.py: error: --evaluate {path}: an arch JSON holds '
                   'one network; index 2 is out of range (give 0; an index '
                   'picks a structure of a TinyNAS file)\n')


def test_evaluate_out_folder(tmp_path):
    path = _r50_with(tmp_path, 'r50.json', lambda d: None)
    code, out, err = run(
        ['--evaluate', path, '--out', f'{tmp_path / "copies"}{os.sep}'])
    assert code == 0, err
    assert os.listdir(tmp_path / 'copies') == ['deepmad-r50.json']


# ---- writing: target names in errors, interrupts ----------------------------
def test_write_errors_name_the_target_not_the_temporary(tmp_path):
    outputs = AtomicOutputs()
    outputs.add(str(tmp_path / 'a.json'), b'{}\n')
    target = str(tmp_path / 'new' / 'b.txt')
    outputs.add(target, lambda temp: open(os.path.join(temp, 'x'), 'w'))
    with pytest.raises(OutputError) as error:
        outputs.commit()
    assert str(error.value) == (f'cannot write {target}: Not a directory; '
                                'nothing written')
    assert os.listdir(tmp_path) == []  # no temporaries, no new/ folder


def test_interrupt_while_writing_removes_everything(tmp_path):
    (tmp_path / 'a.json').write_bytes(b'old a')

    def interrupted(temp):
        raise KeyboardInterrupt

    outputs = AtomicOutputs()
    outputs.add(str(tmp_path / 'a.json'), b'new a')
    outputs.add(str(tmp_path / 'deep' / 'b.txt'), interrupted)
    with pytest.raises(KeyboardInterrupt):
        outputs.commit()
    assert os.listdir(tmp_path) == ['a.json']
    assert (tmp_path / 'a.json').read_bytes() == b'old a'


def test_interrupt_while_renaming_waits_for_every_rename(
        tmp_path, monkeypatch, sigint_delivered):
    """SIGINT during the renames: every output is still moved into place,
    then the interrupt is raised, saying so."""
    import signal

    from mmdeepmad.design.cli import outputs as module
    paths = [str(tmp_path / name) for name in ('a.json', 'b.png', 'c.txt')]
    for path in paths:
        open(path, 'wb').write(b'old')
    real_replace = os.replace
    calls = []

    def replace(source, target):
        if not calls:
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-way
        calls.append(target)
        real_replace(source, target)

    monkeypatch.setattr(module.os, 'replace', replace)
    outputs = AtomicOutputs()
    for path in paths:
        outputs.add(path, b'new')
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(module.Interrupted) as error:
        outputs.commit()
    assert error.value.written == tuple(paths) and calls == paths
    assert sorted(os.listdir(tmp_path)) == ['a.json', 'b.png', 'c.txt']
    assert all(open(path, 'rb').read() == b'new' for path in paths)
    assert signal.getsignal(signal.SIGINT) is before  # restored
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.command.interrupted(error.value)
    assert code == 130
    assert err.getvalue() == ('design.py: interrupted; the outputs had all '
                              f'been written ({", ".join(paths)})\n')


def test_sigint_during_the_solve_leaves_the_old_outputs(
        tmp_path, sigint_delivered):
    """Ctrl-C while tools/design.py solves: exit 130, one line on stderr, no
    temporary file, the old outputs byte for byte."""
    import signal
    old = {'r50.json': b'{"old": true}\n', 'r50.png': b'old png'}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    process = subprocess.Popen([sys.executable, TOOL, '--out', 'r50.json'],
                               cwd=tmp_path,
                               env=_env(),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               text=True)
    try:
        seen = []
        for line in process.stderr:
            seen.append(line)
            if 'searching depths' in line:
                break
        assert seen and 'searching depths' in seen[-1], seen
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert err == ('design.py: interrupted; nothing written; existing '
                   'outputs are unchanged\n')
    assert 'Traceback' not in out
    assert sorted(os.listdir(tmp_path)) == sorted(old)
    for name, data in old.items():
        assert (tmp_path / name).read_bytes() == data
