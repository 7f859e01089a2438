"""Contract between the convex relaxation and the exact reference counters.

For every block family x convention x unit style (torchvision under the paper
convention only) and a few hundred seeded random grid points each (the default
5-stage stride patterns and random ones of 3-6 stages, resolutions 32..288,
widths on the multiple-of-8 grid inside the space's bounds, kernels of the
space, depths 1..12), the relaxation must equal the exact reference (rel
1e-9):

1. FLOPs and params of the posynomials (``StructureModel.monomials``) = exact
   count (paper: ``counters.count``; tinynas: ``evaluate_tinynas``) plus the
   intended deviations, each restated from the exact layout:

   * ``projection``: a 1x1 shortcut projection is assumed on every first unit
     of a stage; the network has one on a basic unit only where in != out
     (tinynas style) or the shape changes (torchvision), on a torchvision
     bottleneck unit only where the shape changes;
   * ``se``: the SE squeeze ``max(1, round(b/4) // 8) * 8`` is taken as b/4;
   * ``pool`` (tinynas convention): the 2x2 average pool of a stride-2
     depthwise unit is counted always, TinyNAS counts it only when in == out.

   Whether each deviation is on the safe side (relaxed >= exact) is a test of
   its own.
2. ``WidthProblem.entropy`` = the exact entropy (paper ``H``; TinyNAS score).
3. Every rho row: slack = D log(rho_0 / rho_s) for the matching exact stage,
   and the largest rho the rows imply is the exact rho.
4. The depth penalty, both ``program.depth_penalty`` and ``DepthProblem``'s
   convex expression evaluated at the integer depths, = the exact penalty;
   under tinynas that is also TinyNAS's dropping rule restated here, since
   the reference and the relaxation now share ``conventions.rules``.

The first point of every space is its thinnest network (widths at their lower
bounds), so the corner cases (in == out, b < 32 for SE) are always present.
"""
import dataclasses
import functools
import math
from typing import NamedTuple

import numpy as np
import pytest

from mmdeepmad.arch.layout import NetworkLayout, build_layout
from mmdeepmad.arch.spec import DEPTHWISE_FAMILIES, ArchSpec
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.counters import count
from mmdeepmad.conventions.paper import paper_score
from mmdeepmad.conventions.tinynas import TinyNASEvaluation, evaluate_tinynas
from mmdeepmad.design import program
from mmdeepmad.design.api import make_space
from mmdeepmad.design.relaxation import StructureModel

FAMILIES = ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
SETTINGS = (('paper', 'tinynas'), ('paper', 'torchvision'),
            ('tinynas', 'tinynas'))  # (convention, unit style)
CASES = [(b, c, s) for b in FAMILIES for c, s in SETTINGS]
CASE_IDS = ['-'.join(case) for case in CASES]
RESOLUTIONS = (32, 64, 128, 224, 288)
RANDOM_SPACES, POINTS_PER_SPACE = 9, 16  # 15 spaces x 16 = 240 points a case
RTOL, BETA = 1e-9, 10.0
BUDGETS = Budgets(flops=1e9, params=1e7, rho=0.5)  # only rho_0 matters here
KINDS = ('projection', 'se', 'pool')


class Point(NamedTuple):
    model: StructureModel
    width: program.WidthProblem
    depth: program.DepthProblem
    spec: ArchSpec
    z: np.ndarray
    depths: np.ndarray
    layout: NetworkLayout
    tiny: TinyNASEvaluation  # None under the paper convention


def _spaces(block, convention, style, rng):
    # the default patterns, and the most down-sampling 5-stage one
    shapes = [(5, None, res) for res in RESOLUTIONS] + [(5, (2, ) * 5, 224)]
    for _ in range(RANDOM_SPACES):
        # TinyNAS's bottleneck depth penalty exists for 5 stages only
        stages = 5 if (block, convention) == ('bottleneck', 'tinynas') else \
            int(rng.integers(3, 7))
        strides = tuple(int(s) for s in rng.integers(1, 3, stages))
        res = int(rng.choice(RESOLUTIONS))
        # the last feature map is at least one pixel (ArchSpec's rule)
        total = 2 * math.prod(strides)
        res = min(r for r in RESOLUTIONS if r >= max(res, total))
        shapes.append((stages, strides, res))
    for stages, strides, res in shapes:
        space = make_space(
            block, convention, resolution=res, stages=stages, strides=strides)
        yield dataclasses.replace(space, style=style)


def _alpha(space, convention):
    n = space.num_stages if convention == 'paper' else \
        1 + sum(s == 2 for s in space.strides)
    return (1.0, ) * (n - 1) + (8.0, )


def _grid(rng, low, high, step=8):
    """A multiple of ``step`` in [low, high], log-uniform (small widths and
    in == out shortcuts are frequent)."""
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    return int(min(max(round(value / step) * step, low), high))


@functools.lru_cache(maxsize=None)
def points(case):
    block, convention, style = case
    rng = np.random.default_rng(20240611 + CASES.index(case))
    result = []
    for space in _spaces(block, convention, style, rng):
        M = space.num_stages
        model = StructureModel(space, convention, _alpha(space, convention))
        width, depth = program.WidthProblem(model), program.DepthProblem(
            model, BETA)
        for index in range(POINTS_PER_SPACE):
            # the first point is the thinnest network: widths at lower bounds
            top = 0 if index == 0 else 1
            stem = _grid(rng, space.stem_channels[0], space.stem_channels[top])
            out, prev = [], stem
            for _ in range(M):  # a third of the stages keep the width
                prev = prev if index and rng.random() < 1 / 3 else _grid(
                    rng, space.channels[0], space.channels[top])
                out.append(prev)
            low, high = space.mid_bounds(np.asarray(out))
            mid = [
                _grid(rng, lo, hi if top else lo) for lo, hi in zip(low, high)
            ]
            kernel = [int(k) for k in rng.choice(space.kernels, M)]
            depths = np.asarray([
                rng.integers(1,
                             min(12, cap) + 1) for cap in space.max_depths
            ])
            spec = space.to_spec(stem, out, mid, kernel, depths)
            z = np.log(np.asarray([stem] + out + mid + kernel, dtype=float))
            tiny = (
                evaluate_tinynas(spec, model_alpha(model), BETA)
                if convention == 'tinynas' else None)
            result.append(
                Point(model, width, depth, spec, z, depths, build_layout(spec),
                      tiny))
    return result


def model_alpha(model):
    return [stage.weight for stage in model.scoring]


def relaxed_counts(p):
    rows, flop_coefs, param_coefs = p.model.monomials()
    values = np.exp(rows @ p.z)
    return (float(p.model.coefficients(flop_coefs, p.depths) @ values),
            float(p.model.coefficients(param_coefs, p.depths) @ values))


def exact_counts(p):
    if p.tiny is not None:
        return p.tiny.flops, p.tiny.params
    exact = count(p.layout)
    return exact.flops, exact.params


def deviations(p):
    """relaxed - exact (FLOPs, params) of every intended deviation, restated
    from the exact layout."""
    tiny = p.tiny is not None
    dev = {kind: np.zeros(2) for kind in KINDS}
    side = p.spec.resolution / p.spec.stem.stride  # TinyNAS's float sides
    for unit in p.layout.units:
        c, o, s, b = (unit.in_channels, unit.out_channels, unit.stride,
                      unit.mid_channels)
        r_in, r_out = (side, side / s) if tiny else (unit.in_size,
                                                     unit.out_size)
        side /= s
        if (unit.index == 0 and unit.block not in DEPTHWISE_FAMILIES
                and unit.shortcut_conv is None):
            # conv + BN (+ TinyNAS's BN and ReLU FLOPs) of the assumed proj.
            dev['projection'] += ((c * o + (3 * o if tiny else 0)) * r_out**2,
                                  c * o + 2 * o)
        if tiny and unit.block in DEPTHWISE_FAMILIES and s == 2 and c != o:
            dev['pool'] += (c * r_in**2, 0)
        if unit.se:
            q = b / 4  # the same two SE convs with squeeze b/4
            relaxed = (0 if tiny else 2 * b * q, 2 * b * q + 2 * q + 2 * b)
            exact = (0 if tiny else sum(conv.macs for conv in unit.se),
                     sum(conv.params for conv in unit.se))
            dev['se'] += np.subtract(relaxed, exact)
    return dev


def describe(p):
    spec = p.spec

    def field(name):
        return [getattr(stage, name) for stage in spec.stages]

    return (f'res={spec.resolution} strides={field("stride")} '
            f'stem={spec.stem.out_channels} out={field("out_channels")} '
            f'mid={field("mid_channels")} k={field("kernel_size")} '
            f'L={p.depths.tolist()}')


def check(case, what, pairs, names=('relaxation', 'exact'), abs_tol=0.0):
    """Assert every (point, relaxed, exact) agrees; report all mismatches."""
    bad = [(p, a, b) for p, a, b in pairs
           if not a == pytest.approx(b, rel=RTOL, abs=abs_tol)]
    assert not bad, (
        f'{"-".join(case)} {what}: {len(bad)}/{len(pairs)} points differ, '
        'e.g.\n' + '\n'.join(f'  {describe(p)}: {names[0]} {a!r} vs '
                             f'{names[1]} {b!r}' for p, a, b in bad[:3]))


def exact_entropy_and_rhos(p):
    """The exact entropy, and (layers D_s, rho_s) of every stage rho bounds."""
    if p.tiny is None:
        exact = paper_score(p.spec, model_alpha(p.model), BETA)
        return exact.entropy, [(len(p.layout.main_path), exact.rho)]
    info, widths = p.tiny.stage_info, [u.width for u in p.tiny.units]
    rhos = []
    for units, layers in zip(info.stage_block_num, info.stage_layer_num):
        log_width = sum(math.log(w) for w in widths[:units])
        rhos.append((layers, math.exp(math.log(layers) - log_width / layers)))
    return p.tiny.score, rhos


def exact_penalty(p):
    if p.tiny is None:
        return paper_score(p.spec, model_alpha(p.model), BETA).penalty
    return p.tiny.depth_penalty


def tinynas_rule_penalty(p):
    """TinyNAS's rule restated here (the reference and the relaxation share
    ``conventions.rules``): beta exp(std L) after dropping the first depth
    twice (bottleneck), once (basic) or never (depthwise)."""
    dropped = {'bottleneck': 2, 'basic': 1}.get(p.model.space.block, 0)
    return BETA * math.exp(float(np.std(p.depths[dropped:])))


# ---- 1. budgets -------------------------------------------------------------
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_budgets_equal_exact_plus_stated_deviations(case):
    flops, params = [], []
    for p in points(case):
        relaxed, exact = relaxed_counts(p), exact_counts(p)
        expected = np.add(exact, sum(deviations(p).values()))
        flops.append((p, relaxed[0], expected[0]))
        params.append((p, relaxed[1], expected[1]))
    check(case, 'FLOPs', flops)
    check(case, 'params', params)


SE_UNSAFE = pytest.mark.xfail(
    strict=True,
    reason='finding: the relaxed SE squeeze b/4 undercounts where b < 32 '
    '(the exact squeeze is max(1, round(b/4)//8)*8 = 8 > b/4), e.g. b = 16: '
    'relaxed SE params 168 vs exact 304, so the relaxed params (and paper '
    'MACs) of such mbv2-se networks are below the exact counts')
DEVIATION_CASES = [
    pytest.param(
        case,
        kind,
        id=f'{"-".join(case)}-{kind}',
        marks=[SE_UNSAFE] if kind == 'se' else []) for case in CASES
    for kind in KINDS
    if (kind == 'projection' and (case[0] == 'basic' or case[0] == 'bottleneck'
                                  and case[2] == 'torchvision')) or (
                                      kind == 'se' and case[0] == 'mbv2-se') or
    (kind == 'pool' and case[0] in DEPTHWISE_FAMILIES and case[1] == 'tinynas')
]


@pytest.mark.parametrize('case,kind', DEVIATION_CASES)
def test_deviation_is_on_the_safe_side(case, kind):
    devs = [(p, deviations(p)[kind]) for p in points(case)]
    assert any(d.any() for _, d in devs), f'{kind} never exercised'
    unsafe = [(p, d) for p, d in devs if (d < 0).any()]
    assert not unsafe, (f'{kind}: relaxed < exact at {len(unsafe)} points, '
                        f'e.g. {describe(unsafe[0][0])}: relaxed - exact '
                        f'(FLOPs, params) = {unsafe[0][1]}')


# ---- 2. entropy -------------------------------------------------------------
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_entropy(case):
    pairs = []
    for p in points(case):
        p.width.set_depths(p.depths.astype(float), BUDGETS)
        pairs.append((p, p.width.entropy(p.z), exact_entropy_and_rhos(p)[0]))
    check(case, 'entropy', pairs)


# ---- 3. rho rows ------------------------------------------------------------
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_rho_rows(case):
    slacks, rhos = [], []
    for p in points(case):
        p.width.set_depths(p.depths.astype(float), BUDGETS)
        stage_rhos = exact_entropy_and_rhos(p)[1]
        slack = p.width.rho_rows.value @ p.z - p.width.rho_rhs.value
        assert len(slack) == len(stage_rhos), describe(p)
        layers = np.asarray([layers for layers, _ in stage_rhos])
        # slack = D log(rho_0 / rho_s), compared per layer (often near 0)
        slacks.extend((p, value / D, math.log(BUDGETS.rho / rho))
                      for value, D, (_, rho) in zip(slack, layers, stage_rhos))
        rhos.append((p, float(np.max(BUDGETS.rho * np.exp(-slack / layers))),
                     max(rho for _, rho in stage_rhos)))
    check(case, 'rho slack / D', slacks, abs_tol=RTOL)
    check(case, 'rho', rhos)


# ---- 4. depth penalty -------------------------------------------------------
@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_depth_penalty(case):
    check(
        case, 'program.depth_penalty',
        [(p, program.depth_penalty(p.model, p.depths, BETA), exact_penalty(p))
         for p in points(case)])
    if case[1] == 'tinynas':
        check(case, 'TinyNAS penalty',
              [(p, exact_penalty(p), tinynas_rule_penalty(p))
               for p in points(case)], ('evaluate_tinynas', 'restated rule'))


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_depth_problem_penalty_expression(case):
    pairs = []
    for p in points(case):
        problem = p.depth
        problem.L.value = p.depths.astype(float)
        problem.score_per_depth.value = np.zeros(p.model.M)
        # the objective is score . L - beta exp(penalty argument)
        pairs.append(
            (p, -float(problem.problem.objective.value), exact_penalty(p)))
    check(case, 'DepthProblem penalty', pairs)
