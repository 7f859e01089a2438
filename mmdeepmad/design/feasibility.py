"""When the search finds no design: a proof that none exists, the least
value each budget could take, and advice checked to work.

"Infeasible" is said only with a proof. Two kinds are used:

* **Alone** (exact): FLOPs and params only grow with every width and depth,
  so the thinnest, shallowest network of the space has the least of each;
  rho is least at the smallest depths with every width at its largest (rho
  = L / geometric mean width, Eq. 2-3); a latency model's terms are
  non-negative, so :func:`smallest_latency` bounds every network's.
* **Together**: the branch and bound of :mod:`.certificate` closes every box
  of the space as infeasible; its relaxation holds every design of a box
  (:mod:`.bounding`), so no design meets the budgets. A latency budget is
  not part of that relaxation: it is proven alone or not at all.

With a proof, :func:`proven_least` bisects one budget with the others kept:
every design of the space meeting them has that budget's quantity above
the value it returns. The advice is a budget value a design was solved
with, never promised beyond it.
"""
from __future__ import annotations
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from mmdeepmad.conventions.budgets import BUDGET_FIELDS, Budgets
from .batched import batched_evaluator
from .search_space import Candidates, SearchSpace
from .units import (format_bound, format_budget, format_value, parse_budget,
                    round_up)

#: How a budget is named in messages: the library's words.
LABELS = dict(flops='FLOPs', params='params', rho='rho', latency='latency')

#: Infeasibility advice is a budget value a design was solved with: the solver
#: is a local search, and a design found at one budget does not promise one at
#: every larger budget, so the advice names the value it checked, never "or
#: more". The values tried for a budget: the least value it could take times
#: these steps, rounded up to three significant digits, lowest first, until
#: one gives a design...
ADVICE_STEPS = (1.0, 1.02, 1.05, 1.1, 1.25, 1.5)
#: ... within this many seconds of solving for all the advice together.
ADVICE_SECONDS = 25.0
#: Boxes the branch and bound may solve to find a design or prove there is
#: none, when the local search found none (fixed work: deterministic).
SEARCH_NODES = 400
#: Boxes per proof while bisecting a budget's least value.
PROOF_NODES = 25
#: Halvings of the log-interval that brackets a budget's least value.
BISECTION_STEPS = 10


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
    return (f'raise the {LABELS[advice.budget]} budget to {advice.value}: '
            'checked, a design was solved with it')


class InfeasibleBudgetError(ValueError):
    """No design meeting the budgets was found. ``reasons`` are ``(text,
    advice)`` pairs: the text says whether that is proven and what bounds
    the budgets; the :class:`Advice`, when there is one, is a value checked
    to work. :meth:`describe` words the advice (``advise``: e.g. as a
    command-line flag). ``proven``: no design of the space meets them."""

    def __init__(self, reasons: Sequence[tuple], proven: bool = False) -> None:
        self.reasons = tuple(reasons)
        self.proven = proven
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


def branch_and_bound(space: SearchSpace,
                     budgets: Budgets,
                     convention: str,
                     alpha,
                     beta: float,
                     max_nodes: int,
                     latency=None,
                     progress=None):
    """The certificate's branch and bound with no design to start from,
    limited by ``max_nodes`` boxes: a design it meets, or a proof that there
    is none (:attr:`~.certificate.Certificate.infeasible`), or neither."""
    from .certificate import certify
    return certify(
        space,
        budgets,
        convention,
        alpha,
        beta,
        incumbent=(),
        seconds=None,
        max_nodes=max_nodes,
        latency=latency,
        progress=progress)


def proven_least(space: SearchSpace, budgets: Budgets, name: str,
                 convention: str, alpha,
                 beta: float) -> Tuple[Optional[float], bool]:
    """``(least, hopeless)`` for a budget ``name`` the branch and bound
    proved cannot be met with the others: every design of the space meeting
    the other budgets has ``name`` above ``least`` (proven at ``least``, by
    bisection in log scale from the budget upwards); ``hopeless`` (``least``
    None): no design meets the others at all, whatever ``name``."""

    def proven_at(value: Optional[float]) -> bool:
        changed = dataclasses.replace(budgets, **{name: value})
        return _root_infeasible(space, changed, convention, alpha,
                                beta) or branch_and_bound(
                                    space, changed, convention, alpha, beta,
                                    PROOF_NODES).infeasible

    if proven_at(None):
        return None, True
    low = float(getattr(budgets, name))
    high = 2.0 * low
    for _ in range(64):
        if not proven_at(high):
            break
        low, high = high, 2.0 * high
    for _ in range(BISECTION_STEPS):
        middle = math.sqrt(low * high)
        if proven_at(middle):
            low = middle
        else:
            high = middle
    return low, False


def _root_infeasible(space, budgets, convention, alpha, beta) -> bool:
    """The relaxation of the whole space (one convex solve, before the
    branch and bound tightens its ranges) has no point within the budgets:
    a proof that no design meets them."""
    from .bounding import BoxRelaxation, root_box, tighten
    relaxation = BoxRelaxation(space, convention, alpha, beta, budgets)
    root = tighten(space, relaxation.grids, root_box(space, relaxation.grids))
    return root is None or relaxation.solve(root).bound == -math.inf


def smallest_alone(space: SearchSpace,
                   convention: str,
                   alpha,
                   beta: float,
                   latency=None) -> dict:
    """The least FLOPs, params and rho (and latency bound) of the space,
    each over every design (module docstring: exact)."""
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
    return alone


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


def infeasibility_reasons(space: SearchSpace,
                          budgets: Budgets,
                          convention: str,
                          alpha,
                          beta,
                          progress: Optional[Callable[[str], None]] = None,
                          seconds: float = ADVICE_SECONDS,
                          latency=None,
                          proof=None) -> Tuple[List[tuple], bool]:
    """``(reasons, proven)`` for :class:`InfeasibleBudgetError`: the
    ``(text, advice)`` pairs, and whether no design of the space meets the
    budgets is proven (alone, or by ``proof``, the branch and bound's
    :class:`~.certificate.Certificate`; module docstring).

    A budget the least value of the space exceeds cannot be met (that value
    is named); with a proof, each budget gets its least value with the
    others kept (:func:`proven_least`), or is said not to help alone. Advice
    is searched from the least value upwards (:data:`ADVICE_STEPS`, three
    significant digits, rounded up): the first value that gives a design
    (the same solve a re-run does). Without a proof, the text says the
    search found none and that one may exist, and each budget is raised
    from its own value. The checks stop after ``seconds``; a budget without
    a checked value gets no advice, and the text says how far it was
    tried."""
    say = progress or (lambda message: None)
    given = [name for name in BUDGET_FIELDS if getattr(budgets, name)]
    alone = smallest_alone(space, convention, alpha, beta, latency)
    deadline = time.perf_counter() + seconds
    proven = (proof is not None and proof.infeasible) or any(
        alone[name] > getattr(budgets, name) for name in given)

    def others(name: str) -> str:
        return ' and '.join(f'{LABELS[other]} <= '
                            f'{format_budget(other, getattr(budgets, other))}'
                            for other in given if other != name)

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
            say(f'checking the advice: designing with {LABELS[name]} <= '
                f'{text}, the other budgets unchanged')
            changed = dataclasses.replace(budgets, **{name: value})
            if _designs(space, changed, convention, alpha, beta, latency):
                return Advice(name, text), tried
            tried.append(text)
        return None, tried

    def not_found(name: str, tried: List[str]) -> str:
        if not tried:
            return (f'; no {LABELS[name]} value was checked (the '
                    f'{seconds:g} s for checking advice ran out)')
        return (f'; raising {LABELS[name]} alone up to {tried[-1]} gave no '
                f'design (checked {", ".join(tried)})')

    reasons, hopeless = [], []
    for name in given:
        bound = getattr(budgets, name)
        label, rest = LABELS[name], others(name)
        texts, start = [], alone[name]
        if alone[name] > bound:
            kind = 'a lower bound of' if name == 'latency' else 'the smallest'
            texts.append(f'{kind} {label} in this space is '
                         f'{format_budget(name, alone[name])}')
        if proof is not None and proof.infeasible and name != 'latency' \
                and rest:
            say(f'bounding the least {label} with {rest} (branch and bound)')
            least, none = proven_least(space, budgets, name, convention, alpha,
                                       beta)
            if none:
                hopeless.append(name)
                if not texts:
                    continue
            else:
                texts.append(f'every design of the space meeting {rest} has '
                             f'{label} > {format_bound(name, least)} (proven '
                             'by branch and bound)')
                start = max(least, start)
        if not texts:
            continue
        text = (f'the {label} budget {format_budget(name, bound)} cannot be '
                f'met: ' + ', and '.join(texts))
        advice, tried = (None, []) if name in hopeless else first_working(
            name, start, ADVICE_STEPS)
        if name in hopeless:
            text += (f'; raising {label} alone cannot help: no design of the '
                     f'space meets {rest} (proven by branch and bound)')
        elif advice is None:
            text += not_found(name, tried)
        reasons.append((text, advice))
    listed = ', '.join(
        f'{LABELS[n]} <= {format_budget(n, getattr(budgets, n))}'
        for n in given)
    if proven and not reasons:
        raising = ('no single budget raised alone can help: raise more '
                   'than one' if hopeless else 'a latency budget is not part '
                   'of the relaxation, so no least value is given')
        reasons.append((f'no design of the space meets {listed} (proven by '
                        f'branch and bound: {proof.status}); {raising}', None))
    elif not proven:
        stopped = (f'; {proof.nodes} boxes of branch and bound neither found '
                   'one nor proved there is none' if proof is not None else '')
        reasons.append(
            (f'no design meeting {listed} together was found (each can '
             f'alone; the search is local{stopped}, so such a design may '
             'still exist)', None))
        for name in given:
            advice, tried = first_working(name, getattr(budgets, name),
                                          ADVICE_STEPS[1:])
            if advice is not None:
                reasons.append(('', advice))
        if len(reasons) == 1:
            reasons[0] = (reasons[0][0] + '; no single budget raised by up to '
                          f'{ADVICE_STEPS[-1]:g}x gave a design: raise more '
                          'than one', None)
    return reasons, proven


def _designs(space, budgets, convention, alpha, beta, latency) -> bool:
    """Whether :func:`~.solver.solve` finds a design for ``budgets``."""
    from .solver import design_or_none
    try:
        return design_or_none(space, budgets, convention, alpha, beta,
                              latency) is not None
    except AssertionError:  # a design the exact count refuses
        return False
