"""The broad benchmark of the design engine (``benchmark_design.py --suite
broad``): seeded random budgets over every family, both conventions,
resolutions 32-320, rho 0.05-2 and 3-6 stages, plus the four release budgets
and the digits instance.

For each case: the design's score and wall time; its certificate (bound and
gap, with ``--certify SECONDS``); and the seeded random-restart hill climb
(:mod:`baseline`) with a fixed number of exact evaluations (``--baseline-
evaluations``, about a minute) and with ten times the design's own time
(not where the budgets were proven infeasible: no search can find a design
there, and the fixed run checks that). A table, then a summary line.
``--jobs N`` runs N cases at once, one single-threaded process each.
"""
from __future__ import annotations
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from baseline import random_local_search

from mmdeepmad.arch.tinynas_format import spec_from_tinynas
from mmdeepmad.conventions import (DEFAULT_BETA, default_alpha,
                                   scored_stage_count)
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.rules import TINYNAS_BOTTLENECK_STAGES
from mmdeepmad.design.api import default_strides, make_space
from mmdeepmad.design.batched import batched_evaluator
from mmdeepmad.design.solver import InfeasibleBudgetError, solve
from mmdeepmad.reference import tinynas_releases

FAMILIES = ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
#: FLOPs ranges at 224x224 (scaled by (resolution / 224)^2), and params per
#: FLOP around the releases' (R50 25.55M / 4.13G, B0-like 5.3M / 390M)
FLOPS_AT_224 = {
    'bottleneck': (0.3e9, 8e9),
    'basic': (0.3e9, 5e9),
    'mbv2': (0.05e9, 1.5e9),
    'mbv2-se': (0.05e9, 1.5e9)
}
PARAMS_PER_FLOP = {
    'bottleneck': 6.2e-3,
    'basic': 6.4e-3,
    'mbv2': 13.6e-3,
    'mbv2-se': 13.6e-3
}
#: the restart patience of the hill climb (batches of 32 proposals)
RESTART_AFTER = 300


@dataclass
class Case:
    name: str
    block: str
    convention: str
    resolution: int
    stages: int
    budgets: Budgets
    strides: Optional[tuple] = None


@dataclass
class Row:
    case: Case
    score: float = -math.inf
    seconds: float = 0.0
    status: str = ''
    bound: Optional[float] = None
    gap: Optional[float] = None
    base_fixed: float = -math.inf
    base_tenfold: float = -math.inf
    notes: List[str] = field(default_factory=list)


def random_cases(count: int, seed: int) -> List[Case]:
    """``count`` seeded cases, the families and conventions in turn."""
    rng = np.random.default_rng(seed)
    cases = []
    for index in range(count):
        block = FAMILIES[index % 4]
        convention = ('paper', 'tinynas')[(index // 4) % 2]
        stages = int(rng.integers(3, 7))
        if block == 'bottleneck' and convention == 'tinynas':
            # TinyNAS's penalty of a bottleneck network needs five stages
            stages = TINYNAS_BOTTLENECK_STAGES
        resolution = int(rng.integers(1, 11)) * 32
        # at least the total stride (stem 2 and the stages'): a one-pixel
        # last feature map
        resolution = max(resolution,
                         2 * math.prod(default_strides(block, stages)))
        low, high = FLOPS_AT_224[block]
        scale = (resolution / 224)**2
        flops = math.exp(rng.uniform(math.log(low), math.log(high))) * scale
        params = flops / scale * PARAMS_PER_FLOP[block] * rng.uniform(0.4, 2.5)
        rho = math.exp(rng.uniform(math.log(0.05), math.log(2.0)))
        budgets = Budgets(
            flops=float(f'{flops:.4g}'),
            params=float(f'{params:.4g}'),
            rho=float(f'{rho:.3g}'))
        cases.append(
            Case(f'broad-{index:02d}', block, convention, resolution, stages,
                 budgets))
    return cases


def fixed_cases() -> List[Case]:
    """The four release budgets (tinynas convention, their stride patterns)
    and the digits instance (32 px, 4 stages, paper convention)."""
    cases = []
    for entry in tinynas_releases()['structures']:
        spec = spec_from_tinynas(
            entry['structure'], resolution=entry['image_size'])
        cases.append(
            Case(entry['name'], spec.stages[0].block, 'tinynas',
                 spec.resolution, spec.num_stages, Budgets(**entry['budgets']),
                 tuple(s.stride for s in spec.stages)))
    cases.append(
        Case('digits', 'bottleneck', 'paper', 32, 4,
             Budgets(flops=30e6, params=0.3e6, rho=0.5), (1, 2, 2, 2)))
    return cases


def run_case(case: Case, baseline_evaluations: int, certify: float,
             seed: int) -> Row:
    row = Row(case)
    try:
        space = make_space(
            case.block,
            case.convention,
            case.resolution,
            case.stages,
            strides=case.strides)
    except ValueError as error:
        row.status = f'space refused: {error}'
        return row
    alpha = default_alpha(scored_stage_count(space.strides, case.convention))
    started = time.perf_counter()
    result = None
    try:
        result = solve(space, case.budgets, case.convention, alpha=alpha)
        row.score = result.score
        row.status = 'designed'
    except InfeasibleBudgetError as error:  # before ValueError: a subclass
        row.status = ('infeasible (proven)'
                      if error.proven else 'infeasible (not proven)')
        row.notes.append(str(error))
    except ValueError as error:  # a space the convention cannot score
        row.status = f'space refused: {error}'
        return row
    row.seconds = time.perf_counter() - started
    if certify and result is not None:
        from mmdeepmad.design.certificate import certify as run_certificate
        certificate = run_certificate(
            space,
            case.budgets,
            case.convention,
            alpha,
            DEFAULT_BETA,
            incumbent=space.candidates_from_spec(result.spec),
            seconds=certify)
        row.bound, row.gap = certificate.bound, certificate.gap
        if certificate.score > row.score:
            row.notes.append(f'the certificate found a better design '
                             f'({certificate.score:.2f})')
            row.score = certificate.score
    evaluate = batched_evaluator(space, case.convention, alpha, DEFAULT_BETA)
    fixed = random_local_search(
        space,
        evaluate,
        case.budgets,
        evaluations=baseline_evaluations,
        seed=seed,
        restart_after=RESTART_AFTER)
    row.base_fixed = fixed.score if fixed.feasible else -math.inf
    if row.status == 'infeasible (proven)':
        return row  # proven: the fixed run above is the sanity check
    tenfold = random_local_search(
        space,
        evaluate,
        case.budgets,
        seconds=10 * max(row.seconds, 0.1),
        seed=seed + 1,
        restart_after=RESTART_AFTER)
    row.base_tenfold = tenfold.score if tenfold.feasible else -math.inf
    return row


def _text(value: Optional[float], digits: int = 1) -> str:
    if value is None:
        return '-'
    if not math.isfinite(value):
        return 'none'
    return f'{value:.{digits}f}'


def print_rows(rows: List[Row]) -> None:
    print(f'{"case":<16}{"family":<11}{"conv":<8}{"px":>4}{"M":>2}'
          f'{"FLOPs":>9}{"params":>9}{"rho":>7}{"ours":>11}{"s":>6}'
          f'{"bound":>11}{"gap":>7}{"base fix":>11}{"base 10x":>11}  verdict')
    for row in rows:
        case = row.case
        best_base = max(row.base_fixed, row.base_tenfold)
        if row.status != 'designed':
            verdict = ('FALSE INFEASIBLE'
                       if math.isfinite(best_base) else row.status)
        elif row.score >= best_base - 1e-9 * abs(best_base):
            verdict = 'ok'
        else:
            verdict = f'BEATEN by {100 * (best_base / row.score - 1):.2f}%'
        gap = '-' if row.gap is None else f'{100 * row.gap:.2f}%'
        print(f'{case.name:<16}{case.block:<11}{case.convention:<8}'
              f'{case.resolution:>4}{case.stages:>2}'
              f'{case.budgets.flops / 1e6:>8.4g}M'
              f'{case.budgets.params / 1e6:>8.4g}M{case.budgets.rho:>7.3g}'
              f'{_text(row.score):>11}{row.seconds:>6.2f}'
              f'{_text(row.bound):>11}{gap:>7}{_text(row.base_fixed):>11}'
              f'{_text(row.base_tenfold):>11}  {verdict}')


def summary(rows: List[Row]) -> str:
    designed = [r for r in rows if r.status == 'designed']
    beaten = [
        r for r in designed if r.score < max(r.base_fixed, r.base_tenfold) -
        1e-9 * abs(max(r.base_fixed, r.base_tenfold))
    ]
    false_infeasible = [
        r for r in rows if r.status != 'designed'
        and math.isfinite(max(r.base_fixed, r.base_tenfold))
    ]
    infeasible = [r for r in rows if r.status != 'designed']
    proven = [r for r in rows if r.status == 'infeasible (proven)']
    times = [r.seconds for r in designed]
    gaps = [r.gap for r in designed if r.gap is not None]
    text = (f'summary: {len(rows)} cases, {len(designed)} designed, '
            f'{len(infeasible)} infeasible ({len(proven)} proven; '
            f'{len(false_infeasible)} where the baseline found a design); '
            f'ours >= baseline on '
            f'{len(designed) - len(beaten)}/{len(designed)}')
    if beaten:
        worst = max(
            max(r.base_fixed, r.base_tenfold) / r.score - 1 for r in beaten)
        text += f' (worst shortfall {100 * worst:.2f}%)'
    if times:
        text += (f'; design time median {statistics.median(times):.2f} s, '
                 f'max {max(times):.2f} s')
    if gaps:
        text += (f'; certificate gap median '
                 f'{100 * statistics.median(gaps):.2f}%, max '
                 f'{100 * max(gaps):.2f}%')
    return text


def run_suite(count: int,
              seed: int,
              baseline_evaluations: int,
              certify: float,
              progress,
              jobs: int = 1) -> List[Row]:
    """Every case, in order; ``jobs`` processes at once (each single
    threaded)."""
    cases = fixed_cases() + random_cases(count, seed)
    work = [(index, len(cases), case, baseline_evaluations, certify, seed)
            for index, case in enumerate(cases)]
    if jobs <= 1:
        return [_run_numbered(item, progress) for item in work]
    import multiprocessing
    with multiprocessing.get_context('spawn').Pool(
            jobs, initializer=_single_thread) as pool:
        return list(pool.imap(_run_numbered, work, chunksize=1))


def _single_thread() -> None:
    """One BLAS thread per process (threadpoolctl, where installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def _run_numbered(item, progress=None) -> Row:
    index, total, case, baseline_evaluations, certify, seed = item
    say = progress or (
        lambda message: print(message, file=sys.stderr, flush=True))
    say(f'[{index + 1}/{total}] {case.name}: {case.block}, '
        f'{case.convention}, {case.resolution} px, {case.stages} stages')
    return run_case(case, baseline_evaluations, certify, seed)
