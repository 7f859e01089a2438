"""The design command line (``tools/design.py``): budgets in, architecture out.

``main(argv)`` parses the options, solves the DeepMAD program
(:func:`mmdeepmad.design.api.design`, which verifies the design by an
independent exact count), prints the report (:mod:`.report`) and then writes
the outputs atomically. Exit codes: 0 success, 1 no design met the budgets (or
an output could not be written), 2 bad input, 130 interrupted (Ctrl-C; 143 for
SIGTERM): one line on stderr, no temporary file left, old outputs untouched.

Imports are lazy: ``--help`` and option errors never load numpy, cvxpy or
matplotlib; ``--evaluate`` never loads cvxpy; only plotting loads matplotlib.
"""
from __future__ import annotations
import argparse
import math
import os
import shlex
import signal
import sys
from typing import Callable, Dict, Optional, Sequence, Tuple

from mmdeepmad.arch.spec import BLOCK_FAMILIES as BLOCKS
from mmdeepmad.arch.spec import (MAX_CHANNELS, MAX_DEPTH, MAX_KERNEL,
                                 MAX_RESOLUTION, MAX_STAGES)
from mmdeepmad.conventions.rules import CONVENTIONS, DEFAULT_BETA
from mmdeepmad.design.defaults import DEFAULT_DESIGN, DEFAULT_RHO
from mmdeepmad.design.units import (UnitError, check_alpha, format_compact,
                                    format_latency, parse_budget,
                                    parse_float_list, parse_int_list,
                                    parse_latency, parse_rho_list,
                                    parse_throughput, rho_tag)
from .outputs import (AtomicOutputs, Interrupted, OutputError, check_target,
                      interrupts_raise)

PROG = 'design.py'
DEFAULT_DIR = os.path.join('work_dirs', 'design')

EXIT_OK, EXIT_INFEASIBLE, EXIT_USAGE = 0, 1, 2
#: Killed by signal N: 128 + N, as the shell reports it (130 for Ctrl-C).
EXIT_SIGNAL_BASE = 128
#: Options that change only what is printed or which extra files are written;
#: they are left out of the command recorded in the arch JSON (meta.command).
OUTPUT_FLAGS = ('-q', '--quiet', '--no-plot')
OUTPUT_OPTIONS = ('--plot', '--export-tinynas')

USAGE_EXAMPLES = f"""\
examples:
  {PROG}
      the paper's DeepMAD-R50 budget (bottleneck, 4.13G FLOPs, 25.55M params,
      rho 0.3, 224x224, paper convention)
      -> {DEFAULT_DIR}/deepmad-r50-paper.json (the preset deepmad-r50 is the
      tinynas-convention design)
  {PROG} --block bottleneck --flops 4.13G --params 25.55M --rho 0.3 \\
      --out r50.json --export-tinynas r50.txt
  {PROG} --block mbv2-se --flops 390M --params 5.3M --rho 0.5 \\
      --convention tinynas
  {PROG} --flops 4.13G --params 25.55M --rho 0.1,0.3,0.5,1.0 \\
      --out sweep/r50.json
  {PROG} --evaluate r50.json --convention tinynas --flops 4.13G --params 25.55M

units: FLOPs and params take K, M, G or T (x1e3 .. x1e12, any case) or plain
numbers: 4.13G = 4130M = 4.13e9. rho is a plain number.
names: a name the command makes up ends with the convention (-paper or
-tinynas); --out DIR/ (trailing slash) writes DIR/<name>.json.
the arch JSON records the budgets and, in meta.command, this command line
(without -q, --no-plot, --plot, --export-tinynas): same options, same bytes.
exit status: 0 done, 1 no design met the budgets (the message names the budget
not met, the relaxation's figure and a value checked to give a design), 2 bad
input, 130 interrupted (Ctrl-C); nothing is written unless the design
succeeded and was verified, and an interrupt leaves the old outputs as they
were.
"""


class CLIError(Exception):
    """A one-line error for the user, with the exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):

    def error(self, message: str):  # one line, no usage dump
        raise CLIError(f'{message} (see {PROG} --help)')


def _typed(parse: Callable, *args, **kwargs) -> Callable[[str], object]:
    """An argparse ``type`` from a units parser (its message verbatim)."""

    def convert(text: str):
        try:
            return parse(text, *args, **kwargs)
        except UnitError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = getattr(parse, '__name__', 'value')
    return convert


def _bounded_int(low: int, high: int, what: str = '') -> Callable:
    """An argparse ``type``: an integer in ``[low, high]`` (the limits of
    :mod:`mmdeepmad.arch.spec`, which no real network reaches)."""
    wanted = 'a positive integer' if low == 1 else f'an integer >= {low}'

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not an integer; give {wanted}') from None
        if value < low:
            raise argparse.ArgumentTypeError(f'must be {wanted}, got {text!r}')
        if value > high:
            raise argparse.ArgumentTypeError(
                f'{value} is above the limit {high}'
                f'{" " + what if what else ""} (no real network reaches it)')
        return value

    convert.__name__ = 'integer'
    return convert


def _budget(kind: str) -> Callable[[str], float]:
    """An argparse ``type`` for a budget: the library's own parser
    (:func:`mmdeepmad.design.units.parse_budget`), so the command line and
    ``design(flops='4.13G')`` accept and refuse the same values."""

    def convert(text: str) -> float:
        try:
            return parse_budget(kind, text, name='')
        except UnitError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = kind
    return convert


def _alpha(text: str) -> Tuple[float, ...]:
    """Guideline 1's weights: the list parser, then the library's check
    (none negative, at least one positive)."""
    values = _typed(parse_float_list)(text)
    try:
        return check_alpha(values, name=None)
    except UnitError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _finite_number(noun: str, example: str, positive: bool):
    """An argparse type: a finite number, at least zero (``positive``:
    above zero), named ``noun`` in its messages."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not {noun}; give e.g. {example}') from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            kind = 'positive' if positive else 'finite, non-negative'
            raise argparse.ArgumentTypeError(
                f'must be a {kind} {noun[2:]}, got {text!r}')
        return value

    return parse


_non_negative_float = _finite_number('a number', '10', positive=False)
_positive_seconds = _finite_number('a number of seconds', '60', positive=True)


def _kernels(text: str) -> Tuple[int, ...]:
    values = _typed(parse_int_list, minimum=1)(text)
    even = [k for k in values if k % 2 == 0]
    if even:
        raise argparse.ArgumentTypeError(
            f'entry {even[0]} is even; kernels must be odd, e.g. 3,5')
    large = [k for k in values if k > MAX_KERNEL]
    if large:
        raise argparse.ArgumentTypeError(
            f'entry {large[0]} is above the limit {MAX_KERNEL} (no real '
            'network reaches it)')
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description='Design a CNN backbone by solving the DeepMAD program '
        '(CVPR 2023) for FLOPs,\nparams and effectiveness (rho) budgets; '
        'print the design, write its arch JSON\n(and optionally the TinyNAS '
        'structure) and a plot. With no options: the paper\'s\nDeepMAD-R50 '
        '(progress on stderr, results on stdout).',
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    budgets = parser.add_argument_group(
        'budgets (give --flops, --params and --rho together; none = '
        'DeepMAD-R50: 4.13G, 25.55M, 0.3)')
    budgets.add_argument(
        '--flops',
        type=_budget('flops'),
        metavar='N',
        help='FLOPs budget, e.g. 4.13G, 4130M or 4.13e9')
    budgets.add_argument(
        '--params',
        type=_budget('params'),
        metavar='N',
        help='params budget, e.g. 25.55M')
    budgets.add_argument(
        '--rho',
        type=_typed(parse_rho_list),
        metavar='R[,R...]',
        help='effectiveness budget, e.g. 0.3; a list 0.1,0.3,0.5,1.0 designs '
        'one network per value (a sweep: one JSON each, a summary table and '
        'a depth/width-vs-rho plot)')
    device = parser.add_argument_group(
        'device budgets (with --lut; then --flops and --params are optional '
        'and --rho defaults to the family\'s, 0.3 or 0.5)')
    device.add_argument(
        '--latency',
        type=_typed(parse_latency),
        metavar='T',
        help='latency budget on the LUT\'s device, e.g. 20ms, 0.02s')
    device.add_argument(
        '--throughput',
        type=_typed(parse_throughput),
        metavar='N',
        help='throughput budget in images per second at the LUT\'s batch, '
        'e.g. 800 (the latency budget is batch / N)')
    device.add_argument(
        '--lut',
        metavar='FILE',
        help='latency LUT profiled on the device (python '
        'tools/analysis/profile_latency.py ... --out FILE)')
    device.add_argument(
        '--measure',
        action='store_true',
        help='build the design, time it on this machine with the LUT\'s '
        'settings and, if it breaks the budget, tighten and solve again (a '
        'few rounds); a design that breaks the measured budget is never '
        'written')
    device.add_argument(
        '--measure-tolerance',
        type=_non_negative_float,
        metavar='F',
        help='with --measure: accept a measurement up to budget * (1 + F) '
        '(default 0)')
    space = parser.add_argument_group('search space and objective')
    space.add_argument(
        '--certify',
        type=_positive_seconds,
        metavar='SECONDS',
        help='prove a bound on the best score of the whole space by branch '
        'and bound for up to SECONDS (printed with the gap, recorded in '
        'meta.certificate); a better design it finds becomes the answer')
    space.add_argument(
        '--block',
        choices=BLOCKS,
        metavar='FAMILY',
        help=f'block family: {", ".join(BLOCKS)} (default bottleneck)')
    space.add_argument(
        '--resolution',
        type=_bounded_int(1, MAX_RESOLUTION, 'pixels'),
        metavar='PX',
        help='input side in pixels (default 224)')
    space.add_argument(
        '--convention',
        choices=CONVENTIONS,
        metavar='NAME',
        help='counting convention of the budgets and the score: paper '
        '(conv MACs, Eq. 2-5 as written) or tinynas (as the official code '
        'counts); default paper (with --evaluate: the file\'s, else paper)')
    space.add_argument(
        '--stages',
        type=_bounded_int(1, MAX_STAGES, 'stages'),
        metavar='M',
        help='number of stages (default 5)')
    space.add_argument(
        '--strides',
        type=_typed(parse_int_list, allowed=(1, 2)),
        metavar='S,S,...',
        help='stride of every stage, e.g. 2,2,2,1,2 (default: the releases\' '
        'pattern for 5 stages)')
    space.add_argument(
        '--kernels',
        type=_kernels,
        metavar='K,K',
        help='allowed kernel sizes, e.g. 3,5 (default: the family\'s)')
    space.add_argument(
        '--width-multiple',
        type=_bounded_int(1, MAX_CHANNELS, 'channels'),
        metavar='N',
        help='channels are multiples of N (default 8)')
    space.add_argument(
        '--max-depth',
        type=_bounded_int(1, MAX_DEPTH, 'units per stage'),
        metavar='N',
        help='at most N units per stage')
    space.add_argument(
        '--head-channels',
        type=_bounded_int(0, MAX_CHANNELS, 'channels'),
        metavar='N',
        help='width of the final 1x1 head conv (0: none; default: the '
        'family\'s, 1792 for mbv2 families, none otherwise)')
    space.add_argument(
        '--alpha',
        type=_alpha,
        metavar='A,A,...',
        help='Guideline 1 stage weights (default 1,...,1,8)')
    space.add_argument(
        '--beta',
        type=_non_negative_float,
        metavar='B',
        help='Guideline 2 depth-variance weight (default 10)')
    outputs = parser.add_argument_group('outputs')
    outputs.add_argument(
        '--out',
        metavar='FILE',
        help=f'arch JSON to write (default {DEFAULT_DIR}/<name>.json; a '
        'folder ending in / writes <folder>/<name>.json; with --evaluate '
        'only when given)')
    outputs.add_argument(
        '--name',
        help='name stored in the arch JSON (default: from the budgets, or '
        'deepmad-r50 for the paper\'s budget, ending with the convention: '
        'deepmad-r50-paper)')
    outputs.add_argument(
        '--export-tinynas',
        metavar='FILE',
        help='also write the TinyNAS structure (.json: a JSON list; other: '
        'TinyNAS\'s models/*.txt format)')
    outputs.add_argument(
        '--plot',
        metavar='FILE',
        help='PNG of the design (default: next to --out with .png; a sweep: '
        '<out>-rho-sweep.png)')
    outputs.add_argument(
        '--no-plot', action='store_true', help='do not draw a plot')
    outputs.add_argument(
        '--out-indices',
        type=_typed(parse_int_list),
        metavar='I,I,...',
        help='backbone out_indices of the config fragment, 0-based (default: '
        'the last 4 stages)')
    outputs.add_argument(
        '-q',
        '--quiet',
        action='store_true',
        help='no progress messages on stderr')
    parser.add_argument(
        '--evaluate',
        metavar='FILE',
        help='report an existing arch JSON or TinyNAS structure (.txt/.json '
        'list, detected) without solving; budgets are optional')
    parser.add_argument(
        '--index',
        type=_bounded_int(0, sys.maxsize),
        metavar='I',
        help='with --evaluate: which structure of a TinyNAS file holding '
        'several (default 0)')
    return parser


# ---- entry point ------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (never raises for bad
    input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with interrupts_raise():
            args = build_parser().parse_args(argv)
            args.command = design_command(argv)
            if args.evaluate is not None:
                return run_evaluate(args)
            if args.index is not None:
                raise CLIError('argument --index: only with --evaluate (it '
                               'picks one structure of a TinyNAS file)')
            return run_design(args)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    except OutputError as error:
        code = EXIT_INFEASIBLE if error.written else EXIT_USAGE
        print(f'{PROG}: error: {error}', file=sys.stderr, flush=True)
        return code
    except CLIError as error:
        print(f'{PROG}: error: {error}', file=sys.stderr, flush=True)
        return error.code
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM
        return interrupted(interrupt)


def interrupted(interrupt: KeyboardInterrupt) -> int:
    """The one line and the exit status of an interrupted run."""
    signum = getattr(interrupt, 'signum', signal.SIGINT)
    written = getattr(interrupt, 'written', ())
    what = 'interrupted' if signum == signal.SIGINT else (
        f'stopped by {signal.Signals(signum).name}')
    if written:
        state = (f'the outputs had all been written ({", ".join(written)})')
    else:
        state = 'nothing written; existing outputs are unchanged'
    try:
        print(f'{PROG}: {what}; {state}', file=sys.stderr, flush=True)
    except (OSError, ValueError):  # pragma: no cover - stderr is gone
        pass
    return EXIT_SIGNAL_BASE + int(signum)


def design_command(argv: Sequence[str]) -> str:
    """The command line recorded in the arch JSON (``meta.command``): the
    arguments as given, without the options that only change the printing or
    the extra outputs (:data:`OUTPUT_FLAGS`, :data:`OUTPUT_OPTIONS`), so the
    same design options give the same bytes."""
    kept = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in OUTPUT_FLAGS:
            continue
        if token in OUTPUT_OPTIONS:
            skip = True
            continue
        if any(token.startswith(f'{option}=') for option in OUTPUT_OPTIONS):
            continue
        kept.append(str(token))
    return shlex.join(['python', 'tools/design.py'] + kept)


class _Progress:

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.prefix = ''

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(
                f'{PROG}: {self.prefix}{message}', file=sys.stderr, flush=True)


def _check_device_budget(args) -> bool:
    """Whether a device budget is given (checked: one of --latency and
    --throughput, with --lut; --measure only with them)."""
    device = args.latency is not None or args.throughput is not None
    if args.latency is not None and args.throughput is not None:
        raise CLIError('--latency and --throughput: give one of them')
    if device and args.lut is None:
        raise CLIError('--latency/--throughput need --lut FILE: a LUT '
                       'profiled on the device (python '
                       'tools/analysis/profile_latency.py --block FAMILY '
                       '--out FILE)')
    if args.lut is not None and not device:
        raise CLIError('--lut is given without --latency or --throughput; '
                       'give one, e.g. --latency 20ms')
    if (args.measure or args.measure_tolerance is not None) and not device:
        raise CLIError('--measure needs a device budget: --latency or '
                       '--throughput with --lut')
    if args.measure_tolerance is not None and not args.measure:
        raise CLIError('--measure-tolerance is only used with --measure')
    return device


def _design_options(args) -> Dict[str, object]:
    flops, params, rhos = args.flops, args.params, args.rho
    device = _check_device_budget(args)
    given = [
        name for name, value in (('--flops', flops), ('--params', params),
                                 ('--rho', rhos)) if value is not None
    ]
    preset = not given and not device
    if device:
        if rhos is None:
            rhos = (DEFAULT_RHO[args.block or DEFAULT_DESIGN['block']], )
    elif preset:
        flops, params = DEFAULT_DESIGN['flops'], DEFAULT_DESIGN['params']
        rhos = (DEFAULT_DESIGN['rho'], )
    elif len(given) != 3:
        missing = [
            n for n in ('--flops', '--params', '--rho') if n not in given
        ]
        raise CLIError(f'{", ".join(missing)} missing: give --flops, --params '
                       'and --rho together (or none of them for the '
                       'DeepMAD-R50 budget 4.13G, 25.55M, 0.3)')
    block = args.block or DEFAULT_DESIGN['block']
    resolution = args.resolution or DEFAULT_DESIGN['resolution']
    convention = args.convention or DEFAULT_DESIGN['convention']
    stages = args.stages or DEFAULT_DESIGN['stages']
    if args.strides is not None and len(args.strides) != stages:
        raise CLIError(f'argument --strides: gives {len(args.strides)} '
                       f'values for {stages} stages; give one stride per '
                       'stage (or set --stages)')
    if (args.alpha is not None and convention == 'paper'
            and len(args.alpha) != stages):
        raise CLIError(
            f'argument --alpha: gives {len(args.alpha)} weights '
            f'for {stages} stages; give one weight per stage, e.g. ' +
            ','.join(['1'] * (stages - 1) + ['8']))
    if args.out_indices is not None:
        _check_out_indices(args.out_indices, stages)
    shaped = any(
        getattr(args, key) is not None
        for key in ('stages', 'strides', 'kernels', 'width_multiple',
                    'max_depth', 'head_channels', 'alpha', 'beta'))
    preset = (
        preset and not shaped and block == DEFAULT_DESIGN['block']
        and resolution == DEFAULT_DESIGN['resolution'])
    if args.name is not None:
        if not args.name.strip():
            raise CLIError('argument --name: empty; give a name, e.g. my-r50')
        base, suffix = args.name, ''
    else:
        # a name made up here always ends with its convention: the paper's
        # DeepMAD-R50 budget is deepmad-r50-paper, never the preset's
        # deepmad-r50 (a tinynas-convention design)
        if preset:
            base = 'deepmad-r50'
        elif device:
            base = '-'.join([block] + [
                format_compact(value)
                for value in (flops, params) if value is not None
            ] + [
                f'{format_latency(args.latency)}' if args.
                latency else f'{args.throughput:g}ips'
            ])
        else:
            base = (f'{block}-{format_compact(flops)}-'
                    f'{format_compact(params)}')
            if len(rhos) == 1:
                base += f'-{rho_tag(rhos[0])}'
            if resolution != 224:
                base += f'-{resolution}px'
        suffix = f'-{convention}'
    return dict(
        device=device,
        block=block,
        flops=flops,
        params=params,
        rhos=rhos,
        resolution=resolution,
        convention=convention,
        stages=stages,
        name=base + suffix,
        name_base=base,
        name_suffix=suffix)


def _member_name(options: Dict[str, object], rho: float, sweep: bool) -> str:
    """The network's name; in a sweep the rho tag goes before the convention
    of a made-up name (``bottleneck-4.13G-25.55M-rho0.1-paper``)."""
    if not sweep:
        return str(options['name'])
    return f'{options["name_base"]}-{rho_tag(rho)}{options["name_suffix"]}'


def _check_out_indices(indices: Sequence[int], stages: int) -> None:
    for index in indices:
        if not -stages <= index < stages:
            raise CLIError(f'argument --out-indices: entry {index} is out of '
                           f'range for {stages} stages; give 0-based stage '
                           f'indices 0..{stages - 1}')
    if len({i % stages for i in indices}) != len(indices):
        raise CLIError('argument --out-indices: names a stage twice')


def _check_paths(paths: Sequence[str]) -> None:
    """Every output its own file, none a directory, each where a file can be
    created (checked before solving; :func:`.outputs.check_target`)."""
    seen = set()
    for path in paths:
        try:
            check_target(path)
        except OutputError as error:
            raise CLIError(str(error)) from None
        key = os.path.abspath(path)
        if key in seen:
            raise CLIError(f'output {path} is named twice; give each output '
                           '(--out, --plot, --export-tinynas) its own file')
        seen.add(key)


def _is_folder(path: str) -> bool:
    """``--out DIR/``: a trailing separator names a folder."""
    return path.endswith(('/', os.sep))


def _check_empty(args) -> None:
    for flag, value in (('--out', args.out), ('--plot', args.plot),
                        ('--export-tinynas', args.export_tinynas)):
        if value is not None and not value.strip():
            raise CLIError(f'argument {flag}: empty; give a file name' +
                           (', or a folder ending in / to write <name>.json '
                            'into' if flag == '--out' else ''))
    for flag, value in (('--plot', args.plot), ('--export-tinynas',
                                                args.export_tinynas)):
        if value is not None and _is_folder(value):
            raise CLIError(f'argument {flag}: {value} ends in /, a folder; '
                           'give a file name')


def _safe_name(name: str) -> str:
    cleaned = ''.join(c if c.isalnum() or c in '-_.+' else '_' for c in name)
    return cleaned.strip('.') or 'design'


def _with_tag(path: str, tag: str) -> str:
    stem, ext = os.path.splitext(path)
    return f'{stem}-{tag}{ext}'


def run_design(args) -> int:
    _check_empty(args)
    options = _design_options(args)
    progress = _Progress(args.quiet)
    rhos = options['rhos']
    sweep = len(rhos) > 1
    if args.no_plot and args.plot:
        raise CLIError('--plot and --no-plot contradict each other; give one')
    folder = DEFAULT_DIR
    out = None
    if args.out is not None:
        if _is_folder(args.out):
            folder = args.out
        else:
            out = args.out
    names = {rho: _member_name(options, rho, sweep) for rho in rhos}

    def json_path(rho: float) -> str:
        if out is None:
            return os.path.join(folder, _safe_name(names[rho]) + '.json')
        return _with_tag(out, rho_tag(rho)) if sweep else out

    planned = []
    for rho in rhos:
        planned.append(json_path(rho))
        if args.export_tinynas:
            planned.append(
                _with_tag(args.export_tinynas, rho_tag(rho)
                          ) if sweep else args.export_tinynas)
    if not args.no_plot:
        base = out or os.path.join(folder,
                                   _safe_name(str(options['name'])) + '.json')
        planned.append(
            args.plot or os.path.splitext(base)[0] +
            ('-rho-sweep.png' if sweep else '.png'))
    _check_paths(planned)

    from mmdeepmad.arch.spec import SpecError
    try:
        from mmdeepmad.design.api import design, make_space
        from mmdeepmad.design.solver import InfeasibleBudgetError
    except ImportError as error:  # pragma: no cover - environment problem
        raise CLIError(
            f'the design engine cannot be imported ({error}); '
            'install cvxpy and numpy', EXIT_INFEASIBLE) from None
    from mmdeepmad.conventions.budgets import Budgets
    from . import fragment, plots, report

    space_options = dict(
        block=options['block'],
        convention=options['convention'],
        resolution=options['resolution'],
        stages=options['stages'],
        strides=args.strides,
        kernels=args.kernels,
        width_multiple=(args.width_multiple
                        or DEFAULT_DESIGN['width_multiple']),
        max_depth=args.max_depth,
        head_channels=args.head_channels)
    try:  # the space's own checks (e.g. the resolution rule), before solving
        space = make_space(**space_options)
    except (SpecError, ValueError) as error:
        raise CLIError(_as_flags(str(error))) from None
    warning = _one_pixel_warning(options['resolution'], space.stem_stride,
                                 space.strides)
    if warning:
        print(f'{PROG}: warning: {warning}', file=sys.stderr, flush=True)

    table, latency = None, None
    if options['device']:
        table, latency = _device_budget(args, options['block'])
    outputs = AtomicOutputs()
    points = []
    printed = []
    for rho in rhos:
        budgets = Budgets(
            flops=options['flops'],
            params=options['params'],
            rho=rho,
            latency=latency)
        tag = rho_tag(rho)
        name = names[rho]
        progress.prefix = f'[{tag}] ' if sweep else ''
        given = ', '.join(
            f'{label} <= {text}'
            for label, text, value in (('FLOPs', format_compact(budgets.flops),
                                        budgets.flops),
                                       ('params',
                                        format_compact(budgets.params),
                                        budgets.params), ('rho', f'{rho:g}',
                                                          rho),
                                       ('latency', format_latency(latency),
                                        latency)) if value is not None)
        progress(f'designing {name}: {options["block"]} blocks, {given}, '
                 f'{options["resolution"]}x{options["resolution"]}, '
                 f'{options["convention"]} convention')
        measured = None
        try:

            def solve(latency_budget=latency):
                # a throughput budget as given (meta records it) until
                # --measure tightens it
                throughput = args.throughput if (
                    args.throughput is not None
                    and latency_budget == latency) else None
                return design(
                    flops=budgets.flops,
                    params=budgets.params,
                    rho=rho,
                    alpha=args.alpha,
                    beta=args.beta if args.beta is not None else DEFAULT_BETA,
                    name=name,
                    command=args.command,
                    progress=progress,
                    latency=None if throughput else latency_budget,
                    throughput=throughput,
                    certify=args.certify,
                    lut=table,
                    **space_options)

            if args.measure:
                result, measured = _design_measured(solve, table, latency,
                                                    args, progress)
            else:
                result = solve()
        except InfeasibleBudgetError as error:
            raise CLIError(
                error.describe(_advise_flag) +
                (f' (at rho {rho:g})' if sweep else ''),
                EXIT_INFEASIBLE) from None
        except (SpecError, ValueError) as error:
            raise CLIError(_as_flags(str(error))) from None
        except AssertionError as error:  # the library's own verification
            raise CLIError(f'{error}; nothing written',
                           EXIT_INFEASIBLE) from None
        evaluation = result.evaluation
        progress(f'done in {result.solve_time:.2f} s; verified by exact '
                 'count')
        path = json_path(rho)
        outputs.add(path, result.spec.to_json().encode('utf-8'))
        if args.export_tinynas:
            export = (
                _with_tag(args.export_tinynas, tag)
                if sweep else args.export_tinynas)
            _add_tinynas(outputs, result.spec, export)
        if sweep:
            points.append(
                report.SweepPoint(
                    rho=rho,
                    evaluation=evaluation,
                    path=path,
                    solve_time=result.solve_time))
            continue
        text, _ = report.format_report(
            evaluation,
            budgets,
            result,
            title=f'DeepMAD design ({options["convention"]} convention)',
            latency=None if table is None else dict(
                predicted=result.latency,
                measured=measured,
                device=_device_text(table)))
        printed.append(text)
        printed.append(
            fragment.config_fragment(result.spec, path, args.out_indices))
        if not args.no_plot:
            progress('drawing the plot')
            outputs.add(planned[-1],
                        plots.render_design_plot(evaluation, budgets))
    if sweep:
        budgets = Budgets(flops=options['flops'], params=options['params'])
        printed.append(report.format_sweep(points, budgets))
        if not args.no_plot:
            progress('drawing the sweep plot')
            outputs.add(planned[-1], plots.render_sweep_plot(points))
    _print_written('\n'.join(printed) + '\n', outputs.commit())
    return EXIT_OK


def _device_budget(args, block: str):
    """The LUT and the latency budget in seconds (a throughput budget is
    the LUT's batch over it); warnings name what differs from this
    machine."""
    from mmdeepmad.latency.table import LutError, check_device, load_lut
    try:
        table = load_lut(args.lut)
    except LutError as error:
        raise CLIError(str(error)) from None
    if table.block != block:
        raise CLIError(f'--lut {args.lut} was profiled for {table.block} '
                       f'units; this design has {block} units: give --block '
                       f'{table.block} or profile {block} '
                       '(tools/analysis/profile_latency.py --block '
                       f'{block})')
    from mmdeepmad.latency.calibrate import settings_of
    purpose = 'measure' if args.measure else 'design'
    try:
        warnings = check_device(table, settings_of(table), purpose)
    except LutError as error:
        raise CLIError(f'--measure: {error}') from None
    for warning in warnings:
        print(f'{PROG}: warning: {warning}', file=sys.stderr, flush=True)
    if args.latency is not None:
        return table, args.latency
    return table, table.device['batch'] / args.throughput


def _device_text(table) -> str:
    """``batch 1, 2 threads, fp32 on <cpu name> (LUT fit: held-out median
    error 4.1%)``."""
    device = table.device
    layout = ', channels last' if device.get('channels_last') else ''
    text = (f'batch {device["batch"]}, {device["threads"]} threads, '
            f'{device["dtype"]}{layout} on '
            f'{device.get("name") or device["device"]}')
    fit = getattr(table, 'fit', None) or {}
    if fit.get('heldout_median') is not None:
        text += (f' (LUT fit: held-out error median '
                 f'{100 * fit["heldout_median"]:.1f}%, max '
                 f'{100 * fit["heldout_max"]:.1f}%)')
    return text


def _design_measured(solve, table, budget: float, args, progress):
    """``--measure``: the design and its measured latency (seconds), the
    measurement recorded in ``meta.latency``."""
    from mmdeepmad.latency.calibrate import (MeasuredBudgetError,
                                             design_measured)
    tolerance = args.measure_tolerance or 0.0
    try:
        done = design_measured(
            solve,
            table,
            budget,
            tolerance=tolerance,
            progress=progress,
            warn=lambda warning: print(
                f'{PROG}: {warning}', file=sys.stderr, flush=True))
    except MeasuredBudgetError as error:
        raise CLIError(f'{error}; nothing written', EXIT_INFEASIBLE) from None
    result = done.result
    meta = dict(result.spec.meta)
    latency = dict(meta['latency'])
    if args.throughput is not None:
        latency['throughput_budget'] = args.throughput
    latency.update(
        budget_ms=round(budget * 1e3, 6),
        measured_ms=round(done.measured * 1e3, 6),
        tolerance=tolerance,
        rounds=[[round(v * 1e3, 6) for v in row] for row in done.rounds])
    if done.canary_ratio is not None:
        latency['canary_ratio'] = round(done.canary_ratio, 4)
    meta['latency'] = latency
    meta['budgets'] = dict(meta['budgets'], latency=budget)
    result.spec = result.spec.replace(meta=meta)
    return result, done.measured


def _print_written(text: str, written: Sequence[str]) -> None:
    """The report and the files written; an interrupt now says that the
    outputs are in place."""
    try:
        sys.stdout.write(text)
        for path in written:
            print(f'wrote {path}')
        sys.stdout.flush()
    except KeyboardInterrupt as interrupt:
        raise Interrupted(
            getattr(interrupt, 'signum', signal.SIGINT), written) from None


#: The library's option names in its messages, and the flags that set them.
_FLAGS = (('max_depth', '--max-depth'), ('head_channels', '--head-channels'),
          ('width_multiple', '--width-multiple'), ('resolution',
                                                   '--resolution'),
          ('strides', '--strides'), ('stages', '--stages'),
          ('kernels', '--kernels'), ('alpha', '--alpha'), ('beta', '--beta'))


def _as_flags(message: str) -> str:
    """A library message that starts with an option's name, worded with its
    flag (``resolution 1 is smaller ...`` -> ``--resolution 1 is ...``)."""
    for name, flag in _FLAGS:
        if message.startswith(name + ' '):
            return flag + message[len(name):]
    return message


def _one_pixel_warning(resolution: int, stem_stride: int,
                       strides: Sequence[int]) -> str:
    """A warning when two or more stages run on 1x1 feature maps (their
    k x k convs see one pixel and padding); '' otherwise."""
    from mmdeepmad.arch.spec import one_pixel_stages
    flat = one_pixel_stages(resolution, stem_stride, strides)
    if len(flat) < 2:
        return ''
    first, last = flat[0] + 1, flat[-1] + 1
    return (f'stages {first}-{last} of {len(strides)} run on 1x1 feature '
            f'maps at {resolution}x{resolution} input: their kernels see a '
            'single pixel; give a larger --resolution or fewer stride-2 '
            'stages')


def _advise_flag(advice) -> str:
    """The library's advice on a budget, worded as this command's flag: a
    value the library checked by solving again (the solver is a local
    search, so it promises that value, not every larger one)."""
    return (f'use --{advice.budget} {advice.value}: checked, a design was '
            'solved with it')


def _add_tinynas(outputs: 'AtomicOutputs', spec, path: str) -> None:
    from mmdeepmad.arch.spec import SpecError
    from mmdeepmad.arch.tinynas_format import save_tinynas, spec_to_tinynas
    try:
        structure = spec_to_tinynas(spec)
    except SpecError as error:
        raise CLIError(f'--export-tinynas: {error}') from None
    outputs.add(path, lambda target: save_tinynas(structure, target))


# ---- evaluate ---------------------------------------------------------------
def load_arch(path: str, index: int = 0, resolution: Optional[int] = None):
    """An ArchSpec from an arch JSON or a TinyNAS structure file
    (:func:`mmdeepmad.arch.loader.read_arch_file`); its errors as one
    :class:`CLIError` naming the file and field."""
    from mmdeepmad.arch.loader import read_arch_file
    from mmdeepmad.arch.spec import SpecError
    try:
        return read_arch_file(path, index=index, resolution=resolution)
    except SpecError as error:
        raise CLIError(f'--evaluate {error}') from None


def run_evaluate(args) -> int:
    _check_empty(args)
    for flag, value in (('--block', args.block), ('--stages', args.stages),
                        ('--strides', args.strides),
                        ('--kernels', args.kernels), ('--width-multiple',
                                                      args.width_multiple),
                        ('--max-depth', args.max_depth), ('--head-channels',
                                                          args.head_channels)):
        if value is not None:
            raise CLIError(f'{flag} shapes a design; --evaluate reads the '
                           'architecture from the file: drop ' + flag)
    if args.rho is not None and len(args.rho) != 1:
        raise CLIError('argument --rho: --evaluate takes one rho budget, got '
                       f'{len(args.rho)}')
    spec = load_arch(args.evaluate, args.index or 0, args.resolution)
    if args.name is not None:
        spec = spec.replace(name=args.name)
    meta = spec.meta if isinstance(spec.meta, dict) else {}
    convention = args.convention or (meta.get('convention') if meta.get(
        'convention') in CONVENTIONS else 'paper')
    from mmdeepmad.arch.spec import SpecError
    from mmdeepmad.conventions import evaluate
    from mmdeepmad.conventions.budgets import Budgets
    from . import fragment, plots, report
    budgets = None
    source = ''
    if any(v is not None for v in (args.flops, args.params, args.rho)):
        budgets = Budgets(
            flops=args.flops,
            params=args.params,
            rho=args.rho[0] if args.rho else None)
    elif meta.get('convention') == convention and isinstance(
            meta.get('budgets'), dict):
        try:
            budgets = Budgets.from_dict(meta['budgets'])
            source = ' (budgets from the file\'s meta)'
        except ValueError:
            budgets = None
    alpha = args.alpha
    beta = args.beta
    if meta.get('convention') == convention:
        if alpha is None and isinstance(meta.get('alpha'), list):
            try:
                alpha = check_alpha(meta['alpha'], name='meta.alpha')
            except UnitError as error:
                raise CLIError(f'--evaluate {args.evaluate}: {error}; fix '
                               'the file or give --alpha') from None
        if beta is None and isinstance(meta.get('beta'), (int, float)):
            beta = float(meta['beta'])
            if not math.isfinite(beta) or beta < 0:
                raise CLIError(f'--evaluate {args.evaluate}: meta.beta '
                               f'{meta["beta"]!r} must be a finite, '
                               'non-negative number; fix the file or give '
                               '--beta')
    beta = DEFAULT_BETA if beta is None else beta
    if args.out_indices is not None:
        _check_out_indices(args.out_indices, spec.num_stages)
    try:
        evaluation = evaluate(spec, convention, alpha=alpha, beta=beta)
    except (SpecError, ValueError) as error:
        raise CLIError(f'--evaluate {args.evaluate}: cannot count it in the '
                       f'{convention} convention: {error}') from None
    text, _ = report.format_report(
        evaluation,
        budgets,
        title=f'evaluated {args.evaluate} (no solve; {convention} '
        f'convention){source}')
    out = args.out
    if out is not None and _is_folder(out):
        stem = spec.name or os.path.splitext(os.path.basename(
            args.evaluate))[0]
        out = os.path.join(out, _safe_name(stem) + '.json')
    _check_paths([
        p for p in (out, args.export_tinynas,
                    None if args.no_plot else args.plot) if p
    ])
    outputs = AtomicOutputs()
    if out:
        outputs.add(out, spec.to_json().encode('utf-8'))
    if args.export_tinynas:
        _add_tinynas(outputs, spec, args.export_tinynas)
    if args.plot and not args.no_plot:
        outputs.add(args.plot, plots.render_design_plot(evaluation, budgets))
    snippet = fragment.config_fragment(spec, out or args.evaluate,
                                       args.out_indices)
    _print_written(text + '\n' + snippet, outputs.commit())
    return EXIT_OK


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
