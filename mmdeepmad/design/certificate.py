"""A proven upper bound on the best score of a search space (Eq. 5).

:func:`certify` runs a branch and bound over boxes of the discrete space
(:mod:`mmdeepmad.design.bounding`): per stage a range of integer depths and,
per log-width coordinate, a range of grid values. Every box gets the optimum
of a convex relaxation that holds all its designs
(:class:`~mmdeepmad.design.bounding.BoxRelaxation`), so no design of the
box that meets the budgets scores more. The box of largest bound is split
first, where its relaxed point errs most: a depth range (McCormick error of
the repeated units' log widths, fractional depth) or a width / kernel range
between two grid values (McCormick error of a stage's ``u_s v_s``, a width
between two grid points); a box whose bound does not exceed the best score
found (by more than ``gap_tolerance``) is closed; a single design is scored
exactly. Designs are searched for on the way: each box's relaxed point is
rounded to the grid, and the one of the box being split is also repaired
and improved by the exact local search.

What the certificate guarantees: no design of the space (``SearchSpace.
contains``: grid widths, grid-rounded mid bounds, allowed kernels, integer
depths within the caps, Guideline 3) whose exact figures in the convention
meet the FLOPs, params and rho budgets has an exact score (entropy minus
penalty, Eq. 5) above ``bound``; ``score`` is the exact score of
``design``, a design of the space within the budgets, and ``gap = (bound -
score) / |bound|``. The bound rests on the convex solver's 'optimal' and
'infeasible' answers, taken with the margins of
:mod:`mmdeepmad.design.bounding`; a box whose program ends otherwise keeps
its parent's bound (looser, still valid), and how every solve ended is
counted in the status. Work is done in a fixed order and the local search
is limited by counted evaluations, so a run limited by ``max_nodes`` is the
same on every machine; ``seconds`` stops it by the clock (the bound is then
the largest one of the open boxes, still valid).
"""
from __future__ import annotations
import heapq
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions import (DEFAULT_BETA, default_alpha,
                                   scored_stage_count)
from .batched import batched_evaluator
from .bounding import Box, BoxRelaxation, NodeSolution, root_box, tighten
from .local_search import SearchTrace, improve, repair
from .program import describe_solves
from .search_space import Candidates, SearchSpace

#: Boxes whose bound is within this relative distance of the best score are
#: closed (the certificate's bound then includes them).
GAP_TOLERANCE = 1e-4
#: Exact evaluations the search for better designs may take per box solved
#: (about a fifth of the time of a run).
EVALUATIONS_PER_BOX = 1000
#: Steps of a repair or an improvement of a rounded design.
IMPROVE_STEPS = 40


@dataclass
class Certificate:
    """A proven bound on the best score of the space, and the best design
    found: no design of the space meeting the budgets scores above
    ``bound``."""

    bound: float
    gap: float  # (bound - score) / |bound|
    seconds: float
    status: str
    nodes: int
    design: Optional[Candidates]
    score: float
    #: every box was closed (no limit stopped the branch and bound)
    complete: bool = False

    @property
    def infeasible(self) -> bool:
        """Proven: no design of the space meets the budgets."""
        return self.complete and self.design is None

    def to_meta(self) -> dict:
        """What the arch JSON records: bound, gap, seconds, status."""
        return dict(
            bound=float(self.bound),
            gap=float(self.gap),
            seconds=float(self.seconds),
            status=self.status)


@dataclass
class _Node:
    box: Box
    solution: NodeSolution
    depth: int


def _relative_gap(bound: float, score: float) -> float:
    if not math.isfinite(bound):
        return math.inf if bound > 0 else 0.0
    if not math.isfinite(score):
        return math.inf
    return max(0.0, (bound - score) / max(abs(bound), 1e-12))


def certify(space: SearchSpace,
            budgets,
            convention: str = 'paper',
            alpha: Optional[Sequence[float]] = None,
            beta: float = DEFAULT_BETA,
            incumbent=None,
            seconds: float = 60.0,
            max_nodes: Optional[int] = None,
            latency=None,
            progress: Optional[Callable[[str], None]] = None,
            gap_tolerance: float = GAP_TOLERANCE) -> Certificate:
    """Bound the best score (Eq. 5) over every design of ``space`` meeting
    ``budgets`` in ``convention`` (module docstring).

    ``incumbent``: a design to start from (an ArchSpec of the space or a
    Candidates; ``()``: none); None: the design
    :func:`~mmdeepmad.design.solver.solve` finds. ``seconds`` (None: no
    limit) and ``max_nodes`` (boxes solved) stop the search early.
    ``progress`` receives a line now and then.
    ``latency``: the device's latency model, needed for a latency budget,
    which the designs found keep (the exact evaluator checks it) but the
    relaxation does not: the bound is then the one of the problem without
    it (valid, possibly looser). ``alpha`` must be non-negative."""
    if budgets.latency is not None and latency is None:
        raise ValueError('a latency budget needs the device\'s latency model '
                         '(latency=LatencyModel)')
    started = time.perf_counter()
    say = progress or (lambda message: None)
    alpha = tuple(alpha) if alpha is not None else default_alpha(
        scored_stage_count(space.strides, convention))
    relaxation = BoxRelaxation(space, convention, alpha, beta, budgets)
    evaluate = batched_evaluator(space, convention, alpha, beta, latency)
    search = _Search(space, relaxation, evaluate, budgets, say)
    if incumbent is None:
        incumbent = _solver_design(space, budgets, convention, alpha, beta,
                                   latency)
    elif isinstance(incumbent, ArchSpec):
        incumbent = space.candidates_from_spec(incumbent)
    if incumbent is not None:
        for index in range(len(incumbent)):
            search.offer(incumbent.take(index))
    run = _BranchAndBound(space, relaxation, search, gap_tolerance, say)
    deadline = started + seconds if seconds is not None else math.inf
    stopped = run.run(deadline, max_nodes)
    best = search.score
    final = max(run.open_bound(), best)
    solves = describe_solves(run.counts)
    if stopped is None:
        if search.design is None:
            status = ('proven: no design of the space meets the budgets '
                      f'(convex solves: {solves})')
            final = -math.inf
        else:
            status = f'proven optimal within gap (convex solves: {solves})'
    else:
        status = (f'{stopped}: {len(run.heap)} open boxes remain (convex '
                  f'solves: {solves})')
    return Certificate(
        bound=final,
        gap=_relative_gap(final, best),
        seconds=time.perf_counter() - started,
        status=status,
        nodes=run.nodes,
        design=search.design,
        score=best,
        complete=stopped is None)


class _BranchAndBound:
    """Best-first branch and bound over boxes (module docstring)."""

    def __init__(self, space, relaxation, search, gap_tolerance, say):
        self.space = space
        self.relaxation = relaxation
        self.grids = relaxation.grids
        self.search = search
        self.gap_tolerance = gap_tolerance
        self.say = say
        self.counts: Counter = Counter()
        self.heap: list = []
        self.sequence = 0
        self.nodes = 0
        #: the largest bound of a box closed as within tolerance of the best
        self.closed_bound = -math.inf

    def closes(self, bound: float) -> bool:
        score = self.search.score
        return bound <= score + self.gap_tolerance * abs(score)

    def open_bound(self) -> float:
        if not self.heap:
            return self.closed_bound
        return max(-self.heap[0][0], self.closed_bound)

    def push(self, box: Box, parent_bound: float, depth: int) -> None:
        """Solve a box's program and keep the box unless it is closed; a
        single design is scored exactly instead."""
        if np.array_equal(box.lo, box.hi) and np.array_equal(
                box.depth_lo, box.depth_hi):
            self.search.offer(_single_design(self.grids, box))
            return
        solution = self.relaxation.solve(box)
        self.nodes += 1
        self.counts[solution.status] += 1
        if not math.isfinite(solution.bound) and solution.bound > 0:
            solution = NodeSolution(solution.status, parent_bound)
        bound = min(solution.bound, parent_bound)
        if bound == -math.inf:
            return
        if solution.z is not None:
            self.search.round_and_offer(solution, self.nodes, False)
        if self.closes(bound):
            self.closed_bound = max(self.closed_bound, bound)
            return
        heapq.heappush(self.heap,
                       (-bound, self.sequence, _Node(box, solution, depth)))
        self.sequence += 1

    def run(self, deadline: float, max_nodes: Optional[int]):
        """Branch until no box is open (None) or a limit is reached (its
        name)."""
        space, grids, relaxation = self.space, self.grids, self.relaxation
        root = tighten(space, grids, root_box(space, grids))
        if root is not None:
            # the least and largest of every width and v_s over the whole
            # space's program: every box inherits them
            root = relaxation.tighten_ranges(
                root, widths=True, counts=self.counts)
        if root is not None:
            root = tighten(space, grids, root)
        if root is not None:
            self.push(root, math.inf, 0)
        while self.heap:
            bound = -self.heap[0][0]
            if self.closes(bound):
                self.closed_bound = max(self.closed_bound, bound)
                self.heap = []
                return None
            if max_nodes is not None and self.nodes >= max_nodes:
                return 'node limit'
            if time.perf_counter() > deadline:
                return 'time limit'
            _, _, node = heapq.heappop(self.heap)
            box = node.box
            if node.solution.z is not None:
                self.search.round_and_offer(node.solution, self.nodes, True)
            children = _branch(space, relaxation, node)
            if not children:
                # a single design (its program is exact there): score it
                # (the best score found covers it from now on)
                self.search.offer(_single_design(grids, box))
                continue
            for child in children:
                child = tighten(space, grids, child)
                if child is not None:
                    self.push(child, bound, node.depth + 1)
            if self.nodes % 200 < 2:
                self.say(f'{self.nodes} boxes, bound '
                         f'{self.open_bound():.2f}, best '
                         f'{self.search.score:.2f}')
        return None


def _solver_design(space, budgets, convention, alpha, beta,
                   latency) -> Optional[Candidates]:
    """The design :func:`mmdeepmad.design.solver.solve` finds (None when
    it finds none): the first incumbent when none is given."""
    from .solver import _search
    try:
        result = _search(space, budgets, convention, alpha, beta, 3, None,
                         latency)
    except (AssertionError, ValueError):
        return None
    return None if result is None else space.candidates_from_spec(result.spec)


class _Search:
    """The best design met so far (exact scores only), and the search for
    better ones from the boxes' relaxed points: rounded to the grid
    (nearest and down), repaired into the budgets and improved by the
    exact local search (:mod:`mmdeepmad.design.local_search`), within a
    number of exact evaluations per box (:data:`EVALUATIONS_PER_BOX`;
    counted, not timed, so that a run is the same on every machine)."""

    def __init__(self, space, relaxation, evaluate, budgets, say):
        self.space = space
        self.relaxation = relaxation
        self.evaluate = evaluate
        self.budgets = budgets
        self.say = say
        self.design: Optional[Candidates] = None
        self.score = -math.inf
        self.seen = set()
        self.trace = SearchTrace()

    def offer(self, cand: Candidates) -> bool:
        """Take a design (batch of one) if it is in the space, meets the
        budgets and beats the best."""
        if not bool(self.space.contains(cand)[0]):
            return False
        result = self.evaluate(cand)
        if not bool(result.satisfies(self.budgets)[0]):
            return False
        score = float(result.score[0])
        if score > self.score:
            self.design, self.score = cand, score
            return True
        return False

    def round_and_offer(self, solution: NodeSolution, boxes: int,
                        thorough: bool) -> None:
        """Designs near a box's relaxed point: rounded to the grid and, when
        ``thorough`` (the box being split), repaired into the budgets and
        improved while the evaluations stay within
        :data:`EVALUATIONS_PER_BOX` times ``boxes``."""
        from .solver import round_design
        allowed = EVALUATIONS_PER_BOX * (boxes + 10)
        model = self.relaxation.model
        depths = np.clip(
            np.round(solution.depths), self.space.depth[0],
            self.space.max_depths).astype(int)
        for mode in ('nearest', 'down') if thorough else ('nearest', ):
            start = round_design(self.space, model, solution.z, depths, mode)
            key = (thorough, start.key(0))
            if key in self.seen:
                continue
            self.seen.add(key)
            result = self.evaluate(start)
            self.trace.evaluations += 1
            feasible = bool(result.satisfies(self.budgets)[0]) and bool(
                self.space.contains(start)[0])
            if feasible:
                self.offer(start)
            if not thorough or self.trace.evaluations > allowed:
                continue
            if feasible and float(
                    result.score[0]) < self.score - 0.02 * abs(self.score):
                continue
            if not feasible:
                start = repair(
                    self.space,
                    self.evaluate,
                    self.budgets,
                    start,
                    self.trace,
                    max_steps=IMPROVE_STEPS)
                if start is None:
                    continue
            design, _ = improve(
                self.space,
                self.evaluate,
                self.budgets,
                start,
                self.trace,
                max_steps=IMPROVE_STEPS)
            if self.offer(design):
                self.say(f'better design: {self.score:.2f}')


def _single_design(grids, box: Box) -> Candidates:
    values = [int(grid[index]) for grid, index in zip(grids, box.lo)]
    M = len(box.depth_lo)
    return Candidates.single(values[0], values[1:1 + M],
                             values[1 + M:1 + 2 * M], values[1 + 2 * M:],
                             box.depth_lo)


def _branch(space: SearchSpace, relaxation: BoxRelaxation, node: _Node):
    """Two children of a box, split where the relaxation errs most."""
    box, sol = node.box, node.solution
    fac = relaxation.factors
    model = relaxation.model
    M = model.M
    grids = relaxation.grids
    candidates = []  # (score, kind, index)
    if sol.z is None:
        # no solution to guide: split the widest range
        widths = [(box.depth_hi[i] - box.depth_lo[i], 'depth', i)
                  for i in range(M)]
        widths += [(box.hi[j] - box.lo[j], 'z', j) for j in range(len(grids))]
        score, kind, index = max(widths)
        if score <= 0:
            return []
        return _split(box, kind, index, None, grids)
    z, L = sol.z, sol.depths
    u = fac.Uz @ z + fac.Uc
    # sensitivity of the objective to each stage's log widths
    U = np.zeros(M)
    for s in range(len(fac.weights)):
        U += fac.weights[s] * u[s] * fac.VP[s]
    for i in range(M):
        if box.depth_hi[i] > box.depth_lo[i]:
            true_rest = (L[i] - 1) * (fac.R[i] @ z)
            err = abs(sol.rest[i] - true_rest) * U[i]
            frac = abs(L[i] - round(L[i]))
            err += U[i] * frac * (fac.R[i] @ z) * 0.5
            err += 1e-9 * (box.depth_hi[i] - box.depth_lo[i])
            candidates.append((err, 'depth', i))
    v = fac.Vfirst @ z + fac.VP @ sol.rest + fac.Vc
    for s in range(len(fac.weights)):
        if not fac.varying_u[s]:
            continue
        j = int(np.flatnonzero(fac.Uz[s])[0])
        if box.hi[j] > box.lo[j]:
            err = fac.weights[s] * (sol.terms[s] - u[s] * v[s])
            candidates.append((err, 'z', j))
    # widths strictly between grid points, and kernels
    for j in range(len(grids)):
        if box.hi[j] == box.lo[j]:
            continue
        value = math.exp(z[j])
        grid = grids[j][box.lo[j]:box.hi[j] + 1]
        k = int(np.searchsorted(grid, value))
        if 0 < k < len(grid) and grid[k] != value:
            below, above = grid[k - 1], grid[k]
            frac = min(value - below, above - value) / (above - below)
            stage_weight = U[(j - 1) % M] if j > 0 else U[0]
            err = frac * stage_weight * 0.1 * math.log(above / below)
            candidates.append((err, 'z', j))
        else:
            candidates.append((1e-12 * (box.hi[j] - box.lo[j]), 'z', j))
    if not candidates:
        return []
    candidates.sort(key=lambda item: (-item[0], item[1], item[2]))
    _, kind, index = candidates[0]
    at = L[index] if kind == 'depth' else math.exp(z[index])
    return _split(box, kind, index, at, grids)


def _split(box: Box, kind: str, index: int, at, grids):
    """Two boxes splitting ``index``'s range near ``at`` (None: middle)."""
    left, right = box.copy(), box.copy()
    if kind == 'depth':
        lo, hi = int(box.depth_lo[index]), int(box.depth_hi[index])
        if at is None:
            cut = (lo + hi) // 2
        else:
            middle = (lo + hi) / 2
            cut = int(math.floor(0.5 * at + 0.5 * middle))
        cut = min(max(cut, lo), hi - 1)
        left.depth_hi[index] = cut
        right.depth_lo[index] = cut + 1
        return [left, right]
    lo, hi = int(box.lo[index]), int(box.hi[index])
    if hi <= lo:
        return []
    if at is None:
        cut = (lo + hi) // 2
    else:
        grid = grids[index]
        position = int(np.searchsorted(grid, at)) - 1  # grid[pos] <= at
        middle = (lo + hi) / 2
        cut = int(math.floor(0.5 * position + 0.5 * middle))
    cut = min(max(cut, lo), hi - 1)
    left.hi[index] = cut
    right.lo[index] = cut + 1
    return [left, right]
