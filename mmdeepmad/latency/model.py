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
        priced = self.stage_terms(space)
        block, style = space.block, space.style

        def total(terms, width_in, mid, out, kernel, flags):
            value = 0.0
            for term, coef in terms:
                monomial = coef * term.value(width_in, mid, out, kernel) \
                    / term.scale
                if term.when != ALWAYS:
                    monomial = monomial * flags[term.when]
                value = value + monomial
            return value

        def seconds(cand) -> np.ndarray:
            n = len(cand)
            one = np.ones(n)
            stem = cand.stem.astype(float)
            result = total(priced['stem'], one, one, stem, one, {}) * one
            width_in = stem
            for i, stage in enumerate(priced['stages']):
                out = cand.out[:, i].astype(float)
                mid = cand.mid[:, i].astype(float)
                kernel = cand.kernel[:, i].astype(float)
                depth = cand.depth[:, i].astype(float)
                stride = space.strides[i]
                for first, terms, count in ((True, stage['first'], one),
                                            (False, stage['rest'], depth - 1)):
                    source = width_in if first else out
                    projected, pooled, added = shortcut_flags(
                        block, style, first, source, out,
                        stride if first else 1)
                    flags = {
                        PROJECTED: np.asarray(projected, float),
                        POOLED: np.asarray(pooled, float),
                        ADDED: np.asarray(added, float)
                    }
                    result = result + count * total(terms, source, mid, out,
                                                    kernel, flags)
                width_in = out
            if priced['head']:
                result = result + total(priced['head'], width_in, one, one,
                                        one, {})
            return np.asarray(result, float)

        return seconds
