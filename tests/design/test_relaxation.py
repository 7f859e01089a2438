"""The convex programs: problem class, posynomial budgets equal to the exact
counts at buildable points, CCP monotonicity, envelope gradients."""
import math

import numpy as np
import pytest

from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.counters import count
from mmdeepmad.conventions.paper import paper_score
from mmdeepmad.conventions.tinynas import evaluate_tinynas
from mmdeepmad.design import program
from mmdeepmad.design.api import make_space
from mmdeepmad.design.relaxation import StructureModel

R50 = Budgets(flops=4.13e9, params=25.55e6, rho=0.3)


def point(model, stem, out, mid, kernel):
    return np.log(
        np.asarray([stem] + list(out) + list(mid) + list(kernel), dtype=float))


def model_counts(model, z, depths):
    rows, flop_coefs, param_coefs = model.monomials()
    values = np.exp(rows @ z)
    return (float(np.sum(model.coefficients(flop_coefs, depths) * values)),
            float(np.sum(model.coefficients(param_coefs, depths) * values)))


@pytest.mark.parametrize('convention', ['paper', 'tinynas'])
@pytest.mark.parametrize('block', ['bottleneck', 'mbv2-se'])
def test_problems_are_dcp_and_dpp(block, convention):
    model = StructureModel(
        make_space(block, convention), convention, (1, 1, 1, 1, 8))
    assert program.WidthProblem(model).problem.is_dcp(dpp=True)
    assert program.DepthProblem(model, 10.0).problem.is_dcp(dpp=True)


@pytest.mark.parametrize('convention', ['paper', 'tinynas'])
def test_bottleneck_posynomials_are_exact(convention):
    """At a buildable point the log-sum-exp budgets are the exact counts."""
    rng = np.random.default_rng(3)
    space = make_space('bottleneck', convention)
    model = StructureModel(space, convention, (1, 1, 1, 1, 8))
    for _ in range(20):
        out = np.sort(rng.integers(4, 200, 5) * 8)
        mid = np.maximum(8, (out * rng.uniform(0.1, 1, 5) // 8) * 8)
        kernel = rng.choice([3, 5], 5)
        depths = rng.integers(1, 12, 5)
        stem = int(rng.integers(1, 5) * 8)
        spec = space.to_spec(stem, out, mid, kernel, depths)
        flops, params = model_counts(model, point(model, stem, out, mid,
                                                  kernel), depths)
        if convention == 'paper':
            exact = count(spec)
            assert flops == pytest.approx(exact.flops, rel=1e-9)
            assert params == pytest.approx(exact.params, rel=1e-9)
        else:
            exact = evaluate_tinynas(spec)
            assert flops == pytest.approx(exact.flops, rel=1e-9)
            assert params == pytest.approx(exact.params, rel=1e-9)


def test_depthwise_relaxation_is_conservative():
    """SE squeeze round(b/4)//8*8 <= b/4 and the kept pool: the relaxed
    budgets never undercount a depthwise design."""
    rng = np.random.default_rng(4)
    space = make_space('mbv2-se', 'tinynas')
    model = StructureModel(space, 'tinynas', (1, 1, 1, 1, 8))
    for _ in range(20):
        out = np.sort(rng.integers(2, 100, 5) * 8)
        mid = (out * rng.uniform(1.5, 6, 5) // 8) * 8
        kernel = rng.choice([3, 5, 7], 5)
        depths = rng.integers(1, 8, 5)
        spec = space.to_spec(32, out, mid, kernel, depths)
        flops, params = model_counts(model, point(model, 32, out, mid, kernel),
                                     depths)
        exact = evaluate_tinynas(spec)
        assert flops >= exact.flops * (1 - 1e-12)
        assert params >= exact.params * (1 - 1e-12)
        assert params <= exact.params * 1.02


@pytest.mark.parametrize('convention', ['paper', 'tinynas'])
def test_entropy_and_rho_rows_match_exact(convention):
    space = make_space('bottleneck', convention)
    model = StructureModel(space, convention, (1, 1, 1, 1, 8))
    problem = program.WidthProblem(model)
    stem, out, mid, kernel = 32, [128, 512, 872, 1024, 1232], \
        [40, 48, 88, 104, 120], [5, 5, 5, 5, 5]
    depths = np.array([1, 11, 12, 13, 15])
    spec = space.to_spec(stem, out, mid, kernel, depths)
    z = point(model, stem, out, mid, kernel)
    problem.set_depths(depths.astype(float), R50)
    if convention == 'paper':
        exact = paper_score(spec)
        assert problem.entropy(z) == pytest.approx(exact.entropy, rel=1e-12)
        rho_ok = problem.rho_rows.value @ z >= problem.rho_rhs.value
        assert bool(rho_ok.all()) == (exact.rho <= R50.rho)
    else:
        exact = evaluate_tinynas(spec)
        assert problem.entropy(z) == pytest.approx(exact.score, rel=1e-12)
        slack = problem.rho_rows.value @ z - problem.rho_rhs.value
        # the binding stage's slack is D log(rho_budget / rho)
        assert bool((slack >= 0).all()) == (exact.rho <= R50.rho)


def test_ccp_increases_the_true_objective():
    space = make_space('bottleneck', 'tinynas')
    model = StructureModel(space, 'tinynas', (1, 1, 1, 1, 8))
    problem = program.WidthProblem(model)
    problem.set_depths(np.array([1, 4, 8, 8, 8.0]), R50)
    z = program.initial_point(model)
    values = []
    for _ in range(4):
        z, value, status = problem.solve(z, iterations=1, tol=0)
        assert status == 'optimal'
        values.append(value)
    assert all(b >= a - 1e-6 * abs(a) for a, b in zip(values, values[1:]))


def test_envelope_gradient_predicts_depth_changes():
    space = make_space('bottleneck', 'tinynas')
    model = StructureModel(space, 'tinynas', (1, 1, 1, 1, 8))
    problem = program.WidthProblem(model)
    depths = np.array([1, 4, 10, 10, 10.0])
    z0 = program.initial_point(model)

    def best(d):
        problem.set_depths(d, R50)
        z, value, _ = problem.solve(z0, iterations=20, tol=1e-9)
        return z, value

    z, value = best(depths)
    gradient = problem.depth_gradient(z)
    for stage in (2, 4):
        bumped = depths.copy()
        bumped[stage] += 1
        _, after = best(bumped)
        assert after - value == pytest.approx(gradient[stage], rel=0.25)


def test_infeasible_program_is_reported():
    space = make_space('bottleneck', 'paper')
    model = StructureModel(space, 'paper', (1, 1, 1, 1, 8))
    problem = program.WidthProblem(model)
    problem.set_depths(
        np.full(5, 3.0), Budgets(flops=1e6, params=1e3, rho=0.3))
    _, value, status = problem.solve(program.initial_point(model))
    assert value is None and 'infeasible' in status
    assert math.isfinite(program.depth_penalty(model, [1, 2, 3, 4, 5], 10))
