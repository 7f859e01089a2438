"""A convex relaxation of Eq. 5 that holds every discrete design of a box.

:mod:`mmdeepmad.design.certificate` bounds the best score of a search space
by branch and bound over *boxes*: per stage a range of integer depths, per
log-width coordinate ``z = [log stem, log c_1..c_M, log b_1..b_M, log
k_1..k_M]`` a range of grid values (:func:`coordinate_grids`). Over a box,
:class:`BoxRelaxation` solves one convex program (cvxpy, CLARABEL) whose
optimum is at least the exact score of every design of the space in the box
that meets the budgets. Its variables and constraints:

* ``z``: the log widths of every stage (all units of a stage share them);
  ``Lambda_i = L_i - 1`` real in the box's depth range; ``zeta_i =
  Lambda_i (log c_i, log b_i, log k_i)``, the log widths of the stage's
  repeated units summed over them (the products are relaxed by McCormick
  planes and by the perspective of every linear bound on ``z_i``).
* **Budgets** (FLOPs, params): sums of lower-side monomials
  (:class:`LowerBudgets`): at every grid point at most the exact count of
  the convention. A shortcut projection counts only where the box forces
  ``c_in != c`` (or the stride forces it), TinyNAS's pool of a depthwise
  unit only where the box forces ``c_in == c``, the SE squeeze ``max(1,
  round(b/4) // 8) * 8`` through lines of its lower convex hull in log space
  over the box's mid widths (:func:`squeeze_lines`). A first unit's
  monomial is ``exp(a.z + log coef)``; the repeated units' is the
  perspective ``Lambda exp(a.zeta / Lambda + log coef)``, equal to ``(L -
  1) coef exp(a.z)`` wherever ``zeta = Lambda z``, and jointly convex.
* **Entropy** (Eq. 4, Guideline 1): ``sum_s alpha_s u_s v_s`` with ``u_s =
  log(r_s^2 c_s)`` (or TinyNAS's) affine in z and ``v_s``, the cumulative
  log-width sum, affine in (z, zeta); each product is bounded above by the
  McCormick planes of the box's ranges of ``u_s`` and ``v_s`` (non-negative
  weights).
* **Effectiveness** (Eq. 2-3): ``D log(D / rho) <= sum log w``, convex in
  Lambda on the left, affine in (z, zeta) on the right.
* **Penalty** (Guideline 2): ``beta exp(Var L)`` (TinyNAS: ``exp(std)``)
  bounded below by its tangents at spreads 0, 0.1, ... (the spread is
  convex in real depths).
* Mid widths within lines of the hulls of the grid-rounded
  :meth:`~mmdeepmad.design.search_space.SearchSpace.mid_bounds` over the
  box's out widths (:func:`mid_lines`; the rounding breaks the plain ratio
  bounds: out 112 allows mid 8 at ratio 0.1), kernels in ``[min, max]`` of
  the box's allowed kernels, Guideline 3 (non-decreasing out widths).

Why it holds every design of the box: at such a design, the variables at
their true values (``zeta = Lambda z``, every monomial, ``W_s`` the least
McCormick plane, at least ``u_s v_s``) meet every constraint, and the
objective is at least the exact score (Eq. 5).
``tests/design/test_relaxation_contains.py`` checks each piece at thousands
of grid points.

Numerical safety: budgets and rho are loosened by the factor ``1 +``
:data:`SLACK`, a bound is the optimum plus ``SLACK`` relative and
:data:`ABSOLUTE_MARGIN`, only an 'optimal' solve gives a bound (others are
tried again with other settings, then left to the caller) and only an
'infeasible' one closes a box.
"""
from __future__ import annotations
import functools
import math
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cvxpy as cp
import numpy as np

from mmdeepmad.arch.layout import se_squeeze_channels
from mmdeepmad.arch.spec import DEPTHWISE_FAMILIES
from mmdeepmad.conventions import rules
from .program import RETRY_SETTINGS, SOLVER
from .relaxation import StructureModel
from .search_space import Candidates, SearchSpace

#: Relative loosening of every budget and of every bound (solver tolerance).
SLACK = 1e-6
#: Loosening of the budgets and rho with which a verdict of infeasibility
#: is confirmed before a box is closed.
CONFIRM_SLACK = 1e-4
#: Absolute margin added to every bound (score units).
ABSOLUTE_MARGIN = 1e-6
#: Log-coefficient of a monomial the box switches off (exp(-60) ~ 1e-26 of
#: the budget: far below its loosening by SLACK).
OFF = -60.0
#: Lines bounding each stage's log mid width by its log out width.
MID_LINES = 4
#: Lines of the SE squeeze's lower hull kept per stage.
SE_LINES = 6
#: Spacing of the penalty's tangents (spreads up to 10, then 0.5).
TANGENT_STEP = 0.1


# ---- the discrete grid of every coordinate ---------------------------------
@functools.lru_cache(maxsize=64)
def coordinate_grids(space: SearchSpace) -> Tuple[np.ndarray, ...]:
    """Allowed values of every coordinate of z, sorted: stem and out widths
    (multiples of ``width_multiple`` in their bounds), mid widths (multiples
    of ``width_multiple`` up to the largest grid-rounded mid bound), kernels.
    """
    step = space.width_multiple
    M = space.num_stages

    def multiples(low, high):
        start = -(-int(low) // step) * step
        return np.arange(start, int(high) + 1, step, dtype=np.int64)

    stem = multiples(space.stem_channels[0], space.stem_channels[1])
    out = multiples(space.channels[0], space.channels[1])
    top = int(np.max(space.mid_bounds(out)[1])) if out.size else 0
    mid = multiples(space.channels[0], top)
    kernels = np.asarray(sorted(set(space.kernels)), dtype=np.int64)
    return tuple([stem] + [out] * M + [mid] * M + [kernels] * M)


@dataclass
class Box:
    """A node: index ranges into the coordinate grids and integer depths."""

    lo: np.ndarray  # (n,) index of the smallest allowed grid value
    hi: np.ndarray  # (n,) index of the largest
    depth_lo: np.ndarray  # (M,)
    depth_hi: np.ndarray  # (M,)
    #: proven ranges of the cumulative log widths v_s over the box (from an
    #: ancestor's bound tightening; None: the interval ranges only)
    v_lo: Optional[np.ndarray] = None
    v_hi: Optional[np.ndarray] = None

    def copy(self) -> 'Box':
        return Box(self.lo.copy(), self.hi.copy(), self.depth_lo.copy(),
                   self.depth_hi.copy(),
                   None if self.v_lo is None else self.v_lo.copy(),
                   None if self.v_hi is None else self.v_hi.copy())

    def key(self) -> tuple:
        return (tuple(self.lo), tuple(self.hi), tuple(self.depth_lo),
                tuple(self.depth_hi))

    def contains(self, grids: Sequence[np.ndarray],
                 cand: Candidates) -> np.ndarray:
        """Which designs of a batch lie in the box (grid and depths)."""
        values = design_matrix(cand)
        ok = np.ones(len(cand), dtype=bool)
        for j, grid in enumerate(grids):
            ok &= (values[:, j] >= grid[self.lo[j]]) & (
                values[:, j] <= grid[self.hi[j]])
        ok &= np.all(
            (cand.depth >= self.depth_lo)
            & (cand.depth <= self.depth_hi),
            axis=1)
        return ok


def design_matrix(cand: Candidates) -> np.ndarray:
    """(N, n) values [stem, out.., mid.., kernel..] of a batch."""
    return np.concatenate(
        [cand.stem[:, None], cand.out, cand.mid, cand.kernel],
        axis=1).astype(np.int64)


def root_box(space: SearchSpace, grids: Sequence[np.ndarray]) -> Box:
    n = len(grids)
    return Box(
        np.zeros(n, dtype=np.int64),
        np.asarray([len(g) - 1 for g in grids], dtype=np.int64),
        np.full(space.num_stages, space.depth[0], dtype=np.int64),
        space.max_depths.astype(np.int64).copy())


def tighten(space: SearchSpace, grids: Sequence[np.ndarray],
            box: Box) -> Optional[Box]:
    """The box with the grid's couplings propagated (mid within the rounded
    bounds of some out of the box, out widths non-decreasing); None when no
    design of the space lies in it. Only values no design can take are
    removed."""
    M = space.num_stages
    box = box.copy()
    if np.any(box.lo > box.hi) or np.any(box.depth_lo > box.depth_hi):
        return None
    for _ in range(3):
        before = (box.lo.copy(), box.hi.copy())
        for i in range(M):
            ox, my = 1 + i, 1 + M + i
            outs = grids[ox][box.lo[ox]:box.hi[ox] + 1]
            mids = grids[my]
            low, high = space.mid_bounds(outs)
            m_lo, m_hi = mids[box.lo[my]], mids[box.hi[my]]
            keep = (low <= m_hi) & (high >= m_lo) & (low <= high)
            # a mid value needs a grid point in [low, high] too
            if not keep.any():
                return None
            kept = np.flatnonzero(keep)
            box.lo[ox] += kept[0]
            box.hi[ox] = box.lo[ox] + (kept[-1] - kept[0])
            new_lo = max(m_lo, int(low[keep].min()))
            new_hi = min(m_hi, int(high[keep].max()))
            lo_index = int(np.searchsorted(mids, new_lo, side='left'))
            hi_index = int(np.searchsorted(mids, new_hi, side='right')) - 1
            if lo_index > hi_index:
                return None
            box.lo[my], box.hi[my] = lo_index, hi_index
        if space.non_decreasing:  # every out width shares one grid
            for i in range(1, M):  # c_i >= c_{i-1} >= lowest c_{i-1}
                box.lo[1 + i] = max(box.lo[1 + i], box.lo[i])
            for i in range(M - 2, -1, -1):
                box.hi[1 + i] = min(box.hi[1 + i], box.hi[2 + i])
        if np.any(box.lo > box.hi):
            return None
        if (np.array_equal(before[0], box.lo)
                and np.array_equal(before[1], box.hi)):
            break
    return box


# ---- lower-side budgets -----------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One monomial ``coef * exp(row . [z, sigma])`` of a budget, repeated
    ``L_stage - 1`` times when ``stage`` is set, present only when
    ``switch`` holds in the box: ``('differ', i)`` needs ``c_in != c_i``,
    ``('equal', i)`` needs ``c_in == c_i`` (first unit of stage i)."""

    row: np.ndarray
    flops: float
    params: float
    stage: Optional[int]
    switch: Optional[Tuple[str, int]]


class LowerBudgets:
    """FLOPs and params as sums of lower-side monomials (module docstring):
    at every grid point each is at most the convention's exact count, with
    equality where the box decides every switch and the SE squeeze.

    The variables are ``[z, sigma]``: ``sigma_i`` (mbv2-se only) stands for
    ``log q_i``, the SE squeeze of stage ``i``, bounded from below by lines
    in ``log b_i`` (:func:`squeeze_lines`)."""

    def __init__(self, model: StructureModel):
        self.model = model
        space = model.space
        self.M = M = model.M
        self.n = model.n
        self.has_squeeze = space.block == 'mbv2-se'
        self.width = self.n + (M if self.has_squeeze else 0)
        self.tiny = model.convention == 'tinynas'
        self.terms: List[Term] = []
        self._build()
        rows = [t.row for t in self.terms]
        self.A = np.asarray(rows)
        self.flop_coef = np.asarray([t.flops for t in self.terms])
        self.param_coef = np.asarray([t.params for t in self.terms])
        self.stage = np.asarray(
            [-1 if t.stage is None else t.stage for t in self.terms])

    def _add(self, exps, flops, params, stage=None, switch=None):
        if flops == 0 and params == 0:
            return
        row = np.zeros(self.width)
        for index, power in exps:
            row[index] += power
        for k, term in enumerate(self.terms):  # merge equal monomials
            if (term.stage == stage and term.switch == switch
                    and np.array_equal(term.row, row)):
                self.terms[k] = Term(row, term.flops + float(flops),
                                     term.params + float(params), stage,
                                     switch)
                return
        self.terms.append(
            Term(row, float(flops), float(params), stage, switch))

    def _build(self) -> None:
        model, space, tiny = self.model, self.model.space, self.tiny
        k0 = space.stem_kernel
        r0 = model.flop_stem_size
        self._add([(0, 1)], 3 * k0 * k0 * r0**2 + (3 * r0**2 if tiny else 0),
                  3 * k0 * k0 + 2)
        for i, stride in enumerate(space.strides):
            for first in (True, False):
                c_in = (0 if i == 0 else model.ix(i - 1)) if first else \
                    model.ix(i)
                s = stride if first else 1
                r_in = model.flop_sizes_in[i] if first else \
                    model.flop_sizes_out[i]
                r_out = model.flop_sizes_out[i]
                self._unit(i, c_in, s, r_in, r_out, first)
        if space.head_channels:
            H = float(space.head_channels)
            r = model.flop_sizes_out[-1]
            self._add([(model.ix(self.M - 1), 1)], H * r**2, H)
            self._add([], (3 * H * r**2 if tiny else 0.0), 2 * H)

    def _unit(self, i, c_in, s, r_in, r_out, first) -> None:
        model, space, tiny = self.model, self.model.space, self.tiny
        x, y, t = model.ix(i), model.iy(i), model.it(i)
        stage = None if first else i
        block = space.block
        bn = 1.0 if tiny else 0.0
        add = self._add
        projection = None  # None: never; 'always'; 'differ': c_in != c
        if block == 'bottleneck':
            add([(c_in, 1), (y, 1)], r_in**2, 1, stage)
            add([(y, 2), (t, 2)], r_out**2, 1, stage)
            add([(y, 1), (x, 1)], r_out**2, 1, stage)
            add([(y, 1)], bn * (3 * r_in**2 + 3 * r_out**2), 4, stage)
            add([(x, 1)], bn * 3 * r_out**2, 2, stage)
            if first:
                if tiny or space.style == 'tinynas' or s != 1:
                    projection = 'always'
                else:
                    projection = 'differ'
        elif block == 'basic':
            r_mid = r_in if (tiny or space.style == 'tinynas') else r_out
            add([(c_in, 1), (y, 1), (t, 2)], r_mid**2, 1, stage)
            add([(y, 1), (x, 1), (t, 2)], r_out**2, 1, stage)
            add([(y, 1)], bn * 3 * r_mid**2, 2, stage)
            add([(x, 1)], bn * 3 * r_out**2, 2, stage)
            if first:
                torchvision = not tiny and space.style != 'tinynas'
                projection = 'always' if (torchvision and s != 1) else \
                    'differ'
        else:
            add([(c_in, 1), (y, 1)], r_in**2, 1, stage)
            add([(y, 1), (t, 2)], r_out**2, 1, stage)
            add([(y, 1), (x, 1)], r_out**2, 1, stage)
            add([(y, 1)], bn * (3 * r_in**2 + 3 * r_out**2), 4, stage)
            add([(x, 1)], bn * 3 * r_out**2, 2, stage)
            if block == 'mbv2-se':
                q = self.n + i  # sigma_i = log q_i
                # SE convs b -> q -> b at 1x1: MACs 2bq (paper only),
                # params 2bq + 2q + 2b
                add([(y, 1), (q, 1)], 0.0 if tiny else 2.0, 2, stage)
                add([(q, 1)], 0.0, 2, stage)
                add([(y, 1)], 0.0, 2, stage)
        if projection is not None:
            switch = None if projection == 'always' else ('differ', i)
            add([(c_in, 1), (x, 1)], r_out**2, 1, stage, switch)
            add([(x, 1)], bn * 3 * r_out**2, 2, stage, switch)
        if tiny and first and s == 2:
            if block in DEPTHWISE_FAMILIES:
                # TinyNAS pools a depthwise shortcut only when c_in == c
                add([(c_in, 1)], r_in**2, 0, stage, ('equal', i))
            else:
                add([(c_in, 1)], r_in**2, 0, stage)

    def switches(self, grids, box: Box) -> np.ndarray:
        """1 where a term is present at every design of the box, else 0."""
        model = self.model
        on = np.ones(len(self.terms))
        for k, term in enumerate(self.terms):
            if term.switch is None:
                continue
            kind, i = term.switch
            a = 0 if i == 0 else model.ix(i - 1)
            b = model.ix(i)
            a_lo, a_hi = grids[a][box.lo[a]], grids[a][box.hi[a]]
            b_lo, b_hi = grids[b][box.lo[b]], grids[b][box.hi[b]]
            if kind == 'differ':
                on[k] = float(a_hi < b_lo or b_hi < a_lo)
            else:
                on[k] = float(a_lo == a_hi == b_lo == b_hi)
        return on

    def values(self, which: str, grids, box: Box, zs: np.ndarray,
               depths: np.ndarray, sigma: Optional[np.ndarray]) -> np.ndarray:
        """The lower-side budget at points (N, n) with depths (N, M) and
        squeeze logs ``sigma`` (N, M): what the box's program counts there
        (an (N,) array)."""
        coef = self.flop_coef if which == 'flops' else self.param_coef
        coef = coef * self.switches(grids, box)
        variables = zs if not self.has_squeeze else np.concatenate([zs, sigma],
                                                                   axis=1)
        repeats = np.where(self.stage[None, :] >= 0,
                           depths[:, np.maximum(self.stage, 0)] - 1, 1.0)
        return np.sum(
            coef[None, :] * repeats * np.exp(variables @ self.A.T), axis=1)


def hull_lines(px: np.ndarray, py: np.ndarray,
               count: int) -> Tuple[np.ndarray, np.ndarray]:
    """(a, b), ``count`` lines each with ``py >= a + b px`` at every point:
    edges of the points' lower convex hull (``px`` increasing), those
    covering ``count`` evenly spaced abscissae (repeated if fewer)."""
    hull = _lower_hull(px, py)
    if len(hull) == 1:
        return (np.full(count, py[hull[0]] - 1e-12 * (1 + abs(py[hull[0]]))),
                np.zeros(count))
    starts = px[hull[:-1]]
    where = np.linspace(px[0], px[-1], count)
    pick = np.clip(
        np.searchsorted(starts, where, side='right') - 1, 0,
        len(hull) - 2)
    a, b = np.zeros(count), np.zeros(count)
    for k, e in enumerate(pick):
        p, q = hull[e], hull[e + 1]
        slope = (py[q] - py[p]) / (px[q] - px[p])
        intercept = py[p] - slope * px[p]
        # a hair lower, so that rounding never puts a line above a point
        spread = 1 + abs(intercept) + abs(slope) * np.max(np.abs(px))
        a[k] = intercept - 1e-12 * spread
        b[k] = slope
    return a, b


def _lower_hull(px: np.ndarray, py: np.ndarray) -> List[int]:
    """Indices of the lower convex hull of points sorted by x (monotone
    chain)."""
    hull: List[int] = []
    for k in range(len(px)):
        while len(hull) >= 2:
            o, p = hull[-2], hull[-1]
            cross = (px[p] - px[o]) * (py[k] - py[o]) - (py[p] - py[o]) * (
                px[k] - px[o])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(k)
    return hull


def squeeze_lines(model: StructureModel,
                  box: Box,
                  count: int = SE_LINES) -> Tuple[np.ndarray, np.ndarray]:
    """(a, b) of shape (M, count): ``log q(m) >= a + b log m`` for every mid
    grid value m of the box and every line, where ``q(m) = max(1,
    round(m/4) // 8) * 8`` is the SE squeeze (edges of the lower convex hull
    of the points ``(log m, log q(m))``, hence valid at every one)."""
    lines = [
        _squeeze_stage_lines(model.space, int(box.lo[model.iy(i)]),
                             int(box.hi[model.iy(i)]), count)
        for i in range(model.M)
    ]
    return (np.stack([line[0] for line in lines]),
            np.stack([line[1] for line in lines]))


@functools.lru_cache(maxsize=1 << 16)
def _squeeze_stage_lines(space: SearchSpace, lo: int, hi: int, count: int):
    mids = coordinate_grids(space)[1 + space.num_stages][lo:hi + 1]
    py = np.log(se_squeeze_channels(mids).astype(float))
    return hull_lines(np.log(mids.astype(float)), py, count)


def mid_lines(space: SearchSpace, box: Box, count: int = MID_LINES):
    """Lines bounding log mid by log out over the box's out grid values,
    from the grid-rounded :meth:`SearchSpace.mid_bounds` (not the ratio
    bounds, which the rounding breaks: out 112 allows mid 8 when the ratio
    is 0.1): ``log b >= a_lo + b_lo log c`` (lower convex hull of the points
    ``(log c, log low(c))``) and ``log b <= a_hi + b_hi log c`` (upper
    concave hull of ``(log c, log high(c))``); arrays (M, count)."""
    M = space.num_stages
    lines = [
        _mid_stage_lines(space, int(box.lo[1 + i]), int(box.hi[1 + i]), count)
        for i in range(M)
    ]
    return tuple(np.stack([line[k] for line in lines]) for k in range(4))


@functools.lru_cache(maxsize=1 << 16)
def _mid_stage_lines(space: SearchSpace, lo: int, hi: int, count: int):
    outs = coordinate_grids(space)[1][lo:hi + 1]
    low, high = space.mid_bounds(outs)
    px = np.log(outs.astype(float))
    a_lo, b_lo = hull_lines(px, np.log(low.astype(float)), count)
    a, b = hull_lines(px, -np.log(high.astype(float)), count)
    return a_lo, b_lo, -a, -b


# ---- entropy and rho factors ------------------------------------------------
@dataclass
class Factors:
    """Affine pieces of Eq. 4 and Eq. 2-3 over z and ``rest``, where
    ``rest_i = (L_i - 1) R[i] . z`` is the log widths of stage i's repeated
    units.

    Scoring stage s: ``u_s = Uz[s] . z + Uc[s]``, ``v_s = Vfirst[s] . z +
    VP[s] . rest + Vc[s]``. Rho group g: ``sum log w = Sfirst[g] . z +
    SP[g] . rest + Sc[g]`` over ``D_g = DL[g] . L + Dc[g]`` layers. Every
    row is non-negative."""

    weights: np.ndarray
    Uz: np.ndarray
    Uc: np.ndarray
    Vfirst: np.ndarray
    VP: np.ndarray
    Vc: np.ndarray
    R: np.ndarray
    Sfirst: np.ndarray
    SP: np.ndarray
    Sc: np.ndarray
    DL: np.ndarray
    Dc: np.ndarray

    @property
    def varying_u(self) -> np.ndarray:
        """Which stages' u_s depend on z (not a fixed head conv width)."""
        return np.any(self.Uz != 0, axis=1)


def entropy_factors(model: StructureModel) -> Factors:
    """Eq. 4's u_s, v_s and Eq. 2-3's sums of log widths, from the model's
    scoring stages and unit log widths (exact at every grid point)."""
    M, n = model.M, model.n
    space = model.space
    first = np.asarray([model.unit_log_width(i, True) for i in range(M)])
    rest = np.asarray([model.unit_log_width(i, False) for i in range(M)])
    g0 = math.log(3 * space.stem_kernel**2)
    head = model.head_log_width()
    S = len(model.scoring)
    Uz, Uc = np.zeros((S, n)), np.zeros(S)
    Vfirst, VP, Vc = np.zeros((S, n)), np.zeros((S, M)), np.zeros(S)
    weights = np.zeros(S)
    for s, stage in enumerate(model.scoring):
        Uc[s] = stage.offset
        if stage.channel_stage is None:
            Uc[s] += math.log(space.head_channels)
        elif stage.channel_stage < 0:
            Uz[s, 0] = 1.0
        else:
            Uz[s, model.ix(stage.channel_stage)] = 1.0
        mask = (np.arange(M) <= stage.end_stage).astype(float)
        Vfirst[s] = model.factor * (
            mask @ first + (head if stage.with_head else 0.0))
        VP[s] = model.factor * mask
        Vc[s] = model.factor * g0
        weights[s] = stage.weight
    groups = model.rho_groups()
    G = len(groups)
    Sfirst, SP, Sc = np.zeros((G, n)), np.zeros((G, M)), np.full(G, g0)
    DL, Dc = np.zeros((G, M)), np.ones(G)
    for k, (end, with_head) in enumerate(groups):
        mask = (np.arange(M) <= end).astype(float)
        Sfirst[k] = mask @ first + (head if with_head else 0.0)
        SP[k] = mask
        DL[k] = model.layers_per_unit * mask
        Dc[k] += 1.0 if with_head else 0.0
    return Factors(weights, Uz, Uc, Vfirst, VP, Vc, rest, Sfirst, SP, Sc, DL,
                   Dc)


# ---- the node program -------------------------------------------------------
@dataclass
class NodeSolution:
    status: str
    bound: float  # valid upper bound over the box (inf if unknown)
    z: Optional[np.ndarray] = None
    depths: Optional[np.ndarray] = None
    rest: Optional[np.ndarray] = None  # (L_i - 1) * rest_i, relaxed
    terms: Optional[np.ndarray] = None  # W_s, per scoring stage


@dataclass
class BoxRanges:
    """Interval bounds over a box of the factors the McCormick planes use."""

    z_lo: np.ndarray
    z_hi: np.ndarray
    u_lo: np.ndarray
    u_hi: np.ndarray
    v_lo: np.ndarray
    v_hi: np.ndarray


class BoxRelaxation:
    """Eq. 5 relaxed over a box: one cvxpy program (DPP, built once) whose
    parameters are set per box. ``solve(box)`` gives a :class:`NodeSolution`
    whose ``bound`` is at least the exact score of every design of the space
    in the box that meets the budgets (-inf: none does). A latency budget is
    not part of it (a larger set: the bound stays valid).

    The repeated units of stage i are written in perspective form: with
    ``Lambda_i = L_i - 1`` and ``zeta_i = Lambda_i (c_i, b_i, k_i)`` in log
    space, their budget terms ``Lambda exp(a . zeta / Lambda)`` are convex
    and their log widths ``rest_i(zeta_i)`` linear (exact for every Lambda);
    only ``zeta_i = Lambda_i z_i`` is relaxed (McCormick planes)."""

    def __init__(self, space: SearchSpace, convention: str,
                 alpha: Sequence[float], beta: float, budgets):
        if any(a < 0 for a in alpha):
            raise ValueError('the bound needs non-negative stage weights')
        self.space = space
        self.convention = convention
        self.beta = float(beta)
        self.budgets = budgets
        self.model = model = StructureModel(space, convention, alpha)
        self.grids = coordinate_grids(space)
        self.log_grids = [np.log(g.astype(float)) for g in self.grids]
        self.budget_terms = LowerBudgets(model)
        self.factors = entropy_factors(model)
        self.penalised = list(
            rules.penalised_stages(space.block, model.M,
                                   convention)) if self.beta != 0 else []
        whole = root_box(space, self.grids)
        ranges = self.ranges(whole)
        #: no design's entropy exceeds this (interval bounds of the space)
        self.entropy_ceiling = float(
            self.factors.weights @ (ranges.u_hi * ranges.v_hi))
        #: the program's objective is divided by this (well scaled)
        self.scale = max(
            1.0, float(self.factors.weights @ (ranges.u_lo * ranges.v_lo)))
        self.problem: Optional[cp.Problem] = None  # built on first solve
        self.bounding: Optional[cp.Problem] = None  # bound tightening

    def _stage_columns(self, i: int) -> List[int]:
        m = self.model
        return [m.ix(i), m.iy(i), m.it(i)]

    # ---- program --------------------------------------------------------
    def _build(self) -> None:
        """The program of the module docstring; what a box changes is a
        parameter (DPP: built and compiled once, solved per box)."""
        model, fac, lb = self.model, self.factors, self.budget_terms
        M, n = model.M, model.n
        S = len(fac.weights)
        self.z = z = cp.Variable(n, name='log_widths')
        self.Lam = Lam = cp.Variable(M, name='depths_minus_one')
        self.zeta = zeta = cp.Variable((M, 3), name='rest_log_widths')
        self.W = W = cp.Variable(S, name='stage_entropy')
        self.p_zlo = cp.Parameter(n)
        self.p_zhi = cp.Parameter(n)
        self.p_Llo = cp.Parameter(M, nonneg=True)  # Lambda bounds
        self.p_Lhi = cp.Parameter(M, nonneg=True)
        self.p_mid = [cp.Parameter((M, MID_LINES)) for _ in range(4)]
        # zeta bounds: Lambda * [z_lo, z_hi] and McCormick constants
        self.p_slo = cp.Parameter((M, 3))
        self.p_shi = cp.Parameter((M, 3))
        self.p_mc = [cp.Parameter((M, 3)) for _ in range(4)]
        self.p_u_lo = cp.Parameter(S)
        self.p_u_hi = cp.Parameter(S)
        self.p_v_lo = cp.Parameter(S)
        self.p_v_hi = cp.Parameter(S)
        self.p_mc_w1 = cp.Parameter(S)
        self.p_mc_w2 = cp.Parameter(S)
        # the budgets' room (1, or 1 + CONFIRM_SLACK to confirm a verdict
        # of infeasibility) and log rho likewise loosened
        self.p_room = cp.Parameter(nonneg=True)
        self.p_log_rho = cp.Parameter()
        self._loosen(SLACK)
        x = z[1:1 + M]
        y = z[1 + M:1 + 2 * M]
        zs = cp.vstack([z[self._stage_columns(i)] for i in range(M)])
        Lcol = cp.reshape(Lam, (M, 1), order='C') @ np.ones((1, 3))
        # rest-unit log widths of every stage, summed over its L - 1 units
        rest = cp.hstack(
            [fac.R[i, self._stage_columns(i)] @ zeta[i] for i in range(M)])
        u = fac.Uz @ z + fac.Uc
        v = fac.Vfirst @ z + fac.VP @ rest + fac.Vc
        cons = [
            z >= self.p_zlo,
            z <= self.p_zhi,
            Lam >= self.p_Llo,
            Lam <= self.p_Lhi,
            # perspective of the box bounds: exact
            zeta >= cp.multiply(Lcol, self.p_slo),
            zeta <= cp.multiply(Lcol, self.p_shi),
            # McCormick planes of zeta = Lambda * z
            zeta >= cp.multiply(self.p_Llo[:, None] @ np.ones(
                (1, 3)), zs) + cp.multiply(Lcol, self.p_slo) - self.p_mc[0],
            zeta >= cp.multiply(self.p_Lhi[:, None] @ np.ones(
                (1, 3)), zs) + cp.multiply(Lcol, self.p_shi) - self.p_mc[1],
            zeta <= cp.multiply(self.p_Lhi[:, None] @ np.ones(
                (1, 3)), zs) + cp.multiply(Lcol, self.p_slo) - self.p_mc[2],
            zeta <= cp.multiply(self.p_Llo[:, None] @ np.ones(
                (1, 3)), zs) + cp.multiply(Lcol, self.p_shi) - self.p_mc[3],
            v >= self.p_v_lo,
            v <= self.p_v_hi,
            W <= cp.multiply(self.p_u_hi, v) + cp.multiply(self.p_v_lo, u) -
            self.p_mc_w1,
            W <= cp.multiply(self.p_u_lo, v) + cp.multiply(self.p_v_hi, u) -
            self.p_mc_w2,
        ]
        a_lo, b_lo, a_hi, b_hi = self.p_mid
        for k in range(MID_LINES):
            # mid within the grid-rounded bounds of its out (and the
            # perspective of the same lines for the repeated units)
            cons += [
                y >= a_lo[:, k] + cp.multiply(b_lo[:, k], x),
                y <= a_hi[:, k] + cp.multiply(b_hi[:, k], x),
                zeta[:, 1] >= cp.multiply(a_lo[:, k], Lam) +
                cp.multiply(b_lo[:, k], zeta[:, 0]),
                zeta[:, 1] <= cp.multiply(a_hi[:, k], Lam) +
                cp.multiply(b_hi[:, k], zeta[:, 0]),
            ]
        if self.space.non_decreasing and M > 1:
            cons.append(x[1:] >= x[:-1])  # Guideline 3
        first_vars = z
        rest_vars = cp.vec(zeta, order='C')
        if lb.has_squeeze:
            self.sigma = sigma = cp.Variable(M, name='log_squeeze')
            self.sigma_rest = sigma_rest = cp.Variable(M)
            self.p_se_a = cp.Parameter((M, SE_LINES))
            self.p_se_b = cp.Parameter((M, SE_LINES))
            for k in range(SE_LINES):
                cons.append(sigma >= self.p_se_a[:, k] +
                            cp.multiply(self.p_se_b[:, k], y))
                cons.append(sigma_rest >= cp.multiply(self.p_se_a[:, k], Lam) +
                            cp.multiply(self.p_se_b[:, k], zeta[:, 1]))
            first_vars = cp.hstack([z, sigma])
            rest_vars = cp.hstack([rest_vars, sigma_rest])
        # one cone per monomial k, shared by the budgets: tau_k at least
        # the monomial times its largest share kappa_k of a budget
        shares = []
        for which in ('flops', 'params'):
            bound = getattr(self.budgets, which)
            if bound is not None:
                coef = lb.flop_coef if which == 'flops' else lb.param_coef
                shares.append(coef / (bound * (1 + SLACK)))
        self.p_fixed = None
        if shares:
            shares = np.asarray(shares)
            largest = shares.max(axis=0)
            used = largest > 0
            self._kappa = np.log(np.where(used, largest, 1.0))
            shares = shares / np.where(used, largest, 1.0)
            fixed = np.flatnonzero(used & (lb.stage < 0))
            repeated = np.flatnonzero(used & (lb.stage >= 0))
            self._fixed_terms = fixed
            self.p_fixed = cp.Parameter(len(fixed))
            tau_fixed = cp.Variable(len(fixed))
            cons.append(
                cp.exp(lb.A[fixed] @ first_vars + self.p_fixed) <= tau_fixed)
            tau_rest = cp.Variable(len(repeated))
            stage = lb.stage[repeated]
            # (L - 1) exp(a . z + kappa) = Lambda exp(a . zeta / Lambda +
            # kappa): the perspective, exact for every Lambda >= 0
            cons.append(
                cp.constraints.ExpCone(
                    self._rest_rows(repeated) @ rest_vars +
                    cp.multiply(self._kappa[repeated], Lam[stage]), Lam[stage],
                    tau_rest))
            for share in shares:
                cons.append(share[fixed] @ tau_fixed +
                            share[repeated] @ tau_rest <= self.p_room)
        if self.budgets.rho is not None:
            for k in range(len(fac.Sc)):
                D = fac.DL[k] @ (Lam + 1) + fac.Dc[k]
                # Eq. 2-3: D log D - D log rho <= sum log w (+ slack)
                cons.append(-cp.entr(D) -
                            self.p_log_rho * D <= fac.Sfirst[k] @ z +
                            fac.SP[k] @ rest + fac.Sc[k] + SLACK *
                            (1 + abs(fac.Sc[k])))
        objective = fac.weights @ W
        if self.beta != 0:
            sub = Lam[self.penalised]
            count = len(self.penalised)
            centred = sub - cp.sum(sub) / count
            if self.convention == 'paper':
                spread = cp.sum_squares(centred) / count
            else:
                spread = cp.norm(centred, 2) / math.sqrt(count)
            penalty, extra = self._penalty(spread)
            cons.extend(extra)
            objective = objective - penalty
        self.problem = cp.Problem(cp.Maximize(objective / self.scale), cons)
        self.rest_expr = rest
        self.v_expr = v
        self.u_expr = u

    def _loosen(self, slack: float) -> None:
        """Budgets and rho loosened by the factor ``1 + slack`` (over the
        ``1 + SLACK`` the program is built with)."""
        self.p_room.value = (1 + slack) / (1 + SLACK)
        rho = self.budgets.rho if self.budgets.rho is not None else 1.0
        self.p_log_rho.value = math.log(rho * (1 + slack))

    def _rest_rows(self, terms: np.ndarray) -> np.ndarray:
        """Exponent rows of repeated-unit monomials over the perspective
        variables ``[zeta (M x 3, by rows), sigma_rest (M)]``."""
        lb, M, n = self.budget_terms, self.model.M, self.model.n
        rows = np.zeros((len(terms), 3 * M + (M if lb.has_squeeze else 0)))
        for r, k in enumerate(terms):
            i = lb.stage[k]
            for col, j in enumerate(self._stage_columns(i)):
                rows[r, 3 * i + col] = lb.A[k, j]
            if lb.has_squeeze:
                rows[r, 3 * M + i] = lb.A[k, n + i]
        return rows

    def _build_bounding(self) -> None:
        """min ``direction . [z, v]`` over the box's program (DPP)."""
        S, n = len(self.factors.weights), self.model.n
        self.p_direction = cp.Parameter(n + S)
        self.bounding = cp.Problem(
            cp.Minimize(self.p_direction @ cp.hstack([self.z, self.v_expr])),
            self.problem.constraints)

    def _penalty(self, spread):
        """``beta exp(spread)`` bounded below by its tangents (Guideline 2;
        an under-estimate keeps the bound valid and the program well scaled
        where the spread is large), up to the spread where the penalty
        exceeds every entropy of the space; (expression, constraints)."""
        top = math.log(max(self.entropy_ceiling, self.beta) / self.beta)
        points = np.concatenate([
            np.arange(0.0, min(top, 10.0), TANGENT_STEP),
            np.arange(min(top, 10.0), top + 1.0, 0.5)
        ])
        slope = self.beta * np.exp(points) / self.scale
        t = cp.Variable(name='spread')
        penalty = cp.Variable(name='penalty')
        return penalty * self.scale, [
            t >= spread, penalty >= slope * (1 - points) + slope * t
        ]

    # ---- per box ---------------------------------------------------------
    def ranges(self, box: Box) -> BoxRanges:
        """Interval bounds of u_s, v_s over the box (every row has
        non-negative coefficients and every log width is positive, so the
        extremes sit at the box's corners)."""
        fac = self.factors
        zlo = np.asarray([g[i] for g, i in zip(self.log_grids, box.lo)])
        zhi = np.asarray([g[i] for g, i in zip(self.log_grids, box.hi)])
        rest_lo, rest_hi = fac.R @ zlo, fac.R @ zhi
        v_lo = fac.Vfirst @ zlo + fac.VP @ (
            (box.depth_lo - 1) * rest_lo) + fac.Vc
        v_hi = fac.Vfirst @ zhi + fac.VP @ (
            (box.depth_hi - 1) * rest_hi) + fac.Vc
        if box.v_lo is not None:
            v_lo = np.maximum(v_lo, box.v_lo)
            v_hi = np.minimum(v_hi, box.v_hi)
        u_lo = fac.Uz @ zlo + fac.Uc
        u_hi = fac.Uz @ zhi + fac.Uc
        return BoxRanges(zlo, zhi, u_lo, u_hi, v_lo, v_hi)

    def tighten_ranges(self,
                       box: Box,
                       widths: bool = False,
                       counts=None) -> Optional[Box]:
        """The box with proven ranges of every v_s (and, with ``widths``,
        of every log-width coordinate, rounded inwards to the grid): the
        least and largest value of each over the box's program (optimality-
        based bound tightening; each one 'optimal' solve, widened by the
        margins of the module docstring; a range whose solves fail is
        kept). None when the program is infeasible."""
        self.set_box(box)
        if self.bounding is None:
            self._build_bounding()
        box = box.copy()
        S, n = len(self.factors.weights), self.model.n
        targets = [('v', s) for s in range(S)]
        if widths:
            targets = [('z', j) for j in range(n)] + targets
        v_lo = self.p_v_lo.value.copy()
        v_hi = self.p_v_hi.value.copy()
        for kind, index in targets:
            found = []
            for sign in (1.0, -1.0):  # least, then largest
                direction = np.zeros(n + S)
                direction[index if kind == 'z' else n + index] = sign
                self.p_direction.value = direction
                status = self._run({}, self.bounding)
                if counts is not None:
                    counts[status] += 1
                if status == 'infeasible':
                    # confirmed as a box's program is (then the box holds no
                    # design), else this range is left as it is
                    if self.solve(box).bound == -math.inf:
                        return None
                    self.set_box(box)
                    found.append(None)
                    continue
                if status != 'optimal':
                    found.append(None)
                    continue
                value = sign * float(self.bounding.value)
                found.append(value - sign * SLACK * (1 + abs(value)))
            low, high = found
            if kind == 'v':
                if low is not None:
                    v_lo[index] = max(v_lo[index], low)
                if high is not None:
                    v_hi[index] = min(v_hi[index], high)
                continue
            grid = self.log_grids[index]
            if low is not None:
                box.lo[index] = max(box.lo[index],
                                    int(np.searchsorted(grid, low)))
            if high is not None:
                box.hi[index] = min(
                    box.hi[index],
                    int(np.searchsorted(grid, high, side='right')) - 1)
            if box.lo[index] > box.hi[index]:
                return None
        if np.any(v_lo > v_hi):
            return box  # numerically borderline: keep the interval ranges
        box.v_lo, box.v_hi = v_lo, v_hi
        return box

    def set_box(self, box: Box) -> BoxRanges:
        if self.problem is None:
            self._build()
        M = self.model.M
        rng = self.ranges(box)
        self.p_zlo.value = rng.z_lo
        self.p_zhi.value = rng.z_hi
        lam_lo = (box.depth_lo - 1).astype(float)
        lam_hi = (box.depth_hi - 1).astype(float)
        self.p_Llo.value = lam_lo
        self.p_Lhi.value = lam_hi
        for parameter, value in zip(self.p_mid, mid_lines(self.space, box)):
            parameter.value = value
        cols = np.asarray([self._stage_columns(i) for i in range(M)])
        slo, shi = rng.z_lo[cols], rng.z_hi[cols]
        self.p_slo.value = slo
        self.p_shi.value = shi
        self.p_mc[0].value = lam_lo[:, None] * slo
        self.p_mc[1].value = lam_hi[:, None] * shi
        self.p_mc[2].value = lam_hi[:, None] * slo
        self.p_mc[3].value = lam_lo[:, None] * shi
        self.p_u_lo.value = rng.u_lo
        self.p_u_hi.value = rng.u_hi
        self.p_v_lo.value = rng.v_lo
        self.p_v_hi.value = rng.v_hi
        self.p_mc_w1.value = rng.u_hi * rng.v_lo
        self.p_mc_w2.value = rng.u_lo * rng.v_hi
        lb = self.budget_terms
        if self.p_fixed is not None:
            on = lb.switches(self.grids, box)[self._fixed_terms]
            self.p_fixed.value = self._kappa[self._fixed_terms] + np.where(
                on > 0, 0.0, OFF)
        if lb.has_squeeze:
            a, b = squeeze_lines(self.model, box)
            self.p_se_a.value = a
            self.p_se_b.value = b
        return rng

    def _run(self, settings, problem=None) -> str:
        problem = self.problem if problem is None else problem
        try:
            with warnings.catch_warnings(), np.errstate(
                    over='ignore', invalid='ignore'):
                warnings.simplefilter('ignore')
                problem.solve(solver=SOLVER, warm_start=False, **settings)
            return problem.status
        except cp.SolverError:
            return 'solver error'

    def _attempt(self) -> str:
        """Solve with the default settings, then with each of
        :data:`RETRY_SETTINGS` until one ends 'optimal' or 'infeasible'."""
        status = self._run({})
        if status in ('optimal', 'infeasible'):
            return status
        for settings in RETRY_SETTINGS:
            retried = self._run(settings)
            if retried in ('optimal', 'infeasible'):
                return retried + ' after retry'
        return status

    def solve(self, box: Box) -> NodeSolution:
        """The box's bound: the program's optimum (status 'optimal', with
        the margins of the module docstring), -inf when it is 'infeasible',
        +inf when no solve ends either way (the caller then keeps a looser
        bound). A solve that ends otherwise is tried again with other
        solver settings (:data:`RETRY_SETTINGS`); the status then says
        ``' after retry'``."""
        self.set_box(box)
        status = self._attempt()
        if status.startswith('infeasible'):
            # confirmed with looser budgets; if those are met, that optimum
            # (of a larger relaxation) is the bound
            self._loosen(CONFIRM_SLACK)
            try:
                confirmed = self._attempt()
            finally:
                self._loosen(SLACK)
            if confirmed.startswith('infeasible'):
                return NodeSolution(status, -math.inf)
            status = confirmed + ' (infeasible unconfirmed)'
        if not status.startswith('optimal') or 'inaccurate' in status:
            return NodeSolution(status, math.inf)
        value = float(self.problem.value) * self.scale
        bound = value + SLACK * abs(value) + ABSOLUTE_MARGIN
        return NodeSolution(status, bound, np.asarray(self.z.value),
                            np.asarray(self.Lam.value) + 1.0,
                            np.asarray(self.rest_expr.value),
                            np.asarray(self.W.value))

    # ---- the relaxation at given points (tests, branching) ----------------
    def relaxed_figures(self, box: Box, cand: Candidates, rho=None) -> dict:
        """What the box's program counts at designs of the box, with its
        auxiliary variables at their true values (arrays over the batch):
        ``flops``, ``params`` (lower-side budgets), ``entropy`` (McCormick
        over-estimate of sum_s alpha_s u_s v_s), ``rho_slack`` (N, groups):
        right minus left side of Eq. 2-3 at ``rho`` (default: the budget's;
        one value per design may be given), ``penalty`` (exact), and
        ``inside``: whether the point meets the program's other constraints
        (box, mid / out ratios, v_s within its range)."""
        rng = self.ranges(box)
        fac, M = self.factors, self.model.M
        zs = np.log(design_matrix(cand).astype(float))
        depths = cand.depth.astype(float)
        rest = (depths - 1) * (zs @ fac.R.T)
        u = zs @ fac.Uz.T + fac.Uc
        v = zs @ fac.Vfirst.T + rest @ fac.VP.T + fac.Vc
        W = np.minimum(rng.u_hi * v + rng.v_lo * u - rng.u_hi * rng.v_lo,
                       rng.u_lo * v + rng.v_hi * u - rng.u_lo * rng.v_hi)
        result = dict(entropy=W @ fac.weights, u=u, v=v)
        sigma = None
        if self.budget_terms.has_squeeze:
            a, b = squeeze_lines(self.model, box)
            y = zs[:, 1 + M:1 + 2 * M]
            sigma = np.max(a[None] + b[None] * y[:, :, None], axis=2)
        for which in ('flops', 'params'):
            result[which] = self.budget_terms.values(which, self.grids, box,
                                                     zs, depths, sigma)
        D = depths @ fac.DL.T + fac.Dc
        if rho is None:
            rho = self.budgets.rho if self.budgets.rho is not None else 1.0
        rho = np.broadcast_to(np.asarray(rho, float), (len(cand), ))
        result['rho_slack'] = (
            zs @ fac.Sfirst.T + rest @ fac.SP.T + fac.Sc -
            D * np.log(D / rho[:, None]))
        result['penalty'] = rules.depth_penalty(cand.depth, self.beta,
                                                self.convention,
                                                self.space.block)
        a_lo, b_lo, a_hi, b_hi = mid_lines(self.space, box)
        x, y = zs[:, 1:1 + M, None], zs[:, 1 + M:1 + 2 * M, None]
        tol = 1e-12
        result['inside'] = (
            box.contains(self.grids, cand)
            & np.all(y >= a_lo + b_lo * x - tol, axis=(1, 2))
            & np.all(y <= a_hi + b_hi * x + tol, axis=(1, 2))
            & np.all(v >= rng.v_lo * (1 - tol) - tol, axis=1)
            & np.all(v <= rng.v_hi * (1 + tol) + tol, axis=1))
        return result
