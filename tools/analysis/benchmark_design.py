"""Quality and speed of the design engine, measured (prints; not a test).

1. For every released DeepMAD structure in
   ``mmdeepmad/reference/tinynas_released.json`` (TinyNAS's values; see
   :mod:`mmdeepmad.reference`): design under the ``tinynas`` convention with
   the same block family, budgets, resolution, stride pattern and the official
   configs' search space; print our penalised score, the release's, their
   ratio, the budgets by the official count, and a seeded random hill climb
   over the same space with the same exact scorer for ``--baseline-seconds``
   (60 by default).
2. Speed: median wall time of ``--repeats`` solves of each design, peak memory.
3. Small instances (3 stages, a coarse channel grid): the gap between the
   solver's design and an exhaustive search of the same discrete space, and the
   gap between the best relaxed value and the rounded design.

Usage::

    python tools/analysis/benchmark_design.py [--reference FILE]
        [--baseline-seconds 60] [--seed 0] [--repeats 5] [--skip-baseline]
    python tools/analysis/benchmark_design.py --suite broad [--cases 60]
        [--baseline-evaluations 2000000] [--certify 60] [--seed 0]

``--suite broad`` runs :mod:`broad_suite` instead: seeded random budgets over
every family, both conventions, resolutions 32-320, rho 0.05-2, 3-6 stages,
the release budgets and the digits instance, against a random-restart hill
climb (a fixed number of evaluations, and ten times the design's time), with
the certificate's bound and gap when ``--certify`` is given.
"""
from __future__ import annotations
import argparse
import os
import resource
import statistics
import sys
import time
import warnings
from itertools import combinations_with_replacement, product

import numpy as np

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from baseline import random_local_search  # noqa: E402

from mmdeepmad.arch.tinynas_format import spec_from_tinynas  # noqa: E402
from mmdeepmad.conventions import DEFAULT_BETA  # noqa: E402
from mmdeepmad.conventions import default_alpha, evaluate  # noqa: E402
from mmdeepmad.conventions.budgets import Budgets  # noqa: E402
from mmdeepmad.design.api import make_space  # noqa: E402
from mmdeepmad.design.batched import batched_evaluator  # noqa: E402
from mmdeepmad.design.search_space import Candidates, SearchSpace  # noqa: E402
from mmdeepmad.design.solver import solve  # noqa: E402
from mmdeepmad.reference import reference_path  # noqa: E402
from mmdeepmad.reference import tinynas_releases  # noqa: E402

#: ``$MMDEEPMAD_TINYNAS_REFERENCE`` when set, else the committed file
DEFAULT_REFERENCE = reference_path()


def reference_space(spec) -> SearchSpace:
    """The official space of the release's family, at its stride pattern."""
    block = spec.stages[0].block
    return make_space(
        block=block,
        convention='tinynas',
        resolution=spec.resolution,
        stages=spec.num_stages,
        strides=[stage.stride for stage in spec.stages])


def compare_with_releases(args) -> bool:
    reference = tinynas_releases(args.reference)
    print('== Designs against the official releases (tinynas convention) ==')
    print('   figures: TinyNAS penalised score = S - 10 exp(std L); FLOPs and '
          'params as TinyNAS counts them (BN, ReLU, pool terms; no head)')
    header = (f'{"reference":<16}{"release":>11}{"ours":>11}{"ratio":>7}'
              f'{"baseline":>11}{"ours/base":>10}{"solve s":>9}'
              f'{"base s":>8}{"budgets (ours)":>18}')
    print(header)
    floor_met = True
    rows = []
    for entry in reference['structures']:
        release = spec_from_tinynas(
            entry['structure'], resolution=entry['image_size'])
        budgets = Budgets(**entry['budgets'])
        space = reference_space(release)
        times = []
        result = None
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = solve(space, budgets, convention='tinynas')
            times.append(time.perf_counter() - started)
        solve_time = statistics.median(times)
        official = evaluate(result.spec, 'tinynas')
        release_score = entry['penalised_score']
        ratio = official.score / release_score
        met = budgets.satisfied_by(official.flops, official.params,
                                   official.rho)
        if args.skip_baseline:
            base_score, base_time = float('nan'), float('nan')
        else:
            evaluator = batched_evaluator(space, 'tinynas', official.alpha,
                                          DEFAULT_BETA)
            base = random_local_search(
                space,
                evaluator,
                budgets,
                seconds=args.baseline_seconds,
                seed=args.seed)
            base_score = base.score if base.feasible else float('-inf')
            base_time = base.seconds
        vs_base = official.score / base_score if base_score > 0 \
            else float('nan')
        used = (f'{official.flops / budgets.flops:5.1%} '
                f'{official.params / budgets.params:5.1%} '
                f'{official.rho:.3f}')
        print(f'{entry["name"]:<16}{release_score:>11.1f}'
              f'{official.score:>11.1f}{ratio:>7.3f}'
              f'{base_score:>11.1f}{vs_base:>10.3f}{solve_time:>9.2f}'
              f'{base_time:>8.1f}  {used:>16}{"" if met else "  OVER BUDGET"}')
        ok = ratio >= 1.0 and met
        if not args.skip_baseline:
            ok = ok and official.score >= base_score and \
                solve_time <= base_time / 10
        floor_met &= ok
        rows.append((entry['name'], times, result))
    print('   budgets (ours): FLOPs and params as % of budget, then rho '
          '(TinyNAS count)')
    print('\n== Speed: wall time of a 5-stage design, median of '
          f'{args.repeats} runs ==')
    for name, times, result in rows:
        print(f'{name:<16} median {statistics.median(times):.2f} s '
              f'(min {min(times):.2f}, max {max(times):.2f}); '
              f'{result.stats["width_solves"]} width solves, '
              f'{result.stats["exact_evaluations"]} exact evaluations')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'peak memory of this process: {peak:.0f} MiB')
    return floor_met


def small_space() -> SearchSpace:
    """3 stages, channels on a grid of 32 up to 256, depth 1-4."""
    return SearchSpace(
        block='bottleneck',
        strides=(2, 2, 2),
        resolution=64,
        stem_channels=(32, 32),
        kernels=(3, 5),
        width_multiple=32,
        channels=(32, 256),
        mid_ratio=(0.125, 1.0),
        depth=(1, 4),
        depth_caps=(None, None, None),
        non_decreasing=True)


def exhaustive(space: SearchSpace, evaluate, budgets) -> float:
    """Best penalised score over every design of the space (batched)."""
    M = space.num_stages
    grid = space.channel_grid()
    outs = np.asarray(list(combinations_with_replacement(grid, M)))
    best = -np.inf
    kernels = np.asarray(list(product(space.kernels, repeat=M)))
    depths = np.asarray(
        list(product(range(space.depth[0], space.depth[1] + 1), repeat=M)))
    for out in outs:
        low, high = space.mid_bounds(out)
        mids = np.asarray(
            list(
                product(*[
                    range(int(lo),
                          int(hi) + 1, space.width_multiple)
                    for lo, hi in zip(low, high)
                ])))
        if mids.size == 0:
            continue
        combos = np.asarray(
            list(
                product(
                    range(len(mids)), range(len(kernels)),
                    range(len(depths)))))
        count = len(combos)
        cand = Candidates(
            np.full(count, space.stem_channels[0]),
            np.repeat(out[None, :], count, axis=0), mids[combos[:, 0]],
            kernels[combos[:, 1]], depths[combos[:, 2]])
        scores = evaluate(cand)
        ok = (scores.flops <= budgets.flops) & (scores.params
                                                <= budgets.params) & (
                                                    scores.rho <= budgets.rho)
        if ok.any():
            best = max(best, float(np.max(scores.score[ok])))
    return best


def small_instances() -> None:
    print('\n== Small instances: solver vs exhaustive search (paper '
          'convention, 3 stages, channels 32..256 step 32, depth 1-4) ==')
    print(f'{"FLOPs":>8}{"params":>9}{"rho":>6}{"exhaustive":>12}'
          f'{"solver":>10}{"gap":>8}{"relaxed":>10}{"relax gap":>10}'
          f'{"exh s":>7}{"solve s":>8}')
    space = small_space()
    alpha = default_alpha(3)
    evaluator = batched_evaluator(space, 'paper', alpha, DEFAULT_BETA)
    for flops, params, rho in ((20e6, 0.3e6, 0.5), (40e6, 0.6e6, 0.5),
                               (60e6, 1.0e6, 0.3), (80e6, 1.5e6, 1.0)):
        budgets = Budgets(flops=flops, params=params, rho=rho)
        started = time.perf_counter()
        best = exhaustive(space, evaluator, budgets)
        exhaustive_time = time.perf_counter() - started
        started = time.perf_counter()
        result = solve(space, budgets, convention='paper', alpha=alpha)
        solve_time = time.perf_counter() - started
        gap = (best - result.score) / abs(best)
        relax_gap = (result.relaxed_value - result.score) / abs(
            result.relaxed_value)
        print(f'{flops / 1e6:>7.0f}M{params / 1e6:>8.2f}M{rho:>6.1f}'
              f'{best:>12.2f}{result.score:>10.2f}{gap:>8.2%}'
              f'{result.relaxed_value:>10.2f}{relax_gap:>10.2%}'
              f'{exhaustive_time:>7.1f}{solve_time:>8.2f}')
    print('   gap = (exhaustive - solver) / exhaustive; relaxed = best value '
          'of the width relaxation over the searched depth vectors (a local '
          'optimum, not a certified bound)')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reference', default=DEFAULT_REFERENCE)
    parser.add_argument('--baseline-seconds', type=float, default=60.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--skip-baseline', action='store_true')
    parser.add_argument('--skip-small', action='store_true')
    parser.add_argument(
        '--suite', choices=('releases', 'broad'), default='releases')
    parser.add_argument(
        '--cases',
        type=int,
        default=60,
        help='random cases of the broad suite')
    parser.add_argument(
        '--baseline-evaluations',
        type=int,
        default=2000000,
        help='exact evaluations of the broad suite\'s fixed '
        'baseline (about a minute on 2 cores)')
    parser.add_argument(
        '--certify',
        type=float,
        default=0.0,
        help='seconds of certificate per broad case (0: none)')
    parser.add_argument(
        '--jobs',
        type=int,
        default=1,
        help='broad cases run at once, one process each (one per core: '
        'the certificate and the baseline are timed)')
    args = parser.parse_args(argv)
    warnings.filterwarnings('ignore', module='cvxpy')
    if args.suite == 'broad':
        import broad_suite
        rows = broad_suite.run_suite(
            args.cases,
            args.seed,
            args.baseline_evaluations,
            args.certify,
            lambda message: print(message, file=sys.stderr, flush=True),
            jobs=args.jobs)
        broad_suite.print_rows(rows)
        print(broad_suite.summary(rows))
        return 0
    floor_met = compare_with_releases(args)
    if not args.skip_small:
        small_instances()
    print('\nfloor (ratio >= 1.00 on every release, budgets met' + (
        '' if args.skip_baseline else ', >= baseline in <= 1/10 of its time') +
          '): ' + ('MET' if floor_met else 'NOT MET'))
    return 0 if floor_met else 1


if __name__ == '__main__':
    sys.exit(main())
