"""Batched exact evaluation of the ``paper`` convention over a search space.

Closed forms of what :mod:`layout`, :mod:`counters` and :mod:`quantities`
compute one spec at a time, vectorised over N designs so that the local search
can score thousands of neighbours per call. ``tests/design/test_paper_fast.py``
checks every figure against the spec-by-spec reference on random designs.
"""
from __future__ import annotations
from typing import Sequence

import numpy as np

from mmdeepmad.arch.layout import conv_output_size, se_squeeze_channels
from mmdeepmad.arch.spec import DEPTHWISE_FAMILIES
from mmdeepmad.conventions.rules import depth_penalty
from .batched import BatchScores
from .search_space import Candidates, SearchSpace


def stage_sizes(space: SearchSpace):
    """Input and output sides of every stage, and the stem's output side."""
    size = conv_output_size(space.resolution, space.stem_kernel,
                            space.stem_stride)
    stem_size = size
    sizes_in, sizes_out = [], []
    for stride in space.strides:
        sizes_in.append(size)
        size = conv_output_size(size, 3, stride)
        sizes_out.append(size)
    return stem_size, np.asarray(sizes_in, float), np.asarray(sizes_out, float)


def _unit_costs(space: SearchSpace, c_in, c, b, k, r_in, r_out, first):
    """MACs and params of one unit of every design (arrays of shape (N,))."""
    block = space.block
    k2 = k * k
    if block == 'bottleneck':
        macs = c_in * b * r_in**2 + b * b * k2 * r_out**2 + b * c * r_out**2
        params = c_in * b + b * b * k2 + b * c + 4 * b + 2 * c
    elif block == 'basic':
        # TinyNAS strides the second conv, torchvision the first
        r_mid = r_in if space.style == 'tinynas' else r_out
        macs = c_in * b * k2 * r_mid**2 + b * c * k2 * r_out**2
        params = c_in * b * k2 + b * c * k2 + 2 * b + 2 * c
    else:  # mbv2, mbv2-se: expand, depthwise, project
        macs = c_in * b * r_in**2 + b * k2 * r_out**2 + b * c * r_out**2
        params = c_in * b + b * k2 + b * c + 4 * b + 2 * c
        if block == 'mbv2-se':
            squeeze = se_squeeze_channels(b)
            macs = macs + 2 * b * squeeze
            params = params + 2 * b * squeeze + 2 * squeeze + 2 * b
    if block not in DEPTHWISE_FAMILIES and first is not None:
        if space.style == 'tinynas' and block == 'bottleneck':
            projected = np.ones_like(c, dtype=bool)
        elif space.style == 'tinynas':
            projected = c_in != c
        else:
            projected = (c_in != c) | (first != 1)
        macs = macs + np.where(projected, c_in * c * r_out**2, 0)
        params = params + np.where(projected, c_in * c + 2 * c, 0)
    return macs, params


def _unit_log_width(space: SearchSpace, c_in, b, k):
    """Sum over the unit's main-path layers of log(c k^2 / g) (Eq. 4)."""
    log_k2 = 2 * np.log(k)
    if space.block == 'bottleneck':
        return np.log(c_in) + np.log(b) + log_k2 + np.log(b), 3
    if space.block == 'basic':
        return np.log(c_in) + log_k2 + np.log(b) + log_k2, 2
    return np.log(c_in) + log_k2 + np.log(b), 3


def evaluate_paper(space: SearchSpace,
                   cand: Candidates,
                   alpha: Sequence[float],
                   beta: float,
                   num_classes=None) -> BatchScores:
    """Score, budgets and rho of every design, as
    :func:`quantities.paper_score` and :func:`counters.count` would give them
    one by one."""
    stem = cand.stem.astype(float)
    out = cand.out.astype(float)
    mid = cand.mid.astype(float)
    kernel = cand.kernel.astype(float)
    depth = cand.depth.astype(float)
    stem_size, sizes_in, sizes_out = stage_sizes(space)
    in_ch = space.stem_kernel**2 * 3.0
    macs = in_ch * stem * stem_size**2
    params = in_ch * stem + 2 * stem
    log_width = np.full_like(stem, np.log(in_ch))
    layers = 1
    cumulative, layer_count = [], []
    previous = stem
    for i, stride in enumerate(space.strides):
        c, b, k, L = out[:, i], mid[:, i], kernel[:, i], depth[:, i]
        m1, p1 = _unit_costs(space, previous, c, b, k, sizes_in[i],
                             sizes_out[i], np.full_like(c, stride))
        mr, pr = _unit_costs(space, c, c, b, k, sizes_out[i], sizes_out[i],
                             None)
        macs = macs + m1 + (L - 1) * mr
        params = params + p1 + (L - 1) * pr
        w1, per_unit = _unit_log_width(space, previous, b, k)
        wr, _ = _unit_log_width(space, c, b, k)
        log_width = log_width + w1 + (L - 1) * wr
        layers = layers + per_unit * L
        previous = c
        cumulative.append(log_width)
        layer_count.append(layers)
    final = previous
    if space.head_channels:
        head = float(space.head_channels)
        macs = macs + final * head * sizes_out[-1]**2
        params = params + final * head + 2 * head
        log_width = log_width + np.log(final)
        layers = layers + 1
        cumulative[-1] = log_width
        final = np.full_like(final, head)
    if num_classes:
        macs = macs + final * num_classes
        params = params + final * num_classes + num_classes
    entropy = np.zeros_like(stem)
    for i in range(space.num_stages):
        channels = out[:, i] if i < space.num_stages - 1 else final
        entropy = entropy + alpha[i] * np.log(
            sizes_out[i]**2 * channels) * cumulative[i]
    penalty = depth_penalty(depth, beta, 'paper')
    rho = layers / np.exp(log_width / layers)
    return BatchScores(
        score=entropy - penalty,
        entropy=entropy,
        penalty=penalty,
        flops=macs,
        params=params,
        rho=rho)
