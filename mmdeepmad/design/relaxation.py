"""Eq. 5's ingredients as functions of log-widths, for the convex relaxation.

For fixed depths ``L`` every quantity of Eq. 5 has a simple form in the
log-variables ``z = [log stem, log c_1..c_M, log b_1..b_M, log k_1..k_M]``:

* FLOPs and params are posynomials: sums of ``coef * exp(a . z)`` with exponent
  rows ``a`` fixed by the block family and coefficients that depend on ``L``;
  in log space they are log-sum-exp functions, convex (geometric programming).
* The cumulative sum of log layer widths up to the end of stage ``i`` (Eq. 3-4)
  is affine in ``z``; so the effectiveness bound (Eq. 2-3),
  ``sum log w >= D log(D / rho)``, is a linear constraint.
* The entropy of a scoring stage (Eq. 4) is a product of two affine functions,
  ``(log r^2 + log c) * sum log w``: bilinear, handled by the solver.

Two counting conventions share this model: ``paper`` (MACs; Eq. 4-5 as written)
and ``tinynas`` (the official code's FLOPs with BN, ReLU and pool terms, its
score with ½ log terms, resolution fixed at 224 and the SE resolution quirk).
The SE squeeze width ``round(b/4)`` is relaxed to ``b/4``. Tests check that at
buildable points these forms equal the exact counters.

A latency model of a device (:mod:`mmdeepmad.latency`) adds one more
posynomial, built the same way from its priced terms
(:meth:`StructureModel.latency_monomials`).
"""
from __future__ import annotations
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from mmdeepmad.arch.spec import DEPTHWISE_FAMILIES
from mmdeepmad.conventions.rules import (TINYNAS_SCORE_RESOLUTION,
                                         check_convention)
from .batched_paper import stage_sizes
from .search_space import SearchSpace

#: Coefficient standing in for a term that vanishes (L - 1 = 0) in log space.
_TINY = 1e-12

#: Latency is in nanoseconds inside the program (a unit's coefficients are
#: then far above the floor ``_TINY`` that stands in for a vanishing one).
LATENCY_UNIT = 1e9


@dataclass(frozen=True)
class ScoringStage:
    """A term ``weight * (offset + log c) * factor * cum_{end}`` of the
    objective."""

    weight: float
    offset: float  # log r^2 of the stage (0 under TinyNAS's SE quirk)
    channel_stage: Optional[int]  # stage whose out channels are c; None: head
    end_stage: int  # the cumulative log-width runs to the end of this stage
    with_head: bool  # ... and includes the head conv


class StructureModel:
    """Posynomial budgets and affine log-width sums of one search space."""

    def __init__(self,
                 space: SearchSpace,
                 convention: str,
                 alpha: Sequence[float],
                 latency=None):
        check_convention(convention)
        self.space = space
        #: the device's latency model (None: no latency budget)
        self.latency = latency
        self.convention = convention
        self.M = M = space.num_stages
        self.n = 1 + 3 * M
        self.factor = 0.5 if convention == 'tinynas' else 1.0
        self.layers_per_unit = 2 if space.block == 'basic' else 3
        if convention == 'tinynas':
            # the score reads sides at 224, floor-divided as TinyNAS does
            side = TINYNAS_SCORE_RESOLUTION // space.stem_stride
            self.stem_size = side
            sizes_out = []
            for stride in space.strides:
                side = side // stride
                sizes_out.append(side)
            self.sizes_out = np.asarray(sizes_out, dtype=float)
            # FLOPs are counted at the real resolution with float sides
            scale = TINYNAS_SCORE_RESOLUTION / space.stem_stride
            flop_in, flop_out = [], []
            for stride in space.strides:
                flop_in.append(scale)
                scale = scale / stride
                flop_out.append(scale)
            ratio = space.resolution / TINYNAS_SCORE_RESOLUTION
            self.flop_stem_size = (
                TINYNAS_SCORE_RESOLUTION / space.stem_stride * ratio)
            self.flop_sizes_in = np.asarray(flop_in) * ratio
            self.flop_sizes_out = np.asarray(flop_out) * ratio
        else:
            self.stem_size, self.sizes_in, self.sizes_out = stage_sizes(space)
            self.flop_stem_size = self.stem_size
            self.flop_sizes_in = self.sizes_in
            self.flop_sizes_out = self.sizes_out
        self.scoring = self._scoring_stages(alpha)

    # ---- variable indices ---------------------------------------------------
    def ix(self, i: int) -> int:
        return 1 + i

    def iy(self, i: int) -> int:
        return 1 + self.M + i

    def it(self, i: int) -> int:
        return 1 + 2 * self.M + i

    # ---- scoring stages -----------------------------------------------------
    def _scoring_stages(self, alpha) -> Tuple[ScoringStage, ...]:
        space, M = self.space, self.M
        head = space.head_channels is not None
        if self.convention == 'paper':
            if len(alpha) != M:
                raise ValueError(f'alpha has {len(alpha)} weights; the design '
                                 f'has {M} stages: give one weight per stage')
            return tuple(
                ScoringStage(
                    weight=float(alpha[i]),
                    offset=2 * math.log(self.sizes_out[i]),
                    channel_stage=None if (head and i == M - 1) else i,
                    end_stage=i,
                    with_head=head and i == M - 1) for i in range(M))
        # TinyNAS: a boundary before every stride-2 block after the stem, one
        # at the end; the stem alone is a stage when stage 1 has stride 2.
        groups: List[List[int]] = [
        ]  # spec stages per scoring stage, -1 = stem
        current = [-1]
        for i, stride in enumerate(space.strides):
            if stride == 2:
                groups.append(current)
                current = []
            current.append(i)
        groups.append(current)
        if len(groups) != len(alpha):
            raise ValueError(
                f'the tinynas convention scores {len(groups)} stages for this '
                f'stride pattern but alpha has {len(alpha)} weights')
        stages = []
        se_seen = False
        for weight, group in zip(alpha, groups):
            last = group[-1]
            if space.block == 'mbv2-se' and last >= 0:
                se_seen = True
            size = self.stem_size if last < 0 else self.sizes_out[last]
            offset = 0.0 if se_seen else 2 * math.log(size)
            is_final = group is groups[-1]
            stages.append(
                ScoringStage(
                    weight=float(weight),
                    offset=offset,
                    channel_stage=(None if (head and is_final) else
                                   (last if last >= 0 else -1)),
                    end_stage=last,
                    with_head=head and is_final))
        return tuple(stages)

    # ---- affine log-width sums ----------------------------------------------
    def unit_log_width(self, i: int, first: bool):
        """Coefficients (over z) and constant of a unit's sum of log widths."""
        row = np.zeros(self.n)
        if first:
            row[0 if i == 0 else self.ix(i - 1)] += 1.0
        else:
            row[self.ix(i)] += 1.0
        if self.space.block == 'bottleneck':
            row[self.iy(i)] += 2.0
            row[self.it(i)] += 2.0
        elif self.space.block == 'basic':
            row[self.iy(i)] += 1.0
            row[self.it(i)] += 4.0
        else:
            row[self.iy(i)] += 1.0
            row[self.it(i)] += 2.0
        return row

    def cumulative_log_width(self, depths) -> Tuple[np.ndarray, np.ndarray]:
        """Rows G (M+1, n), constants g: cumulative sum of log widths to the
        end of the stem (row 0) and of every stage (rows 1..M); the head conv
        is added by :meth:`head_log_width`."""
        G = np.zeros((self.M + 1, self.n))
        g = np.zeros(self.M + 1)
        g[0] = math.log(3 * self.space.stem_kernel**2)
        for i in range(self.M):
            G[i + 1] = G[i] + self.unit_log_width(
                i, True) + (depths[i] - 1) * self.unit_log_width(i, False)
            g[i + 1] = g[i]
        return G, g

    def head_log_width(self) -> np.ndarray:
        row = np.zeros(self.n)
        row[self.ix(self.M - 1)] = 1.0
        return row

    def cumulative_layers(self, depths) -> np.ndarray:
        """Layers up to the end of the stem and of every stage."""
        return 1 + np.concatenate(
            [[0],
             np.cumsum(self.layers_per_unit * np.asarray(depths, float))])

    def rho_groups(self) -> List[Tuple[int, bool]]:
        """(end stage, with head) of every cumulative sum that rho bounds."""
        if self.convention == 'paper':
            return [(self.M - 1, self.space.head_channels is not None)]
        return [(s.end_stage, s.with_head) for s in self.scoring]

    # ---- posynomial budgets -------------------------------------------------
    def monomials(self) -> Tuple[np.ndarray, List[tuple], List[tuple]]:
        """Exponent rows A (T, n) and, per row, how its FLOPs and params
        coefficients depend on depth: ``(const, stage, first)`` meaning
        ``const`` (first unit / fixed) or ``const * (L_stage - 1)``."""
        rows, flops, params = [], [], []

        def add(exps, flop_coef, param_coef, stage=None):
            row = np.zeros(self.n)
            for index, power in exps:
                row[index] += power
            rows.append(row)
            flops.append((flop_coef, stage))
            params.append((param_coef, stage))

        space, tiny = self.space, self.convention == 'tinynas'
        k0 = space.stem_kernel
        r0 = self.flop_stem_size
        # stem: conv + BN (+ ReLU under tinynas)
        add([(0, 1)], 3 * k0 * k0 * r0**2, 3 * k0 * k0)
        add([(0, 1)], (3 if tiny else 0) * r0**2, 2)
        for i, stride in enumerate(space.strides):
            for first in (True, False):
                stage = None if first else i
                c_in = 0 if (first and i == 0) else self.ix(i -
                                                            1 if first else i)
                s = stride if first else 1
                r_in = self.flop_sizes_in[i] if first else self.flop_sizes_out[
                    i]
                r_out = self.flop_sizes_out[i]
                self._unit_monomials(add, i, c_in, s, r_in, r_out, first,
                                     stage, tiny)
        if space.head_channels:
            H = float(space.head_channels)
            r = self.flop_sizes_out[-1]
            add([(self.ix(self.M - 1), 1)], H * r**2, H)
            add([], (3 if tiny else 0) * H * r**2 + _TINY, 2 * H)
        return np.asarray(rows), flops, params

    def _unit_monomials(self, add, i, c_in, s, r_in, r_out, first, stage,
                        tiny):
        x, y, t = self.ix(i), self.iy(i), self.it(i)
        block = self.space.block
        bn = 1.0 if tiny else 0.0  # BN and ReLU FLOPs count under tinynas only
        if block == 'bottleneck':
            add([(c_in, 1), (y, 1)], r_in**2, 1, stage)
            add([(y, 2), (t, 2)], r_out**2, 1, stage)
            add([(y, 1), (x, 1)], r_out**2, 1, stage)
            # BN of conv1 at r_in, conv2 at r_out; ReLU after conv1, conv2
            add([(y, 1)], bn * (3 * r_in**2 + 3 * r_out**2) + _TINY, 4, stage)
            # BN of conv3 and the ReLU after the add
            add([(x, 1)], bn * 3 * r_out**2 + _TINY, 2, stage)
            projected = first  # tinynas projects every first unit; torchvision
            # projects where the shape changes, which the relaxation assumes
        elif block == 'basic':
            r_mid = r_in if self.space.style == 'tinynas' else r_out
            add([(c_in, 1), (y, 1), (t, 2)], r_mid**2, 1, stage)
            add([(y, 1), (x, 1), (t, 2)], r_out**2, 1, stage)
            add([(y, 1)], bn * 3 * r_mid**2 + _TINY, 2, stage)
            add([(x, 1)], bn * 3 * r_out**2 + _TINY, 2, stage)
            projected = first  # where in != out; the relaxation assumes it
        else:
            add([(c_in, 1), (y, 1)], r_in**2, 1, stage)
            add([(y, 1), (t, 2)], r_out**2, 1, stage)
            add([(y, 1), (x, 1)], r_out**2, 1, stage)
            add([(y, 1)], bn * (3 * r_in**2 + 3 * r_out**2) + _TINY, 4, stage)
            add([(x, 1)], bn * 3 * r_out**2 + _TINY, 2, stage)
            if block == 'mbv2-se':
                # squeeze round(b/4) relaxed to b/4: 2 b^2/4 MACs at 1x1 (not
                # counted by tinynas), params 2 b s + 2 s + 2 b
                add([(y, 2)], 0.0 if tiny else 0.5, 0.5, stage)
                add([(y, 1)], _TINY, 2.5, stage)
            projected = False
        if projected:
            add([(c_in, 1), (x, 1)], r_out**2, 1, stage)
            add([(x, 1)], bn * 3 * r_out**2 + _TINY, 2, stage)
        if tiny and s == 2 and (projected or block in DEPTHWISE_FAMILIES):
            # the shortcut's 2x2 average pool: one op per input element (a
            # depthwise unit keeps it only when in == out; relaxed as kept)
            add([(c_in, 1)], r_in**2, _TINY, stage)

    def latency_monomials(self) -> Tuple[np.ndarray, List[tuple]]:
        """Exponent rows and ``(const, stage)`` coefficients of the latency
        posynomial in nanoseconds (:data:`LATENCY_UNIT`; :meth:`monomials`'
        format), from the model's priced terms
        (:meth:`mmdeepmad.latency.LatencyModel.stage_terms`).

        A term present only with a shortcut conv or add is kept on every
        first unit of a stage (where the exact count may drop it: the
        relaxation errs on the slow side), the pool on every stride-2 first
        unit; on the other units (input width = output width, stride 1) each
        is kept exactly where the layout has it: the add always, the
        projection and pool never."""
        from mmdeepmad.latency.terms import ADDED, ALWAYS, POOLED
        priced = self.latency.stage_terms(self.space)
        rows, coefs = [], []

        def add(terms, index, stage, stride=1):
            for term, coef in terms:
                if coef <= 0:
                    continue  # a term the device's fit priced at zero
                if stage is not None and term.when not in (ALWAYS, ADDED):
                    continue
                if term.when == POOLED and stride == 1:
                    continue  # only a stride-2 shortcut pools
                rows.append(term.exponent_row(index, self.n))
                coefs.append((coef * LATENCY_UNIT, stage))

        no_index = -1
        add(priced['stem'], (no_index, no_index, 0, no_index), None)
        for i, stage in enumerate(priced['stages']):
            width_in = 0 if i == 0 else self.ix(i - 1)
            x, y, t = self.ix(i), self.iy(i), self.it(i)
            add(stage['first'], (width_in, y, x, t), None,
                self.space.strides[i])
            add(stage['rest'], (x, y, x, t), i)
        if priced['head']:
            add(priced['head'],
                (self.ix(self.M - 1), no_index, no_index, no_index), None)
        # monomials of the same exponents and stage are one (their
        # coefficients add): fewer exponential cones, the same posynomial
        merged = {}
        for row, (coef, stage) in zip(rows, coefs):
            key = (tuple(row), stage)
            merged[key] = merged.get(key, 0.0) + coef
        return (np.asarray([key[0] for key in merged],
                           dtype=float), [(coef, key[1])
                                          for key, coef in merged.items()])

    def coefficients(self, spec_coefs, depths) -> np.ndarray:
        """Coefficients of the monomials for a depth vector."""
        values = []
        for const, stage in spec_coefs:
            if stage is None:
                values.append(const)
            else:
                values.append(const * max(depths[stage] - 1, 0.0))
        return np.maximum(np.asarray(values, dtype=float), _TINY)
