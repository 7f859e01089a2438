"""The benchmark's yardstick (``tools/analysis/baseline.py``): a seeded random
hill climb over the design space, with the design engine's exact scorer."""
import importlib.util
import os.path as osp
import sys

import numpy as np

from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.design.api import make_space
from mmdeepmad.design.batched import batched_evaluator

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_baseline():
    path = osp.join(ROOT, 'tools', 'analysis', 'baseline.py')
    spec = importlib.util.spec_from_file_location('baseline', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules['baseline'] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_baseline_is_seeded_and_feasible():
    baseline = load_baseline()
    space = make_space('bottleneck', 'tinynas')
    budgets = Budgets(flops=1.8e9, params=11.7e6, rho=0.3)
    evaluate = batched_evaluator(space, 'tinynas', (1, 1, 1, 1, 8), 10.0)
    result = baseline.random_local_search(
        space, evaluate, budgets, seconds=1.0, seed=1)
    assert result.feasible and result.evaluations > 1000
    assert np.isfinite(result.score)
    assert budgets.satisfied_by(
        float(evaluate(result.design).flops[0]),
        float(evaluate(result.design).params[0]),
        float(evaluate(result.design).rho[0]))
