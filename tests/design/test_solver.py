"""The solver's promises: budgets met by exact count, determinism, quality
against the official releases, clear infeasibility, and its building blocks."""

import pytest

from mmdeepmad.arch.tinynas_format import spec_from_tinynas
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.counters import count
from mmdeepmad.conventions.paper import paper_score
from mmdeepmad.conventions.tinynas import evaluate_tinynas
from mmdeepmad.design.api import design, make_space
from mmdeepmad.design.batched import batched_evaluator
from mmdeepmad.design.local_search import (SearchTrace, improve, repair,
                                           violation)
from mmdeepmad.design.search_space import Candidates
from mmdeepmad.design.solver import InfeasibleBudgetError
from mmdeepmad.reference import tinynas_releases


@pytest.mark.parametrize('block, flops, params, rho', [
    ('bottleneck', 1.8e9, 11.7e6, 0.3),
    ('basic', 0.6e9, 5e6, 0.3),
    ('mbv2', 320e6, 3.5e6, 0.5),
    ('mbv2-se', 390e6, 5.3e6, 0.5),
])
def test_paper_designs_meet_every_budget_by_exact_count(
        block, flops, params, rho):
    result = design(block, flops, params, rho)
    counts = count(result.spec)
    scored = paper_score(result.spec)
    assert counts.flops <= flops and counts.params <= params
    assert scored.rho <= rho
    assert result.score == pytest.approx(scored.score)
    assert all(stage.block == block for stage in result.spec.stages)
    assert all(stage.out_channels % 8 == 0 and stage.mid_channels % 8 == 0
               for stage in result.spec.stages)
    channels = [stage.out_channels for stage in result.spec.stages]
    assert channels == sorted(channels)  # Guideline 3
    # the budgets are used: a design far inside them would be a poor optimum
    assert counts.flops > 0.9 * flops or counts.params > 0.9 * params \
        or scored.rho > 0.9 * rho


def test_design_is_deterministic():
    first = design('bottleneck', 1.8e9, 11.7e6, 0.3, convention='tinynas')
    second = design('bottleneck', 1.8e9, 11.7e6, 0.3, convention='tinynas')
    assert first.spec.to_json() == second.spec.to_json()


def test_beats_the_official_release_on_its_own_terms():
    entry = next(e for e in tinynas_releases()['structures']
                 if e['name'] == 'deepmad-R50')
    result = design('bottleneck', convention='tinynas', **entry['budgets'])
    official = evaluate_tinynas(result.spec)
    assert official.satisfies(Budgets(**entry['budgets']))
    assert official.penalised_score >= entry['penalised_score']
    release = evaluate_tinynas(spec_from_tinynas(entry['structure']))
    assert release.penalised_score == pytest.approx(entry['penalised_score'])


def test_infeasible_budget_names_the_budget_and_the_smallest_value():
    with pytest.raises(InfeasibleBudgetError) as error:
        design('bottleneck', 4e9, 1e3, 0.3)
    message = str(error.value)
    assert 'params budget' in message and 'smallest params' in message
    # the library names budgets, not command-line flags
    assert 'raise the params budget to' in message and '--' not in message
    assert [a.budget for a in error.value.advice] == ['params']


def test_repair_and_improve_stay_feasible_and_never_lose():
    space = make_space('bottleneck', 'tinynas')
    budgets = Budgets(flops=1.8e9, params=11.7e6, rho=0.3)
    evaluate = batched_evaluator(space, 'tinynas', (1, 1, 1, 1, 8), 10.0)
    start = Candidates.single(32, [256, 512, 768, 1024, 2048],
                              [64, 128, 256, 256, 512], [5] * 5, [3] * 5)
    assert violation(evaluate(start), budgets)[0] > 0
    trace = SearchTrace()
    fixed = repair(space, evaluate, budgets, start, trace)
    assert fixed is not None
    assert violation(evaluate(fixed), budgets)[0] == 0
    before = float(evaluate(fixed).score[0])
    better, score = improve(space, evaluate, budgets, fixed, trace)
    assert score >= before
    assert violation(evaluate(better), budgets)[0] == 0
    assert space.contains(better)[0]


def test_jointly_infeasible_budget_suggests_a_value_that_works():
    with pytest.raises(InfeasibleBudgetError) as error:
        design('bottleneck', 4.13e9, 10e3, 0.3)
    message = str(error.value)
    assert message.startswith('the params budget 10K cannot be met: ')
    assert 'every design of the space meeting FLOPs <= 4.13G and rho <= 0.3 ' \
        'has params > ' in message
    suggested = message.split('raise the params budget to ')[1].split(':')[0]
    assert suggested.endswith('K')
    result = design('bottleneck', 4.13e9, suggested, 0.3)  # '47.1K' as is
    assert count(result.spec).params <= float(suggested[:-1]) * 1e3


def test_tight_rho_is_designed_not_called_infeasible():
    """R50's FLOPs and params with rho <= 0.024: single-move repair is stuck
    at every rounded start; repair that can exchange finds a design, which
    meets all three budgets by exact count."""
    result = design('bottleneck', 4.13e9, 25.55e6, 0.024)
    exact = paper_score(result.spec)
    assert exact.rho <= 0.024
    counts = count(result.spec)
    assert counts.flops <= 4.13e9 and counts.params <= 25.55e6


def test_a_solve_that_fails_is_retried_and_counted_as_it_ended(monkeypatch):
    """An error, an iteration limit or an inaccurate answer is solved again
    with other settings; what finally happened is counted, never hidden."""
    from collections import Counter

    from mmdeepmad.design import program

    def answers(first, retried):
        calls = []

        def run(problem, settings):
            calls.append(settings)
            return retried if settings else first

        monkeypatch.setattr(program, '_run', run)
        return calls

    answers('solver error', 'optimal')
    counts = Counter()
    assert program._solve(None, counts) == 'optimal'
    assert counts == {'optimal after retry': 1}

    calls = answers('user_limit', 'solver error')
    counts = Counter()
    assert program._solve(None, counts) == 'user_limit'
    assert counts == {'user_limit': 1}
    assert len(calls) == 1 + len(program.RETRY_SETTINGS)

    # an inaccurate answer no retry improves is used (solved again with the
    # default settings, so the values are that answer's) and counted as such
    calls = answers('optimal_inaccurate', 'solver error')
    counts = Counter()
    assert program._solve(None, counts) == 'optimal_inaccurate'
    assert counts == {'optimal_inaccurate': 1} and calls[-1] == {}
