"""The rules both counting conventions share, each written once.

* :data:`CONVENTIONS`: ``paper`` (Eq. 2-5 as the paper writes them, FLOPs as
  conv multiply-accumulates) and ``tinynas`` (as the official code counts).
* Guideline 1's stage weights, :func:`default_alpha`: 1 for every scored stage
  but the last, which weighs 8. How many stages are scored is
  :func:`scored_stage_count`: every spec stage under ``paper``; under
  ``tinynas`` one more than the stride-2 stages (TinyNAS closes a stage before
  every stride-2 block after the stem, and at the end).
* Guideline 2's depth penalty, :func:`depth_penalty` with
  :data:`DEFAULT_BETA`: ``beta * exp(Var(L))`` over every stage depth
  (``paper``, Eq. 5) or ``beta * exp(std(L))`` over the stages TinyNAS keeps
  (``tinynas``, :func:`penalised_stages`).
* The side TinyNAS's score reads, :data:`TINYNAS_SCORE_RESOLUTION`.

Everything here takes plain numbers or numpy arrays (batched along the last
axis), so the exact references, the batched scorers and the relaxation all
call the same code. numpy is imported when a penalty is computed, so the
command line can read the constants without it.
"""
from __future__ import annotations
from typing import Sequence, Tuple

CONVENTIONS = ('paper', 'tinynas')

#: Guideline 2's weight of the depth penalty (the official configs' value).
DEFAULT_BETA = 10.0

#: Guideline 1's weight of the last scored stage (the others weigh 1).
LAST_STAGE_WEIGHT = 8.0

#: The side TinyNAS's scorer uses for R_s, whatever the image size.
TINYNAS_SCORE_RESOLUTION = 224

#: Families whose stage depths TinyNAS's penalty drops from the front: the
#: network's first super-block (its second block) decides. Bottleneck
#: networks drop the first depth twice, basic ones once, depthwise none.
_TINYNAS_DROPPED = {'bottleneck': 2, 'basic': 1, 'mbv2': 0, 'mbv2-se': 0}

#: TinyNAS computes the bottleneck penalty only with exactly this many stages.
TINYNAS_BOTTLENECK_STAGES = 5


def check_convention(convention: str) -> str:
    """``convention`` if it is one of :data:`CONVENTIONS`, else ValueError."""
    if convention not in CONVENTIONS:
        raise ValueError(f'convention must be one of {", ".join(CONVENTIONS)};'
                         f' got {convention!r}')
    return convention


def scored_stage_count(strides: Sequence[int], convention: str) -> int:
    """How many stages Guideline 1 weighs for a stage stride pattern."""
    check_convention(convention)
    if convention == 'paper':
        return len(strides)
    return 1 + sum(1 for stride in strides if stride == 2)


def default_alpha(count: int) -> Tuple[float, ...]:
    """Guideline 1's weights of ``count`` scored stages: 1, ..., 1, 8."""
    if count < 1:
        raise ValueError(f'a network scores at least one stage, got {count}')
    return (1.0, ) * (count - 1) + (LAST_STAGE_WEIGHT, )


def penalised_stages(block: str, num_stages: int,
                     convention: str) -> Tuple[int, ...]:
    """Indices of the stages whose depths enter the penalty.

    ``paper``: all. ``tinynas``: TinyNAS's rule, decided by the first stage's
    family (bottleneck: all but the first two, which needs exactly five
    stages; basic: all but the first; depthwise: all)."""
    check_convention(convention)
    if convention == 'paper':
        return tuple(range(num_stages))
    if block not in _TINYNAS_DROPPED:
        raise ValueError(f'unknown block family {block!r}')
    if block == 'bottleneck' and num_stages != TINYNAS_BOTTLENECK_STAGES:
        raise ValueError(
            'TinyNAS computes the depth penalty of a bottleneck '
            f'(SuperResK1KXK1) network only with exactly '
            f'{TINYNAS_BOTTLENECK_STAGES} super-blocks (stages); got '
            f'{num_stages}')
    return tuple(range(_TINYNAS_DROPPED[block], num_stages))


def depth_penalty(depths,
                  beta: float = DEFAULT_BETA,
                  convention: str = 'paper',
                  block: str = 'bottleneck'):
    """Guideline 2: ``beta * exp(Var(L))`` (paper) or TinyNAS's
    ``beta * exp(std(L))`` over :func:`penalised_stages`.

    ``depths``: one depth vector (a float comes back) or an (N, M) array (an
    (N,) array comes back). ``beta == 0`` gives 0; a penalty too large for a
    float is ``inf``, never an overflow error."""
    import numpy as np
    values = np.asarray(depths, dtype=float)
    if beta == 0:
        penalty = np.zeros(values.shape[:-1])
    else:
        kept = values[
            ...,
            list(penalised_stages(block, values.shape[-1], convention))]
        if convention == 'paper':
            spread = np.var(kept, axis=-1)
        else:
            spread = np.std(kept, axis=-1)
        with np.errstate(over='ignore'):
            penalty = np.exp(spread) * beta
    return float(penalty) if values.ndim == 1 else penalty
