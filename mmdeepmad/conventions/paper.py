"""The paper's quantities of a spec (the ``paper`` convention, Eq. 2-5).

* Layers: the L main-path convs (stem, every unit's main convs, the head conv);
  shortcut projections and SE convs are side branches and are not layers.
* Width of a layer (Sec. 4.1): ``w = c_in * k^2 / g``.
* Effectiveness (Eq. 2-3): ``rho = L / exp(mean_i log w_i)``.
* Entropy of stage s (Eq. 4 applied to the network up to the end of stage s):
  ``H_s = log(r_s^2 * c_s) * sum_{layers i up to s} log w_i``, with ``r_s`` the
  real output side of the stage at the spec's resolution and ``c_s`` its output
  channels (the last stage's include the head conv).
* Guideline 1: ``sum_s alpha_s H_s`` (default alpha = 1, ..., 1, 8).
* Guideline 2: ``Q = exp(Var(L_1, ..., L_M))`` over the stage depths
  (population variance), weighted by ``beta`` (default 10).
* Guideline 3: stage output channels are non-decreasing.
"""
from __future__ import annotations
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from mmdeepmad.arch.layout import MAIN, NetworkLayout, build_layout
from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions.rules import (DEFAULT_BETA, default_alpha,
                                         depth_penalty)


def _layout(spec_or_layout) -> NetworkLayout:
    if isinstance(spec_or_layout, NetworkLayout):
        return spec_or_layout
    return build_layout(spec_or_layout)


def stage_log_widths(layout: NetworkLayout) -> Tuple[Tuple[float, ...], ...]:
    """log w of the main-path layers, grouped by stage (stem in stage 0, head
    conv in the last stage)."""
    groups = [[] for _ in layout.spec.stages]
    groups[0].append(math.log(layout.stem.width))
    for unit in layout.units:
        groups[unit.stage].extend(
            math.log(conv.width) for conv in unit.main if conv.role == MAIN)
    if layout.head_conv is not None:
        groups[-1].append(math.log(layout.head_conv.width))
    return tuple(tuple(group) for group in groups)


def effectiveness(spec_or_layout) -> float:
    """rho = L / (prod w_i)^(1/L) over the main-path layers (Eq. 2-3)."""
    log_widths = [
        w for group in stage_log_widths(_layout(spec_or_layout)) for w in group
    ]
    depth = len(log_widths)
    return depth / math.exp(sum(log_widths) / depth)


def stage_entropies(spec_or_layout) -> Tuple[float, ...]:
    """H_s of Eq. 4 for the network up to the end of each stage."""
    layout = _layout(spec_or_layout)
    spec = layout.spec
    cumulative = np.cumsum([sum(group) for group in stage_log_widths(layout)])
    entropies = []
    for stage in range(spec.num_stages):
        side = layout.stage_output_size(stage)
        channels = spec.stage_channels[stage]
        entropies.append(
            math.log(side * side * channels) * float(cumulative[stage]))
    return tuple(entropies)


def widths_non_decreasing(spec: ArchSpec) -> bool:
    """Guideline 3 on the stage output channels."""
    channels = [stage.out_channels for stage in spec.stages]
    return all(a <= b for a, b in zip(channels, channels[1:]))


@dataclass(frozen=True)
class PaperScore:
    entropy: float
    penalty: float
    rho: float
    stage_entropies: Tuple[float, ...]
    non_decreasing: bool

    @property
    def score(self) -> float:
        """The objective of Eq. 5: sum alpha_s H_s - beta Q."""
        return self.entropy - self.penalty


def paper_score(spec: ArchSpec,
                alpha: Optional[Sequence[float]] = None,
                beta: float = DEFAULT_BETA) -> PaperScore:
    layout = build_layout(spec)
    alpha = tuple(alpha) if alpha is not None else default_alpha(
        spec.num_stages)
    if len(alpha) != spec.num_stages:
        raise ValueError(
            f'alpha has {len(alpha)} weights but the spec has '
            f'{spec.num_stages} stages; give one weight per stage')
    entropies = stage_entropies(layout)
    return PaperScore(
        entropy=float(np.dot(alpha, entropies)),
        penalty=depth_penalty(spec.depths, beta),
        rho=effectiveness(layout),
        stage_entropies=entropies,
        non_decreasing=widths_non_decreasing(spec))
