""""Infeasible" only with a proof, and advice that works.

When the local search finds no design, the certificate's branch and bound
searches the whole space: it finds a design (returned), proves there is none
(the message says proven, with each budget's least value, itself proven),
or neither (the message says a design may exist). Every budget value the
library advises was checked by solving again with it. On tiny spaces every
design is enumerated, so "proven" and the least values are checked against
the truth.
"""
import math
import re

import numpy as np
import pytest

from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.design import solver
from mmdeepmad.design.api import design, make_space
from mmdeepmad.design.feasibility import (branch_and_bound,
                                          infeasibility_reasons, proven_least)
from mmdeepmad.design.solver import InfeasibleBudgetError
from .test_certificate import _alpha, exhaustive

#: The report's case: mbv2 at 128 px, FLOPs 164.7M, params 997K, rho 0.14:
#: every design with params <= 997K and rho <= 0.14 has more FLOPs.
MBV2 = dict(block='mbv2', params=997e3, rho=0.14, resolution=128)


def _infeasible(**budgets):
    with pytest.raises(InfeasibleBudgetError) as error:
        design(**dict(MBV2, **budgets))
    return error.value


def _least(message: str, label: str) -> float:
    """The proven least value the message names for a budget (as a
    number)."""
    from mmdeepmad.design.units import parse_budget
    found = re.search(rf'has {label} > (\S+) \(proven', message)
    name = {'FLOPs': 'flops'}.get(label, label)
    return parse_budget(name, found.group(1))


def test_proven_infeasible_names_least_values_and_checked_advice():
    error = _infeasible(flops=164.7e6)
    message = str(error)
    assert error.proven
    assert message.startswith(
        'the FLOPs budget 164.7M cannot be met: every design of the space '
        'meeting params <= 997K and rho <= 0.14 has FLOPs > ')
    least = {label: _least(message, label) for label in ('FLOPs', 'rho')}
    assert 700e6 < least['FLOPs'] < 720e6 and 0.17 < least['rho'] < 0.18
    assert [a.budget for a in error.advice] == ['flops', 'rho']
    for advice in error.advice:
        budgets = dict(MBV2, flops=164.7e6)
        budgets[advice.budget] = advice.value  # as printed
        result = design(**budgets)
        assert result.budgets.satisfied_by(result.flops, result.params,
                                           result.rho)
        # the proven least values hold for what was found
        assert result.flops > least['FLOPs'] or advice.budget == 'rho'
        assert result.rho > least['rho'] or advice.budget == 'flops'


@pytest.mark.parametrize('name', ['basic-paper', 'mbv2-tinynas'])
def test_proven_least_values_hold_on_an_enumerated_space(name):
    """Below the least feasible FLOPs of an enumerated space: proven
    infeasible, and the proven least FLOPs is at most the true least."""
    space, convention, budgets, beta, designs, scores, ok = exhaustive(name)
    alpha = _alpha(space, convention)
    others = (scores.params <= budgets.params) & (scores.rho <= budgets.rho)
    truth = float(np.min(scores.flops[others]))
    tight = Budgets(truth * 0.97, budgets.params, budgets.rho)
    proof = branch_and_bound(space, tight, convention, alpha, beta, 200)
    assert proof.infeasible and not np.any(scores.satisfies(tight))
    least, hopeless = proven_least(space, tight, 'flops', convention, alpha,
                                   beta)
    assert not hopeless and tight.flops <= least <= truth
    # a design at the true least exists, and the solver finds one there
    result = solver.solve(space, Budgets(truth, budgets.params, budgets.rho),
                          convention, alpha, beta)
    assert result.flops <= truth


def test_a_design_the_local_search_misses_is_found_by_branch_and_bound(
        monkeypatch):
    """No false "infeasible": with the local search finding nothing, the
    branch and bound still returns a verified design of the budgets."""
    space, convention, budgets, beta, designs, scores, ok = exhaustive(
        'basic-paper')
    monkeypatch.setattr(solver, '_search', lambda *args, **kwargs: None)
    result = solver.solve(space, budgets, convention,
                          _alpha(space, convention), beta)
    assert result.budgets.satisfied_by(result.flops, result.params, result.rho)
    assert math.isnan(result.relaxed_value)
    assert result.status.startswith('found by branch and bound')
    assert result.score <= float(np.max(scores.score[ok])) + 1e-6


def test_unproven_says_a_design_may_exist_and_checks_are_bounded():
    """No time left for checks: no advice, and the message says why; without
    a proof the message never says the budgets cannot be met."""
    space = make_space('mbv2', resolution=128)
    reasons, proven = infeasibility_reasons(
        space,
        Budgets(717.4e6, 997e3, 0.14),
        'paper', (1, 1, 1, 1, 8),
        10.0,
        seconds=0)
    assert not proven
    text = reasons[0][0]
    assert text.startswith('no design meeting FLOPs <= 717.4M, params <= '
                           '997K, rho <= 0.14 together was found')
    assert 'may still exist' in text and 'cannot be met' not in text
    assert [advice for _, advice in reasons] == [None]
