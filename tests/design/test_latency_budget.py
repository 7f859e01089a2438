"""A latency budget inside the design program (mmdeepmad.latency's model as
one more posynomial): the relaxation's latency is never below the layout's,
the program stays DCP and DPP, designs meet the budget by the layout's count,
and a budget below every network's latency is refused with a proof."""
import math

import numpy as np
import pytest
from scipy.special import logsumexp

from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.design import program
from mmdeepmad.design.api import make_space
from mmdeepmad.design.program import DepthProblem, WidthProblem, initial_point
from mmdeepmad.design.relaxation import LATENCY_UNIT, StructureModel
from mmdeepmad.design.search_space import Candidates
from mmdeepmad.design.solver import (InfeasibleBudgetError, smallest_latency,
                                     solve)
from mmdeepmad.latency.model import LatencyModel
from mmdeepmad.latency.terms import KINDS

KNOTS = (4, 14, 56, 112)


def synthetic_model(seed: int = 0) -> LatencyModel:
    """Coefficients of a plausible CPU (seconds per MAC, per element, per
    part), varied by side so that the interpolation matters."""
    rng = np.random.default_rng(seed)
    base = dict(
        pointwise=2e-11,
        dense=2.5e-11,
        depthwise=1.5e-10,
        se=1e-9,
        memory=1.5e-9,
        overhead=3e-5)
    return LatencyModel(
        KNOTS, {
            kind: (base[kind] * rng.uniform(0.5, 2.0, len(KNOTS))).tolist()
            for kind in KINDS
        })


def random_designs(space, rng, count):
    M = space.num_stages
    step = space.width_multiple
    rows = []
    for _ in range(count):
        out = np.sort(rng.integers(1, 48, M)) * step
        if rng.random() < 0.5:
            out[1] = out[0]
        stem = int(
            rng.integers(space.stem_channels[0] // step,
                         space.stem_channels[1] // step + 1) * step)
        if rng.random() < 0.3:  # a first unit whose input width is its own
            out[0] = stem
            out = np.maximum.accumulate(out)
        low, high = space.mid_bounds(out)
        mid = np.array([
            rng.integers(max(lo, step) // step,
                         max(hi, lo, step) // step + 1) * step
            for lo, hi in zip(low, high)
        ])
        kernel = rng.choice(space.kernels, M)
        depth = np.minimum(rng.integers(1, 5, M), space.max_depths)
        rows.append(Candidates.single(stem, out, mid, kernel, depth))
    return Candidates.concat(rows)


SPACES = [(block, style, resolution)
          for block in ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
          for style in ('tinynas', 'torchvision')
          for resolution in (32, 160, 224)]


@pytest.mark.parametrize('block,style,resolution', SPACES)
def test_relaxed_latency_is_never_below_the_layouts(block, style, resolution):
    space = make_space(block, 'paper', resolution).with_(style=style)
    latency = synthetic_model()
    model = StructureModel(space, 'paper', [1] * space.num_stages, latency)
    rows, coefs = model.latency_monomials()
    exact = latency.batched(space)
    batch = random_designs(space, np.random.default_rng(1), 40)
    assert space.contains(batch).all()
    seconds = exact(batch)
    for i in range(len(batch)):
        stem, out, mid, kernel, depth = batch.row(i)
        z = np.log(np.concatenate([[stem], out, mid, kernel]).astype(float))
        relaxed = float(
            np.sum(model.coefficients(coefs, depth) *
                   np.exp(rows @ z))) / LATENCY_UNIT
        assert relaxed >= seconds[i] * (1 - 1e-12)
        spec = space.to_spec(stem, out, mid, kernel, depth)
        assert latency.predict(spec) == pytest.approx(seconds[i], rel=1e-12)
        if block == 'bottleneck' and style == 'tinynas':
            # every first unit projects, pools at stride 2 and adds: equal
            # (but for the program's floor 1e-12 on a vanishing coefficient)
            assert relaxed == pytest.approx(seconds[i], rel=1e-9)


def test_program_with_latency_is_dcp_and_dpp():
    space = make_space('mbv2-se', 'tinynas', 224)
    model = StructureModel(space, 'tinynas', [1] * 5, synthetic_model())
    width = WidthProblem(model)
    assert width.latency_budget is not None
    assert width.problem.is_dcp(dpp=True)
    depth = DepthProblem(model, 10.0)
    assert depth.problem.is_dcp(dpp=True)


def _log_latency(problem: WidthProblem, z) -> float:
    """Log of the relaxation's latency (program units) at log-widths z."""
    return float(
        logsumexp(problem.latency_rows @ z + problem.log_latency_coef.value))


@pytest.mark.parametrize('fraction', [0.5, 0.8, 1.25, 10.0])
def test_width_step_without_latency_first_is_the_subproblems_answer(fraction):
    """solve_step solves without the latency budget first and keeps that
    answer only when it meets the budget: the optimum of the subproblem with
    every budget solved directly, whether the budget binds or not; the
    latency cones are solved only when it binds."""
    space = make_space('bottleneck', 'paper', 224)
    model = StructureModel(space, 'paper', [1] * 5, synthetic_model(6))
    depths = [2, 3, 4, 2, 2]
    z0 = initial_point(model)
    budgets = Budgets(flops=4.13e9, params=25.55e6, rho=0.3)
    free = WidthProblem(model)
    free.set_depths(depths, budgets)
    free.linearise(z0)
    assert free.solve_step() == 'optimal'
    seconds = math.exp(_log_latency(free, free.z.value)) / LATENCY_UNIT
    budgets = Budgets(
        flops=4.13e9, params=25.55e6, rho=0.3, latency=fraction * seconds)
    lazy, direct = WidthProblem(model), WidthProblem(model)
    for problem in (lazy, direct):
        problem.set_depths(depths, budgets)
        problem.linearise(z0)
    assert lazy.solve_step() == program._solve(direct.problem) == 'optimal'
    lazy._set_objective_scale(1.0)  # compare at the direct solve's scale
    assert lazy.problem.objective.value == pytest.approx(
        direct.problem.objective.value, rel=1e-6)
    assert _log_latency(
        lazy, lazy.z.value) <= math.log(budgets.latency * LATENCY_UNIT) + 1e-6
    assert sum(lazy.counts.values()) == (2 if fraction < 1 else 1)


@pytest.mark.parametrize('convention', ['paper', 'tinynas'])
def test_latency_budget_binds_and_is_met_by_the_layouts_count(convention):
    space = make_space('bottleneck', convention, 224)
    latency = synthetic_model(2)
    loose = solve(
        space,
        Budgets(flops=4.13e9, params=25.55e6, rho=0.3),
        convention,
        latency=latency)
    assert loose.latency == pytest.approx(latency.predict(loose.spec))
    budget = 0.6 * loose.latency
    tight = solve(
        space,
        Budgets(flops=4.13e9, params=25.55e6, rho=0.3, latency=budget),
        convention,
        latency=latency)
    assert tight.latency == latency.predict(tight.spec)
    assert tight.latency <= budget
    assert tight.latency >= 0.97 * budget  # the budget binds
    assert tight.flops <= 4.13e9 and tight.params <= 25.55e6
    assert tight.score < loose.score


def test_latency_alone_with_rho():
    space = make_space('mbv2', 'paper', 160)
    latency = synthetic_model(3)
    result = solve(
        space, Budgets(rho=0.5, latency=0.01), 'paper', latency=latency)
    assert result.latency <= 0.01
    assert result.rho <= 0.5
    assert result.latency >= 0.95 * 0.01


def test_smallest_latency_is_a_lower_bound_and_refuses_with_proof():
    space = make_space('basic', 'paper', 224)
    latency = synthetic_model(4)
    bound = smallest_latency(space, latency)
    seconds = latency.batched(space)(
        random_designs(space, np.random.default_rng(5), 200))
    assert bound <= seconds.min()
    thinnest = Candidates.single(8, [8] * 5, [8] * 5, [3] * 5, [1] * 5)
    assert bound <= latency.batched(space)(thinnest)[0]
    with pytest.raises(InfeasibleBudgetError) as caught:
        solve(
            space,
            Budgets(rho=0.3, latency=0.5 * bound),
            'paper',
            latency=latency)
    message = str(caught.value)
    assert 'latency budget' in message and 'cannot be met' in message


def test_a_latency_budget_needs_a_model():
    space = make_space('bottleneck', 'paper', 224)
    with pytest.raises(ValueError, match='latency model'):
        solve(space, Budgets(rho=0.3, latency=0.02), 'paper')


def test_budgets_carry_latency():
    budgets = Budgets(flops=1e9, rho=0.3, latency=0.02)
    assert budgets.constrained == dict(flops=1e9, rho=0.3, latency=0.02)
    assert budgets.to_dict() == dict(
        flops=1e9, params=None, rho=0.3, latency=0.02)
    assert Budgets.from_dict(budgets.to_dict()) == budgets
    assert Budgets(flops=1e9).to_dict() == dict(
        flops=1e9, params=None, rho=None)  # old files keep their bytes
    assert budgets.satisfied_by(1e9, 5e6, 0.3, 0.02)
    assert not budgets.satisfied_by(1e9, 5e6, 0.3, 0.021)
    with pytest.raises(ValueError, match='latency'):
        budgets.satisfied_by(1e9, 5e6, 0.3)
    with pytest.raises(ValueError, match='latency'):
        Budgets(latency=-1.0)
    assert math.isclose(Budgets(latency=1).latency, 1)
