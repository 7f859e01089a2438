"""How a network is counted and scored: the two conventions, written once.

* :mod:`~mmdeepmad.conventions.rules`: the shared rules (the conventions,
  Guideline 1's default weights, Guideline 2's depth penalty and its beta).
* :mod:`~mmdeepmad.conventions.evaluation`: :func:`evaluate`, the exact
  figures of a spec in a convention.

numpy only: no cvxpy, no torch.
"""
from .evaluation import Evaluation, StageRow, convention_text, evaluate
from .rules import (CONVENTIONS, DEFAULT_BETA, TINYNAS_SCORE_RESOLUTION,
                    check_convention, default_alpha, depth_penalty,
                    penalised_stages, scored_stage_count)

__all__ = [
    'CONVENTIONS', 'DEFAULT_BETA', 'TINYNAS_SCORE_RESOLUTION', 'Evaluation',
    'StageRow', 'check_convention', 'convention_text', 'default_alpha',
    'depth_penalty', 'evaluate', 'penalised_stages', 'scored_stage_count'
]
