"""The paper's quantities (Eq. 2-5) on hand-computed cases."""
import math

import numpy as np
import pytest

from mmdeepmad.arch.layout import build_layout
from mmdeepmad.arch.spec import ArchSpec, StageSpec, StemSpec
from mmdeepmad.conventions import default_alpha, depth_penalty
from mmdeepmad.conventions.paper import (effectiveness, paper_score,
                                         stage_entropies,
                                         widths_non_decreasing)


def two_stage():
    return ArchSpec(
        stem=StemSpec(out_channels=8, kernel_size=3, stride=2),
        stages=(StageSpec('basic', 16, 16, 3, 1,
                          2), StageSpec('basic', 32, 32, 3, 2, 2)),
        resolution=32,
        style='torchvision')


def test_entropy_by_hand():
    # layers: stem 3*9; stage 1: 8*9, 16*9; stage 2: 16*9, 32*9, 32*9, 32*9
    logs = [math.log(w) for w in (27, 72, 144, 144, 288, 288, 288)]
    h1 = math.log(8 * 8 * 16) * sum(logs[:3])  # side 8 after two halvings
    h2 = math.log(4 * 4 * 32) * sum(logs)
    assert stage_entropies(two_stage()) == pytest.approx((h1, h2))
    score = paper_score(two_stage(), alpha=(1, 8), beta=10)
    assert score.entropy == pytest.approx(h1 + 8 * h2)
    assert score.penalty == pytest.approx(10 * math.exp(np.var([1, 2])))
    assert score.score == pytest.approx(h1 + 8 * h2 - score.penalty)


def test_effectiveness_is_depth_over_geometric_mean_width():
    widths = [27, 72, 144, 144, 288, 288, 288]
    expected = len(widths) / math.exp(np.mean(np.log(widths)))
    assert effectiveness(two_stage()) == pytest.approx(expected)


def test_depthwise_width_is_k_squared():
    spec = ArchSpec(
        stem=StemSpec(out_channels=8),
        stages=(StageSpec('mbv2', 16, 48, 5, 1, 2), ),
        resolution=32)
    widths = [conv.width for conv in build_layout(spec).main_path]
    assert widths == [27, 8, 25, 48]


def test_guidelines():
    assert default_alpha(5) == (1, 1, 1, 1, 8)
    assert depth_penalty([3, 3, 3], beta=10) == pytest.approx(10)
    assert widths_non_decreasing(two_stage())
    wrong = two_stage().replace_stage(1, out_channels=8)
    assert not widths_non_decreasing(wrong)
    with pytest.raises(ValueError, match='one weight per stage'):
        paper_score(two_stage(), alpha=(1, 1, 8))
