"""A plain seeded random hill climb over the same discrete space and scorer.

The yardstick of the design benchmark: it knows nothing of the program's
structure. From a random design of the space (the least violating of a seeded
sample of 4,096, feasible when any is) it proposes one random mutation at a
time (a width scaled by one of TinyNAS's factors 0.5-1.5 or moved by one or two
grid steps, a depth moved by -2..2, a kernel redrawn; half of the proposals
carry two such mutations, so that the walk can trade budget between two
quantities) and keeps it when it is better: lower budget violation while
infeasible, higher penalised score once feasible. Proposals are drawn and
scored in small batches and taken in order, which is the same walk as one at a
time, only faster.
"""
from __future__ import annotations
import time
from dataclasses import dataclass

import numpy as np

from mmdeepmad.design.local_search import violation
from mmdeepmad.design.search_space import Candidates, SearchSpace

CHANNEL_FACTORS = (0.5, 0.6, 0.8, 1.25, 1.5)


@dataclass
class BaselineResult:
    design: Candidates
    score: float
    feasible: bool
    evaluations: int
    seconds: float


def thinnest(space: SearchSpace) -> Candidates:
    M = space.num_stages
    step = space.width_multiple
    low = max(space.channels[0], step)
    out = np.full(M, low)
    return Candidates.single(
        max(space.stem_channels[0], step), out,
        space.mid_bounds(out)[0], [min(space.kernels)] * M,
        [space.depth[0]] * M)


def random_designs(rng: np.random.Generator, space: SearchSpace,
                   count: int) -> Candidates:
    """Uniform draws from the space's grid (Guideline 3 by sorting)."""
    M = space.num_stages
    grid = space.channel_grid()
    out = np.sort(rng.choice(grid, size=(count, M)), axis=1)
    low, high = space.mid_bounds(out)
    steps = (high - low) // space.width_multiple
    mid = low + space.width_multiple * np.floor(
        rng.random((count, M)) * (steps + 1)).astype(np.int64)
    stems = np.arange(
        max(space.stem_channels[0], space.width_multiple),
        space.stem_channels[1] + 1, space.width_multiple)
    stem = rng.choice(stems, size=count)
    kernel = rng.choice(np.asarray(space.kernels), size=(count, M))
    depth = space.depth[0] + np.floor(
        rng.random((count, M)) *
        (space.max_depths[None, :] - space.depth[0] + 1)).astype(np.int64)
    return Candidates(stem, out, mid, kernel, depth)


def _mutate(rng: np.random.Generator, space: SearchSpace, design: Candidates,
            count: int) -> Candidates:
    M = space.num_stages
    step = space.width_multiple
    batch = Candidates(*(np.repeat(getattr(design, name), count, axis=0)
                         for name in ('stem', 'out', 'mid', 'kernel',
                                      'depth')))
    # one mutation, or two at once (which lets the walk trade budget between
    # two quantities along a binding budget)
    first = rng.integers(0, 1 + 4 * M, size=count)
    second = np.where(
        rng.random(count) < 0.5, rng.integers(0, 1 + 4 * M, size=count), -1)
    for row, target in [(r, int(t)) for r, t in enumerate(first)] + [
        (r, int(t)) for r, t in enumerate(second) if t >= 0
    ]:
        if target == 0 or 1 <= target <= 2 * M:
            if target == 0:
                array, column = batch.stem, None
                value = int(array[row])
            else:
                array = batch.out if target <= M else batch.mid
                column = (target - 1) % M
                value = int(array[row, column])
            if rng.random() < 0.5:
                new = value * CHANNEL_FACTORS[rng.integers(
                    len(CHANNEL_FACTORS))]
                new = int(round(new / step)) * step
            else:
                new = value + step * int(rng.choice((-2, -1, 1, 2)))
            if new == value:
                new = value + step
            if column is None:
                array[row] = new
            else:
                array[row, column] = new
        elif target <= 3 * M:
            column = target - 2 * M - 1
            batch.kernel[row, column] = space.kernels[rng.integers(
                len(space.kernels))]
        else:
            column = target - 3 * M - 1
            batch.depth[row, column] += int(rng.choice((-2, -1, 1, 2)))
    return batch


def random_local_search(space: SearchSpace,
                        evaluate,
                        budgets,
                        seconds: float = 60.0,
                        seed: int = 0,
                        batch: int = 32,
                        evaluations: int = None,
                        restart_after: int = None) -> BaselineResult:
    """Hill climb from the best of a random sample until ``seconds`` of wall
    time or, when given, ``evaluations`` exact evaluations (fixed work: the
    same result on any machine) have passed. With ``restart_after``, a walk
    that has not improved for that many batches starts again from a new
    random sample (a random-restart hill climb); the best feasible design of
    all walks is returned."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    count = 0
    best = None

    def done() -> bool:
        if evaluations is not None:
            return count >= evaluations
        return time.perf_counter() - started >= seconds

    while True:
        sample = random_designs(rng, space, 4096)
        sample = sample.take(np.flatnonzero(space.contains(sample)))
        scored = evaluate(sample)
        over = violation(scored, budgets)
        scores = np.where(over == 0, np.asarray(scored.score, float), -np.inf)
        pick = int(np.argmax(scores)) if np.isfinite(scores).any() else int(
            np.argmin(over))
        current = sample.take(pick)
        current_violation = float(over[pick])
        current_score = float(np.asarray(scored.score)[pick])
        count += len(sample)
        stale = 0
        while not done():
            if restart_after is not None and stale >= restart_after:
                break
            proposals = _mutate(rng, space, current, batch)
            inside = space.contains(proposals)
            stale += 1
            if not inside.any():
                continue
            proposals = proposals.take(np.flatnonzero(inside))
            scored = evaluate(proposals)
            count += len(proposals)
            over = violation(scored, budgets)
            scores = np.asarray(scored.score, dtype=float)
            if current_violation > 0:
                better = over <= current_violation
                strictly = over < current_violation
            else:
                better = (over == 0) & (scores > current_score)
                strictly = better
            hits = np.flatnonzero(better)
            if hits.size:
                pick = int(hits[0])
                if strictly[pick]:
                    stale = 0
                current = proposals.take(pick)
                current_violation = float(over[pick])
                current_score = float(scores[pick])
        walk = (current_violation == 0, current_score, current)
        if best is None or (walk[0], walk[1]) > (best[0], best[1]):
            best = walk
        if restart_after is None or done():
            break
    feasible, score, design = best
    return BaselineResult(
        design=design,
        score=score,
        feasible=bool(feasible),
        evaluations=count,
        seconds=time.perf_counter() - started)
