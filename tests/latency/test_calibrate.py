"""--measure's loop (mmdeepmad.latency.calibrate) without a device: a fake
solver and measurement. The design returned meets the measured budget, the
budget is tightened by the measured ratio, and the machine's drift since the
profile (the canary part's time ratio) is said and warned about."""
from types import SimpleNamespace

import pytest

from mmdeepmad.latency.calibrate import (DRIFT, MeasuredBudgetError,
                                         describe_drift, design_measured)


def fake_solver(measured_over_predicted: float):
    """``solve(budget)`` predicting the budget exactly; the measurement is
    the prediction times ``measured_over_predicted``."""
    solved = []

    def solve(budget):
        solved.append(budget)
        return SimpleNamespace(spec=budget, latency=budget)

    def measure(spec):
        return spec * measured_over_predicted

    return solve, measure, solved


def test_tightens_until_the_measurement_meets_the_budget():
    solve, measure, solved = fake_solver(1.1)
    done = design_measured(solve, None, 0.02, measure=measure)
    assert done.measured <= 0.02
    assert len(done.rounds) == 2 == len(solved)
    assert solved[1] == pytest.approx(0.02 / 1.1 * 0.98)
    assert done.canary_ratio is None


@pytest.mark.parametrize('ratio, words', [(1.5, ('slower', 'run low')),
                                          (0.6, ('faster', 'run high')),
                                          (1.0 + DRIFT / 2, None)])
def test_drift_is_said_and_warned_beyond_the_limit(ratio, words):
    solve, measure, _ = fake_solver(1.0)
    said, warned = [], []
    done = design_measured(
        solve,
        None,
        0.02,
        measure=measure,
        progress=said.append,
        drift=lambda: ratio,
        warn=warned.append)
    assert done.canary_ratio == ratio
    assert any(f'{ratio:.2f}x' in line for line in said)
    if words is None:
        assert not warned and describe_drift(ratio) is None
    else:
        assert len(warned) == 1 and warned[0].startswith('warning:')
        assert all(word in warned[0] for word in words)
        assert 'profile' in warned[0]


def test_a_budget_never_met_is_an_error_naming_the_drift():
    solve, measure, solved = fake_solver(2.0)
    with pytest.raises(MeasuredBudgetError) as caught:
        design_measured(
            lambda budget: solve(0.03),  # always the same, too slow, design
            None,
            0.02,
            measure=measure,
            drift=lambda: 1.8)
    message = str(caught.value)
    assert 'in 4 rounds' in message and '1.80x' in message
    assert len(solved) == 4
