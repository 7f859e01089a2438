"""Infeasibility advice is a value that works: every budget value the
library advises was checked by solving the design again with it (the
solver is a local search, so a larger value is not promised to work too);
the bounds it prints are the relaxation's, said to be so."""
import pytest

from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.design.api import design, make_space
from mmdeepmad.design.solver import (InfeasibleBudgetError,
                                     infeasibility_reasons, smallest_jointly)

#: The report's case: mbv2 at 128 px, FLOPs 164.7M, params 997K, rho 0.14.
#: FLOPs alone binds until about 718M (the old advice, 698M, failed),
#: rho 0.14 is below the least rho at these FLOPs and params.
MBV2 = dict(block='mbv2', params=997e3, rho=0.14, resolution=128)


def _advised(flops, advice):
    """The report's budgets with the advised one (as printed, a string)."""
    budgets = dict(MBV2, flops=flops)
    budgets[advice.budget] = advice.value
    return budgets


def _infeasible(**budgets):
    with pytest.raises(InfeasibleBudgetError) as error:
        design(**dict(MBV2, **budgets))
    return error.value


def test_advice_names_a_value_checked_to_work():
    error = _infeasible(flops=164.7e6)
    assert str(error) == (
        'the FLOPs budget 164.7M was not met together with params <= 997K '
        'and rho <= 0.14: the relaxation (real widths, one unit per stage) '
        'needs FLOPs >= 717.3M (raise the FLOPs budget to 790M: checked, a '
        'design was solved with it); the rho budget 0.14 was not met '
        'together with FLOPs <= 164.7M and params <= 997K: the relaxation '
        '(real widths, one unit per stage) needs rho >= 0.1767 (raise the rho '
        'budget to 0.181: checked, a design was solved with it)')
    assert [(a.budget, a.value) for a in error.advice] == [('flops', '790M'),
                                                           ('rho', '0.181')]
    for advice in error.advice:
        result = design(**_advised(flops=164.7e6, advice=advice))
        assert result.budgets.satisfied_by(result.flops, result.params,
                                           result.rho)
        # the relaxation's bounds hold for what was found
        assert result.flops >= 717.3e6 or advice.budget == 'rho'
        assert result.rho >= 0.1767 or advice.budget == 'flops'


def test_when_two_budgets_bind_each_advice_still_works():
    """At FLOPs 698M (the old, wrong advice) params and rho bind as well;
    every value advised gives a design."""
    error = _infeasible(flops=698e6)
    assert [a.budget for a in error.advice] == ['flops', 'params', 'rho']
    assert 'needs params >= 1.004M' in str(error)
    for advice in error.advice:
        design(**_advised(flops=698e6, advice=advice))


def test_grid_infeasibility_says_so_and_advises_checked_values():
    """Above every bound and still no design found: said so, without
    claiming that none exists, with checked values."""
    error = _infeasible(flops=717.4e6)
    # nothing proves that no design exists: the message says none was found
    assert str(error).startswith(
        'no design meeting FLOPs <= 717.4M, params <= 997K, rho <= 0.14 '
        'together was found (each can alone and the relaxation meets them '
        'together; the search over grid widths and integer depths is local, '
        'so such a design may still exist); raise the FLOPs budget to ')
    assert error.advice
    for advice in error.advice:
        design(**_advised(flops=717.4e6, advice=advice))


def test_smallest_rho_is_the_relaxations_bound():
    space = make_space('mbv2', resolution=128)
    alpha = (1, 1, 1, 1, 8)
    joint = smallest_jointly(space, Budgets(164.7e6, 997e3, 0.14), 'paper',
                             alpha)
    rho, buildable = joint['rho']
    assert 0.1767 <= rho < 0.1768 and buildable is None
    assert joint['params'] is None  # FLOPs 164.7M and rho 0.14 conflict
    # with no rho budget the least rho only grows as FLOPs shrink
    looser = smallest_jointly(space, Budgets(300e6, 997e3, 0.14), 'paper',
                              alpha)['rho'][0]
    assert looser < rho


def test_the_checks_are_bounded():
    """No time left for checks: no advice, and the message says why."""
    space = make_space('mbv2', resolution=128)
    reasons = infeasibility_reasons(
        space,
        Budgets(164.7e6, 997e3, 0.14),
        'paper', (1, 1, 1, 1, 8),
        10.0,
        seconds=0)
    assert [advice for _, advice in reasons] == [None, None]
    assert reasons[0][0].endswith(
        '; no FLOPs value was checked (the 0 s for checking advice ran out)')
