"""Solve Eq. 5: relaxation, depth search, rounding, repair, local improvement,
verification.

1. :class:`~mmdeepmad.design.depth_search.DepthSearch` picks integer depth
   vectors, each scored by the convex width problem (cvxpy, log space).
2. The widths of the best few are rounded to the grid (channels to multiples of
   ``width_multiple``, kernels to the allowed set) two ways (nearest, down).
3. :func:`~mmdeepmad.design.local_search.repair` moves a rounded design inside
   the budgets; :func:`~mmdeepmad.design.local_search.improve` climbs to a
   local optimum of the exact discrete problem, and
   :func:`~mmdeepmad.design.local_search.iterated_search` kicks it out of its
   basin and climbs again (a fixed set of kicks: deterministic).
4. The best design is verified spec by spec with the exact counters of the
   convention; a design that breaks a budget by exact count is never returned.
"""
from __future__ import annotations
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions import (DEFAULT_BETA, Evaluation, check_convention,
                                   default_alpha, evaluate, scored_stage_count)
from mmdeepmad.conventions.budgets import Budgets
from . import program
from .batched import batched_evaluator
from .depth_search import DepthSearch
from .feasibility import (SEARCH_NODES, Advice, InfeasibleBudgetError,
                          advise_budget, branch_and_bound,
                          infeasibility_reasons, smallest_latency)
from .local_search import SearchTrace, improve, iterated_search, repair
from .relaxation import StructureModel
from .search_space import Candidates, SearchSpace

__all__ = [
    'Advice', 'DesignResult', 'InfeasibleBudgetError', 'advise_budget',
    'design_or_none', 'infeasibility_reasons', 'smallest_latency', 'solve',
    'verified_figures'
]


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
    #: predicted seconds on the device (with a latency model), else None
    latency: Optional[float] = None


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
          progress: Optional[Callable[[str], None]] = None,
          latency=None) -> DesignResult:
    """Design a network for ``budgets`` in ``space`` (module docstring);
    ``latency`` is the device's :class:`~mmdeepmad.latency.LatencyModel`
    (needed for a latency budget).

    When the local search finds none, the branch and bound of the
    certificate searches the whole space (:data:`~.feasibility.SEARCH_NODES`
    boxes) and finds one or proves there is none; otherwise
    :class:`InfeasibleBudgetError` says which (:mod:`.feasibility`), with
    advice checked by solving again."""
    check_convention(convention)
    if budgets.latency is not None and latency is None:
        raise ValueError('a latency budget needs the device\'s latency model '
                         '(latency=LatencyModel, from a profiled LUT)')
    alpha = tuple(alpha) if alpha is not None else default_alpha(
        scored_stage_count(space.strides, convention))
    result, proof = _design(space, budgets, convention, alpha, beta, top,
                            progress, latency)
    if result is None:
        reasons, proven = infeasibility_reasons(
            space,
            budgets,
            convention,
            alpha,
            beta,
            progress=progress,
            latency=latency,
            proof=proof)
        raise InfeasibleBudgetError(reasons, proven)
    return result


def design_or_none(space: SearchSpace,
                   budgets: Budgets,
                   convention: str,
                   alpha,
                   beta: float,
                   latency=None) -> Optional[DesignResult]:
    """The design :func:`solve` finds, or None (no error, no advice)."""
    return _design(space, budgets, convention, alpha, beta, 3, None,
                   latency)[0]


def _design(space, budgets, convention, alpha, beta, top, progress,
            latency) -> Tuple[Optional[DesignResult], object]:
    """``(result, proof)``: the local search's design, else the one the
    branch and bound meets; ``proof`` is the branch and bound's certificate
    when it ran (None otherwise)."""
    result = _search(space, budgets, convention, alpha, beta, top, progress,
                     latency)
    if result is not None:
        return result, None
    say = progress or (lambda message: None)
    say('the local search found no design: branch and bound over the whole '
        f'space (up to {SEARCH_NODES} boxes)')
    started = time.perf_counter()
    proof = branch_and_bound(space, budgets, convention, alpha, beta,
                             SEARCH_NODES, latency)
    if proof.design is None:
        return None, proof
    return _improved(space, budgets, convention, alpha, beta, latency, proof,
                     started), proof


def _improved(space, budgets, convention, alpha, beta, latency, proof,
              started) -> DesignResult:
    """The branch and bound's design climbed by the exact iterated local
    search, verified."""
    evaluate = batched_evaluator(space, convention, alpha, beta, latency)
    trace = SearchTrace()
    best, score = improve(space, evaluate, budgets, proof.design, trace)
    best, score = iterated_search(space, evaluate, budgets, best, score, trace)
    spec = space.to_spec(*best.row(0))
    figures = verified_figures(spec, budgets, convention, alpha, beta, latency)
    return DesignResult(
        convention=convention,
        budgets=budgets,
        relaxed_value=math.nan,
        solve_time=time.perf_counter() - started,
        status=('found by branch and bound (the local search found none), '
                f'then exact iterated local search; {proof.status}'),
        stats=dict(
            boxes=proof.nodes,
            local_steps=trace.steps,
            exact_evaluations=trace.evaluations),
        **figures)


def _search(space: SearchSpace,
            budgets: Budgets,
            convention: str,
            alpha,
            beta: float,
            top: int,
            progress: Optional[Callable[[str], None]],
            latency=None) -> Optional[DesignResult]:
    """The design of :func:`solve`, or None when none is found."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    model = StructureModel(space, convention, alpha, latency)
    evaluate = batched_evaluator(space, convention, alpha, beta, latency)
    search = DepthSearch(model, budgets, beta)
    say('searching depths (convex width problem per depth vector)')
    ranked = search.search(top=top)
    if not ranked:
        return None
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
    rounded = []
    for entry, z in starts:
        for mode in ('nearest', 'down'):
            start = round_design(space, model, z, entry.depths, mode)
            key = start.key(0)
            if key not in seen:
                seen.add(key)
                rounded.append(start)
    # single-move repair first; where it is stuck at every start, repair
    # that can also exchange (one quantity up, another down)
    for exchanges in (False, True):
        for start in rounded:
            feasible = repair(
                space, evaluate, budgets, start, trace, exchanges=exchanges)
            if feasible is None:
                continue
            design, score = improve(space, evaluate, budgets, feasible, trace)
            if score > best_score:
                best, best_score = design, score
        if best is not None:
            break
    if best is None:
        return None
    # kicks out of the local optimum, climbed again (iterated local search)
    best, best_score = iterated_search(space, evaluate, budgets, best,
                                       best_score, trace)
    say(f'local improvement: {trace.steps} steps, {trace.evaluations} exact '
        f'evaluations')
    spec = space.to_spec(*best.row(0))
    figures = verified_figures(spec, budgets, convention, alpha, beta, latency)
    elapsed = time.perf_counter() - started
    return DesignResult(
        convention=convention,
        budgets=budgets,
        relaxed_value=relaxed_value,
        solve_time=elapsed,
        status=(
            'local optimum (integer depths by pattern search, widths '
            'by convex-concave steps, exact iterated local search); convex '
            'solves: ' + program.describe_solves(search.width_problem.counts)),
        stats=dict(
            width_solves=search.solves,
            depth_vectors=len(search.cache),
            local_steps=trace.steps,
            exact_evaluations=trace.evaluations),
        **figures)


def verified_figures(spec: ArchSpec,
                     budgets: Budgets,
                     convention: str,
                     alpha,
                     beta,
                     latency=None) -> dict:
    """The :class:`DesignResult` fields of a spec, counted exactly
    (:func:`verify`, :func:`verify_latency`); raises if a budget breaks."""
    exact = verify(spec, budgets, convention, alpha, beta)
    return dict(
        spec=spec,
        score=exact.score,
        entropy=exact.entropy,
        penalty=exact.penalty,
        flops=exact.flops,
        params=exact.params,
        rho=exact.rho,
        evaluation=exact,
        latency=(verify_latency(spec, budgets, latency)
                 if latency is not None else None))


def verify(spec: ArchSpec, budgets: Budgets, convention: str, alpha,
           beta) -> Evaluation:
    """The exact figures of a spec (:func:`mmdeepmad.conventions.evaluate`);
    raises if a budget breaks, so such a design is never returned."""
    exact = evaluate(spec, convention, alpha=alpha, beta=beta)
    counted = dataclasses.replace(budgets, latency=None)  # verify_latency
    if not counted.satisfied_by(exact.flops, exact.params, exact.rho):
        broken = [
            name for name, bound in counted.constrained.items()
            if exact.figure(name) > bound
        ]
        raise AssertionError(
            f'internal error: the design breaks {broken} by exact count; '
            'it is not returned')
    return exact


def verify_latency(spec: ArchSpec, budgets: Budgets, latency) -> float:
    """The predicted latency of a spec, counted from its layout
    (:meth:`~mmdeepmad.latency.LatencyModel.predict`); raises if it breaks
    the latency budget."""
    seconds = latency.predict(spec)
    if budgets.latency is not None and seconds > budgets.latency:
        raise AssertionError(
            'internal error: the design breaks the latency budget by the '
            'layout\'s count; it is not returned')
    return seconds
