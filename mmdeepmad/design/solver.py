"""Solve Eq. 5: relaxation, depth search, rounding, repair, local improvement,
verification.

1. :class:`~mmdeepmad.design.depth_search.DepthSearch` picks integer depth
   vectors, each scored by the convex width problem (cvxpy, log space).
2. The widths of the best few are rounded to the grid (channels to multiples of
   ``width_multiple``, kernels to the allowed set) two ways (nearest, down).
3. :func:`~mmdeepmad.design.local_search.repair` moves a rounded design inside
   the budgets; :func:`~mmdeepmad.design.local_search.improve` climbs to a
   local
   optimum of the exact discrete problem.
4. The best design is verified spec by spec with the exact counters of the
   convention; a design that breaks a budget by exact count is never returned.
"""
from __future__ import annotations
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .budgets import Budgets
from .depth_search import DepthSearch
from .local_search import SearchTrace, improve, repair
from .paper_fast import evaluate_paper
from .search_space import Candidates, SearchSpace
from .spec import ArchSpec
from .structure_model import CONVENTIONS, StructureModel


class InfeasibleBudgetError(ValueError):
    """No design of the space meets the budgets; the message says which."""


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


def make_evaluator(space: SearchSpace, convention: str, alpha: Sequence[float],
                   beta: float) -> Callable:
    """Batched exact scorer of a convention (paper_fast / tinynas_fast)."""
    if convention == 'paper':
        return lambda cand: evaluate_paper(space, cand, alpha, beta)
    from .paper_fast import BatchScores
    from .tinynas_fast import TinyNASFastScorer
    scorer = TinyNASFastScorer(
        space.block,
        space.strides,
        stem_stride=space.stem_stride,
        stem_kernel=space.stem_kernel,
        head_channels=space.head_channels,
        image_size=space.resolution,
        alpha=alpha,
        beta=beta)

    def evaluate(cand: Candidates) -> BatchScores:
        scores = scorer(cand.out, cand.mid, cand.kernel, cand.depth, cand.stem)
        return BatchScores(
            score=scores.penalised_score,
            entropy=scores.score,
            penalty=scores.depth_penalty,
            flops=scores.flops,
            params=scores.params,
            rho=scores.rho)

    return evaluate


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
          beta: float = 10.0,
          top: int = 3,
          progress: Optional[Callable[[str], None]] = None) -> DesignResult:
    """Design a network for ``budgets`` in ``space`` (module docstring)."""
    if convention not in CONVENTIONS:
        raise ValueError(f'convention must be one of {", ".join(CONVENTIONS)};'
                         f' got {convention!r}')
    alpha = tuple(alpha) if alpha is not None else default_alpha_for(
        space, convention)
    say = progress or (lambda message: None)
    started = time.perf_counter()
    model = StructureModel(space, convention, alpha)
    evaluate = make_evaluator(space, convention, alpha, beta)
    search = DepthSearch(model, budgets, beta)
    say('searching depths (convex width problem per depth vector)')
    ranked = search.search(top=top)
    if not ranked:
        raise InfeasibleBudgetError(
            explain_infeasible(space, budgets, convention, alpha, beta))
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
            explain_infeasible(space, budgets, convention, alpha, beta))
    say(f'local improvement: {trace.steps} steps, {trace.evaluations} exact '
        f'evaluations')
    spec = space.to_spec(*best.row(0))
    result = verify(spec, space, budgets, convention, alpha, beta)
    elapsed = time.perf_counter() - started
    return DesignResult(
        spec=spec,
        convention=convention,
        score=result['score'],
        entropy=result['entropy'],
        penalty=result['penalty'],
        flops=result['flops'],
        params=result['params'],
        rho=result['rho'],
        budgets=budgets,
        relaxed_value=relaxed_value,
        solve_time=elapsed,
        status='optimal (local)',
        stats=dict(
            width_solves=search.solves,
            depth_vectors=len(search.cache),
            local_steps=trace.steps,
            exact_evaluations=trace.evaluations))


def default_alpha_for(space: SearchSpace, convention: str):
    count = 5 if convention == 'tinynas' else space.num_stages
    return tuple([1.0] * (count - 1) + [8.0])


def verify(spec: ArchSpec, space: SearchSpace, budgets: Budgets,
           convention: str, alpha, beta) -> Dict[str, float]:
    """Exact figures of a spec, counted one by one; raises if a budget
    breaks."""
    if convention == 'paper':
        from .counters import count
        from .quantities import paper_score
        scored = paper_score(spec, alpha, beta)
        counts = count(spec)
        figures = dict(
            score=scored.score,
            entropy=scored.entropy,
            penalty=scored.penalty,
            flops=float(counts.flops),
            params=float(counts.params),
            rho=scored.rho)
    else:
        from .tinynas import evaluate_tinynas
        scored = evaluate_tinynas(spec, alpha=alpha, beta=beta)
        figures = dict(
            score=scored.penalised_score,
            entropy=scored.score,
            penalty=scored.depth_penalty,
            flops=float(scored.flops),
            params=float(scored.params),
            rho=scored.rho)
    broken = [
        name for name in ('flops', 'params', 'rho')
        if getattr(budgets, name) is not None
        and figures[name] > getattr(budgets, name)
    ]
    if broken:
        raise AssertionError(
            f'internal error: the design breaks {broken} by exact count; '
            'it is not returned')
    return figures


def explain_infeasible(space: SearchSpace, budgets: Budgets, convention: str,
                       alpha, beta) -> str:
    """Which budget cannot be met, and the smallest value that can."""
    evaluate = make_evaluator(space, convention, alpha, beta)
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
    units = dict(flops='FLOPs', params='params', rho='rho')
    reasons = []
    for name, smallest in (('flops', float(thin.flops[0])),
                           ('params', float(thin.params[0])),
                           ('rho', float(min(thin.rho[0], wide.rho[0])))):
        bound = getattr(budgets, name)
        if bound is not None and smallest > bound:
            reasons.append(
                f'the {units[name]} budget {format_quantity(name, bound)} '
                f'cannot be met: the smallest {units[name]} in this space is '
                f'{format_quantity(name, smallest)} '
                f'(use --{name} {format_quantity(name, smallest, up=True)} '
                'or more)')
    if not reasons:
        joint = smallest_jointly(space, budgets, convention, alpha)
        for name, smallest in joint.items():
            bound = getattr(budgets, name)
            if smallest is not None and bound is not None and \
                    smallest[0] > bound:
                others = ' and '.join(
                    f'{units[other]} <= '
                    f'{format_quantity(other, getattr(budgets, other))}'
                    for other in ('flops', 'params', 'rho')
                    if other != name and getattr(budgets, other) is not None)
                lower, buildable = smallest
                reasons.append(
                    f'the {units[name]} budget {format_quantity(name, bound)} '
                    f'cannot be met together with {others}: the smallest '
                    f'{units[name]} that can is at least '
                    f'{format_quantity(name, lower)} (the continuous bound)' +
                    (f' and {format_quantity(name, buildable, up=True)} is '
                     f'met by a buildable design (use --{name} '
                     f'{format_quantity(name, buildable, up=True)} or more)'
                     if buildable is not None else ''))
    if not reasons:
        reasons.append(
            'the budgets cannot all be met at once (each alone can): '
            f'FLOPs <= {format_quantity("flops", budgets.flops)}, params <= '
            f'{format_quantity("params", budgets.params)}, rho <= '
            f'{budgets.rho}; raise one of them')
    return '; '.join(reasons)


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
        exact = make_evaluator(space, convention, alpha, 10.0)(grid)
        other_ok = all(
            getattr(budgets, other) is None
            or float(getattr(exact, other)[0]) <= getattr(budgets, other)
            for other in ('flops', 'params', 'rho') if other != name)
        buildable = float(getattr(exact, name)[0]) if other_ok and bool(
            space.contains(grid)[0]) else None
        result[name] = (float(np.exp(minimum.value)), buildable)
    return result


def format_quantity(name: str, value, up: bool = False) -> str:
    """4.13G / 25.55M style, rounded up when ``up`` (a value that suffices)."""
    if value is None:
        return 'unbounded'
    if name == 'rho':
        if up:
            return f'{math.ceil(value * 1000) / 1000:.3f}'
        return f'{value:.3g}'
    for scale, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if value >= scale:
            shown = value / scale
            if up:
                shown = math.ceil(shown * 1000) / 1000
            return f'{shown:.3f}{unit}'.replace('.000', '')
    return f'{math.ceil(value) if up else value:g}'
