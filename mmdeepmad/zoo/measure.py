# Copyright (c) mmdeepmad authors. All rights reserved.
"""Params/FLOPs of the built models and design quantities of presets."""
from __future__ import annotations
from typing import Tuple

from .facts import NUM_CLASSES


def measure_built(name: str) -> Tuple[int, int]:
    """(params, FLOPs) of the built ImageNet classifier of a preset.

    ``DeepMAD(arch=name)`` + global average pool + ``Linear(c, 1000)``, FLOPs
    by mmengine's FlopAnalyzer at the preset's resolution, counting only the
    conv and linear multiply-accumulates."""
    import torch
    import torch.nn as nn
    from mmengine.analysis import FlopAnalyzer

    from mmdeepmad.models import DeepMAD

    class _Classifier(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = DeepMAD(arch=name).eval()
            with torch.no_grad():
                side = self.backbone.arch_spec.resolution
                out = self.backbone(torch.zeros(1, 3, side, side))[-1]
            self.fc = nn.Linear(out.shape[1], NUM_CLASSES)

        def forward(self, x):
            return self.fc(self.backbone(x)[-1].mean((2, 3)))

    model = _Classifier().eval()
    side = model.backbone.arch_spec.resolution
    analyzer = FlopAnalyzer(model, (torch.zeros(1, 3, side, side), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_op = analyzer.by_operator()
    flops = int(
        by_op.get('conv', 0) + by_op.get('linear', 0) + by_op.get('addmm', 0))
    params = int(sum(p.numel() for p in model.parameters()))
    return params, flops


def design_quantities(name: str) -> dict:
    """Budgets, rho, entropy and scores of a stored preset (ours: budgets
    of its design problem; an official network: its search config's
    budgets, recorded in the preset's ``meta``)."""
    from mmdeepmad.arch.loader import load_preset
    from mmdeepmad.conventions import evaluate
    from mmdeepmad.design.presets import PRESETS
    spec = load_preset(name)
    if name in PRESETS:
        problem = PRESETS[name]
        block = problem['block']
        resolution = int(problem.get('resolution', 224))
    else:
        problem = spec.meta['budgets']
        block = spec.blocks[0]
        resolution = spec.resolution
    tiny = evaluate(spec, 'tinynas')
    paper = evaluate(spec, 'paper')
    return dict(
        block=block,
        resolution=resolution,
        budget_flops=float(problem['flops']),
        budget_params=float(problem['params']),
        budget_rho=float(problem['rho']),
        tinynas_params=int(tiny.params),
        tinynas_flops=int(round(tiny.flops)),
        tinynas_rho=round(float(tiny.rho), 4),
        tinynas_score=round(float(tiny.score), 2),
        paper_rho=round(float(paper.rho), 4),
        paper_entropy=round(float(paper.entropy), 2),
        paper_score=round(float(paper.score), 2),
        depths=list(spec.depths),
    )
