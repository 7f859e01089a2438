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
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions import (DEFAULT_BETA, Evaluation, check_convention,
                                   default_alpha, evaluate, scored_stage_count)
from mmdeepmad.conventions.budgets import BUDGET_FIELDS, Budgets
from . import program
from .batched import batched_evaluator
from .depth_search import DepthSearch
from .local_search import SearchTrace, improve, iterated_search, repair
from .relaxation import LATENCY_UNIT, StructureModel
from .search_space import Candidates, SearchSpace
from .units import (format_bound, format_budget, format_value, parse_budget,
                    round_up)

#: How a budget is named in messages: the library's words.
_LABELS = dict(flops='FLOPs', params='params', rho='rho', latency='latency')

#: Infeasibility advice is a budget value a design was solved with: the solver
#: is a local search, and a design found at one budget does not promise one at
#: every larger budget (mbv2, 128 px, params 997K, rho 0.14: FLOPs 730M gives
#: a design, 732M to 790M do not, 873M does), so the advice names the value
#: it checked, never "or more". The values tried for a budget: its bound
#: times these steps, rounded up to three significant digits, lowest first,
#: until one gives a design...
ADVICE_STEPS = (1.0, 1.02, 1.05, 1.1, 1.25, 1.5)
#: ... within this many seconds of solving for all the advice together.
ADVICE_SECONDS = 25.0


@dataclass(frozen=True)
class Advice:
    """A budget value that works: a design was solved with ``budget`` set to
    ``value`` and the other budgets unchanged (the same solve a re-run with
    that value does)."""

    budget: str  # 'flops', 'params', 'rho' or 'latency'
    value: str  # as one would type it: '732M', '0.181', '21.5ms'


def advise_budget(advice: Advice) -> str:
    """The library's wording of advice (the command line words it as a
    flag)."""
    return (f'raise the {_LABELS[advice.budget]} budget to {advice.value}: '
            'checked, a design was solved with it')


class InfeasibleBudgetError(ValueError):
    """No design of the space meets the budgets. ``reasons`` are
    ``(text, advice)`` pairs: the text names a budget that binds and what
    bounds it (the exact smallest value of the space, or the bound of the
    relaxation); the :class:`Advice`, when there is one, is a value checked
    to work. :meth:`describe` words the advice (``advise``: e.g. as a
    command-line flag)."""

    def __init__(self, reasons: Sequence[tuple]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(self.describe())

    @property
    def advice(self) -> List[Advice]:
        return [advice for _, advice in self.reasons if advice is not None]

    def describe(self, advise: Callable[[Advice], str] = advise_budget) -> str:
        parts = []
        for text, advice in self.reasons:
            if not text:
                parts.append(advise(advice))
            else:
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

    Raises :class:`InfeasibleBudgetError` when no design is found; its advice
    is checked by solving again (:func:`infeasibility_reasons`)."""
    check_convention(convention)
    if budgets.latency is not None and latency is None:
        raise ValueError('a latency budget needs the device\'s latency model '
                         '(latency=LatencyModel, from a profiled LUT)')
    alpha = tuple(alpha) if alpha is not None else default_alpha(
        scored_stage_count(space.strides, convention))
    result = _search(space, budgets, convention, alpha, beta, top, progress,
                     latency)
    if result is None:
        raise InfeasibleBudgetError(
            infeasibility_reasons(
                space,
                budgets,
                convention,
                alpha,
                beta,
                progress=progress,
                latency=latency))
    return result


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
    figures = verified_figures(spec, budgets, convention, alpha, beta,
                               latency)
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


def verified_figures(spec: ArchSpec, budgets: Budgets, convention: str,
                     alpha, beta, latency=None) -> dict:
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


def infeasibility_reasons(space: SearchSpace,
                          budgets: Budgets,
                          convention: str,
                          alpha,
                          beta,
                          progress: Optional[Callable[[str], None]] = None,
                          seconds: float = ADVICE_SECONDS,
                          latency=None) -> List[tuple]:
    """Which budgets were not met, the figures that say why, and a value of
    each that works: ``(text, advice)`` pairs for
    :class:`InfeasibleBudgetError`.

    Two figures are reported: the smallest value of the space (the thinnest,
    shallowest network, counted exactly; for FLOPs and params a proof that a
    smaller budget cannot be met) and, with the other budgets kept, the
    optimum of the relaxation (real widths, one unit per stage,
    :func:`smallest_jointly`; not a design, and not a proven bound on the
    discrete space). For a budget either figure exceeds, values from the
    larger of them upwards (:data:`ADVICE_STEPS`, three significant digits,
    rounded up) are checked by solving the design again with that budget
    raised and the others unchanged; the first that gives a design is the
    advice. When neither figure exceeds a budget (the grid search found
    nothing), each budget is raised from its own value the same way. The
    checks stop after ``seconds``; a budget without a checked value gets no
    advice, and the text says how far it was tried."""
    say = progress or (lambda message: None)
    evaluate = batched_evaluator(space, convention, alpha, beta, latency)
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
    alone = dict(
        flops=float(thin.flops[0]),
        params=float(thin.params[0]),
        rho=float(min(thin.rho[0], wide.rho[0])))
    if latency is not None:
        alone['latency'] = smallest_latency(space, latency)
    joint = smallest_jointly(space, budgets, convention, alpha, latency)
    deadline = time.perf_counter() + seconds

    def others(name: str) -> str:
        return ' and '.join(
            f'{_LABELS[other]} <= '
            f'{format_budget(other, getattr(budgets, other))}'
            for other in BUDGET_FIELDS
            if other != name and getattr(budgets, other) is not None)

    def first_working(name: str, start: float, steps) -> tuple:
        """(Advice or None, the values tried that gave no design)."""
        tried, last = [], None
        for factor in steps:
            value = parse_budget(name,
                                 format_value(name, round_up(start * factor)))
            if value == last or value <= getattr(budgets, name):
                continue
            last = value
            if time.perf_counter() > deadline:
                break
            text = format_value(name, value)
            say(f'checking the advice: designing with {_LABELS[name]} <= '
                f'{text}, the other budgets unchanged')
            changed = dataclasses.replace(budgets, **{name: value})
            try:
                found = _search(space, changed, convention, alpha, beta, 3,
                                None, latency)
            except AssertionError:  # a design the exact count refuses
                found = None
            if found is not None:
                return Advice(name, text), tried
            tried.append(text)
        return None, tried

    def not_found(name: str, tried: List[str]) -> str:
        if not tried:
            return (f'; no {_LABELS[name]} value was checked (the '
                    f'{seconds:g} s for checking advice ran out)')
        return (f'; raising {_LABELS[name]} alone up to {tried[-1]} gave no '
                f'design (checked {", ".join(tried)})')

    reasons = []
    for name in BUDGET_FIELDS:
        bound = getattr(budgets, name)
        if bound is None:
            continue
        smallest = alone[name]
        relaxed = joint.get(name)
        lower = None if relaxed is None else relaxed[0]
        label = _LABELS[name]
        rest = others(name)
        relaxation = (f'the relaxation (real widths, one unit per stage) '
                      f'needs {label} >= {format_bound(name, lower)}'
                      if lower is not None and lower > bound else '')
        if smallest > bound and name != 'rho':
            # FLOPs and params only grow with every width and depth: the
            # thinnest, shallowest network is the smallest (latency: a lower
            # bound of every network's, smallest_latency)
            text = (f'the {label} budget {format_budget(name, bound)} cannot '
                    f'be met: the smallest {label} in this space is '
                    f'{format_budget(name, smallest)}')
            if relaxation:
                text += f', and together with {rest} {relaxation}'
        elif smallest > bound:
            text = (f'the rho budget {format_budget(name, bound)} was not '
                    'met: the thinnest and the widest networks of this '
                    f'space have rho >= {format_budget(name, smallest)}')
            if relaxation:
                text += f', and together with {rest} {relaxation}'
        elif relaxation:
            text = (f'the {label} budget {format_budget(name, bound)} was not '
                    f'met together with {rest}: {relaxation}')
        else:
            continue
        advice = None
        if relaxed is None and rest:
            text += (f'; raising {label} alone cannot help: the relaxation '
                     f'has no network with {rest}')
        else:
            start = max(smallest, lower if lower is not None else 0.0)
            advice, tried = first_working(name, start, ADVICE_STEPS)
            if advice is None:
                text += not_found(name, tried)
        reasons.append((text, advice))
    if not reasons:
        given = [n for n in BUDGET_FIELDS if getattr(budgets, n)]
        listed = ', '.join(
            f'{_LABELS[n]} <= {format_budget(n, getattr(budgets, n))}'
            for n in given)
        if all(joint.get(n) is not None for n in given):
            why = ('each can alone and the relaxation meets them together; '
                   'the search over grid widths and integer depths is local, '
                   'so such a design may still exist')
        else:  # numerically borderline relaxations
            why = ('each can alone; the search is local, so such a design '
                   'may still exist')
        reasons.append((f'no design meeting {listed} together was found '
                        f'({why})', None))
        for name in given:
            if joint.get(name) is None:
                continue  # raising it alone cannot help
            advice, tried = first_working(name, getattr(budgets, name),
                                          ADVICE_STEPS[1:])
            if advice is not None:
                reasons.append(('', advice))
        if len(reasons) == 1:
            reasons[0] = (reasons[0][0] + '; no single budget raised by up to '
                          f'{ADVICE_STEPS[-1]:g}x gave a design: raise more '
                          'than one', None)
    return reasons


def smallest_latency(space: SearchSpace, latency) -> float:
    """A lower bound of the predicted latency of every network of ``space``:
    the terms every unit has (not those of a shortcut conv, pool or add),
    all non-negative monomials, at the smallest widths, kernels and depths
    of the space."""
    from mmdeepmad.latency.terms import ALWAYS
    priced = latency.stage_terms(space)
    step = space.width_multiple
    stem = max(space.stem_channels[0], step)
    low = max(space.channels[0], step)
    mid = max(low, int(space.mid_bounds(np.asarray([low]))[0][0]))
    kernel = min(space.kernels)
    depth = space.depth[0]

    def total(terms, width_in):
        return sum(coef * term.value(width_in, mid, low, kernel) / term.scale
                   for term, coef in terms if term.when == ALWAYS)

    seconds = sum(coef * term.value(1, 1, stem, 1) / term.scale
                  for term, coef in priced['stem'])
    width_in = stem
    for stage in priced['stages']:
        seconds += total(stage['first'], width_in)
        seconds += (depth - 1) * total(stage['rest'], low)
        width_in = low
    seconds += sum(coef * term.value(low, 1, 1, 1) / term.scale
                   for term, coef in priced['head'])
    return float(seconds)


def smallest_jointly(space: SearchSpace,
                     budgets: Budgets,
                     convention: str,
                     alpha,
                     latency=None) -> Dict[str, Optional[tuple]]:
    """For each budget: ``(relaxed, buildable)``, the least value of the
    relaxation while meeting the other budgets; None where the relaxation
    cannot meet the other budgets at all.

    ``relaxed`` is the optimum of the relaxation at the smallest depths (real
    widths; a geometric program for FLOPs and params, the least rho a linear
    program): not a design, and not a proven bound on every network of the
    discrete space. The buildable
    value (FLOPs and params) is its minimiser rounded up to the grid and
    counted exactly (None if that misses another budget); rho has none."""
    import cvxpy as cp

    model = StructureModel(space, convention, alpha, latency)
    problem = program.WidthProblem(model)
    depths = np.full(model.M, float(space.depth[0]))
    huge = 1e30
    result: Dict[str, Optional[tuple]] = {}
    names = BUDGET_FIELDS if latency is not None else BUDGET_FIELDS[:3]
    for name in names:
        relaxed = Budgets(
            **{
                field: huge if field == name else (
                    getattr(budgets, field) or huge)
                for field in names
            })
        problem.set_depths(depths, relaxed)
        if name == 'rho':
            own = problem.rho_bound
            objective = _log_rho(model, problem.z, depths)
        elif name == 'latency':
            own = problem.latency_budget
            objective = cp.log_sum_exp(problem.latency_rows @ problem.z +
                                       problem.log_latency_coef)
        else:
            own = problem.flops_budget if name == 'flops' else \
                problem.params_budget
            coef = problem.log_flop_coef if name == 'flops' else \
                problem.log_param_coef
            objective = cp.log_sum_exp(problem.A @ problem.z + coef)
        others = [c for c in problem.problem.constraints if c is not own]
        minimum = cp.Problem(cp.Minimize(objective), others)
        if program._solve(minimum) not in program.SOLVED:
            result[name] = None
            continue
        if name == 'rho':
            result[name] = (float(np.exp(minimum.value)), None)
            continue
        unit = LATENCY_UNIT if name == 'latency' else 1.0
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
        exact = batched_evaluator(space, convention, alpha, 0.0, latency)(grid)
        other_ok = all(
            getattr(budgets, other) is None
            or float(getattr(exact, other)[0]) <= getattr(budgets, other)
            for other in names if other != name)
        buildable = float(getattr(exact, name)[0]) if other_ok and bool(
            space.contains(grid)[0]) else None
        result[name] = (float(np.exp(minimum.value)) / unit, buildable)
    return result


def _log_rho(model: StructureModel, z, depths):
    """log rho of the relaxation as a convex function of the log-widths: the
    largest ``log D_g - (sum of log widths)_g / D_g`` over the groups rho
    bounds (one under ``paper``; TinyNAS bounds every scored stage)."""
    import cvxpy as cp
    G, g = model.cumulative_log_width(depths)
    D = model.cumulative_layers(depths)
    terms = []
    for end, with_head in model.rho_groups():
        row, const, layers = G[end + 1].copy(), g[end + 1], D[end + 1]
        if with_head:
            row = row + model.head_log_width()
            layers = layers + 1
        terms.append(math.log(layers) - (row @ z + const) / layers)
    return cp.max(cp.hstack(terms))
