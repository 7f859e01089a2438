"""Exact counts: published figures of hand-designed networks, and the paper's
effectiveness values (Tables 1-2) from their real structures."""
import pytest

from mmdeepmad.arch.classics import CLASSICS
from mmdeepmad.conventions.counters import CONVENTION, count
from mmdeepmad.conventions.paper import effectiveness

# torchvision's parameter counts (exact) and the usual FLOPs (MACs) figures,
# which the literature rounds or truncates to one decimal (ResNet-34: 3.66G)
PUBLISHED = {
    'resnet18': (11_689_512, 1.8e9),
    'resnet34': (21_797_672, 3.6e9),
    'resnet50': (25_557_032, 4.1e9),
    'mobilenet_v2': (3_504_872, 0.3e9),
}
# rho of Table 1 (ResNets) and Table 2 (MobileNet-V2), at the paper's rounding
PAPER_RHO = {
    'resnet18': '0.01',
    'resnet34': '0.02',
    'resnet50': '0.09',
    'mobilenet_v2': '0.9',
}


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_published_params_and_flops(name):
    params, flops = PUBLISHED[name]
    counts = count(CLASSICS[name](), num_classes=1000)
    assert counts.params == params
    assert counts.flops == pytest.approx(flops, rel=0.02)


@pytest.mark.parametrize('name', sorted(PAPER_RHO))
def test_effectiveness_matches_the_paper(name):
    rho = effectiveness(CLASSICS[name]())
    digits = len(PAPER_RHO[name].split('.')[1])
    assert f'{rho:.{digits}f}' == PAPER_RHO[name]


def test_head_is_optional_and_convention_is_stated():
    spec = CLASSICS['resnet50']()
    with_head, without = count(spec, 1000), count(spec)
    assert with_head.params - without.params == 2048 * 1000 + 1000
    assert with_head.flops - without.flops == 2048 * 1000
    assert 'multiply-accumulates' in CONVENTION
    assert 'with classifier head' in with_head.describe()
