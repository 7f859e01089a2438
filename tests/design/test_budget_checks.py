"""Budgets and options given in Python or a config
(``DeepMAD(arch=dict(flops=..., params=..., rho=...))`` -> ``load_arch`` ->
``design_arch``) are read and checked by the same functions as the command
line's: ``mmdeepmad.design.units.parse_budget`` for the budgets, the
library's own checks for every other option; every mistake is one
``SpecError`` naming the field."""
import math

import pytest

from mmdeepmad.arch.loader import load_arch
from mmdeepmad.arch.spec import SpecError
from mmdeepmad.design.api import check_design_options, design, make_space
from mmdeepmad.design.units import (UnitError, check_alpha, format_bound,
                                    format_value, parse_budget, parse_budgets,
                                    round_up)

SMALL = dict(flops='600M', params='3M', rho=0.3, stages=4)


def test_strings_and_numbers_give_the_same_budgets():
    assert parse_budgets('4.13G', '25.55M', '0.3') == (4.13e9, 25.55e6, 0.3)
    assert parse_budgets(4.13e9, 25_550_000, 0.3) == (4.13e9, 25.55e6, 0.3)
    import numpy as np
    assert parse_budget('flops', np.float32(2e9)) == 2e9
    assert parse_budget('params', np.int64(1000)) == 1000.0


def test_a_config_dict_with_string_budgets_designs(tmp_path):
    """``arch=dict(flops='600M', ...)`` used to be a TypeError."""
    spec = load_arch(SMALL)
    assert spec.num_stages == 4
    assert spec.meta['budgets'] == dict(flops=6e8, params=3e6, rho=0.3)


BAD_BUDGETS = [
    (dict(rho=math.inf), 'rho: must be a finite positive number, got inf; '
     'the paper uses 0.1 to 2.0 (0.3 for ResNet blocks, 0.5 for MobileNet '
     'blocks)'),
    (dict(rho='inf'), "rho: must be a finite positive number, got 'inf'; the "
     'paper uses 0.1 to 2.0 (0.3 for ResNet blocks, 0.5 for MobileNet '
     'blocks)'),
    (dict(flops=math.inf), 'flops: must be a finite positive number, got '
     'inf; write e.g. 4.13G, 4130M or 4.13e9'),
    (dict(params=math.nan), 'params: must be a finite positive number, got '
     'nan; write e.g. 25.55M, 25550K or 2.555e7'),
    (dict(flops=-1), 'flops: must be a finite positive number, got -1; write '
     'e.g. 4.13G, 4130M or 4.13e9'),
    (dict(flops=True), 'flops: True (bool) is not a number; give a number or '
     'a string, e.g. 4.13G, 4130M or 4.13e9'),
    (dict(flops=[1]), 'flops: [1] (list) is not a number; give a number or a '
     'string, e.g. 4.13G, 4130M or 4.13e9'),
    (dict(flops='1X'), "flops: '1X' has the unknown unit suffix 'X'; use K "
     '(1e3), M (1e6), G (1e9) or T (1e12), e.g. 4.13G, 4130M or 4.13e9'),
    (dict(flops=None), 'the flops budget is missing; give flops, params and '
     "rho together, e.g. flops='4.13G', params='25.55M', rho=0.3"),
]


@pytest.mark.parametrize('change, message', BAD_BUDGETS)
def test_bad_budgets_are_one_spec_error(change, message):
    arch = dict(SMALL, **change)
    if change.get('flops', 0) is None:
        del arch['flops']
    with pytest.raises(SpecError) as error:
        load_arch(arch)
    assert str(error.value) == message
    with pytest.raises(SpecError) as error:  # the library itself
        design(**arch)
    assert str(error.value) == message


BAD_OPTIONS = [
    (dict(flop=1), "unknown design option 'flop' (did you mean 'flops'?); "
     'known: block, flops, params, rho, resolution, convention, alpha, beta, '
     'stages, strides, kernels, width_multiple, max_depth, head_channels, '
     'name, command, progress, latency, throughput, lut, certify'),
    (dict(colour='red', widht=3), "unknown design options 'colour', 'widht'; "
     'known: block, flops, params, rho, resolution, convention, alpha, beta, '
     'stages, strides, kernels, width_multiple, max_depth, head_channels, '
     'name, command, progress, latency, throughput, lut, certify'),
    (dict(resolution='224'), "resolution must be an integer, got '224'"),
    (dict(resolution=1), 'resolution 1 is smaller than the total stride 32 '
     '(stem 2, stages 2,2,2,2): the last feature map would be 1/32 of a '
     'pixel; give a resolution of at least 32 or fewer stride-2 stages'),
    (dict(resolution=10**6), 'resolution is 1000000, above the limit 16384 '
     'pixels (no real network reaches it)'),
    (dict(max_depth=10**9), 'max_depth is 1000000000, above the limit 1000 '
     'units per stage (no real network reaches it)'),
    (dict(stages=100), 'stages is 100, above the limit 32 (no real network '
     'reaches it)'),
    (dict(kernels=(3, 4)), 'kernels entry 4 is even; kernels must be odd, '
     'e.g. (3, 5)'),
    (dict(alpha=(0, 0, 0, 0)), 'alpha: every weight is 0; at least one must '
     'be positive (the default is 1,...,1,8)'),
    (dict(alpha=(1, 8)), 'alpha gives 2 weights; the paper convention scores '
     '4 stages here, so give 4, e.g. 1,1,1,8'),
    (dict(beta=math.nan), 'beta must be a finite, non-negative number, got '
     'nan'),
    (dict(head_channels=-1), 'head_channels must be at least 0, got -1'),
]


@pytest.mark.parametrize('change, message', BAD_OPTIONS)
def test_bad_options_are_one_spec_error(change, message):
    with pytest.raises(SpecError) as error:
        load_arch(dict(SMALL, **change))
    assert str(error.value) == message


def test_known_options_pass():
    check_design_options(dict(block='mbv2', name='x', strides=(1, 2)))


def test_resolution_rule_in_the_space():
    """The final feature map must be at least one pixel: resolution >= the
    total stride (stem 2 x stage strides); 32 with five halvings is fine."""
    assert make_space('bottleneck', resolution=32).resolution == 32
    with pytest.raises(SpecError, match='at least 32'):
        make_space('bottleneck', resolution=31)
    with pytest.raises(SpecError, match='total stride 2097152'):
        make_space('bottleneck', stages=20)


def test_alpha_check():
    assert check_alpha([0, 0, 1]) == (0.0, 0.0, 1.0)
    for bad in ([], [0, 0], [1, -1], [1, math.inf], '1,8', [True]):
        with pytest.raises(UnitError):
            check_alpha(bad)


def test_advice_values_read_back_exactly():
    """An advised value is printed so that typing it gives the budget that
    was checked; bounds are rounded down, advice up."""
    for kind, value in (('flops', 717.338e6), ('params', 37677.6),
                        ('rho', 0.1767885), ('flops', 4.13e9)):
        advised = round_up(value)
        assert advised >= value
        assert parse_budget(kind, format_value(kind, advised)) == advised
    assert format_bound('flops', 717.338e6) == '717.3M'
    assert format_bound('rho', 0.1767885) == '0.1767'
    assert format_value('flops', round_up(717.338e6)) == '718M'
