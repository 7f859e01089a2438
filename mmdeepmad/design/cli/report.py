"""What the design command line prints (the figures come from
:func:`mmdeepmad.conventions.evaluate`).

* :func:`format_report` -- the per-stage table, the totals against the budgets,
  the objective and (for a solved design) the solver's figures.
* :func:`format_sweep` -- a rho sweep (the paper's Fig. 5: depth and width
  against rho), one row per design.

Standard library only; nothing here imports numpy or cvxpy.
"""
from __future__ import annotations
import math
import statistics
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from mmdeepmad.conventions import Evaluation, convention_text
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.rules import penalised_stages
from mmdeepmad.design.units import (format_compact, format_count, format_exact,
                                    format_latency)


# ---- text -------------------------------------------------------------------
def _table(header: Sequence[str], rows: Sequence[Sequence[str]],
           align: str) -> List[str]:
    """Columns padded to their widest cell; ``align`` is one of ``<>`` per
    column."""
    widths = [
        max(len(str(cell)) for cell in column)
        for column in zip(header, *rows)
    ]

    def line(cells):
        parts = []
        for cell, width, side in zip(cells, widths, align):
            parts.append(f'{cell:{side}{width}}')
        return '  '.join(parts).rstrip()

    lines = [line(header), line(['-' * w for w in widths])]
    lines.extend(line([str(c) for c in row]) for row in rows)
    return lines


def stage_table(evaluation: Evaluation) -> List[str]:
    """The per-stage table with a total line."""
    mid_name = {
        'bottleneck': 'bottleneck',
        'basic': 'inner',
        'mbv2': 'expanded',
        'mbv2-se': 'expanded'
    }
    header = ('stage', 'block', 'out', 'mid', 'kernel', 'depth', 'stride',
              'side', 'FLOPs', 'params')
    rows = []
    for row in evaluation.rows:
        rows.append(
            (row.label, row.block, row.out_channels,
             '-' if row.mid_channels is None else row.mid_channels,
             row.kernel_size, row.depth, row.stride, f'{row.side}x{row.side}',
             format_count(row.flops), format_count(row.params)))
    total_depth = sum(stage.depth for stage in evaluation.spec.stages)
    rows.append(
        ('total', '', '', '', '', total_depth, '', '',
         format_count(evaluation.flops), format_count(evaluation.params)))
    lines = _table(header, rows, '<<>>>>>>>>')
    lines.insert(-1, lines[1])
    families = sorted({stage.block for stage in evaluation.spec.stages})
    mids = ', '.join(f'{mid_name[f]} width ({f})' for f in families)
    lines.append(f'mid = {mids}; depth = units per stage (total: units); '
                 'side = output feature-map side')
    if evaluation.convention == 'paper':
        lines.append('per-stage FLOPs = conv MACs of the stage\'s units '
                     '(shortcut projections and SE convs included); the rows '
                     'add up to the total exactly')
    else:
        lines.append('per-stage FLOPs and params by TinyNAS\'s own per-unit '
                     'formulas (BN, ReLU and pooling terms included); the '
                     'rows add up to the total')
    return lines


def budget_table(evaluation: Evaluation,
                 budgets: Optional[Budgets],
                 latency: Optional[dict] = None) -> Tuple[List[str], bool]:
    """Totals against the budgets; also whether every budget is met.
    ``latency``: ``{'predicted': s, 'measured': s or None}`` of a design for
    a device (the latency rows)."""
    header = ('', 'value', 'budget', 'used', '')
    rows = []
    all_ok = True
    figures = [('flops', 'FLOPs', evaluation.figure('flops')),
               ('params', 'params', evaluation.figure('params')),
               ('rho', 'rho', evaluation.figure('rho'))]
    if latency is not None:
        figures.append(
            ('latency', 'latency (predicted)', latency['predicted']))
        if latency.get('measured') is not None:
            figures.append(
                ('latency', 'latency (measured)', latency['measured']))
    for name, label, value in figures:
        bound = getattr(budgets, name) if budgets is not None else None
        if name == 'latency':
            shown = format_latency(value)
            shown_bound = '-' if bound is None else format_latency(bound)
        elif name == 'rho':
            shown = f'{value:.6f}'
            shown_bound = '-' if bound is None else f'{bound:g}'
        else:
            shown = f'{format_exact(value)} ({format_count(value)})'
            shown_bound = '-' if bound is None else format_compact(bound)
        if bound is None:
            used, verdict = '-', 'no budget'
        else:
            used = f'{100.0 * value / bound:.2f}%'
            verdict = 'OK' if value <= bound else 'OVER'
            all_ok = all_ok and value <= bound
        rows.append((label, shown, shown_bound, used, verdict))
    return _table(header, rows, '<>>><'), all_ok


def objective_lines(evaluation: Evaluation) -> List[str]:
    alpha = ', '.join(f'{a:g}' for a in evaluation.alpha)
    if evaluation.convention == 'paper':
        entropy = f'entropy sum_s alpha_s H_s (alpha = {alpha})'
        penalty = f'penalty beta exp(Var(L)) (beta = {evaluation.beta:g})'
    else:
        entropy = f'TinyNAS score S (multi_block_ratio = {alpha})'
        penalty = (f'penalty beta exp(std(L)) (beta = '
                   f'{evaluation.beta:g}, TinyNAS\'s L rule)')
    if evaluation.convention == 'paper':
        score = 'score = entropy - penalty (Eq. 5)'
    else:
        score = 'penalised score = S - penalty'
    width = max(len(entropy), len(penalty), len(score))
    return [
        f'{entropy:<{width}}  {evaluation.entropy:.6f}',
        f'{penalty:<{width}}  {penalty_text(evaluation)}',
        f'{score:<{width}}  {evaluation.score:.6f}',
    ]


def depth_spread(evaluation: Evaluation) -> Optional[Tuple[str, float]]:
    """What the depth penalty exponentiates: ``('Var(L)', value)`` (paper)
    or ``('std(L)', value)`` (TinyNAS's rule) over the penalised stages;
    None where the convention has no penalty for the spec."""
    spec = evaluation.spec
    try:
        kept = penalised_stages(spec.stages[0].block, spec.num_stages,
                                evaluation.convention)
    except ValueError:
        return None
    depths = [spec.depths[i] for i in kept]
    if not depths:
        return None
    if evaluation.convention == 'paper':
        return 'Var(L)', statistics.pvariance(depths)
    return 'std(L)', statistics.pstdev(depths)


def penalty_text(evaluation: Evaluation) -> str:
    """The penalty as printed; an infinite one (``beta * exp(Var L)`` above
    the largest float, e.g. depths 72,1,4,5,6: Var(L) = 742.6) says why."""
    value = evaluation.penalty
    if math.isfinite(value):
        return f'{value:.6f}'
    spread = depth_spread(evaluation)
    if spread is None:
        return f'{value}'
    name, amount = spread
    cause = ('the stage depths are far apart'
             if amount > math.log(sys.float_info.max) else 'beta is huge')
    return (f'{value} ({name} = {amount:.4g}: {evaluation.beta:g} x '
            f'exp({amount:.4g}) is beyond the largest float; {cause})')


def one_pixel_note(evaluation: Evaluation) -> Optional[str]:
    """A note when two or more stages run on 1x1 feature maps."""
    spec = evaluation.spec
    flat = spec.one_pixel_stages
    if len(flat) < 2:
        return None
    return (f'stages {flat[0] + 1}-{flat[-1] + 1} run on 1x1 feature maps at '
            f'{spec.resolution}x{spec.resolution} input '
            f'({spec.down_sampling_text}): their kernels see a single pixel')


def solver_lines(result) -> List[str]:
    """The solver's own figures (relaxed value, gap, time, status)."""
    gap = result.relaxed_value - result.score
    relative = gap / abs(result.relaxed_value) if result.relaxed_value else 0
    stats = ', '.join(f'{int(v) if float(v).is_integer() else v} '
                      f'{k.replace("_", " ")}'
                      for k, v in sorted(result.stats.items()))
    note = ''
    if gap < 0:
        note = ('; negative: the design scores above the best relaxed value '
                'of the depth vectors searched, which is not an upper bound')
    if math.isnan(result.relaxed_value):  # found by branch and bound
        lines = [
            'relaxed value (widths real)  none: the depth search found '
            'no design; the branch and bound did'
        ]
    else:
        lines = [
            f'relaxed value (widths real)  {result.relaxed_value:.6f} (a '
            'local optimum of the relaxation, not a bound)',
            f'gap relaxed - score          {gap:.6f} ({100 * relative:.3f}%'
            f'{note})',
        ]
    certificate = result.spec.meta.get('certificate')
    if certificate:
        lines += [
            f'certified bound              {certificate["bound"]:.6f} (no '
            'design of the space meeting the budgets scores above it)',
            f'gap (bound - score) / bound  {100 * certificate["gap"]:.3f}% '
            f'after {certificate["seconds"]:.1f} s: {certificate["status"]}',
        ]
    lines += [
        f'solve time                   {result.solve_time:.2f} s',
        f'solver status                {result.status}' +
        (f' ({stats})' if stats else ''),
    ]
    return lines


def format_report(evaluation: Evaluation,
                  budgets: Optional[Budgets] = None,
                  result=None,
                  title: str = '',
                  latency: Optional[dict] = None) -> Tuple[str, bool]:
    """The whole printed report; also whether every budget is met
    (``latency``: see :func:`budget_table`)."""
    spec = evaluation.spec
    lines = []
    if title:
        lines.append(title)
    lines.append(f'{spec.name or "(unnamed)"}: {spec.num_stages} stages, '
                 f'{"/".join(sorted(set(spec.blocks)))} blocks, '
                 f'{spec.resolution}x{spec.resolution} input, style '
                 f'{spec.style}, act {spec.act}')
    lines.append('')
    lines.extend(stage_table(evaluation))
    lines.append('')
    budget_lines, ok = budget_table(evaluation, budgets, latency)
    lines.extend(budget_lines)
    lines.append(f'counted in the {convention_text(evaluation.convention)}')
    if latency is not None and latency.get('device'):
        lines.append(f'latency: {latency["device"]}')
    lines.append('')
    lines.extend(objective_lines(evaluation))
    notes = list(evaluation.notes)
    flat = one_pixel_note(evaluation)
    if flat:
        notes.append(flat)
    if not math.isfinite(evaluation.score):
        notes.append('the score is -inf: the depth penalty overflows, so '
                     'this network loses to any other')
    for note in notes:
        lines.append(f'note: {note}')
    if result is not None:
        lines.extend(solver_lines(result))
    return '\n'.join(lines) + '\n', ok


# ---- rho sweep --------------------------------------------------------------
@dataclass(frozen=True)
class SweepPoint:
    rho: float  # the budget
    evaluation: Evaluation
    path: str
    solve_time: float

    @property
    def total_depth(self) -> int:
        return sum(self.evaluation.spec.depths)

    @property
    def mean_width(self) -> float:
        channels = [s.out_channels for s in self.evaluation.spec.stages]
        return sum(channels) / len(channels)

    @property
    def mean_mid(self) -> float:
        channels = [s.mid_channels for s in self.evaluation.spec.stages]
        return sum(channels) / len(channels)

    @property
    def final_width(self) -> int:
        return self.evaluation.spec.stage_channels[-1]


def depth_non_decreasing(points: Sequence[SweepPoint]) -> bool:
    """The paper's Fig. 5 claim: total depth does not fall as rho grows."""
    ordered = sorted(points, key=lambda p: p.rho)
    depths = [p.total_depth for p in ordered]
    return all(a <= b for a, b in zip(depths, depths[1:]))


def format_sweep(points: Sequence[SweepPoint], budgets: Budgets) -> str:
    header = ('rho', 'depths', 'total', 'widths (out)', 'mean out', 'mean mid',
              'final', 'FLOPs', 'params', 'rho (net)', 'score', 'time', 'file')
    rows = []
    for p in points:
        e = p.evaluation
        rows.append(
            (repr(float(p.rho)), ','.join(map(str,
                                              e.spec.depths)), p.total_depth,
             ','.join(str(s.out_channels) for s in e.spec.stages),
             f'{p.mean_width:.1f}', f'{p.mean_mid:.1f}', p.final_width,
             format_count(e.flops), format_count(e.params), f'{e.rho:.4f}',
             f'{e.score:.2f}', f'{p.solve_time:.1f}s', p.path))
    convention = points[0].evaluation.convention if points else 'paper'
    lines = [
        f'rho sweep: FLOPs <= {format_compact(budgets.flops)}, params <= '
        f'{format_compact(budgets.params)} ({convention} convention)', ''
    ]
    lines.extend(_table(header, rows, '>>>>>>>>>>>><'))
    verdict = ('holds' if depth_non_decreasing(points) else 'DOES NOT hold')
    lines.append('')
    lines.append(f'total depth non-decreasing in rho (paper Fig. 5): '
                 f'{verdict}')
    lines.append(f'counted in the {convention_text(convention)}')
    return '\n'.join(lines) + '\n'
