"""Repair and local improvement of a rounded design with an exact batched scorer.

After the relaxation is rounded to the grid, a design may break a budget by a
little, and the grid point next to the relaxed optimum is rarely the best one.
Both are fixed here by deterministic best-improvement over a large neighbourhood:
every single move (a channel width up or down by 1-8 grid steps, a depth by 1 or
2, another kernel) and every *exchange* (one quantity up, another down), which
lets the design trade budget between stages without ever leaving the feasible
set. All neighbours are scored exactly in one batched call per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from .search_space import Candidates, SearchSpace

#: evaluate(candidates) -> object with .score .flops .params .rho arrays
Evaluator = Callable[[Candidates], object]


def violation(result, budgets) -> np.ndarray:
    """Sum of relative budget excesses (0 where every budget is met)."""
    total = np.zeros_like(np.asarray(result.score, dtype=float))
    for name in ('flops', 'params', 'rho'):
        bound = getattr(budgets, name)
        if bound is not None:
            total = total + np.maximum(
                0.0, np.asarray(getattr(result, name)) / bound - 1.0)
    return total


def _variables(space: SearchSpace):
    """(field, column) of every integer quantity a move can change."""
    M = space.num_stages
    names = [('stem', None)]
    names += [('out', i) for i in range(M)]
    names += [('mid', i) for i in range(M)]
    names += [('depth', i) for i in range(M)]
    return names


def _shift(cand: Candidates, field_name: str, column: Optional[int],
           delta: np.ndarray) -> None:
    array = getattr(cand, field_name)
    if column is None:
        array += delta
    else:
        array[:, column] += delta


def neighbours(space: SearchSpace, design: Candidates,
               exchanges: bool = True) -> Candidates:
    """All single moves and exchanges of one design (a batch of size 1)."""
    step = space.width_multiple
    variables = _variables(space)
    unit = [1 if name == 'depth' else step for name, _ in variables]
    moves = []  # list of lists of (variable index, delta)
    for v, size in enumerate(unit):
        scales = (1, 2) if variables[v][0] == 'depth' else (1, 2, 4, 8)
        for scale in scales:
            moves.append([(v, size * scale)])
            moves.append([(v, -size * scale)])
    if exchanges:
        for a, size_a in enumerate(unit):
            for b, size_b in enumerate(unit):
                if a == b:
                    continue
                for sa, sb in ((1, 1), (2, 1), (1, 2)):
                    moves.append([(a, size_a * sa), (b, -size_b * sb)])
    count = len(moves)
    batch = Candidates(*(np.repeat(getattr(design, name), count, axis=0)
                         for name in ('stem', 'out', 'mid', 'kernel',
                                      'depth')))
    for row, move in enumerate(moves):
        for v, delta in move:
            name, column = variables[v]
            array = getattr(batch, name)
            if column is None:
                array[row] += delta
            else:
                array[row, column] += delta
    # kernel changes, alone and with every single decrease
    extra = []
    for i in range(space.num_stages):
        for k in space.kernels:
            if k == design.kernel[0, i]:
                continue
            alone = design.take(0)
            alone = Candidates(alone.stem.copy(), alone.out.copy(),
                               alone.mid.copy(), alone.kernel.copy(),
                               alone.depth.copy())
            alone.kernel[0, i] = k
            extra.append(alone)
            if exchanges:
                for v, size in enumerate(unit):
                    moved = Candidates(alone.stem.copy(), alone.out.copy(),
                                       alone.mid.copy(), alone.kernel.copy(),
                                       alone.depth.copy())
                    name, column = variables[v]
                    _shift(moved, name, column, -size)
                    extra.append(moved)
    if extra:
        batch = Candidates.concat([batch] + extra)
    return batch


@dataclass
class SearchTrace:
    steps: int = 0
    evaluations: int = 0


def repair(space: SearchSpace, evaluate: Evaluator, budgets,
           design: Candidates, trace: SearchTrace,
           max_steps: int = 500) -> Optional[Candidates]:
    """Move to a design inside every budget, losing as little score as possible."""
    current = design
    result = evaluate(current)
    trace.evaluations += 1
    for _ in range(max_steps):
        current_violation = float(violation(result, budgets)[0])
        if current_violation == 0.0 and bool(space.contains(current)[0]):
            return current
        batch = neighbours(space, current, exchanges=False)
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


def improve(space: SearchSpace, evaluate: Evaluator, budgets,
            design: Candidates, trace: SearchTrace,
            max_steps: int = 1000, tol: float = 1e-9):
    """Best-improvement ascent over :func:`neighbours`; returns (design, score)."""
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


def unique_rows(batch: Candidates) -> List[int]:
    seen, keep = set(), []
    for i in range(len(batch)):
        key = batch.key(i)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return keep
