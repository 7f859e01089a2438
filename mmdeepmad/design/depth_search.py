"""The integer part of Eq. 5: which depth vector.

For a fixed depth vector ``L`` the width problem is solved (convex-concave
procedure on the cvxpy program of :mod:`program`), which gives the relaxed
value ``V(L) = max_w entropy(w; L) - beta Q(L)`` with the widths free to trade
budget against depth. The depth vector is then chosen by a search over integer
vectors with ``V`` as the oracle, started from the rounded continuous optimum
of the alternating relaxation and from uniform depths:

1. seeds: the rounded alternating relaxation, every uniform vector
   ``min(d, cap_i)`` (the shape Guideline 2 favours) and the same with the
   first one, two or three stages at the minimum;
2. pattern search from the relaxation's seed and the two best others: moves
   ``L_i +- s`` and depth exchanges ``(L_i + s, L_j - s)`` ranked by their
   first-order gain (envelope theorem on the width problem's duals), steps
   s = 4, 2, 1.

Every oracle value is cached; warm starts make one evaluation a few
milliseconds of solver time.
"""
from __future__ import annotations
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import program
from .relaxation import StructureModel


@dataclass
class DepthValue:
    depths: Tuple[int, ...]
    value: float  # relaxed entropy - penalty (-inf if infeasible)
    entropy: float
    z: Optional[np.ndarray]
    gradient: Optional[np.ndarray] = None  # d entropy / dL (envelope theorem)


@dataclass
class DepthSearch:
    model: StructureModel
    budgets: object
    beta: float
    width_problem: program.WidthProblem = None
    cache: Dict[Tuple[int, ...], DepthValue] = field(default_factory=dict)
    solves: int = 0

    def __post_init__(self):
        if self.width_problem is None:
            self.width_problem = program.WidthProblem(self.model)
        self._warm = program.initial_point(self.model)

    # ---- oracle -------------------------------------------------------------
    def value(self, depths) -> DepthValue:
        key = tuple(int(d) for d in depths)
        if key in self.cache:
            return self.cache[key]
        space = self.model.space
        if (min(key) < space.depth[0]
                or np.any(np.asarray(key) > space.max_depths)):
            result = DepthValue(key, -math.inf, -math.inf, None)
        else:
            self.width_problem.set_depths(np.asarray(key, float), self.budgets)
            z, entropy, status = self.width_problem.solve(
                self._warm, iterations=4, tol=1e-6)
            self.solves += 1
            if entropy is None:
                result = DepthValue(key, -math.inf, -math.inf, None)
            else:
                penalty = program.depth_penalty(self.model, key, self.beta)
                result = DepthValue(key, entropy - penalty, entropy, z,
                                    self.width_problem.depth_gradient(z))
                self._warm = z
        self.cache[key] = result
        return result

    # ---- search -------------------------------------------------------------
    def seeds(self) -> List[Tuple[int, ...]]:
        space = self.model.space
        caps = space.max_depths
        seeds = []
        relaxed = program.relax(
            self.model,
            self.budgets,
            self.beta,
            width_problem=self.width_problem,
            rounds=6)
        self._relaxed_seed = bool(np.isfinite(relaxed.objective))
        if self._relaxed_seed:
            seeds.append(
                tuple(
                    int(v) for v in np.clip(
                        np.round(relaxed.depths), space.depth[0], caps)))
        # uniform depths (Guideline 2), and the same with the first one, two
        # or three stages at the minimum (where resolution makes depth dearest)
        M = self.model.M
        low = space.depth[0]
        for head in [(low, ) * j for j in range(min(4, M))]:
            last_feasible = None
            for d in range(low, int(caps.max()) + 1):
                vector = tuple(
                    int(v) for v in np.minimum(
                        np.asarray(head + (d, ) * (M - len(head))), caps))
                if self.value(vector).value == -math.inf:
                    if last_feasible is not None:
                        break
                    continue
                last_feasible = vector
                seeds.append(vector)
        return list(dict.fromkeys(seeds))

    def _moves(self, depths: Tuple[int, ...], step: int):
        M = len(depths)
        out = []
        for i in range(M):
            for delta in (step, -step):
                moved = np.zeros(M, int)
                moved[i] = delta
                out.append(moved)
        for i in range(M):
            for j in range(M):
                if i != j:
                    moved = np.zeros(M, int)
                    moved[i], moved[j] = step, -step
                    out.append(moved)
        return out

    def _predicted(self, current: DepthValue, delta: np.ndarray) -> float:
        """First-order gain of a move: gradient of the entropy plus the exact
        change of the penalty."""
        target = np.asarray(current.depths) + delta
        penalty_change = program.depth_penalty(
            self.model, target, self.beta) - program.depth_penalty(
                self.model, current.depths, self.beta)
        return float(current.gradient @ delta) - penalty_change

    def search(self,
               top: int = 3,
               batch: int = 3,
               starts: int = 3) -> List[DepthValue]:
        """The ``top`` best depth vectors found, best first, then the optimum
        each start reached.

        Pattern search with steps 4, 2, 1 from each of the ``starts`` best
        seeds: the moves are ranked by their predicted gain and evaluated a few
        at a time, best first, until one improves the relaxed value; when none
        does, the step is halved."""
        seeds = self.seeds()
        ranked = sorted((self.value(s) for s in seeds),
                        key=lambda item: (-item.value, item.depths))
        if not ranked or not np.isfinite(ranked[0].value):
            return []
        # the relaxation's seed always starts a search, then the best others
        chosen_starts = [self.value(seeds[0])] if self._relaxed_seed else []
        for entry in ranked:
            if len(chosen_starts) >= starts:
                break
            if entry.depths not in [s.depths for s in chosen_starts]:
                chosen_starts.append(entry)
        ends = [
            self._pattern_search(start, batch) for start in chosen_starts
            if np.isfinite(start.value)
        ]
        finite = [v for v in self.cache.values() if np.isfinite(v.value)]
        finite.sort(key=lambda item: (-item.value, item.depths))
        # the overall best, then the optimum each start reached (diversity)
        chosen = {}
        for entry in finite[:top] + sorted(
                ends, key=lambda item: (-item.value, item.depths)):
            chosen.setdefault(entry.depths, entry)
        return list(chosen.values())

    def _pattern_search(self, current: DepthValue, batch: int) -> DepthValue:
        for step in (4, 2, 1):
            while True:
                moves = self._moves(current.depths, step)
                gains = [self._predicted(current, m) for m in moves]
                order = sorted(
                    range(len(moves)),
                    key=lambda k: (-gains[k], tuple(moves[k])))
                improved = None
                for start in range(0, len(order), batch):
                    chunk = order[start:start + batch]
                    if start > 0 and gains[chunk[0]] <= 0:
                        break
                    self._warm = current.z
                    values = [
                        self.value(np.asarray(current.depths) + moves[k])
                        for k in chunk
                    ]
                    best = max(
                        values,
                        key=lambda item:
                        (item.value, [-d for d in item.depths]))
                    if best.value > current.value + 1e-9 * abs(current.value):
                        improved = best
                        break
                if improved is None:
                    break
                current = improved
        return current
