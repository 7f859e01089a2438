"""The PNGs of the design command line: one design
(:func:`render_design_plot`) and a rho sweep (:func:`render_sweep_plot`, the
paper's Fig. 5).

Plots return PNG bytes (the caller writes them atomically); matplotlib is
imported only when a plot is drawn, through its object-oriented API with the
Agg canvas (no pyplot, no global backend switch).
"""
from __future__ import annotations
import io
from typing import Optional, Sequence

from mmdeepmad.conventions import Evaluation
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.design.units import format_count
from .report import SweepPoint


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', metadata={'Software': None})
    return buffer.getvalue()


def render_design_plot(evaluation: Evaluation,
                       budgets: Optional[Budgets] = None) -> bytes:
    """PNG: stage widths (out and mid), stage depths, budget use."""
    import numpy as np
    spec = evaluation.spec
    figure = _figure(14, 4.4)
    axes = figure.subplots(1, 3)
    labels = [f'S{i + 1}' for i in range(spec.num_stages)]
    x = np.arange(spec.num_stages)
    out = [s.out_channels for s in spec.stages]
    mid = [s.mid_channels for s in spec.stages]
    ax = axes[0]
    ax.bar(x - 0.2, out, 0.4, label='out channels')
    ax.bar(x + 0.2, mid, 0.4, label='mid channels')
    if spec.head_conv is not None:
        ax.axhline(
            spec.head_conv.out_channels,
            color='grey',
            ls=':',
            label=f'head conv {spec.head_conv.out_channels}')
    ax.set_xticks(x, labels)
    ax.set_ylabel('channels')
    ax.set_title('widths per stage')
    ax.legend(fontsize=8)
    ax = axes[1]
    bars = ax.bar(x, spec.depths, color='tab:green')
    ax.bar_label(bars, fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_ylabel('units')
    ax.set_title(f'depth per stage (total {sum(spec.depths)})')
    ax = axes[2]
    names = ('FLOPs', 'params', 'rho')
    used = []
    for key in ('flops', 'params', 'rho'):
        bound = getattr(budgets, key) if budgets is not None else None
        used.append(100.0 * evaluation.figure(key) / bound if bound else 0.0)
    colors = ['tab:red' if u > 100 else 'tab:blue' for u in used]
    bars = ax.bar(names, used, color=colors)
    ax.bar_label(
        bars,
        labels=[f'{u:.1f}%' if u else 'no budget' for u in used],
        fontsize=8)
    ax.axhline(100, color='black', ls='--', lw=1)
    ax.set_ylim(0, max([120.0] + [u * 1.15 for u in used]))
    ax.set_ylabel('% of budget')
    ax.set_title(f'budget use ({evaluation.convention} convention)')
    figure.suptitle(f'{spec.name or "design"}: score {evaluation.score:.2f}, '
                    f'FLOPs {format_count(evaluation.flops)}, params '
                    f'{format_count(evaluation.params)}, rho '
                    f'{evaluation.rho:.3f}')
    figure.tight_layout()
    return _png(figure)


def render_sweep_plot(points: Sequence[SweepPoint]) -> bytes:
    """PNG of the paper's Fig. 5: total depth and mean/final width against
    rho."""
    ordered = sorted(points, key=lambda p: p.rho)
    rhos = [p.rho for p in ordered]
    figure = _figure(11, 4.2)
    left, right = figure.subplots(1, 2)
    left.plot(rhos, [p.total_depth for p in ordered], 'o-', color='tab:green')
    for p in ordered:
        left.annotate(
            str(p.total_depth), (p.rho, p.total_depth),
            textcoords='offset points',
            xytext=(0, 6),
            ha='center',
            fontsize=8)
    left.set_xlabel('rho (effectiveness budget)')
    left.set_ylabel('total depth (units)')
    left.set_title('depth vs rho')
    right.plot(
        rhos, [p.mean_width for p in ordered],
        'o-',
        label='mean stage out channels')
    right.plot(
        rhos, [p.mean_mid for p in ordered],
        's-',
        label='mean stage mid channels')
    right.plot(
        rhos, [p.final_width for p in ordered], '^-', label='final width')
    right.set_xlabel('rho (effectiveness budget)')
    right.set_ylabel('channels')
    right.set_title('width vs rho')
    right.legend(fontsize=8)
    convention = ordered[0].evaluation.convention if ordered else 'paper'
    figure.suptitle(f'rho sweep ({convention} convention; cf. DeepMAD '
                    'Fig. 5)')
    figure.tight_layout()
    return _png(figure)
