"""The latency model: fitted coefficients per kind of term and side.

``theta[kind](side)`` is piecewise linear in ``log side`` between the knots
(sides the profile measured), constant beyond the first and last knot, and
non-negative at every knot, so it is non-negative everywhere. With the sides
of a design space fixed, each part's latency is a posynomial in its widths
and kernel (:mod:`.terms`); :meth:`LatencyModel.predict` is the reference
(counted from the layout), :meth:`LatencyModel.batched` its twin over many
designs of a space (tested equal), and :meth:`LatencyModel.stage_terms` what
the design program reads.
"""
from __future__ import annotations
import math
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from mmdeepmad.arch.layout import build_layout
from mmdeepmad.arch.spec import ArchSpec
from .terms import (ADDED, ALWAYS, KINDS, POOLED, PROJECTED, Features, Term,
                    head_terms, network_features, shortcut_flags, stage_sides,
                    stem_terms, unit_terms)


def hat_weights(knots: Sequence[float], side: float) -> np.ndarray:
    """Weights of the knots at ``side``: linear interpolation in log side,
    clamped to the first and last knot (they sum to 1)."""
    logs = np.log(np.asarray(knots, float))
    weights = np.zeros(len(logs))
    x = math.log(side)
    if x <= logs[0]:
        weights[0] = 1.0
    elif x >= logs[-1]:
        weights[-1] = 1.0
    else:
        j = int(np.searchsorted(logs, x, side='right')) - 1
        t = (x - logs[j]) / (logs[j + 1] - logs[j])
        weights[j], weights[j + 1] = 1.0 - t, t
    return weights


def feature_columns(knots: Sequence[float]) -> List[Tuple[str, int]]:
    """The columns of :func:`design_row`: ``(kind, knot index)``."""
    return [(kind, j) for kind in KINDS for j in range(len(knots))]


def design_row(features: Features, knots: Sequence[float]) -> np.ndarray:
    """One part's row of the fitting problem: its latency is this row times
    the coefficients (:func:`feature_columns` order), for any model."""
    row = np.zeros((len(KINDS), len(knots)))
    for kind, side, value in features:
        row[KINDS.index(kind)] += value * hat_weights(knots, side)
    return row.ravel()


class LatencyModel:
    """``coefficients[kind][j]``: seconds per unit of a term of ``kind`` at
    ``knots[j]`` (all >= 0)."""

    def __init__(self, knots: Sequence[float],
                 coefficients: Mapping[str, Sequence[float]]):
        knots = [float(k) for k in knots]
        if not knots or any(k <= 0 for k in knots) or any(
                b <= a for a, b in zip(knots, knots[1:])):
            raise ValueError('knots must be positive sides in increasing '
                             f'order, got {knots}')
        missing = [kind for kind in KINDS if kind not in coefficients]
        if missing:
            raise ValueError(f'coefficients miss the kind(s) {missing}')
        unknown = sorted(set(coefficients) - set(KINDS))
        if unknown:
            raise ValueError(f'coefficients has unknown kind(s) {unknown}; '
                             f'known: {list(KINDS)}')
        table = np.zeros((len(KINDS), len(knots)))
        for i, kind in enumerate(KINDS):
            values = [float(v) for v in coefficients[kind]]
            if len(values) != len(knots):
                raise ValueError(
                    f'coefficients[{kind!r}] has {len(values)} values; '
                    f'there are {len(knots)} knots')
            if any(not math.isfinite(v) or v < 0 for v in values):
                raise ValueError(f'coefficients[{kind!r}] must be finite and '
                                 f'non-negative, got {values}')
            table[i] = values
        self.knots = tuple(knots)
        self.table = table

    @classmethod
    def from_vector(cls, knots, vector) -> 'LatencyModel':
        """From a fitted vector in :func:`feature_columns` order."""
        table = np.asarray(vector, float).reshape(len(KINDS), len(knots))
        return cls(knots, {k: table[i].tolist() for i, k in enumerate(KINDS)})

    def to_dict(self) -> Dict[str, list]:
        return {kind: self.table[i].tolist() for i, kind in enumerate(KINDS)}

    # ---- coefficients ---------------------------------------------------
    def theta(self, kind: str, side: float) -> float:
        """Seconds per unit of a ``kind`` term at ``side``."""
        return float(
            self.table[KINDS.index(kind)] @ hat_weights(self.knots, side))

    def part_seconds(self, features: Features) -> float:
        return float(
            sum(
                self.theta(kind, side) * value
                for kind, side, value in features))

    # ---- the reference: counted from the layout ---------------------------
    def predict_parts(self, spec: ArchSpec) -> List[Tuple[str, float]]:
        """``(part, seconds)`` of every part of ``spec``."""
        return [(name, self.part_seconds(features))
                for name, features in network_features(build_layout(spec))]

    def predict(self, spec: ArchSpec) -> float:
        """Predicted latency of the whole backbone, in seconds."""
        return float(sum(seconds for _, seconds in self.predict_parts(spec)))

    # ---- symbolic: the program and the batched scorer ---------------------
    def priced(self, terms: Sequence[Term]) -> List[Tuple[Term, float]]:
        """Terms with their coefficient; terms priced at 0 are dropped."""
        out = []
        for term in terms:
            coef = self.theta(term.kind, term.side) * term.scale
            if coef > 0:
                out.append((term, coef))
        return out

    def stage_terms(self, space) -> Dict[str, object]:
        """The space's priced terms: ``stem`` and ``head`` lists and, per
        stage, the ``units`` list (symbolic :class:`Term` with ``scale``
        replaced by the priced coefficient, conditions kept)."""
        stem_side, sides = stage_sides(space.resolution, space.stem_stride,
                                       space.strides)
        stem = self.priced(
            stem_terms(space.stem_kernel, space.stem_stride, space.resolution))
        head = []
        if space.head_channels:
            head = self.priced(head_terms(space.head_channels, sides[-1][1]))
        stages = []
        for (r_in, r_out), stride in zip(sides, space.strides):
            stages.append(
                dict(
                    first=self.priced(
                        unit_terms(space.block, space.style, stride, r_in,
                                   r_out)),
                    rest=self.priced(
                        unit_terms(space.block, space.style, 1, r_out,
                                   r_out))))
        return dict(stem=stem, head=head, stages=stages)

    def batched(self, space) -> Callable[[object], np.ndarray]:
        """``seconds(candidates) -> (N,)``: :meth:`predict` of many designs of
        ``space`` at once."""
        return _BatchedLatency(self.stage_terms(space), space)


class _BatchedLatency:
    """The latency of many designs of a space: every priced term is a
    monomial in a design's variables (stem width; per stage output width,
    mid width and kernel), so all of them are one product ``exp(log V @
    R.T)``; each part's terms (per condition) are then summed and weighted
    by how many such units a design has and whether it has the condition."""

    def __init__(self, priced: Dict[str, object], space):
        self.space = space
        M = len(space.strides)
        self.n = 1 + 3 * M  # stem; out, mid, kernel of every stage
        rows, coefs, groups = [], [], []
        self.groups: List[Tuple[object, str]] = []  # (part, when)

        def add(part, terms, variables):
            for term, coef in terms:
                key = (part, term.when)
                if key not in self.groups:
                    self.groups.append(key)
                rows.append(term.exponent_row(variables, self.n))
                coefs.append(coef)
                groups.append(self.groups.index(key))

        add('stem', priced['stem'], (None, None, 0, None))
        width_in = 0
        for i, stage in enumerate(priced['stages']):
            out, mid, kernel = 1 + 3 * i, 2 + 3 * i, 3 + 3 * i
            add(('first', i), stage['first'], (width_in, mid, out, kernel))
            add(('rest', i), stage['rest'], (out, mid, out, kernel))
            width_in = out
        add('head', priced['head'], (width_in, None, None, None))
        # terms of equal exponents share their monomial (one exp each)
        rows = np.asarray(rows, float).reshape(-1, self.n)
        self.rows, index = np.unique(rows, axis=0, return_inverse=True)
        self.sums = np.zeros((len(self.rows), len(self.groups)))
        np.add.at(self.sums, (index.ravel(), groups), coefs)

    def __call__(self, cand) -> np.ndarray:
        space = self.space
        n = len(cand)
        variables = np.empty((n, self.n))
        variables[:, 0] = cand.stem
        variables[:, 1::3] = cand.out
        variables[:, 2::3] = cand.mid
        variables[:, 3::3] = cand.kernel
        parts = np.exp(np.log(variables) @ self.rows.T) @ self.sums
        flags = {}
        width_in = variables[:, 0]
        for i, stride in enumerate(space.strides):
            out = variables[:, 1 + 3 * i]
            for first in (True, False):
                source = width_in if first else out
                flags[(('first' if first else 'rest'), i)] = dict(
                    zip((PROJECTED, POOLED, ADDED),
                        shortcut_flags(space.block, space.style, first, source,
                                       out, stride if first else 1)))
            width_in = out
        result = np.zeros(n)
        for g, (part, when) in enumerate(self.groups):
            weight = parts[:, g]
            if isinstance(part, tuple):
                if part[0] == 'rest':
                    weight = weight * (cand.depth[:, part[1]] - 1)
                if when != ALWAYS:
                    weight = weight * flags[part][when]
            result += weight
        return result
