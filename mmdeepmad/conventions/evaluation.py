"""One answer to "the figures of this spec in convention X".

:func:`evaluate` counts a spec exactly in a convention (``paper``:
:mod:`mmdeepmad.conventions.counters` and :mod:`mmdeepmad.conventions.paper`;
``tinynas``: :mod:`mmdeepmad.conventions.tinynas`) and returns an
:class:`Evaluation`: FLOPs, params, rho, ``entropy`` (Guideline 1's weighted
sum), ``penalty`` (Guideline 2) and ``score = entropy - penalty`` (Eq. 5),
with one :class:`StageRow` per stem, stage and head conv, and the convention
stated in words (:attr:`Evaluation.convention_text`). The solver's
verification, the design report, the zoo and the benchmarks all read it.
"""
from __future__ import annotations
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmdeepmad.arch.spec import ArchSpec
from .rules import (DEFAULT_BETA, check_convention, default_alpha,
                    scored_stage_count)


def convention_text(convention: str) -> str:
    """The counting convention, stated in words (printed with the figures)."""
    check_convention(convention)
    if convention == 'paper':
        from mmdeepmad.conventions.counters import CONVENTION
        return CONVENTION
    from mmdeepmad.conventions.tinynas import CONVENTION
    return CONVENTION


@dataclass(frozen=True)
class StageRow:
    """One line of the table: the stem, a stage, or the head conv."""

    label: str
    block: str
    out_channels: int
    mid_channels: Optional[int]
    kernel_size: int
    depth: int
    stride: int
    side: int
    flops: float
    params: int


@dataclass(frozen=True)
class Evaluation:
    """Exact figures of a spec in one convention."""

    spec: ArchSpec
    convention: str
    alpha: Tuple[float, ...]
    beta: float
    flops: float
    params: float
    rho: float
    entropy: float  # sum_s alpha_s H_s (paper) / TinyNAS's score
    penalty: float  # beta * Q
    score: float  # entropy - penalty (the objective of Eq. 5)
    rows: Tuple[StageRow, ...]
    exact: bool = True  # False: TinyNAS cannot score it (basic blocks)
    notes: Tuple[str, ...] = field(default=())

    def figure(self, name: str) -> float:
        return float(getattr(self, name))

    @property
    def convention_text(self) -> str:
        """What the figures count, in words."""
        return convention_text(self.convention)


def evaluate(spec: ArchSpec,
             convention: str = 'paper',
             alpha: Optional[Sequence[float]] = None,
             beta: float = DEFAULT_BETA) -> Evaluation:
    """The exact figures of ``spec`` in ``convention`` (default alpha:
    :func:`~mmdeepmad.conventions.rules.default_alpha` of the convention's
    scored stages).

    Raises :class:`ValueError` (``SpecError`` included) for what the
    convention cannot count (e.g. alpha of the wrong length)."""
    check_convention(convention)
    if alpha is None:
        alpha = default_alpha(
            scored_stage_count([s.stride for s in spec.stages], convention))
    alpha = tuple(float(a) for a in alpha)
    if convention == 'paper':
        return _evaluate_paper(spec, alpha, beta)
    return _evaluate_tinynas(spec, alpha, beta)


def _layout_rows(spec: ArchSpec, layout) -> List[Dict[str, Any]]:
    """Shape of every row (no counts): stem, stages, head conv."""
    stem_side = (
        layout.stem_pool_size
        if layout.stem_pool_size is not None else layout.stem.out_size)
    rows = [
        dict(
            label='stem',
            block='conv' + ('+pool' if spec.stem.max_pool else ''),
            out_channels=spec.stem.out_channels,
            mid_channels=None,
            kernel_size=spec.stem.kernel_size,
            depth=1,
            stride=spec.stem.stride * (2 if spec.stem.max_pool else 1),
            side=stem_side)
    ]
    for index, stage in enumerate(spec.stages):
        rows.append(
            dict(
                label=str(index + 1),
                block=stage.block,
                out_channels=stage.out_channels,
                mid_channels=stage.mid_channels,
                kernel_size=stage.kernel_size,
                depth=stage.depth,
                stride=stage.stride,
                side=layout.stage_output_size(index)))
    if spec.head_conv is not None:
        rows.append(
            dict(
                label='head',
                block='conv',
                out_channels=spec.head_conv.out_channels,
                mid_channels=None,
                kernel_size=spec.head_conv.kernel_size,
                depth=1,
                stride=1,
                side=layout.head_conv.out_size))
    return rows


def _evaluate_paper(spec: ArchSpec, alpha, beta) -> Evaluation:
    from mmdeepmad.arch.layout import build_layout
    from mmdeepmad.conventions.counters import count
    from mmdeepmad.conventions.paper import paper_score

    layout = build_layout(spec)
    shapes = _layout_rows(spec, layout)
    flops = [layout.stem.macs]
    params = [layout.stem.params]
    for index in range(spec.num_stages):
        convs = [c for unit in layout.stage_units(index) for c in unit.convs]
        flops.append(sum(c.macs for c in convs))
        params.append(sum(c.params for c in convs))
    if layout.head_conv is not None:
        flops.append(layout.head_conv.macs)
        params.append(layout.head_conv.params)
    rows = tuple(
        StageRow(flops=float(f), params=int(p), **shape)
        for shape, f, p in zip(shapes, flops, params))
    counts = count(layout)
    if sum(flops) != counts.flops or sum(params) != counts.params:
        raise AssertionError('internal error: the per-stage counts do not add '
                             'up to the network count')
    scored = paper_score(spec, alpha, beta)
    return Evaluation(
        spec=spec,
        convention='paper',
        alpha=alpha,
        beta=beta,
        flops=float(counts.flops),
        params=float(counts.params),
        rho=scored.rho,
        entropy=scored.entropy,
        penalty=scored.penalty,
        score=scored.score,
        rows=rows)


def _evaluate_tinynas(spec: ArchSpec, alpha, beta) -> Evaluation:
    from mmdeepmad.arch.layout import build_layout
    from mmdeepmad.arch.tinynas_format import spec_to_tinynas
    from mmdeepmad.conventions.tinynas import evaluate_tinynas, tinynas_blocks

    structure = spec_to_tinynas(spec)
    scored = evaluate_tinynas(spec, alpha=alpha, beta=beta)
    # Per block exactly as evaluate_tinynas sums them (float input side).
    flops, params = [], []
    side = float(spec.resolution)
    for block, units in zip(structure, tinynas_blocks(structure)):
        block_flops, current = 0.0, 1.0
        for unit in units:
            block_flops = block_flops + unit.flops * current**2
            current /= unit.stride
        flops.append(block_flops * side**2)
        params.append(sum(unit.params for unit in units))
        side /= block.get('s', 1)
    shapes = _layout_rows(spec, build_layout(spec))
    rows = tuple(
        StageRow(flops=float(f), params=int(p), **shape)
        for shape, f, p in zip(shapes, flops, params))
    if (sum(params) != scored.params
            or abs(sum(flops) - scored.flops) > 1e-9 * scored.flops):
        raise AssertionError('internal error: the per-stage TinyNAS counts '
                             'do not add up to the network count')
    notes = ()
    if not scored.exact:
        notes = ('TinyNAS cannot score basic (ResKXKX) blocks; its score and '
                 'rho are extended here, not the official figures', )
    return Evaluation(
        spec=spec,
        convention='tinynas',
        alpha=alpha,
        beta=beta,
        flops=float(scored.flops),
        params=float(scored.params),
        rho=float(scored.rho),
        entropy=float(scored.score),
        penalty=float(scored.depth_penalty),
        score=float(scored.penalised_score),
        rows=rows,
        exact=scored.exact,
        notes=notes)
