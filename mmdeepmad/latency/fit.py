"""Fitting the latency model to measured parts, and checking it on whole
networks.

Each measured part gives one row of a linear problem (its features priced
by the coefficients, :func:`~.model.design_row`) and its measured time. The
coefficients are the non-negative least-squares solution on *relative*
error: every row and target is divided by the part's time, so a 0.1 ms part
counts as much as a 50 ms one. A few whole networks are measured too; their
rows (the sum of their parts' rows) weigh :data:`NETWORK_WEIGHT` parts each,
which ties the sum of parts timed alone to what a network takes. A light
smoothness penalty on the second differences of each kind's coefficients
along ``log side`` keeps knots that few parts touch near their neighbours
(and gives a kind no part of a knot has the interpolation of the knots
around it).

Before the fit, every time is scaled by the time of the *canary* (a fixed
part timed with each group) relative to its fast times, which takes out the
machine's speed drifting while other processes load it, and the samples of
groups that other processes stalled are left out (:func:`calibrated_seconds`).

The error reported is *held out*: every :data:`HELDOUT_EVERY`-th sample is
left out of a first fit and scored; the stored model is then refit on all
samples.
"""
from __future__ import annotations
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import nnls

from .model import LatencyModel, design_row
from .terms import KINDS

#: Every n-th sample (index n-1, 2n-1, ...) is held out of the scored fit.
HELDOUT_EVERY = 5
#: Weight of the smoothness rows relative to a sample's row.
SMOOTHNESS = 0.3
#: Sides closer than this ratio share a knot (the smaller side).
MERGE_RATIO = 1.0
#: A sample whose group's canary took more than this many times its median
#: was stalled by other processes; it is left out of the fit.
DISTURBED = 2.0
#: The canary time the samples are scaled to: this percentile of its times.
REFERENCE_PERCENTILE = 25
#: Weight of a whole network's row (a part's is 1).
NETWORK_WEIGHT = 5.0


def sample_sides(samples: Sequence[Mapping[str, Any]]) -> List[int]:
    """The distinct sides of every sample's features, sorted."""
    return sorted({int(side) for sample in samples
                   for _, side, _ in sample['features']})


def choose_knots(sides: Sequence[float],
                 merge_ratio: float = MERGE_RATIO) -> List[float]:
    """The knots: the sides measured, a side within ``merge_ratio`` of the
    previous knot merged into it."""
    knots: List[float] = []
    for side in sorted(set(float(s) for s in sides)):
        if not knots or side > knots[-1] * merge_ratio:
            knots.append(side)
    return knots


def calibrated_seconds(
    samples: Sequence[Mapping[str, Any]],
    disturbed: float = DISTURBED
) -> Tuple[np.ndarray, np.ndarray, Optional[float]]:
    """Each sample's seconds scaled to the machine's unloaded speed:
    ``seconds * reference / canary``, where ``canary`` is the reference
    part's time in the sample's group and ``reference`` its
    :data:`REFERENCE_PERCENTILE`-th percentile over the steady samples
    (other processes only ever slow the canary down, so a low percentile
    stands for the machine as it is when nothing else runs; the median
    would price in the load of the profile's hour). Returns ``(seconds,
    steady, reference)``: ``steady`` is False for samples whose canary took
    more than ``disturbed`` times its median (their group was stalled by
    other processes; scaling does not repair that). Samples without a
    canary keep their seconds (all steady, reference ``None``)."""
    seconds = np.asarray([float(s['seconds']) for s in samples])
    canary = [s.get('canary') for s in samples]
    if not samples or any(c is None or c <= 0 for c in canary):
        return seconds, np.ones(len(seconds), bool), None
    canary = np.asarray(canary, float)
    steady = canary <= disturbed * float(np.median(canary))
    reference = float(np.percentile(canary[steady], REFERENCE_PERCENTILE))
    return seconds * reference / canary, steady, reference


def feature_rows(samples: Sequence[Mapping[str, Any]],
                 knots: Sequence[float]) -> np.ndarray:
    """Each sample's :func:`~.model.design_row`."""
    rows = [
        design_row([tuple(f) for f in sample['features']], knots)
        for sample in samples
    ]
    return np.asarray(rows, float).reshape(len(samples), -1)


def smoothness_rows(rows: np.ndarray, knots: Sequence[float],
                    weight: float) -> np.ndarray:
    """Second differences of each kind's coefficients along ``log side``,
    scaled so that a unit of penalty is a unit of a typical sample's
    relative time."""
    logs = np.log(np.asarray(knots, float))
    n = len(knots)
    penalty = []
    for k in range(len(KINDS)):
        block = rows[:, k * n:(k + 1) * n].sum(axis=1)
        used = block[block > 0]
        if used.size == 0:
            continue
        scale = weight * float(np.median(used))
        for j in range(1, n - 1):
            left, right = logs[j] - logs[j - 1], logs[j + 1] - logs[j]
            row = np.zeros(rows.shape[1])
            row[k * n + j - 1] = right / (left + right)
            row[k * n + j] = -1.0
            row[k * n + j + 1] = left / (left + right)
            penalty.append(scale * row)
    return np.asarray(penalty, float).reshape(-1, rows.shape[1])


def solve(rows: np.ndarray,
          knots: Sequence[float],
          smoothness: float = SMOOTHNESS,
          weights: Optional[np.ndarray] = None) -> np.ndarray:
    """The non-negative coefficient vector minimising the (weighted)
    relative residuals plus the smoothness penalty; ``rows`` are already
    divided by the measured seconds."""
    if weights is None:
        weights = np.ones(len(rows))
    penalty = smoothness_rows(rows, knots, smoothness)
    matrix = np.vstack([rows * weights[:, None], penalty])
    target = np.concatenate([weights, np.zeros(len(penalty))])
    scale = np.linalg.norm(matrix, axis=0)
    scale[scale == 0] = 1.0
    vector, _ = nnls(matrix / scale, target, maxiter=50 * matrix.shape[1])
    return vector / scale


def fit_vector(rows: np.ndarray,
               seconds: np.ndarray,
               knots: Sequence[float],
               smoothness: float = SMOOTHNESS,
               weights: Optional[np.ndarray] = None) -> np.ndarray:
    """The coefficient vector fitted to ``rows`` and their ``seconds``
    (relative error)."""
    return solve(rows / seconds[:, None], knots, smoothness, weights)


def _error_summary(errors: np.ndarray, prefix: str) -> Dict[str, float]:
    errors = np.abs(errors)
    return {
        f'{prefix}_median': float(np.median(errors)),
        f'{prefix}_p90': float(np.percentile(errors, 90)),
        f'{prefix}_max': float(errors.max()),
    }


def fit_samples(samples: Sequence[Mapping[str, Any]],
                heldout_every: int = HELDOUT_EVERY,
                smoothness: float = SMOOTHNESS
                ) -> Tuple[LatencyModel, Dict[str, Any]]:
    """The model fitted to all steady samples (dicts with ``features``,
    ``seconds`` and optionally ``canary`` and ``part``; see
    :func:`calibrated_seconds`), and the report: the held-out error of a
    fit without every ``heldout_every``-th sample (median, 90th percentile
    and max of ``|predicted / measured - 1|``) over the held-out parts
    (``heldout_*``) and whole networks (``heldout_networks_*``), the error
    of the stored model on all steady parts (``fit_*``), and the counts
    (``samples`` measured, ``disturbed`` left out)."""
    if not samples:
        raise ValueError('no samples to fit')
    seconds, steady, reference = calibrated_seconds(samples)
    if not steady.any():
        raise ValueError('every sample was timed while other processes '
                         'stalled the machine')
    index = np.flatnonzero(steady)
    held = index % heldout_every == heldout_every - 1
    samples = [samples[i] for i in index]
    seconds = seconds[index]
    network = np.asarray([s.get('part') == 'network' for s in samples])
    weights = np.where(network, NETWORK_WEIGHT, 1.0)
    knots = choose_knots(sample_sides(samples))
    rows = feature_rows(samples, knots)
    report: Dict[str, Any] = dict(
        samples=len(steady),
        disturbed=int((~steady).sum()),
        knots=len(knots),
        smoothness=smoothness,
        network_weight=NETWORK_WEIGHT,
        heldout_every=heldout_every,
        heldout=int((held & ~network).sum()),
        canary_seconds=reference)
    vector = fit_vector(rows, seconds, knots, smoothness, weights)
    fitted = rows @ vector / seconds - 1.0
    if (held & ~network).any() and (~held).any():
        train = ~held
        errors = rows @ fit_vector(rows[train], seconds[train], knots,
                                   smoothness, weights[train]) / seconds - 1
    else:  # too few samples to hold some out: the fit's own errors
        errors, held = fitted, np.ones(len(fitted), bool)
    report.update(_error_summary(errors[held & ~network], 'heldout'))
    report.update(_error_summary(fitted[~network], 'fit'))
    if (held & network).any():
        report.update(
            _error_summary(errors[held & network], 'heldout_networks'),
            heldout_networks=int((held & network).sum()))
    return LatencyModel.from_vector(knots, vector), report


def network_errors(model: LatencyModel,
                   specs: Sequence,
                   settings,
                   warmup: int = 2,
                   repeats: int = 9,
                   group: int = 4,
                   canary: Optional[Mapping[str, Any]] = None,
                   canary_seconds: Optional[float] = None
                   ) -> List[Dict[str, Any]]:
    """Measure each spec's deployed backbone (a few at a time,
    round-robin) and compare with :meth:`LatencyModel.predict`: ``name``,
    ``measured`` and ``predicted`` seconds and ``error`` (``predicted /
    measured - 1``) per spec.

    With the LUT's ``canary`` part (``fit.canary`` of the LUT), the canary
    is timed with every group too (:class:`~.measure.SteadyTimer`: a group
    that other processes disturbed is timed again); with its
    ``canary_seconds`` (``fit.canary_seconds``) each entry also has
    ``calibrated`` (the measured time scaled to the machine's speed during
    the profile) and ``calibrated_error``."""
    from .measure import (SteadyTimer, apply_threads, backbone, deployed,
                          make_input, place, time_modules)
    from .profile import build_part
    apply_threads(settings)
    calibrate = canary is not None and canary_seconds
    timer = SteadyTimer(settings, warmup, repeats) if canary else None
    results = []
    for first in range(0, len(specs), group):
        chunk = list(specs[first:first + group])
        pairs = []
        for spec in chunk:
            shape = (settings.batch, spec.in_channels, spec.resolution,
                     spec.resolution)
            pairs.append((place(backbone(spec), settings),
                          make_input(shape, settings)))
        if timer is not None:
            module, shape, _ = build_part(dict(canary))
            pairs.append((place(deployed(module), settings),
                          make_input((settings.batch, ) + shape, settings)))
            measured = timer(pairs, seed=first)
        else:
            measured = time_modules(pairs, settings, warmup, repeats,
                                    seed=first)
        scale = canary_seconds / measured[-1] if calibrate else None
        for spec, seconds in zip(chunk, measured):
            predicted = model.predict(spec)
            entry = dict(
                name=spec.name,
                measured=seconds,
                predicted=predicted,
                error=predicted / seconds - 1.0)
            if scale is not None:
                entry.update(
                    calibrated=seconds * scale,
                    calibrated_error=predicted / (seconds * scale) - 1.0)
            results.append(entry)
    return results
