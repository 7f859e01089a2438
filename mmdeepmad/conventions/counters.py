"""Exact analytic parameter and FLOP counts of a spec (``paper`` convention).

The convention, stated once and printed with every figure (:data:`CONVENTION`):

* FLOPs are multiply-accumulates (MACs) of every conv and, when a classifier
  head is asked for, of its linear layer; norm layers, activations, pooling,
  additions and the SE gate add no FLOPs. This is what mmengine's analysis
  counts for conv and linear layers.
* Params are every learnable tensor the backbone builds: conv weights (no conv
  has a bias), two per BatchNorm channel (weight and bias), SE convs included;
  plus, when asked for, the classifier head (``c * num_classes +
  num_classes``).
* The stem is included; the optional classifier head (global average pool +
  linear) is included only when ``num_classes`` is given.

The ``tinynas`` convention, which counts as the official code does, lives in
:mod:`mmdeepmad.conventions.tinynas`.
"""
from __future__ import annotations
from dataclasses import dataclass
from typing import Optional

from mmdeepmad.arch.layout import NetworkLayout, build_layout
from mmdeepmad.arch.spec import ArchSpec

CONVENTION = ('paper convention: FLOPs = multiply-accumulates of convs '
              '(+ linear head if counted); params = conv weights + BN affine '
              '(+ linear head if counted); stem included')


@dataclass(frozen=True)
class Counts:
    params: int
    flops: int
    with_head: bool

    def describe(self) -> str:
        head = 'with' if self.with_head else 'without'
        return (
            f'params {self.params / 1e6:.3f}M, FLOPs {self.flops / 1e9:.3f}G '
            f'({head} classifier head; {CONVENTION})')


def count(spec_or_layout, num_classes: Optional[int] = None) -> Counts:
    """Params and FLOPs of a spec; ``num_classes`` adds GAP + linear head."""
    layout = (
        spec_or_layout if isinstance(spec_or_layout, NetworkLayout) else
        build_layout(spec_or_layout))
    params = sum(conv.params for conv in layout.convs)
    flops = sum(conv.macs for conv in layout.convs)
    if num_classes is not None:
        channels = layout.final_channels
        params += channels * num_classes + num_classes
        flops += channels * num_classes
    return Counts(
        params=params, flops=flops, with_head=num_classes is not None)


def count_params(spec: ArchSpec, num_classes: Optional[int] = None) -> int:
    return count(spec, num_classes).params


def count_flops(spec: ArchSpec, num_classes: Optional[int] = None) -> int:
    return count(spec, num_classes).flops
