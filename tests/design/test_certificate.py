"""The certificate's bound is proven: never below the best design of the space.

On tiny spaces (2-3 stages, a coarse channel grid, depths up to 2-3; five
stages for TinyNAS's bottleneck penalty) every design is enumerated and scored
exactly with the batched evaluator; the certificate's bound must be at least
the exhaustive optimum, which must be at least the certificate's design
score. The box relaxation itself is checked at random boxes of such a space:
its optimum is at least the exact score of every feasible design inside.
Node limits, not wall time, so every run is the same.
"""
import itertools
import math

import numpy as np
import pytest

from mmdeepmad.arch.spec import SpecError
from mmdeepmad.conventions import evaluate
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.rules import default_alpha, scored_stage_count
from mmdeepmad.design import certificate as certificate_module
from mmdeepmad.design.batched import batched_evaluator
from mmdeepmad.design.bounding import (Box, BoxRelaxation, NodeSolution,
                                       coordinate_grids, design_matrix,
                                       root_box)
from mmdeepmad.design.certificate import Certificate, certify
from mmdeepmad.design.search_space import Candidates, SearchSpace

BETA = 10.0


def tiny_space(block, strides, resolution, width_multiple, channels,
               max_depth, kernels=(3, 5), head_channels=None, style='tinynas'):
    return SearchSpace.for_block(block).with_(
        strides=tuple(strides),
        resolution=resolution,
        channels=channels,
        stem_channels=(16, 32),
        width_multiple=width_multiple,
        depth=(1, max_depth),
        depth_caps=(None, ) * len(strides),
        kernels=kernels,
        head_channels=head_channels,
        style=style)


def enumerate_space(space: SearchSpace) -> Candidates:
    """Every design of the space."""
    M = space.num_stages
    grids = coordinate_grids(space)
    kernels = np.asarray(list(itertools.product(space.kernels, repeat=M)))
    depths = np.asarray(
        list(
            itertools.product(*[
                range(space.depth[0],
                      int(cap) + 1) for cap in space.max_depths
            ])))
    parts = []
    for out in itertools.product(grids[1], repeat=M):
        out = np.asarray(out)
        if space.non_decreasing and np.any(np.diff(out) < 0):
            continue
        low, high = space.mid_bounds(out)
        mids = np.asarray(
            list(
                itertools.product(*[[m for m in grids[1 + M] if lo <= m <= hi]
                                    for lo, hi in zip(low, high)])))
        if mids.size == 0:
            continue
        index = np.asarray(
            list(
                itertools.product(
                    range(len(grids[0])), range(len(mids)),
                    range(len(kernels)), range(len(depths)))))
        count = len(index)
        parts.append(
            Candidates(grids[0][index[:, 0]], np.repeat(out[None], count, 0),
                       mids[index[:, 1]], kernels[index[:, 2]],
                       depths[index[:, 3]]))
    cand = Candidates.concat(parts)
    return cand.take(np.flatnonzero(space.contains(cand)))


#: (name, space, convention, budget quantiles (flops, params, rho), beta)
INSTANCES = [
    ('bottleneck-paper', tiny_space('bottleneck', (2, 2, 2), 64, 32,
                                    (32, 96), 3), 'paper', (0.3, 0.3, 0.5),
     BETA),
    ('bottleneck-paper-torchvision',
     tiny_space('bottleneck', (2, 1, 2), 32, 16, (16, 64), 2,
                style='torchvision'), 'paper', (0.2, 0.4, 0.7), 1.0),
    ('basic-paper', tiny_space('basic', (2, 2), 32, 16, (16, 80), 3),
     'paper', (0.4, 0.3, 0.6), BETA),
    ('mbv2-paper-head', tiny_space('mbv2', (1, 2, 2), 64, 32, (32, 64), 2,
                                   head_channels=256), 'paper',
     (0.3, 0.3, 0.5), BETA),
    ('mbv2-se-paper', tiny_space('mbv2-se', (1, 2), 32, 16, (16, 48), 3),
     'paper', (0.4, 0.3, 0.6), BETA),
    ('mbv2-tinynas', tiny_space('mbv2', (1, 2, 2), 64, 32, (32, 64), 2),
     'tinynas', (0.3, 0.3, 0.5), BETA),
    ('mbv2-se-tinynas-head',
     tiny_space('mbv2-se', (2, 1), 32, 16, (16, 48), 3, head_channels=128),
     'tinynas', (0.5, 0.2, 0.6), BETA),
    ('bottleneck-tinynas', tiny_space('bottleneck', (2, 2, 2, 1, 2), 64, 32,
                                      (32, 64), 2), 'tinynas',
     (0.3, 0.4, 0.5), BETA),
    ('basic-tinynas', tiny_space('basic', (2, 2, 1), 64, 32, (32, 96), 2),
     'tinynas', (0.3, 0.5, 0.5), 0.0),
]


def _alpha(space, convention):
    return default_alpha(scored_stage_count(space.strides, convention))


def _budgets(scores, quantiles):
    return Budgets(
        flops=float(np.quantile(scores.flops, quantiles[0])),
        params=float(np.quantile(scores.params, quantiles[1])),
        rho=float(np.quantile(scores.rho, quantiles[2])))


_CACHE = {}


def exhaustive(name):
    """(space, convention, budgets, beta, designs, scores, feasible mask)."""
    if name not in _CACHE:
        _, space, convention, quantiles, beta = next(
            item for item in INSTANCES if item[0] == name)
        designs = enumerate_space(space)
        scores = batched_evaluator(space, convention,
                                   _alpha(space, convention), beta)(designs)
        budgets = _budgets(scores, quantiles)
        _CACHE[name] = (space, convention, budgets, beta, designs, scores,
                        scores.satisfies(budgets))
    return _CACHE[name]


@pytest.mark.parametrize('name', [item[0] for item in INSTANCES])
def test_bound_is_at_least_the_exhaustive_optimum(name):
    space, convention, budgets, beta, designs, scores, ok = exhaustive(name)
    assert ok.any() and not ok.all()
    best = float(np.max(scores.score[ok]))
    cert = certify(
        space,
        budgets,
        convention,
        beta=beta,
        seconds=None,
        max_nodes=400)
    tol = 1e-9 * abs(best)
    assert cert.bound >= best - tol, (cert.bound, best)
    assert cert.design is not None
    assert cert.score <= best + tol
    assert bool(space.contains(cert.design)[0])
    # the certificate's design and score are what the reference counts
    spec = space.to_spec(*cert.design.row(0))
    exact = evaluate(
        spec, convention, alpha=_alpha(space, convention), beta=beta)
    assert exact.score == pytest.approx(cert.score, rel=1e-9)
    assert budgets.satisfied_by(exact.flops, exact.params, exact.rho)
    assert cert.gap == pytest.approx(
        (cert.bound - cert.score) / abs(cert.bound))
    if cert.status.startswith('proven optimal'):
        assert cert.gap <= certificate_module.GAP_TOLERANCE + 1e-12


@pytest.mark.parametrize('name', ['bottleneck-paper', 'mbv2-se-tinynas-head'])
def test_box_relaxation_bounds_every_design_of_random_boxes(name):
    space, convention, budgets, beta, designs, scores, ok = exhaustive(name)
    relaxation = BoxRelaxation(space, convention, _alpha(space, convention),
                               beta, budgets)
    grids = relaxation.grids
    values = design_matrix(designs)
    index = np.stack([
        np.searchsorted(grid, values[:, j]) for j, grid in enumerate(grids)
    ],
                     axis=1)
    rng = np.random.default_rng(7)
    feasible = np.flatnonzero(ok)
    checked = 0
    for _ in range(40):
        centre = int(rng.choice(feasible))
        lo = np.maximum(0, index[centre] - rng.integers(0, 3, len(grids)))
        hi = np.minimum([len(g) - 1 for g in grids],
                        index[centre] + rng.integers(0, 3, len(grids)))
        depth = designs.depth[centre]
        depth_lo = np.maximum(1, depth - rng.integers(0, 2, len(depth)))
        depth_hi = np.minimum(space.max_depths,
                              depth + rng.integers(0, 2, len(depth)))
        box = Box(lo, hi, depth_lo, depth_hi)
        inside = box.contains(grids, designs) & ok
        solution = relaxation.solve(box)
        assert solution.status.startswith('optimal'), solution.status
        best = float(np.max(scores.score[inside]))
        assert solution.bound >= best - 1e-9 * abs(best)
        checked += int(inside.sum())
    assert checked > 100


@pytest.mark.parametrize('name', ['basic-paper', 'mbv2-tinynas'])
def test_tightened_ranges_hold_every_feasible_design(name):
    """Bound tightening (least and largest v_s and log widths over a box's
    program) keeps every design of the box that meets the budgets."""
    space, convention, budgets, beta, designs, scores, ok = exhaustive(name)
    relaxation = BoxRelaxation(space, convention, _alpha(space, convention),
                               beta, budgets)
    grids = relaxation.grids
    rng = np.random.default_rng(11)
    feasible = np.flatnonzero(ok)
    for trial in range(6):
        box = root_box(space, grids)
        if trial:
            centre = designs.take(int(rng.choice(feasible)))
            box.depth_lo = np.maximum(1, centre.depth[0] - 1)
            box.depth_hi = np.minimum(space.max_depths, centre.depth[0] + 1)
        inside = box.contains(grids, designs) & ok
        tight = relaxation.tighten_ranges(box, widths=True)
        assert tight is not None
        assert tight.contains(grids, designs)[inside].all()
        v = relaxation.relaxed_figures(tight, designs.take(
            np.flatnonzero(inside)))['v']
        assert np.all(v >= tight.v_lo - 1e-9) and np.all(
            v <= tight.v_hi + 1e-9)


def test_incumbent_spec_and_meta():
    space, convention, budgets, beta, designs, scores, ok = exhaustive(
        'bottleneck-paper')
    feasible = np.flatnonzero(ok)
    worst = int(feasible[np.argmin(scores.score[feasible])])
    spec = space.to_spec(*designs.row(worst))
    cert = certify(
        space,
        budgets,
        convention,
        beta=beta,
        incumbent=spec,
        seconds=None,
        max_nodes=3)
    assert isinstance(cert, Certificate)
    assert cert.score >= float(scores.score[worst])
    assert cert.nodes <= 4
    meta = cert.to_meta()
    assert set(meta) == {'bound', 'gap', 'seconds', 'status'}
    assert meta['bound'] >= float(np.max(scores.score[ok])) - 1e-6
    if not cert.status.startswith('proven'):
        assert cert.status.startswith('node limit')


def test_runs_are_deterministic():
    space, convention, budgets, beta, *_ = exhaustive('mbv2-tinynas')
    first = certify(
        space, budgets, convention, beta=beta, seconds=None, max_nodes=30)
    second = certify(
        space, budgets, convention, beta=beta, seconds=None, max_nodes=30)
    assert (first.bound, first.score, first.nodes,
            first.status) == (second.bound, second.score, second.nodes,
                              second.status)


def test_infeasible_budgets_are_proven_infeasible():
    space, convention, budgets, beta, designs, scores, ok = exhaustive(
        'basic-paper')
    tight = Budgets(flops=float(np.min(scores.flops)) * 0.99,
                    params=budgets.params, rho=budgets.rho)
    cert = certify(
        space, tight, convention, beta=beta, seconds=None, max_nodes=200)
    assert cert.design is None
    assert cert.bound == -math.inf
    assert cert.status.startswith('proven: no design')


def test_failed_solves_keep_a_valid_bound(monkeypatch):
    """A box whose program fails keeps its parent's bound: the result is
    looser, never wrong, and the failures are counted in the status."""
    name = 'mbv2-paper-head'
    space, convention, budgets, beta, designs, scores, ok = exhaustive(name)
    best = float(np.max(scores.score[ok]))
    original = BoxRelaxation.solve
    calls = []

    def flaky(self, box):
        calls.append(1)
        if len(calls) % 3 == 0:
            return NodeSolution('solver error', math.inf)
        return original(self, box)

    monkeypatch.setattr(BoxRelaxation, 'solve', flaky)
    cert = certify(
        space, budgets, convention, beta=beta, seconds=None, max_nodes=150)
    assert cert.bound >= best - 1e-9 * abs(best)
    assert 'solver error' in cert.status


def test_unsupported_weights_are_refused():
    space, convention, budgets, beta, *_ = exhaustive('basic-paper')
    with pytest.raises((ValueError, SpecError)):
        certify(space, budgets, convention, alpha=(1.0, -1.0), beta=beta,
                seconds=None, max_nodes=5)
