"""The DeepMAD program (paper Eq. 1-5): budgets in, a verified architecture
out. Needs numpy and cvxpy, no torch.

Public API::

    from mmdeepmad.design import design, design_arch, make_space, solve

* :func:`design` / :func:`design_arch` (:mod:`.api`): plain options to a
  verified :class:`DesignResult` / :class:`~mmdeepmad.arch.ArchSpec`;
* :func:`make_space` and :class:`SearchSpace` (:mod:`.search_space`): what is
  fixed and what is searched; :data:`DEFAULT_DESIGN` (:mod:`.defaults`);
* :func:`solve` (:mod:`.solver`), :class:`InfeasibleBudgetError`;
* the presets' design problems (:mod:`.presets`).

Inside: :mod:`.relaxation` (Eq. 5 in log space), :mod:`.program` (the cvxpy
problems), :mod:`.depth_search` and :mod:`.local_search` (the searches),
:mod:`.bounding` and :mod:`.certificate` (the proven bound, branch and
bound), :mod:`.feasibility` (a proof when no design is found, and advice),
:mod:`.batched` with :mod:`.batched_paper` and :mod:`.batched_tinynas` (exact
scoring of many designs at once), :mod:`.units` (counts as people write
them), :mod:`.cli` (``tools/design.py``). Imports are lazy, so
``import mmdeepmad.design.cli`` stays light.
"""
from .defaults import DEFAULT_DESIGN

__all__ = [
    'DEFAULT_DESIGN', 'DesignResult', 'InfeasibleBudgetError', 'SearchSpace',
    'design', 'design_arch', 'make_space', 'solve'
]


def __getattr__(name):
    """The heavy names (cvxpy) are imported on first use."""
    if name in ('design', 'design_arch', 'make_space'):
        from . import api
        return getattr(api, name)
    if name in ('DesignResult', 'InfeasibleBudgetError', 'solve'):
        from . import solver
        return getattr(solver, name)
    if name == 'SearchSpace':
        from .search_space import SearchSpace
        return SearchSpace
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
