"""Solve Eq. 5: relaxation, depth search, rounding, repair, local improvement,
verification.

1. :class:`~mmdeepmad.design.depth_search.DepthSearch` picks integer depth
   vectors, each scored by the convex width problem (cvxpy, log space).
2. The widths of the best few are rounded to the grid (channels to multiples of
   ``width_multiple``, kernels to the allowed set) two ways (nearest, down).
3. :func:`~mmdeepmad.design.local_search.repair` moves a rounded design inside
   the budgets; :func:`~mmdeepmad.design.local_search.improve` climbs to a
   local optimum of the exact discrete problem.
4. The best design is verified spec by spec with the exact counters of the
   convention; a design that breaks a budget by exact count is never returned.
"""
from __future__ import annotations
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions import (DEFAULT_BETA, Evaluation, check_convention,
                                   default_alpha, evaluate, scored_stage_count)
from mmdeepmad.conventions.budgets import Budgets
from .batched import batched_evaluator
from .depth_search import DepthSearch
from .local_search import SearchTrace, improve, repair
from .relaxation import StructureModel
from .search_space import Candidates, SearchSpace
from .units import format_budget

#: How a budget is named in messages: the library's words.
_LABELS = dict(flops='FLOPs', params='params', rho='rho')


@dataclass(frozen=True)
class Advice:
    """A budget value that works, found by counting a buildable design."""

    budget: str  # 'flops', 'params' or 'rho'
    value: str  # formatted, rounded up: '4.2G'


def advise_budget(advice: Advice) -> str:
    """The library's wording of advice (the command line words it as a
    flag)."""
    return (f'raise the {_LABELS[advice.budget]} budget to {advice.value} '
            'or more')


class InfeasibleBudgetError(ValueError):
    """No design of the space meets the budgets. ``reasons`` are
    ``(text, advice)`` pairs naming the budget and the smallest value that can
    be met; :meth:`describe` words the advice (``advise``: e.g. as a
    command-line flag)."""

    def __init__(self, reasons: Sequence[tuple]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(self.describe())

    def describe(self, advise: Callable[[Advice], str] = advise_budget) -> str:
        parts = []
        for text, advice in self.reasons:
            parts.append(text + (f' ({advise(advice)})' if advice else ''))
        return '; '.join(parts)


@dataclass
class DesignResult:
    spec: ArchSpec
    convention: str
    score: float  # penalised objective, exact
    entropy: float
    penalty: float
    flops: float
    params: float
    rho: float
    budgets: Budgets
    # best relaxed objective (depths integer, widths real)
    relaxed_value: float
    solve_time: float
    status: str
    stats: Dict[str, float] = field(default_factory=dict)
    #: the exact figures of ``spec``, counted by the convention's reference
    evaluation: Optional[Evaluation] = None


def kernel_roundings(space: SearchSpace, model: StructureModel,
                     z: np.ndarray) -> List[np.ndarray]:
    """Kernel vectors next to the relaxed (continuous) kernels: for every
    stage the allowed kernels just below and above, or the one it sits on."""
    allowed = np.sort(np.asarray(space.kernels, float))
    log_k = z[1 + 2 * model.M:]
    options = []
    for value in np.exp(log_k):
        close = allowed[np.isclose(allowed, value, rtol=1e-3)]
        if close.size:
            options.append([close[0]])
            continue
        below = allowed[allowed < value]
        above = allowed[allowed > value]
        options.append([
            v[-1] if i == 0 else v[0] for i, v in enumerate((below, above))
            if v.size
        ])
    vectors = [[]]
    for choice in options:
        vectors = [v + [c] for v in vectors for c in choice]
    return [np.asarray(v) for v in vectors[:16]]


def resolve_widths(search: DepthSearch, entry,
                   kernels) -> Optional[np.ndarray]:
    """Widths re-solved with the kernels fixed (None if infeasible)."""
    problem = search.width_problem
    problem.fix_kernels(kernels)
    try:
        problem.set_depths(np.asarray(entry.depths, float), search.budgets)
        z, entropy, _ = problem.solve(entry.z, iterations=6, tol=1e-7)
    finally:
        problem.fix_kernels(None)
    return z if entropy is not None else None


def round_design(space: SearchSpace, model: StructureModel, z: np.ndarray,
                 depths, mode: str) -> Candidates:
    """Grid point next to relaxed widths ``z`` (``nearest`` or ``down``)."""
    step = space.width_multiple
    snap = np.round if mode == 'nearest' else np.floor
    M = model.M
    widths = np.exp(z)

    def grid(values, low, high):
        return np.clip(snap(values / step) * step, max(low, step), high)

    stem = grid(widths[0], space.stem_channels[0], space.stem_channels[1])
    out = grid(widths[1:1 + M], space.channels[0], space.channels[1])
    if space.non_decreasing:
        out = np.maximum.accumulate(out)
    low, high = space.mid_bounds(out)
    mid = np.clip(
        grid(widths[1 + M:1 + 2 * M], space.channels[0], space.channels[1]),
        low, high)
    kernels = np.asarray(space.kernels, float)
    log_k = z[1 + 2 * M:]
    kernel = kernels[np.argmin(
        np.abs(np.log(kernels)[None, :] - log_k[:, None]), axis=1)]
    return Candidates.single(
        int(stem), out.astype(int), mid.astype(int), kernel.astype(int),
        np.asarray(depths, int))


def solve(space: SearchSpace,
          budgets: Budgets,
          convention: str = 'paper',
          alpha: Optional[Sequence[float]] = None,
          beta: float = DEFAULT_BETA,
          top: int = 3,
          progress: Optional[Callable[[str], None]] = None) -> DesignResult:
    """Design a network for ``budgets`` in ``space`` (module docstring)."""
    check_convention(convention)
    alpha = tuple(alpha) if alpha is not None else default_alpha(
        scored_stage_count(space.strides, convention))
    say = progress or (lambda message: None)
    started = time.perf_counter()
    model = StructureModel(space, convention, alpha)
    evaluate = batched_evaluator(space, convention, alpha, beta)
    search = DepthSearch(model, budgets, beta)
    say('searching depths (convex width problem per depth vector)')
    ranked = search.search(top=top)
    if not ranked:
        raise InfeasibleBudgetError(
            infeasibility_reasons(space, budgets, convention, alpha, beta))
    relaxed_value = ranked[0].value
    say(f'relaxation: {search.solves} width solves, best relaxed value '
        f'{relaxed_value:.2f} at depths {list(ranked[0].depths)}')
    trace = SearchTrace()
    best, best_score = None, -math.inf
    seen = set()
    starts = [(entry, entry.z) for entry in ranked]
    for entry in ranked:
        for kernels in kernel_roundings(space, model, entry.z):
            z = resolve_widths(search, entry, kernels)
            if z is not None:
                starts.append((entry, z))
    for entry, z in starts:
        for mode in ('nearest', 'down'):
            start = round_design(space, model, z, entry.depths, mode)
            key = start.key(0)
            if key in seen:
                continue
            seen.add(key)
            feasible = repair(space, evaluate, budgets, start, trace)
            if feasible is None:
                continue
            design, score = improve(space, evaluate, budgets, feasible, trace)
            if score > best_score:
                best, best_score = design, score
    if best is None:
        raise InfeasibleBudgetError(
            infeasibility_reasons(space, budgets, convention, alpha, beta))
    say(f'local improvement: {trace.steps} steps, {trace.evaluations} exact '
        f'evaluations')
    spec = space.to_spec(*best.row(0))
    exact = verify(spec, budgets, convention, alpha, beta)
    elapsed = time.perf_counter() - started
    return DesignResult(
        spec=spec,
        convention=convention,
        score=exact.score,
        entropy=exact.entropy,
        penalty=exact.penalty,
        flops=exact.flops,
        params=exact.params,
        rho=exact.rho,
        budgets=budgets,
        relaxed_value=relaxed_value,
        solve_time=elapsed,
        status='optimal (local)',
        stats=dict(
            width_solves=search.solves,
            depth_vectors=len(search.cache),
            local_steps=trace.steps,
            exact_evaluations=trace.evaluations),
        evaluation=exact)


def verify(spec: ArchSpec, budgets: Budgets, convention: str, alpha,
           beta) -> Evaluation:
    """The exact figures of a spec (:func:`mmdeepmad.conventions.evaluate`);
    raises if a budget breaks, so such a design is never returned."""
    exact = evaluate(spec, convention, alpha=alpha, beta=beta)
    if not budgets.satisfied_by(exact.flops, exact.params, exact.rho):
        broken = [
            name for name, bound in budgets.constrained.items()
            if exact.figure(name) > bound
        ]
        raise AssertionError(
            f'internal error: the design breaks {broken} by exact count; '
            'it is not returned')
    return exact


def infeasibility_reasons(space: SearchSpace, budgets: Budgets,
                          convention: str, alpha, beta) -> List[tuple]:
    """Which budget cannot be met, and the smallest value that can:
    ``(text, advice)`` pairs for :class:`InfeasibleBudgetError`."""
    evaluate = batched_evaluator(space, convention, alpha, beta)
    M = space.num_stages
    step = space.width_multiple
    low = max(space.channels[0], step)
    thinnest = Candidates.single(
        max(space.stem_channels[0], step), [low] * M,
        space.mid_bounds(np.full(M, low))[0], [min(space.kernels)] * M,
        [space.depth[0]] * M)
    widest_out = np.full(M, space.channels[1])
    widest = Candidates.single(space.stem_channels[1], widest_out,
                               space.mid_bounds(widest_out)[1],
                               [max(space.kernels)] * M, [space.depth[0]] * M)
    thin, wide = evaluate(thinnest), evaluate(widest)
    reasons = []
    for name, smallest in (('flops', float(thin.flops[0])),
                           ('params', float(thin.params[0])),
                           ('rho', float(min(thin.rho[0], wide.rho[0])))):
        bound = getattr(budgets, name)
        if bound is not None and smallest > bound:
            reasons.append(
                (f'the {_LABELS[name]} budget {format_budget(name, bound)} '
                 f'cannot be met: the smallest {_LABELS[name]} in this space '
                 f'is {format_budget(name, smallest)}',
                 Advice(name, format_budget(name, smallest, up=True))))
    if not reasons:
        joint = smallest_jointly(space, budgets, convention, alpha)
        for name, smallest in joint.items():
            bound = getattr(budgets, name)
            if smallest is not None and bound is not None and \
                    smallest[0] > bound:
                others = ' and '.join(
                    f'{_LABELS[other]} <= '
                    f'{format_budget(other, getattr(budgets, other))}'
                    for other in ('flops', 'params', 'rho')
                    if other != name and getattr(budgets, other) is not None)
                lower, buildable = smallest
                text = (f'the {_LABELS[name]} budget '
                        f'{format_budget(name, bound)} cannot be met together '
                        f'with {others}: the smallest {_LABELS[name]} that '
                        f'can is at least {format_budget(name, lower)} (the '
                        'continuous bound)')
                advice = None
                if buildable is not None:
                    value = format_budget(name, buildable, up=True)
                    text += f' and {value} is met by a buildable design'
                    advice = Advice(name, value)
                reasons.append((text, advice))
    if not reasons:
        reasons.append(
            ('the budgets cannot all be met at once (each alone can): '
             f'FLOPs <= {format_budget("flops", budgets.flops)}, params <= '
             f'{format_budget("params", budgets.params)}, rho <= '
             f'{budgets.rho}; raise one of them', None))
    return reasons


def smallest_jointly(space: SearchSpace, budgets: Budgets, convention: str,
                     alpha) -> Dict[str, Optional[tuple]]:
    """For FLOPs and params: (lower bound, buildable value) of the smallest
    value a network of the space can have while meeting the other budgets.
    The bound is a geometric program at the smallest depths (the cheapest and
    the easiest on rho); the buildable value is its minimiser rounded up to
    the grid and counted exactly (None if that misses another budget). None
    where the other budgets alone cannot be met."""
    import cvxpy as cp

    from . import program
    model = StructureModel(space, convention, alpha)
    problem = program.WidthProblem(model)
    depths = np.full(model.M, float(space.depth[0]))
    huge = 1e30
    result: Dict[str, Optional[tuple]] = {}
    for name in ('flops', 'params'):
        relaxed = Budgets(
            flops=huge if name == 'flops' else (budgets.flops or huge),
            params=huge if name == 'params' else (budgets.params or huge),
            rho=budgets.rho or huge)
        problem.set_depths(depths, relaxed)
        own = problem.flops_budget if name == 'flops' else \
            problem.params_budget
        coef = problem.log_flop_coef if name == 'flops' else \
            problem.log_param_coef
        others = [c for c in problem.problem.constraints if c is not own]
        minimum = cp.Problem(
            cp.Minimize(cp.log_sum_exp(problem.A @ problem.z + coef)), others)
        try:
            program._solve(minimum)
        except cp.SolverError:
            result[name] = None
            continue
        ok = minimum.status in ('optimal', 'optimal_inaccurate')
        if not ok:
            result[name] = None
            continue
        # a buildable design: the minimiser's widths rounded up to the grid
        # (wider only helps rho); its exact value is one that can be met
        z = np.asarray(problem.z.value)
        grid = round_design(space, model, z, depths.astype(int), 'nearest')
        step = space.width_multiple
        widths = np.exp(z)
        grid.stem[:] = min(space.stem_channels[1],
                           int(np.ceil(widths[0] / step) * step))
        grid.out[0] = np.minimum(
            np.ceil(widths[1:1 + model.M] / step) * step, space.channels[1])
        if space.non_decreasing:
            grid.out[0] = np.maximum.accumulate(grid.out[0])
        low, high = space.mid_bounds(grid.out[0])
        grid.mid[0] = np.clip(
            np.ceil(widths[1 + model.M:1 + 2 * model.M] / step) * step, low,
            high)
        exact = batched_evaluator(space, convention, alpha, 0.0)(grid)
        other_ok = all(
            getattr(budgets, other) is None
            or float(getattr(exact, other)[0]) <= getattr(budgets, other)
            for other in ('flops', 'params', 'rho') if other != name)
        buildable = float(getattr(exact, name)[0]) if other_ok and bool(
            space.contains(grid)[0]) else None
        result[name] = (float(np.exp(minimum.value)), buildable)
    return result
