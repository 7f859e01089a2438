"""Exact scoring of many designs at once, in either convention.

:class:`BatchScores` is what both batched scorers return (one meaning of
``score`` everywhere: ``entropy - penalty``, Eq. 5), and
:func:`batched_evaluator` picks the scorer of a convention:
:func:`~mmdeepmad.design.batched_paper.evaluate_paper` (``paper``) or
:class:`~mmdeepmad.design.batched_tinynas.TinyNASFastScorer` (``tinynas``).
Each is the batched twin of the convention's reference
(:func:`mmdeepmad.conventions.evaluate`), tested equal to it. Given a latency
model (:class:`mmdeepmad.latency.LatencyModel`), the scores carry each
design's predicted latency too (its batched twin).
"""
from __future__ import annotations
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from mmdeepmad.conventions.rules import check_convention


@dataclass
class BatchScores:
    """Arrays of shape (N,), one entry per design; ``per_stage`` (N, S): the
    weighted entropy of every scored stage, where the scorer gives it."""

    score: np.ndarray
    entropy: np.ndarray
    penalty: np.ndarray
    flops: np.ndarray
    params: np.ndarray
    rho: np.ndarray
    per_stage: Optional[np.ndarray] = None
    #: predicted seconds, where the evaluator has a latency model
    latency: Optional[np.ndarray] = None

    def satisfies(self, budgets) -> np.ndarray:
        """Boolean (N,) mask of the designs within ``budgets`` (None: all)."""
        if budgets is None:
            return np.ones(np.shape(self.params), dtype=bool)
        return budgets.mask(self.flops, self.params, self.rho, self.latency)


def batched_evaluator(space,
                      convention: str,
                      alpha: Sequence[float],
                      beta: float,
                      latency=None) -> Callable:
    """``evaluate(candidates) -> BatchScores`` for designs of ``space``; with
    a latency model, ``BatchScores.latency`` is filled in."""
    scores = _convention_evaluator(space, convention, alpha, beta)
    if latency is None:
        return scores
    seconds = latency.batched(space)

    def evaluate(cand) -> BatchScores:
        result = scores(cand)
        result.latency = seconds(cand)
        return result

    return evaluate


def _convention_evaluator(space, convention: str, alpha: Sequence[float],
                          beta: float) -> Callable:
    check_convention(convention)
    if convention == 'paper':
        from .batched_paper import evaluate_paper
        return lambda cand: evaluate_paper(space, cand, alpha, beta)
    from .batched_tinynas import TinyNASFastScorer
    scorer = TinyNASFastScorer(
        space.block,
        space.strides,
        stem_stride=space.stem_stride,
        stem_kernel=space.stem_kernel,
        head_channels=space.head_channels,
        image_size=space.resolution,
        alpha=alpha,
        beta=beta)
    return lambda cand: scorer(cand.out, cand.mid, cand.kernel, cand.depth,
                               cand.stem)
