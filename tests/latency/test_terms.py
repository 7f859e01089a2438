"""The latency model's three views agree: the batched scorer equals
:meth:`LatencyModel.predict` (counted from the layout) on random designs,
and the symbolic terms equal the features counted from the layout."""
from collections import defaultdict

import numpy as np
import pytest

from mmdeepmad.arch.layout import build_layout
from mmdeepmad.design.search_space import Candidates, SearchSpace
from mmdeepmad.latency.model import LatencyModel
from mmdeepmad.latency.terms import (ADDED, ALWAYS, KINDS, POOLED, PROJECTED,
                                     head_features, head_terms, shortcut_flags,
                                     stage_sides, stem_features, stem_terms,
                                     unit_features, unit_terms)

BLOCKS = ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
STYLES = ('tinynas', 'torchvision')
RESOLUTIONS = (32, 97, 160, 224)
KNOTS = [2, 7, 14, 28, 56, 112]


def random_design(space, rng) -> Candidates:
    """A random design of ``space``: sorted widths (sometimes a stage as
    wide as the one before or as the stem), mids within the ratio
    bounds."""
    stages = space.num_stages
    out = np.sort(rng.integers(1, 40, stages) * 8)
    if rng.random() < 0.5:
        out[1] = out[0]
    low, high = space.mid_bounds(out)
    mid = np.maximum(
        [rng.integers(lo // 8, hi // 8 + 1) * 8 for lo, hi in zip(low, high)],
        8)
    stem = int(rng.choice(np.arange(space.stem_channels[0],
                                    space.stem_channels[1] + 1, 8)))
    if rng.random() < 0.3:
        out[0] = stem
    kernel = rng.choice(space.kernels, stages)
    depth = rng.integers(1, 4, stages)
    return Candidates.single(stem, out, mid, kernel, depth)


@pytest.fixture(scope='module')
def model():
    rng = np.random.default_rng(0)
    return LatencyModel(
        KNOTS, {kind: rng.uniform(0.1, 1, len(KNOTS)) for kind in KINDS})


@pytest.mark.parametrize('block', BLOCKS)
@pytest.mark.parametrize('style', STYLES)
def test_batched_equals_predict(model, block, style):
    rng = np.random.default_rng(10 * BLOCKS.index(block) +
                                STYLES.index(style))
    for resolution in RESOLUTIONS:
        space = SearchSpace.for_block(
            block, style=style, resolution=resolution)
        seconds = model.batched(space)
        designs = [random_design(space, rng) for _ in range(8)]
        batch = Candidates.concat(designs)
        batched = seconds(batch)
        for i, design in enumerate(designs):
            exact = model.predict(space.to_spec(*design.row(0)))
            assert batched[i] == pytest.approx(exact, rel=1e-9)
            assert seconds(design)[0] == pytest.approx(exact, rel=1e-9)


def summed(features):
    """Feature values summed per ``(kind, side)``."""
    total = defaultdict(float)
    for kind, side, value in features:
        total[kind, int(side)] += value
    return dict(total)


def symbolic(terms, width_in, mid, out, kernel, flags):
    """The terms' values at the given widths, summed per ``(kind, side)``,
    each conditional term only when its flag holds."""
    total = defaultdict(float)
    for term in terms:
        if term.when == ALWAYS or flags[term.when]:
            total[term.kind, term.side] += term.value(width_in, mid, out,
                                                      kernel)
    return {key: value for key, value in total.items() if value}


def assert_same(counted, symbols):
    assert set(counted) == set(symbols)
    for key, value in counted.items():
        assert symbols[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.parametrize('block', BLOCKS)
@pytest.mark.parametrize('style', STYLES)
def test_symbolic_terms_equal_layout(block, style):
    """Every unit, the stem and the head conv of random designs: the
    symbolic terms of :mod:`.terms` at the design's widths equal the
    features counted from its layout, and ``stage_terms`` prices terms at
    the layout's sides."""
    rng = np.random.default_rng(100 + 10 * BLOCKS.index(block) +
                                STYLES.index(style))
    for resolution in RESOLUTIONS:
        space = SearchSpace.for_block(
            block, style=style, resolution=resolution)
        stem_side, sides = stage_sides(resolution, space.stem_stride,
                                       space.strides)
        for _ in range(4):
            design = random_design(space, rng)
            layout = build_layout(space.to_spec(*design.row(0)))
            assert layout.stem.out_size == stem_side
            assert_same(
                summed(stem_features(layout)),
                symbolic(
                    stem_terms(space.stem_kernel, space.stem_stride,
                               resolution), 1, 1, layout.stem.out_channels,
                    1, {}))
            for unit in layout.units:
                first = unit.index == 0
                assert (unit.in_size, unit.out_size) == (
                    sides[unit.stage] if first else
                    (sides[unit.stage][1], ) * 2)
                projected, pooled, added = shortcut_flags(
                    block, style, first, unit.in_channels,
                    unit.out_channels, unit.stride)
                flags = {
                    PROJECTED: bool(projected),
                    POOLED: bool(pooled),
                    ADDED: bool(added)
                }
                terms = unit_terms(block, style, unit.stride, unit.in_size,
                                   unit.out_size)
                assert_same(
                    summed(unit_features(unit)),
                    symbolic(terms, unit.in_channels, unit.mid_channels,
                             unit.out_channels, unit.kernel_size, flags))
            if layout.head_conv is not None:
                assert_same(
                    summed(head_features(layout.head_conv)),
                    symbolic(
                        head_terms(space.head_channels, sides[-1][1]),
                        layout.head_conv.in_channels, 1, 1, 1, {}))


def test_stage_terms_price_the_symbolic_terms(model):
    """``stage_terms`` holds the space's terms with ``theta * scale`` as
    coefficient (terms priced at zero dropped)."""
    space = SearchSpace.for_block('bottleneck', resolution=160)
    priced = model.stage_terms(space)
    _, sides = stage_sides(160, space.stem_stride, space.strides)
    assert len(priced['stages']) == space.num_stages
    for (r_in, r_out), stride, stage in zip(sides, space.strides,
                                            priced['stages']):
        terms = unit_terms('bottleneck', 'tinynas', stride, r_in, r_out)
        assert [term for term, _ in stage['first']] == list(terms)
        for term, coefficient in stage['first']:
            assert coefficient == pytest.approx(
                model.theta(term.kind, term.side) * term.scale)
    assert priced['head'] == []
