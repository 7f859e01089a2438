"""The certificate's relaxation contains the discrete space (sampling test).

:class:`mmdeepmad.design.bounding.BoxRelaxation` must hold, over a box, every
design of the space in the box: at every grid point, with the program's
auxiliary variables at their true values, the relaxed FLOPs and params are at
most the exact counts, the relaxed entropy (McCormick planes) at least the
exact one, the rho constraint (Eq. 2-3) at least as slack as the exact one,
and the point meets the program's other constraints (box, mid / out ratio
bounds, the entropy factors' ranges). The exact figures are the batched
scorers' (tested equal to the references elsewhere) and, for a few points of
every space, the references themselves (:func:`mmdeepmad.conventions.
evaluate`).

Seeded grid points for every block family x convention x unit style
(torchvision under the paper convention only, as the contract test), on the
default stride patterns and random ones of 3-6 stages, resolutions 32..320,
with and without a head conv, widths on the grid of 8 (the thinnest network
first: in == out shortcuts, b < 32 squeezes), depths 1..12; each point in the
whole space's box, in a random box around it, and in its own single-point
box, where the relaxation must equal the exact figures.
"""
import dataclasses
import functools
import math

import numpy as np
import pytest

from mmdeepmad.arch.spec import SpecError
from mmdeepmad.conventions import evaluate
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.rules import default_alpha, scored_stage_count
from mmdeepmad.design.api import make_space
from mmdeepmad.design.batched import batched_evaluator
from mmdeepmad.design.bounding import Box, BoxRelaxation, root_box, tighten
from mmdeepmad.design.search_space import Candidates

FAMILIES = ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
SETTINGS = (('paper', 'tinynas'), ('paper', 'torchvision'),
            ('tinynas', 'tinynas'))  # (convention, unit style)
CASES = [(b, c, s) for b in FAMILIES for c, s in SETTINGS]
CASE_IDS = ['-'.join(case) for case in CASES]
RESOLUTIONS = (32, 64, 96, 128, 160, 224, 256, 320)
RANDOM_SPACES, POINTS_PER_SPACE = 10, 30  # 14 spaces x 30 = 420 a case
REFERENCE_POINTS = 2  # per space, also checked against the references
BETA = 10.0
RTOL = 1e-9


def _spaces(block, convention, style, rng):
    """The default 5-stage pattern at three resolutions, the most
    down-sampling one, and random patterns; head conv on or off."""
    shapes = [(5, None, res, None) for res in (32, 224, 320)]
    shapes.append((5, (2, ) * 5, 224, 'other'))
    for _ in range(RANDOM_SPACES):
        stages = 5 if (block, convention) == ('bottleneck', 'tinynas') else \
            int(rng.integers(3, 7))
        strides = tuple(int(s) for s in rng.integers(1, 3, stages))
        res = int(rng.choice(RESOLUTIONS))
        shapes.append((stages, strides, res, 'other'))
    for stages, strides, res, head in shapes:
        head_channels = None
        if head == 'other':
            # the family's default, none, or another width
            head_channels = int(rng.choice([0, 0, 512, 1792]))
        try:
            space = make_space(
                block,
                convention,
                resolution=res,
                stages=stages,
                strides=strides,
                head_channels=head_channels)
        except SpecError:  # the resolution is below the total stride
            continue
        yield dataclasses.replace(space, style=style)


def _grid(rng, low, high, step=8):
    """A multiple of ``step`` in [low, high], log-uniform."""
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    return int(min(max(round(value / step) * step, low), high))


def _points(space, rng, count):
    M = space.num_stages
    rows = []
    for index in range(count):
        top = 0 if index == 0 else 1  # the thinnest network first
        stem = _grid(rng, max(space.stem_channels[0], 8),
                     space.stem_channels[top])
        out, prev = [], stem
        for _ in range(M):  # a third of the stages keep the width
            prev = prev if index and rng.random() < 1 / 3 and \
                prev >= space.channels[0] else _grid(
                    rng, space.channels[0], space.channels[top])
            out.append(prev)
        out = list(np.maximum.accumulate(out))
        low, high = space.mid_bounds(np.asarray(out))
        mid = [_grid(rng, lo, hi if top else lo) for lo, hi in zip(low, high)]
        kernel = [int(k) for k in rng.choice(space.kernels, M)]
        depth = [
            int(rng.integers(1,
                             min(12, cap) + 1)) for cap in space.max_depths
        ]
        rows.append((stem, out, mid, kernel, depth))
    cand = Candidates.concat([Candidates.single(*row) for row in rows])
    assert space.contains(cand).all()
    return cand


def _random_box(relaxation, cand, rng) -> Box:
    """A box of the grid around one design (sometimes the whole range)."""
    grids = relaxation.grids
    values = np.concatenate(
        [cand.stem, cand.out[0], cand.mid[0], cand.kernel[0]])
    lo, hi = [], []
    for grid, value in zip(grids, values):
        index = int(np.searchsorted(grid, value))
        assert grid[index] == value
        if rng.random() < 0.2:
            lo.append(0)
            hi.append(len(grid) - 1)
            continue
        lo.append(max(0, index - int(rng.integers(0, 4))))
        hi.append(min(len(grid) - 1, index + int(rng.integers(0, 4))))
    depth = cand.depth[0]
    caps = relaxation.space.max_depths
    depth_lo = np.maximum(1, depth - rng.integers(0, 4, len(depth)))
    depth_hi = np.minimum(caps, depth + rng.integers(0, 4, len(depth)))
    return Box(
        np.asarray(lo), np.asarray(hi), depth_lo.astype(np.int64),
        depth_hi.astype(np.int64))


def _single_box(relaxation, cand) -> Box:
    values = np.concatenate(
        [cand.stem, cand.out[0], cand.mid[0], cand.kernel[0]])
    index = np.asarray([
        int(np.searchsorted(grid, value))
        for grid, value in zip(relaxation.grids, values)
    ])
    return Box(index, index.copy(), cand.depth[0].copy(),
               cand.depth[0].copy())


@functools.lru_cache(maxsize=None)
def samples(case):
    """(relaxation, points, exact scores) per space of the case."""
    block, convention, style = case
    rng = np.random.default_rng(20240612 + CASES.index(case))
    result = []
    for space in _spaces(block, convention, style, rng):
        alpha = default_alpha(scored_stage_count(space.strides, convention))
        relaxation = BoxRelaxation(space, convention, alpha, BETA,
                                   Budgets(flops=1e9, params=1e7, rho=0.5))
        cand = _points(space, rng, POINTS_PER_SPACE)
        exact = batched_evaluator(space, convention, alpha, BETA)(cand)
        result.append((relaxation, cand, exact, rng))
    return result


def _check(case, what, box_of, exact_equal=False):
    failures = []
    total = 0
    for relaxation, cand, exact, rng in samples(case):
        for i in range(len(cand)):
            one = cand.take(i)
            box = box_of(relaxation, one, rng)
            got = relaxation.relaxed_figures(box, one, rho=exact.rho[i])
            total += 1
            problems = []
            if not got['inside'][0]:
                problems.append('outside the program\'s constraints')
            for name in ('flops', 'params'):
                relaxed, true = float(got[name][0]), float(
                    getattr(exact, name)[i])
                if relaxed > true * (1 + RTOL):
                    problems.append(f'{name} {relaxed} > exact {true}')
                if exact_equal and relaxed < true * (1 - RTOL):
                    problems.append(f'{name} {relaxed} < exact {true} at a '
                                    'single point')
            relaxed, true = float(got['entropy'][0]), float(exact.entropy[i])
            if relaxed < true - RTOL * abs(true):
                problems.append(f'entropy {relaxed} < exact {true}')
            if exact_equal and relaxed > true + RTOL * abs(true):
                problems.append(f'entropy {relaxed} > exact {true} at a '
                                'single point')
            slack = got['rho_slack'][0]
            if np.any(slack < -RTOL * (1 + np.abs(slack).max())):
                problems.append(f'rho slack {slack} < 0 at the exact rho')
            if not math.isclose(
                    float(got['penalty'][0]),
                    float(exact.penalty[i]),
                    rel_tol=RTOL):
                problems.append('penalty differs')
            if problems:
                failures.append(f'{relaxation.space.strides} res '
                                f'{relaxation.space.resolution} '
                                f'{one.row(0)}: {"; ".join(problems)}')
    assert total >= 300
    assert not failures, (f'{"-".join(case)} {what}: {len(failures)}/{total}'
                          ' points, e.g.\n' + '\n'.join(failures[:3]))


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_whole_space_box_contains_every_point(case):
    _check(case, 'root box',
           lambda relaxation, one, rng: root_box(relaxation.space,
                                                 relaxation.grids))


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_random_boxes_contain_their_points(case):
    _check(case, 'random box', _random_box)


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_single_point_box_is_exact(case):
    _check(
        case,
        'single-point box',
        lambda relaxation, one, rng: _single_box(relaxation, one),
        exact_equal=True)


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_tightening_keeps_every_point(case):
    """Propagating the grid's couplings never removes a design."""
    lost = []
    for relaxation, cand, _, rng in samples(case):
        space, grids = relaxation.space, relaxation.grids
        for i in range(len(cand)):
            one = cand.take(i)
            for box in (root_box(space, grids), _random_box(
                    relaxation, one, rng)):
                tight = tighten(space, grids, box)
                if tight is None or not tight.contains(grids, one)[0]:
                    lost.append(one.row(0))
    assert not lost, f'{len(lost)} points lost, e.g. {lost[:3]}'


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_batched_figures_are_the_references(case):
    """The exact side of this test is the reference count (a few points)."""
    for relaxation, cand, exact, _ in samples(case):
        space = relaxation.space
        alpha = [stage.weight for stage in relaxation.model.scoring]
        for i in range(REFERENCE_POINTS):
            spec = space.to_spec(*cand.row(i))
            ref = evaluate(spec, relaxation.convention, alpha=alpha, beta=BETA)
            for name in ('flops', 'params', 'rho', 'entropy', 'penalty'):
                assert getattr(ref, name) == pytest.approx(
                    float(getattr(exact, name)[i]), rel=1e-9), name
