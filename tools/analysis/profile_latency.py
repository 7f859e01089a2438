# Copyright (c) mmdeepmad authors. All rights reserved.
"""Profile a block family's latency on this machine and write its LUT.

Times sampled parts (stems, residual units, head convs) of the family's
design space in their deployed form (eval, BatchNorm folded, inference
mode), fits the latency model (:mod:`mmdeepmad.latency`) and writes the LUT
JSON. Example::

    python tools/analysis/profile_latency.py --block bottleneck \\
        --device cpu --batch 1 --threads 2 --out work_dirs/lut-r50-cpu.json

Measured samples are appended to ``<out>.partial.jsonl``: an interrupted run
resumes when started again with the same arguments (``--restart`` starts
over). Errors print one line (``profile_latency.py: error: ...``, exit 2 for
bad input, 130 for Ctrl-C); ``--debug`` shows the traceback instead.
"""
import os.path as osp
import sys
import time

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdeepmad.engine import cli  # noqa: E402

PROG = 'profile_latency.py'
#: At most one progress line per this many seconds.
PROGRESS_EVERY = 1.0
#: Other processes' load (cores) above which the output warns.
BUSY_CORES = 0.25


def parse_args(argv=None):
    from mmdeepmad.arch.spec import BLOCK_FAMILIES
    from mmdeepmad.latency.measure import REPEATS, WARMUP
    from mmdeepmad.latency.profile import DEFAULT_SAMPLES, RESOLUTIONS
    parser = cli.ArgumentParser(
        prog=PROG,
        description='Measure a block family\'s latency on this machine and '
        'write the latency LUT.')
    parser.add_argument(
        '--block', required=True, choices=BLOCK_FAMILIES, help='block family')
    parser.add_argument('--out', required=True, help='the LUT JSON to write')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument(
        '--batch', type=int, default=1, help='images per forward')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch intra-op threads')
    parser.add_argument('--dtype', choices=('fp32', 'fp16'), default='fp32')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='time in the channels-last memory layout')
    parser.add_argument(
        '--samples',
        type=int,
        default=DEFAULT_SAMPLES,
        help=f'parts to measure (default {DEFAULT_SAMPLES})')
    parser.add_argument(
        '--warmup',
        type=int,
        default=WARMUP,
        help=f'untimed rounds per group of parts (default {WARMUP})')
    parser.add_argument(
        '--repeats',
        type=int,
        default=REPEATS,
        help=f'timed rounds; a part\'s time is their median (default '
        f'{REPEATS})')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the sampled parts')
    parser.add_argument(
        '--resolutions',
        default=','.join(str(r) for r in RESOLUTIONS),
        help='input resolutions whose feature-map sides are sampled, '
        'comma-separated (default: %(default)s)')
    parser.add_argument(
        '--restart',
        action='store_true',
        help='discard a partial run of --out and start over')
    args = parser.parse_args(argv)
    for name in ('batch', 'threads', 'samples', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be at least 1')
    if args.warmup < 0:
        parser.error('--warmup must be at least 0')
    try:
        args.resolutions = tuple(
            int(r) for r in args.resolutions.split(',') if r.strip())
    except ValueError:
        parser.error(f'--resolutions must be integers separated by commas, '
                     f'got {args.resolutions!r}')
    if not args.resolutions or min(args.resolutions) < 32:
        parser.error('--resolutions must be at least 32 each (the total '
                     'stride of the design spaces)')
    if not args.out.endswith('.json'):
        parser.error(f'--out must be a .json file, got {args.out!r}')
    return args


def minutes(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f'{seconds // 60:02d}:{seconds % 60:02d}'


def part_text(part) -> str:
    """A short description of a sampled part."""
    if part is None:
        return ''
    if part['part'] == 'stem':
        return f'stem {part["out"]} @ {part["resolution"]}'
    if part['part'] == 'head':
        return f'head {part["in"]}->{part["out"]} @ {part["side"]}'
    if part['part'] == 'network':
        spec = part['spec']
        depth = sum(stage['depth'] for stage in spec['stages'])
        return f'network of {depth} units @ {spec["resolution"]}'
    return (f'{part["block"]} {part["in"]}->{part["mid"]}->{part["out"]} '
            f'k{part["kernel"]} s{part["stride"]} @ {part["side"]}')


class ProgressPrinter:
    """Prints ``[k/N] part ETA mm:ss`` to stderr, at most once a second
    (and always the last one)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.last = None

    def __call__(self, progress) -> None:
        now = time.monotonic()
        final = progress.done == progress.total
        if not final and self.last is not None and \
                now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        busy = progress.background
        note = (f' (other processes kept {busy:.1f} cores busy)'
                if busy is not None and busy > BUSY_CORES else '')
        if progress.stage == 'again':
            print(
                f'[again {progress.done}/{progress.total}] measuring a '
                f'disturbed group again{note}',
                file=self.stream,
                flush=True)
            return
        print(
            f'[{progress.done}/{progress.total}] {part_text(progress.part)}'
            f' ETA {minutes(progress.eta)}{note}',
            file=self.stream,
            flush=True)


def run(argv=None):
    args = parse_args(argv)
    from mmdeepmad.engine.errors import Interrupted
    from mmdeepmad.latency.device import DeviceSettings, describe_device
    from mmdeepmad.latency.profile import partial_path, run_profile
    settings = DeviceSettings(
        device=args.device,
        batch=args.batch,
        threads=args.threads,
        dtype=args.dtype,
        channels_last=args.channels_last)
    device = describe_device(settings)
    print(f'profile   {args.block}, {args.samples} samples (seed '
          f'{args.seed}), {args.warmup} warm-up + {args.repeats} timed '
          'rounds')
    print(f'device    {device["device"]} {device["name"]!r}, '
          f'{device["threads"]} threads, batch {device["batch"]}, '
          f'{device["dtype"]}, '
          f'{"channels-last" if device["channels_last"] else "NCHW"}, '
          f'torch {device["torch"]}')
    start = time.perf_counter()
    try:
        table = run_profile(
            args.block,
            settings,
            samples=args.samples,
            out_path=args.out,
            seed=args.seed,
            warmup=args.warmup,
            repeats=args.repeats,
            progress=ProgressPrinter(),
            restart=args.restart,
            resolutions=args.resolutions)
    except KeyboardInterrupt:
        raise Interrupted(
            f'interrupted; the measured samples are kept in '
            f'{partial_path(args.out)}: run the same command to resume') \
            from None
    fit = table.fit
    print(f'fit       {fit["samples"] - fit["disturbed"]} of '
          f'{fit["samples"]} parts ({fit["disturbed"]} disturbed by other '
          f'processes left out), {fit["knots"]} knots; held-out parts '
          f'({fit["heldout"]}): median error '
          f'{100 * fit["heldout_median"]:.1f}%, 90th percentile '
          f'{100 * fit["heldout_p90"]:.1f}%, max '
          f'{100 * fit["heldout_max"]:.1f}%')
    if fit.get('heldout_networks'):
        print(f'          held-out whole networks '
              f'({fit["heldout_networks"]}): median error '
              f'{100 * fit["heldout_networks_median"]:.1f}%, max '
              f'{100 * fit["heldout_networks_max"]:.1f}%')
    busy = fit.get('background_cores')
    if busy is not None and busy > BUSY_CORES:
        print(f'warning   other processes kept {busy:.1f} cores busy on '
              'average while this profile ran: its times are slower and '
              'noisier than the machine is; profile again on a quiet '
              'machine', file=sys.stderr)
    print(f'wrote     {args.out} (in {minutes(time.perf_counter() - start)})')
    return table


def main(argv=None):
    return cli.run_tool(PROG, run, argv)


if __name__ == '__main__':
    main()
