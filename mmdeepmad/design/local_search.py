"""Repair and local improvement of a rounded design, with an exact scorer.

After the relaxation is rounded to the grid, a design may break a budget by a
little, and the grid point next to the relaxed optimum is rarely the best one.
Both are fixed here by deterministic best-improvement over a large
neighbourhood: every single move (a channel width up or down by 1-8 grid steps,
a depth by 1 or 2, another kernel) and every *exchange* (one quantity up,
another down), which lets the design trade budget between stages without ever
leaving the feasible set. All neighbours are scored exactly in one batched call
per step. :func:`iterated_search` then kicks the local optimum out of its
basin (depth moved between stages, a stage's widths scaled) and climbs again,
keeping the best: an iterated local search with a fixed, deterministic set of
kicks.
"""
from __future__ import annotations
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from mmdeepmad.conventions.budgets import BUDGET_FIELDS
from .search_space import Candidates, SearchSpace

#: evaluate(candidates) -> object with .score .flops .params .rho arrays
Evaluator = Callable[[Candidates], object]


def violation(result, budgets) -> np.ndarray:
    """Sum of relative budget excesses (0 where every budget is met)."""
    total = np.zeros_like(np.asarray(result.score, dtype=float))
    for name in BUDGET_FIELDS:
        bound = getattr(budgets, name)
        if bound is not None:
            total = total + np.maximum(
                0.0,
                np.asarray(getattr(result, name)) / bound - 1.0)
    return total


_FIELDS = ('stem', 'out', 'mid', 'kernel', 'depth')


def _flatten(design: Candidates) -> np.ndarray:
    """One design as [stem, out.., mid.., kernel.., depth..]."""
    return np.concatenate([
        design.stem[:1], design.out[0], design.mid[0], design.kernel[0],
        design.depth[0]
    ])


def _unflatten(rows: np.ndarray, M: int) -> Candidates:
    return Candidates(rows[:, 0].copy(), rows[:, 1:1 + M].copy(),
                      rows[:, 1 + M:1 + 2 * M].copy(),
                      rows[:, 1 + 2 * M:1 + 3 * M].copy(),
                      rows[:, 1 + 3 * M:].copy())


_MOVES_CACHE = {}


def _move_matrix(space: SearchSpace, exchanges: bool) -> np.ndarray:
    """Deltas of every single move and exchange, one row per move."""
    key = (space.num_stages, space.width_multiple, exchanges)
    if key in _MOVES_CACHE:
        return _MOVES_CACHE[key]
    M = space.num_stages
    n = 1 + 4 * M
    step = space.width_multiple
    # (column, unit step, scales) of every integer quantity but the kernels
    columns = [(0, step, (1, 2, 4, 8))]
    columns += [(1 + i, step, (1, 2, 4, 8)) for i in range(2 * M)]
    columns += [(1 + 3 * M + i, 1, (1, 2)) for i in range(M)]
    rows = []
    for column, unit, scales in columns:
        for scale in scales:
            for sign in (1, -1):
                row = np.zeros(n, dtype=np.int64)
                row[column] = sign * unit * scale
                rows.append(row)
    if exchanges:
        for a, unit_a, _ in columns:
            for b, unit_b, _ in columns:
                if a == b:
                    continue
                for sa, sb in ((1, 1), (2, 1), (1, 2)):
                    row = np.zeros(n, dtype=np.int64)
                    row[a] = unit_a * sa
                    row[b] = -unit_b * sb
                    rows.append(row)
    matrix = np.asarray(rows)
    _MOVES_CACHE[key] = matrix
    return matrix


def neighbours(space: SearchSpace,
               design: Candidates,
               exchanges: bool = True) -> Candidates:
    """All single moves and exchanges of one design (a batch of size 1): a
    width by 1, 2, 4 or 8 grid steps, a depth by 1 or 2, one quantity up and
    another down, and every other kernel of a stage, alone or with one
    quantity one step down."""
    M = space.num_stages
    x = _flatten(design)
    moves = _move_matrix(space, exchanges)
    rows = [x[None, :] + moves]
    single = (moves != 0).sum(axis=1) == 1
    smallest = moves.min(axis=1)
    unit_down = moves[single & (
        (smallest == -1) | (smallest == -space.width_multiple))]
    if not exchanges:
        unit_down = unit_down[:0]
    for i in range(M):
        column = 1 + 2 * M + i
        for k in space.kernels:
            if k == x[column]:
                continue
            changed = x.copy()
            changed[column] = k
            rows.append(changed[None, :])
            if len(unit_down):
                rows.append(changed[None, :] + unit_down)
    return _unflatten(np.concatenate(rows), M)


@dataclass
class SearchTrace:
    steps: int = 0
    evaluations: int = 0


def repair(space: SearchSpace,
           evaluate: Evaluator,
           budgets,
           design: Candidates,
           trace: SearchTrace,
           max_steps: int = 500,
           exchanges: bool = False) -> Optional[Candidates]:
    """Move inside every budget, losing as little score as possible: each
    step takes the neighbour of least budget violation (single moves; with
    ``exchanges`` also one quantity up and another down, which can trade one
    budget for another where single moves are stuck)."""
    current = design
    result = evaluate(current)
    trace.evaluations += 1
    for _ in range(max_steps):
        current_violation = float(violation(result, budgets)[0])
        if current_violation == 0.0 and bool(space.contains(current)[0]):
            return current
        batch = neighbours(space, current, exchanges=exchanges)
        inside = space.contains(batch)
        if not inside.any():
            return None
        batch = batch.take(np.flatnonzero(inside))
        scores = evaluate(batch)
        trace.evaluations += len(batch)
        over = violation(scores, budgets)
        best = np.flatnonzero(over == over.min())
        pick = best[np.argmax(np.asarray(scores.score)[best])]
        if over[pick] >= current_violation and bool(
                space.contains(current)[0]):
            return None
        current = batch.take(pick)
        result = evaluate(current)
        trace.steps += 1
    return None


def improve(space: SearchSpace,
            evaluate: Evaluator,
            budgets,
            design: Candidates,
            trace: SearchTrace,
            max_steps: int = 1000,
            tol: float = 1e-9):
    """Best-improvement ascent over :func:`neighbours`; (design, score)."""
    current = design
    score = float(np.asarray(evaluate(current).score)[0])
    trace.evaluations += 1
    for _ in range(max_steps):
        batch = neighbours(space, current)
        inside = np.flatnonzero(space.contains(batch))
        if inside.size == 0:
            break
        batch = batch.take(inside)
        result = evaluate(batch)
        trace.evaluations += len(batch)
        ok = violation(result, budgets) == 0.0
        scores = np.where(ok, np.asarray(result.score, dtype=float), -np.inf)
        pick = int(np.argmax(scores))
        if not scores[pick] > score + tol * abs(score):
            break
        current, score = batch.take(pick), float(scores[pick])
        trace.steps += 1
    return current, score


#: Kicks of :func:`kicks`: depth moved between two stages by these steps,
#: one stage's depth by these, one stage's out and mid widths scaled by these.
DEPTH_TRANSFERS = (1, 2)
DEPTH_STEPS = (-2, -1, 1, 2)
WIDTH_SCALES = (0.8, 1.25)


def kicks(space: SearchSpace, design: Candidates) -> Candidates:
    """Perturbations of one design too large for :func:`neighbours`: a
    depth moved from one stage to another, one stage deeper or shallower,
    one stage's out and mid widths scaled (the other stages' widths kept
    non-decreasing, mids within their bounds). Only those in the space."""
    M = space.num_stages
    step = space.width_multiple
    rows = []

    def copy() -> Candidates:
        return Candidates(*(getattr(design, name).copy() for name in _FIELDS))

    for i in range(M):
        for j in range(M):
            if i == j:
                continue
            for moved in DEPTH_TRANSFERS:
                kick = copy()
                kick.depth[0, i] += moved
                kick.depth[0, j] -= moved
                rows.append(kick)
    for i in range(M):
        for moved in DEPTH_STEPS:
            kick = copy()
            kick.depth[0, i] += moved
            rows.append(kick)
        for scale in WIDTH_SCALES:
            kick = copy()
            for array in (kick.out, kick.mid):
                array[0,
                      i] = max(step,
                               int(round(array[0, i] * scale / step)) * step)
            if space.non_decreasing:
                out = kick.out[0]
                kick.out[0] = (
                    np.maximum.accumulate(out)
                    if scale > 1 else np.minimum.accumulate(out[::-1])[::-1])
            low, high = space.mid_bounds(kick.out[0])
            kick.mid[0] = np.clip(kick.mid[0], low, high)
            rows.append(kick)
    batch = Candidates.concat(rows)
    return batch.take(np.flatnonzero(space.contains(batch)))


def iterated_search(space: SearchSpace,
                    evaluate: Evaluator,
                    budgets,
                    design: Candidates,
                    score: float,
                    trace: SearchTrace,
                    rounds: int = 5,
                    tol: float = 1e-9):
    """From a local optimum: every kick (:func:`kicks`) is repaired into the
    budgets and climbed (:func:`improve`); the best result becomes the
    design and the kicks start again from it, for at most ``rounds`` rounds
    or until a round finds nothing better. Returns (design, score)."""
    for _ in range(rounds):
        improved = False
        batch = kicks(space, design)
        for index in range(len(batch)):
            start = repair(
                space,
                evaluate,
                budgets,
                batch.take(index),
                trace,
                exchanges=True)
            if start is None:
                continue
            found, found_score = improve(space, evaluate, budgets, start,
                                         trace)
            if found_score > score + tol * abs(score):
                design, score, improved = found, found_score, True
        if not improved:
            break
    return design, score


def unique_rows(batch: Candidates) -> List[int]:
    seen, keep = set(), []
    for i in range(len(batch)):
        key = batch.key(i)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return keep
