"""The stored presets are what the design engine produces for their budgets."""
import pytest

from mmdeepmad.arch.loader import load_preset
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.tinynas import evaluate_tinynas
from mmdeepmad.design.presets import PRESETS, design_preset, preset_command


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
