"""The ``tinynas`` convention: every value TinyNAS computes for the released
DeepMAD structures, its quirks, and the fast scorer against the slow one."""
# flake8: noqa: E501
import math
import time

import numpy as np
import pytest

from mmdeepmad.arch.layout import POOL, POOL_PROJ, PROJ, SE, build_layout
from mmdeepmad.arch.spec import (ArchSpec, HeadConvSpec, SpecError, StageSpec,
                                 StemSpec)
from mmdeepmad.conventions.budgets import Budgets
from mmdeepmad.conventions.counters import count
from mmdeepmad.conventions.tinynas import depth_penalty, evaluate_tinynas
from mmdeepmad.design.batched import BatchScores
from mmdeepmad.design.batched_tinynas import TinyNASFastScorer

#: the batched scorer's names (one meaning of score: entropy - penalty) and
#: TinyNAS's own names of the same figures
TINYNAS_NAMES = dict(
    flops='flops',
    rho='rho',
    entropy='score',
    penalty='depth_penalty',
    score='penalised_score')
from mmdeepmad.arch.tinynas_format import spec_from_tinynas
from mmdeepmad.reference import tinynas_releases

# TinyNAS's released structures and the values its own code computes for
# them (mmdeepmad/reference/tinynas_released.json).
RELEASED = tinynas_releases()['structures']

RTOL = 1e-6
ACT = {
    'bottleneck': 'relu',
    'basic': 'relu',
    'mbv2': 'relu',
    'mbv2-se': 'silu'
}


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def _released_spec(entry):
    return spec_from_tinynas(entry['structure'], entry['image_size'],
                             entry['name'])


# ---- every value of the reference ------------------------------------------
@pytest.mark.parametrize('entry', RELEASED, ids=lambda e: e['name'])
@pytest.mark.parametrize('as_structure', [False, True])
def test_released_values(entry, as_structure):
    arch = entry['structure'] if as_structure else _released_spec(entry)
    budgets = Budgets(**entry['budgets'])
    ev = evaluate_tinynas(arch, budgets=budgets)
    assert ev.params == entry['params']  # exactly
    assert isinstance(ev.params, int)
    for key in ('flops', 'rho', 'score', 'penalised_score', 'depth_penalty'):
        assert _rel(getattr(ev, key), entry[key]) <= RTOL, key
    assert len(ev.per_stage_score) == len(entry['per_stage_score'])
    for got, want in zip(ev.per_stage_score, entry['per_stage_score']):
        assert _rel(got, want) <= RTOL
    assert ev.stage_info.to_dict() == entry['stage_info']  # exactly
    assert ev.satisfies_budgets is entry['satisfies_budgets']
    assert ev.satisfies(budgets) is entry['satisfies_budgets']
    assert ev.satisfies(None) is True
    assert ev.exact
    data = ev.to_dict()
    assert data['satisfies_budgets'] is entry['satisfies_budgets']
    assert data['stage_info'] == entry['stage_info']


def test_r18_is_095_percent_over_its_flops_budget():
    entry = RELEASED[0]
    ev = evaluate_tinynas(_released_spec(entry))
    assert ev.flops / entry['budgets']['flops'] - 1 == pytest.approx(
        0.0095, abs=5e-5)
    assert not ev.satisfies(Budgets(flops=1.82e9))
    assert ev.satisfies(Budgets(params=11.69e6, rho=0.3))
    assert ev.satisfies(Budgets(flops=ev.flops))  # equality passes


@pytest.mark.parametrize('entry', RELEASED, ids=lambda e: e['name'])
def test_params_equal_the_built_model(entry):
    spec = _released_spec(entry)
    assert evaluate_tinynas(spec).params == count(spec).params


# ---- FLOPs term by term, derived independently from the layout --------------
def _flops_from_layout(spec):
    """TinyNAS's FLOPs at a resolution where every side divides exactly:
    conv MACs + 2*C_out per output position (BN) for every non-SE conv, one op
    per element after every ReLU, one per input element of a stride-2 unit's
    average pool, one per output element for the residual add of a projected
    unit; nothing for SE."""
    layout = build_layout(spec)
    total = 0
    for conv in layout.convs:
        if conv.role == SE:
            continue
        area = conv.out_size**2
        total += conv.macs + 2 * conv.out_channels * area
        if conv.act:
            total += conv.out_channels * area
    for unit in layout.units:
        area = unit.out_size**2
        if unit.act_after_add:
            total += unit.out_channels * area
        if unit.shortcut in (POOL, POOL_PROJ):
            total += unit.in_channels * unit.in_size**2
        if unit.shortcut in (POOL_PROJ, PROJ):
            total += unit.out_channels * area
    return total


def _random_spec(rng,
                 block,
                 strides=None,
                 head=None,
                 resolution=224,
                 max_depth=8,
                 channel_choices=None):
    if strides is None:
        strides = (2, 2, 2, 1, 2)
    stem = int(rng.choice([16, 24, 32, 40]))
    stages = []
    for stride in strides:
        if channel_choices is not None:
            out = int(rng.choice(channel_choices))
        else:
            out = int(rng.integers(2, 80)) * 8
        if block in ('mbv2', 'mbv2-se'):
            mid = int(round(out * rng.uniform(1.5, 6)))
        else:
            mid = int(rng.integers(1, 40)) * 8
        stages.append(
            StageSpec(
                block=block,
                out_channels=out,
                mid_channels=mid,
                kernel_size=int(rng.choice([3, 5, 7])),
                depth=int(rng.integers(1, max_depth + 1)),
                stride=int(stride)))
    head_conv = HeadConvSpec(out_channels=head) if head else None
    return ArchSpec(
        stem=StemSpec(out_channels=stem, stride=2),
        stages=tuple(stages),
        head_conv=head_conv,
        resolution=resolution,
        style='tinynas',
        act=ACT[block])


@pytest.mark.parametrize('block,strides,head', [
    ('bottleneck', (2, 2, 2, 1, 2), None),
    ('mbv2-se', (1, 2, 2, 2, 2), 1792),
    ('mbv2', (2, 2, 2, 1, 2), 1280),
])
def test_flops_term_by_term_and_params_match_layout(block, strides, head):
    rng = np.random.default_rng(1)
    for _ in range(50):
        spec = _random_spec(
            rng, block, strides, head, channel_choices=[16, 24, 32, 48, 64])
        ev = evaluate_tinynas(spec)
        assert ev.flops == _flops_from_layout(spec)
        assert ev.params == count(spec).params


def test_released_flops_term_by_term():
    for entry in RELEASED:
        spec = _released_spec(entry)
        assert evaluate_tinynas(spec).flops == _flops_from_layout(spec)


def test_se_flops_are_left_out():
    rng = np.random.default_rng(2)
    spec = _random_spec(rng, 'mbv2-se', (1, 2, 2, 2, 2), 1792)
    plain = spec.replace(
        stages=tuple(
            s.__class__(**{
                **s.__dict__, 'block': 'mbv2'
            }) for s in spec.stages),
        act='relu')
    assert evaluate_tinynas(spec).flops == evaluate_tinynas(plain).flops
    assert evaluate_tinynas(spec).params > evaluate_tinynas(plain).params


# ---- quirks ------------------------------------------------------------------
def test_score_uses_224_whatever_the_image_size():
    spec = _released_spec(RELEASED[0])
    base = evaluate_tinynas(spec)
    big = evaluate_tinynas(spec.replace(resolution=288))
    assert big.score == base.score
    assert big.rho == base.rho
    assert big.stage_info == base.stage_info
    assert big.flops == pytest.approx(base.flops * (288 / 224)**2, rel=1e-12)
    # float sides: an odd image size is not floored
    odd = evaluate_tinynas(spec, image_size=225)
    assert odd.flops == pytest.approx(base.flops * (225 / 224)**2, rel=1e-12)
    # the scorer's side can be changed explicitly
    other = evaluate_tinynas(spec, score_resolution=448)
    assert other.stage_info.stage_feature_map_size == (224, 112, 56, 28, 14)


def test_se_resets_the_scored_side_to_one():
    entry = RELEASED[3]
    spec = _released_spec(entry)
    assert evaluate_tinynas(spec).stage_info.stage_feature_map_size == (1, 1,
                                                                        1, 1,
                                                                        1)
    plain = spec.replace(
        stages=tuple(
            s.__class__(**{
                **s.__dict__, 'block': 'mbv2'
            }) for s in spec.stages),
        act='relu')
    assert evaluate_tinynas(plain).stage_info.stage_feature_map_size == (112,
                                                                         56,
                                                                         28,
                                                                         14, 7)


def test_entropy_sum_is_cumulative_and_halved():
    ev = evaluate_tinynas(_released_spec(RELEASED[0]))
    entropies = [unit.entropy for unit in ev.units]
    info = ev.stage_info
    for stage, weight in enumerate((1, 1, 1, 1, 8)):
        total = sum(entropies[:info.stage_block_num[stage]])
        expected = weight * total * (
            math.log(info.stage_channels[stage]) +
            math.log(info.stage_feature_map_size[stage]**2))
        assert ev.per_stage_score[stage] == pytest.approx(expected, rel=1e-12)
    stem = ev.units[0]
    assert stem.entropy == pytest.approx(0.5 * math.log(3 * 9))
    unit = ev.units[1]  # c=32, btn=40, k=5
    assert unit.entropy == pytest.approx(0.5 * math.log(32 * 40 * 25 * 40))
    assert unit.width == 32 * 40 * 25 * 40


def test_rho_is_max_over_stages():
    ev = evaluate_tinynas(_released_spec(RELEASED[1]))
    info = ev.stage_info
    values = []
    for stage in range(5):
        log_w = sum(
            math.log(u.width) for u in ev.units[:info.stage_block_num[stage]])
        depth = info.stage_layer_num[stage]
        values.append(depth / math.exp(log_w / depth))
    assert ev.rho == pytest.approx(max(values), rel=1e-12)


def test_depth_penalty_rules():
    r18 = RELEASED[0]['structure']  # L = 1, 6, 9, 10, 12
    assert depth_penalty(r18) == pytest.approx(10 *
                                               math.exp(np.std([9, 10, 12])))
    assert depth_penalty(r18, beta=0) == 0.0
    dw = RELEASED[3]['structure']  # L = 2, 4, 6, 6, 5
    assert depth_penalty(dw) == pytest.approx(
        10 * math.exp(np.std([2, 4, 6, 6, 5])))
    basic = [dict(b) for b in r18]
    for block in basic[1:]:
        block['class'] = 'SuperResKXKX'
        block.pop('inner_class')
    assert depth_penalty(basic) == pytest.approx(
        10 * math.exp(np.std([6, 9, 10, 12])))
    four = r18[:5]
    with pytest.raises(ValueError, match='5 super-blocks'):
        depth_penalty(four)


def test_stage_count_must_match_alpha():
    structure = [dict(b) for b in RELEASED[0]['structure']]
    structure[4]['s'] = 2  # six stages
    with pytest.raises(ValueError, match='6 stages'):
        evaluate_tinynas(structure, alpha=(1, 1, 1, 1, 8))
    ev = evaluate_tinynas(structure, alpha=(1, 1, 1, 1, 1, 8))
    assert len(ev.per_stage_score) == 6
    # the default weights are Guideline 1's for the stages there are
    assert evaluate_tinynas(structure).score == ev.score


def test_zero_weight_skips_stage():
    ev = evaluate_tinynas(RELEASED[0]['structure'], alpha=(0, 1, 1, 1, 8))
    assert ev.per_stage_score[0] == 0.0
    ref = RELEASED[0]['per_stage_score']
    assert ev.score == pytest.approx(sum(ref[1:]), rel=1e-12)


def test_basic_units_follow_tinynas_not_layout():
    # ResKXKX: projection only when in != out; stride on the second conv.
    spec = _random_spec(
        np.random.default_rng(3), 'basic', channel_choices=[32])
    ev = evaluate_tinynas(spec)
    assert not ev.exact
    proj_free = sum(unit.params for unit in ev.units)
    assert ev.params == proj_free
    first = [u for u in ev.units if u.first and u.kind == 'ResKXKX']
    c, m, k = 32, first[1].mid_channels, first[1].kernel_size
    assert first[1].params == c * m * k * k + 2 * m + m * c * k * k + 2 * c


def test_rejects_what_tinynas_cannot_build():
    spec = _released_spec(RELEASED[0])
    with pytest.raises(SpecError, match='style'):
        evaluate_tinynas(spec.replace(style='torchvision'))
    with pytest.raises(SpecError, match='block 2'):
        bad = [dict(b) for b in RELEASED[0]['structure']]
        bad[2]['in'] = 95
        evaluate_tinynas(bad)
    with pytest.raises(SpecError):
        evaluate_tinynas('not a structure')


def test_budgets():
    budgets = Budgets(flops=1e9, rho=0.3)
    assert budgets.satisfied_by(1e9, 1e12, 0.3)
    assert not budgets.satisfied_by(1e9 + 1, 0, 0)
    assert budgets.constrained == {'flops': 1e9, 'rho': 0.3}
    mask = budgets.mask(
        np.array([1e8, 2e9]), np.array([1, 1]), np.array([0.1, 0.1]))
    assert mask.tolist() == [True, False]
    assert Budgets.from_dict(budgets.to_dict()) == budgets
    assert Budgets.from_tinynas([
        dict(type='flops', budget=1.82e9),
        dict(type='model_size', budget=11.69e6),
        dict(type='efficient_score', budget=0.3)
    ]) == Budgets(
        flops=1.82e9, params=11.69e6, rho=0.3)
    with pytest.raises(ValueError, match='latency'):
        Budgets.from_tinynas([dict(type='latency', budget=1)])
    with pytest.raises(ValueError, match='flops'):
        Budgets(flops=-1)
    with pytest.raises(ValueError, match='speed'):
        Budgets.from_dict({'speed': 1})


# ---- the fast scorer -----------------------------------------------------------
PATTERNS = {
    'bottleneck': [((2, 2, 2, 1, 2), None), ((2, 2, 2, 2, 1), None),
                   ((1, 2, 2, 2, 2), 2048)],
    'mbv2-se': [((1, 2, 2, 2, 2), 1792), ((2, 2, 2, 1, 2), 1792),
                ((2, 2, 2, 2, 1), None), ((2, 1, 2, 2, 1, 2), 1280),
                ((2, 2, 2, 2), 1792)],
    'mbv2': [((2, 2, 2, 1, 2), 1280), ((1, 2, 2, 2, 2, 1), None)],
    'basic': [((2, 2, 2, 1, 2), None), ((1, 2, 2, 2, 2), 512)],
}


def _random_candidates(rng,
                       block,
                       strides,
                       head,
                       resolution,
                       n,
                       stem_kernels=(3, 5)):
    specs = []
    for _ in range(n):
        channel_choices = ([24, 32, 40, 48] if rng.random() < 0.3 else None)
        spec = _random_spec(
            rng,
            block,
            strides,
            head,
            resolution,
            max_depth=12,
            channel_choices=channel_choices)
        stem = StemSpec(
            out_channels=int(rng.integers(1, 9)) * 8,
            kernel_size=int(rng.choice(stem_kernels)),
            stride=spec.stem.stride)
        specs.append(spec.replace(stem=stem))
    return specs


def _assert_fast_equals_slow(scorer, specs, rtol=1e-9):
    result = scorer.score_specs(specs)
    assert isinstance(result, BatchScores)
    for i, spec in enumerate(specs):
        ev = evaluate_tinynas(spec, alpha=scorer.alpha, beta=scorer.beta)
        assert result.params[i] == ev.params
        for key, theirs in TINYNAS_NAMES.items():
            got, want = getattr(result, key)[i], getattr(ev, theirs)
            assert abs(got - want) <= rtol * abs(want) + 1e-12, (key, i)
        np.testing.assert_allclose(
            result.per_stage[i], ev.per_stage_score, rtol=rtol, atol=1e-12)
    return result


@pytest.mark.parametrize('block', sorted(PATTERNS))
def test_fast_equals_slow_on_random_candidates(block):
    rng = np.random.default_rng(sorted(PATTERNS).index(block) + 11)
    count_per_pattern = 900 if block in ('bottleneck', 'mbv2-se') else 300
    for strides, head in PATTERNS[block]:
        for resolution in (224, 288, 193):
            n = count_per_pattern // 3
            specs = _random_candidates(rng, block, strides, head, resolution,
                                       n)
            # one scorer per stem kernel
            for kernel in (3, 5):
                group = [s for s in specs if s.stem.kernel_size == kernel]
                if not group:
                    continue
                scorer = TinyNASFastScorer.from_spec(group[0])
                _assert_fast_equals_slow(scorer, group)


def test_fast_equals_slow_with_other_alpha_beta():
    rng = np.random.default_rng(7)
    specs = _random_candidates(
        rng, 'mbv2-se', (1, 2, 2, 2, 2), 1792, 224, 200, stem_kernels=(3, ))
    scorer = TinyNASFastScorer.from_spec(
        specs[0], alpha=(0, 2, 1, 0.5, 4), beta=3.0)
    _assert_fast_equals_slow(scorer, specs)
    scorer = TinyNASFastScorer.from_spec(specs[0], beta=0)
    result = _assert_fast_equals_slow(scorer, specs)
    assert not result.penalty.any()


@pytest.mark.parametrize('entry', RELEASED, ids=lambda e: e['name'])
def test_fast_reproduces_released(entry):
    spec = _released_spec(entry)
    scorer = TinyNASFastScorer.from_spec(spec)
    result = _assert_fast_equals_slow(scorer, [spec])
    assert result.params[0] == entry['params']
    for key, theirs in TINYNAS_NAMES.items():
        assert _rel(getattr(result, key)[0], entry[theirs]) <= RTOL
    budgets = Budgets(**entry['budgets'])
    assert result.satisfies(budgets)[0] == entry['satisfies_budgets']
    assert result.satisfies(None).all()


def test_fast_direct_arrays_and_shape_errors():
    spec = _released_spec(RELEASED[0])
    scorer = TinyNASFastScorer('bottleneck', (2, 2, 2, 1, 2))
    arrays = TinyNASFastScorer.arrays_from_specs([spec, spec])
    result = scorer(**arrays)
    assert result.params.shape == (2, )
    assert result.per_stage.shape == (2, 5)
    assert result.params[1] == RELEASED[0]['params']
    with pytest.raises(ValueError, match='out_channels'):
        scorer(arrays['out_channels'][:, :4], arrays['mid_channels'],
               arrays['kernel_size'], arrays['depth'], arrays['stem_channels'])
    with pytest.raises(ValueError, match='stem_channels'):
        scorer(arrays['out_channels'], arrays['mid_channels'],
               arrays['kernel_size'], arrays['depth'],
               arrays['stem_channels'][:1])
    with pytest.raises(ValueError, match='stages'):
        TinyNASFastScorer(
            'mbv2-se', (2, 2, 2, 2, 2),
            head_channels=1792,
            alpha=(1, 1, 1, 1, 8))
    six = TinyNASFastScorer('mbv2-se', (2, 2, 2, 2, 2), head_channels=1792)
    assert six.alpha == (1, 1, 1, 1, 1, 8)
    with pytest.raises(ValueError, match='5 super-blocks'):
        TinyNASFastScorer('bottleneck', (2, 2, 2, 2))
    with pytest.raises(ValueError, match='family'):
        TinyNASFastScorer('resnet', (2, 2, 2, 1, 2))


def test_fast_throughput():
    rng = np.random.default_rng(0)
    n = 100_000
    for family, strides, head in (('bottleneck', (2, 2, 2, 1, 2), None),
                                  ('mbv2-se', (1, 2, 2, 2, 2), 1792)):
        scorer = TinyNASFastScorer(family, strides, head_channels=head)
        out = rng.integers(2, 256, (n, 5)) * 8
        mid = rng.integers(1, 128, (n, 5)) * 8
        ker = rng.choice([3, 5, 7], (n, 5))
        dep = rng.integers(1, 16, (n, 5))
        stem = rng.integers(2, 5, n) * 8
        best = float('inf')
        for _ in range(5):
            start = time.perf_counter()
            scorer(out, mid, ker, dep, stem)
            best = min(best, time.perf_counter() - start)
        assert n / best >= 200_000, f'{family}: {n / best:.0f} candidates/s'
