"""What a network's latency is made of: the monomial terms of every part.

A *part* is the stem, one residual unit or the head conv. The latency model
(:mod:`.model`) prices a part as a sum of terms, each a known monomial times a
fitted, non-negative coefficient of its *kind* read at the term's feature-map
side::

    t(part) = sum_terms theta[kind](side) * value(term)

The terms of a part are counted from its layout (:mod:`mmdeepmad.arch.layout`)
by one rule per conv:

* ``pointwise`` (1x1), ``dense`` (k x k, one group), ``depthwise`` (one group
  per channel): the conv's multiply-accumulates ``c_in / g * c_out * k^2 *
  side^2`` at its output side;
* ``memory``: every tensor a part writes (each conv's output, the residual
  add, the shortcut's pool) and the tensor it reads, in elements;
* ``se``: a squeeze-and-excitation branch, ``width^2 / 2`` (its two 1x1 convs
  at squeeze width ``width / 4``) plus ``2 width side^2`` of ``memory`` (the
  pool and the scaling);
* ``overhead``: one per layer a part launches (each conv, the shortcut's
  pool, the residual add, the stem's max pool; an SE branch counts two), at
  the layer's output side.

For the design program every term is written symbolically too
(:func:`unit_terms`, :func:`stem_terms`, :func:`head_terms`): a monomial in a
unit's input width ``in``, mid width ``mid``, output width ``out`` and kernel
``kernel``, with a known ``scale`` (pixels, fixed widths). At fixed sides the
coefficients are constants, so a network's latency is a posynomial in its
widths and kernels, and linear in its depths (Eq. 5's budgets in log space);
``tests/latency`` checks that the symbolic terms equal the layout's at grid
points.
"""
from __future__ import annotations
from dataclasses import dataclass
from typing import List, Tuple

from mmdeepmad.arch.layout import (NO_SHORTCUT, POOL, POOL_PROJ, ConvLayer,
                                   NetworkLayout, UnitLayout, conv_output_size)
from mmdeepmad.arch.spec import DEPTHWISE_FAMILIES

#: The kinds of term; each has its own fitted coefficient.
KINDS = ('pointwise', 'dense', 'depthwise', 'se', 'memory', 'overhead')

#: The symbolic variables of a part, in the order of ``Term.exponents``.
VARIABLES = ('in', 'mid', 'out', 'kernel')

#: ``Term.when``: always present, only with a shortcut conv, only with the
#: shortcut's pool, only with a residual add.
ALWAYS, PROJECTED, POOLED, ADDED = 'always', 'projected', 'pooled', 'added'

#: A part's features: ``(kind, side, value)`` per term.
Features = List[Tuple[str, int, float]]


@dataclass(frozen=True)
class Term:
    """``scale * in^a * mid^b * out^c * kernel^d`` of kind ``kind``, priced
    at feature-map side ``side``; present ``when`` the unit has it."""

    kind: str
    side: int
    scale: float
    exponents: Tuple[int, int, int, int]
    when: str = ALWAYS

    def value(self, width_in, mid, out, kernel):
        """The monomial at the given widths (numbers or numpy arrays)."""
        a, b, c, d = self.exponents
        return (self.scale * width_in**a * mid**b * out**c * kernel**d)

    def exponent_row(self, columns, size: int):
        """The monomial's exponents as a row of ``size`` log variables:
        ``columns`` says where ``in``, ``mid``, ``out`` and ``kernel`` stand
        (read only where the exponent is not zero)."""
        import numpy as np
        row = np.zeros(size)
        for column, power in zip(columns, self.exponents):
            if power:
                row[column] += power
        return row


# ---- counted from a layout (the reference) ----------------------------------
def conv_kind(conv: ConvLayer) -> str:
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return 'depthwise'
    return 'pointwise' if conv.kernel_size == 1 else 'dense'


def _conv_features(conv: ConvLayer) -> Features:
    """A conv's multiply-accumulates and the tensor it writes."""
    side = conv.out_size
    return [(conv_kind(conv), side, float(conv.macs)),
            ('memory', side, float(conv.out_channels * side * side))]


def unit_features(unit: UnitLayout) -> Features:
    """The terms of one residual unit, from its layout."""
    r_in, r_out = unit.in_size, unit.out_size
    features: Features = [
        ('memory', r_in, float(unit.in_channels * r_in * r_in)),
    ]
    convs = unit.main + (
        (unit.shortcut_conv, ) if unit.shortcut_conv is not None else ())
    for conv in convs:
        features += _conv_features(conv)
        features.append(('overhead', conv.out_size, 1.0))
    if unit.se:
        width = unit.se[0].in_channels
        features += [('se', r_out, 0.5 * width * width),
                     ('memory', r_out, 2.0 * width * r_out * r_out),
                     ('overhead', r_out, 2.0)]
    if unit.shortcut in (POOL, POOL_PROJ):
        features += [('memory', r_in, float(unit.in_channels * r_in**2)),
                     ('overhead', r_out, 1.0)]
    if unit.shortcut != NO_SHORTCUT:
        features += [('memory', r_out,
                      float(unit.out_channels * r_out * r_out)),
                     ('overhead', r_out, 1.0)]
    return features


def stem_features(layout: NetworkLayout) -> Features:
    """The stem conv (with the input it reads) and its max pool, if any."""
    stem = layout.stem
    features: Features = [
        ('memory', stem.in_size,
         float(stem.in_channels * stem.in_size * stem.in_size)),
        ('overhead', stem.out_size, 1.0),
    ] + _conv_features(stem)
    if layout.stem_pool_size is not None:
        side = layout.stem_pool_size
        features += [('memory', side, float(stem.out_channels * side**2)),
                     ('overhead', side, 1.0)]
    return features


def head_features(conv: ConvLayer) -> Features:
    """The head conv (depthwise families)."""
    return [('overhead', conv.out_size, 1.0)] + _conv_features(conv)


def network_features(layout: NetworkLayout) -> List[Tuple[str, Features]]:
    """``(part name, features)`` of every part: ``stem``, ``stage{i}.unit{j}``,
    ``head_conv``."""
    parts = [('stem', stem_features(layout))]
    for unit in layout.units:
        parts.append(
            (f'stage{unit.stage}.unit{unit.index}', unit_features(unit)))
    if layout.head_conv is not None:
        parts.append(('head_conv', head_features(layout.head_conv)))
    return parts


# ---- symbolic (the design program and the batched scorer) -------------------
def stage_sides(resolution: int, stem_stride: int,
                strides) -> Tuple[int, list]:
    """The stem's output side and every stage's ``(in side, out side)``
    ('same' padding, odd kernels: the sides do not depend on the kernel)."""
    side = conv_output_size(resolution, 1, stem_stride)
    stem_side, sides = side, []
    for stride in strides:
        out = conv_output_size(side, 1, stride)
        sides.append((side, out))
        side = out
    return stem_side, sides


#: An overhead's monomial: a constant per launched layer.
CONSTANT = (0, 0, 0, 0)


def _pointwise_sandwich(r_in: int, r_out: int, middle: str,
                        exponents: Tuple[int, int, int, int]) -> List[Term]:
    """A 1x1 conv in -> mid at side ``r_in``, the ``middle`` conv (its
    MAC monomial ``exponents``) and a 1x1 conv mid -> out at ``r_out``,
    with their memory and per-layer overheads (bottleneck and inverted
    residual units)."""
    p_in, p_out = r_in * r_in, r_out * r_out
    one = CONSTANT
    return [
        Term('pointwise', r_in, p_in, (1, 1, 0, 0)),
        Term('memory', r_in, p_in, (0, 1, 0, 0)),
        Term('overhead', r_in, 1.0, one),
        Term(middle, r_out, p_out, exponents),
        Term('memory', r_out, p_out, (0, 1, 0, 0)),
        Term('pointwise', r_out, p_out, (0, 1, 1, 0)),
        Term('memory', r_out, p_out, (0, 0, 1, 0)),
        Term('overhead', r_out, 2.0, one),
    ]


def unit_terms(block: str, style: str, stride: int, r_in: int,
               r_out: int) -> Tuple[Term, ...]:
    """The terms of a unit of ``block`` at sides ``r_in -> r_out`` with the
    unit's stride; shortcut terms carry their condition (``when``)."""
    p_in, p_out = r_in * r_in, r_out * r_out
    one = CONSTANT
    terms = [
        Term('memory', r_in, p_in, (1, 0, 0, 0)),
    ]
    if block == 'bottleneck':
        # the middle conv: dense, mid -> mid
        terms += _pointwise_sandwich(r_in, r_out, 'dense', (0, 2, 0, 2))
    elif block == 'basic':
        # TinyNAS strides the second conv, torchvision the first
        r_mid = r_in if style == 'tinynas' else r_out
        p_mid = r_mid * r_mid
        terms += [
            Term('dense', r_mid, p_mid, (1, 1, 0, 2)),
            Term('memory', r_mid, p_mid, (0, 1, 0, 0)),
            Term('overhead', r_mid, 1.0, one),
            Term('dense', r_out, p_out, (0, 1, 1, 2)),
            Term('memory', r_out, p_out, (0, 0, 1, 0)),
            Term('overhead', r_out, 1.0, one),
        ]
    elif block in DEPTHWISE_FAMILIES:
        # the middle conv: depthwise, one channel per group
        terms += _pointwise_sandwich(r_in, r_out, 'depthwise', (0, 1, 0, 2))
        if block == 'mbv2-se':
            terms += [
                Term('se', r_out, 0.5, (0, 2, 0, 0)),
                Term('memory', r_out, 2.0 * p_out, (0, 1, 0, 0)),
                Term('overhead', r_out, 2.0, one),
            ]
    else:
        raise ValueError(f'unknown block family {block!r}')
    if block not in DEPTHWISE_FAMILIES:
        terms += [
            Term('pointwise', r_out, p_out, (1, 0, 1, 0), PROJECTED),
            Term('memory', r_out, p_out, (0, 0, 1, 0), PROJECTED),
            Term('overhead', r_out, 1.0, one, PROJECTED),
        ]
    terms += [
        Term('memory', r_in, p_in, (1, 0, 0, 0), POOLED),
        Term('overhead', r_out, 1.0, one, POOLED),
        Term('memory', r_out, p_out, (0, 0, 1, 0), ADDED),
        Term('overhead', r_out, 1.0, one, ADDED),
    ]
    return tuple(terms)


def stem_terms(kernel: int,
               stride: int,
               resolution: int,
               in_channels: int = 3) -> Tuple[Term, ...]:
    """The stem conv's terms in its output width ``out`` (no max pool: the
    design space has none)."""
    side = conv_output_size(resolution, kernel, stride)
    pixels = side * side
    kind = 'pointwise' if kernel == 1 else 'dense'
    return (
        Term('memory', resolution,
             float(in_channels * resolution * resolution), (0, 0, 0, 0)),
        Term('overhead', side, 1.0, (0, 0, 0, 0)),
        Term(kind, side, float(in_channels * kernel * kernel * pixels),
             (0, 0, 1, 0)),
        Term('memory', side, float(pixels), (0, 0, 1, 0)),
    )


def head_terms(head_channels: int, side: int) -> Tuple[Term, ...]:
    """The 1x1 head conv's terms in its input width ``in``."""
    pixels = side * side
    return (
        Term('overhead', side, 1.0, (0, 0, 0, 0)),
        Term('pointwise', side, float(head_channels * pixels), (1, 0, 0, 0)),
        Term('memory', side, float(head_channels * pixels), (0, 0, 0, 0)),
    )


def shortcut_flags(block: str, style: str, first, width_in, out, stride):
    """``(projected, pooled, added)`` of a unit, as
    :func:`mmdeepmad.arch.layout.build_layout` lays it out (numbers or numpy
    arrays of widths)."""
    import numpy as np
    same = np.asarray(width_in) == np.asarray(out)
    if block in DEPTHWISE_FAMILIES:
        projected = np.zeros_like(same)
        added = same & ((stride == 1) | (style == 'tinynas'))
        pooled = added & (stride == 2)
    elif style == 'tinynas':
        projected = ~same | (bool(first) and block == 'bottleneck')
        pooled = np.ones_like(same) & (stride == 2)
        added = np.ones_like(same)
    else:
        projected = ~same | (stride != 1)
        pooled = np.zeros_like(same)
        added = np.ones_like(same)
    return projected, pooled, added
