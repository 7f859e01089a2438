"""The stored presets are what the design engine produces for their budgets."""
import pytest

from mmdeepmad.design.budgets import Budgets
from mmdeepmad.design.loader import load_preset
from mmdeepmad.design.presets import PRESETS, design_preset, preset_command
from mmdeepmad.design.tinynas import evaluate_tinynas


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_preset_is_current_and_within_budget(name):
    stored = load_preset(name)
    assert stored.name == name
    assert stored.meta['command'] == preset_command(name)
    problem = PRESETS[name]
    budgets = Budgets(
        flops=problem['flops'], params=problem['params'], rho=problem['rho'])
    assert evaluate_tinynas(stored).satisfies(budgets)
    assert stored.resolution == problem.get('resolution', 224)
    # regenerate: the stored file is exactly what the engine writes today
    assert design_preset(name).spec.to_json() == stored.to_json()
