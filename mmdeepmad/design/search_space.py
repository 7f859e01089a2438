"""The discrete design space of Eq. 5 and its batched encoding.

A design is: stem channels, and per stage out channels ``c``, mid channels
``b`` (bottleneck / inner / expanded width), kernel ``k`` and depth ``L``. The
block family, the stride pattern, the head conv and the resolution are fixed by
the space. A batch of N designs is a :class:`Candidates` of numpy arrays, so
that exact scorers can evaluate thousands of designs per call.
"""
from __future__ import annotations
from dataclasses import dataclass, field, replace
from typing import Optional, Tuple

import numpy as np

from mmdeepmad.arch.spec import (BLOCK_FAMILIES, DEPTHWISE_FAMILIES, ArchSpec,
                                 HeadConvSpec, SpecError, StageSpec, StemSpec)

#: Stride patterns of the DeepMAD releases: five down-sampling layers in all
#: (the stem and four stages). ResNet-type stage 4 keeps 14x14 at 224.
DEFAULT_STRIDES = {
    'bottleneck': (2, 2, 2, 1, 2),
    'basic': (2, 2, 2, 1, 2),
    'mbv2': (1, 2, 2, 2, 2),
    'mbv2-se': (1, 2, 2, 2, 2),
}

#: The releases' fixed head conv width for depthwise networks (not designed).
DEPTHWISE_HEAD_CHANNELS = 1792


@dataclass(frozen=True)
class SearchSpace:
    """What is fixed while Eq. 5 is solved, and the bounds of what is not."""

    block: str = 'bottleneck'
    strides: Tuple[int, ...] = (2, 2, 2, 1, 2)
    resolution: int = 224
    stem_kernel: int = 3
    stem_stride: int = 2
    stem_channels: Tuple[int, int] = (8, 32)
    kernels: Tuple[int, ...] = (3, 5)
    width_multiple: int = 8
    channels: Tuple[int, int] = (8, 2048)
    #: bounds of mid / out per stage, rounded to the width grid (bottleneck:
    #: 0.1..1 as TinyNAS's mutator; depthwise: the official expansion 1.5..6)
    mid_ratio: Tuple[float, float] = (0.1, 1.0)
    depth: Tuple[int, int] = (1, 30)
    #: per-stage depth caps that tighten ``depth`` (TinyNAS: first stage <= 3)
    depth_caps: Tuple[Optional[int], ...] = (3, None, None, None, None)
    head_channels: Optional[int] = None
    non_decreasing: bool = True
    style: str = 'tinynas'

    def __post_init__(self) -> None:
        if self.block not in BLOCK_FAMILIES:
            raise SpecError(
                f'block must be one of {", ".join(BLOCK_FAMILIES)}; '
                f'got {self.block!r}')
        if len(self.depth_caps) != len(self.strides):
            caps = tuple(self.depth_caps[:len(self.strides)]) + (None, ) * max(
                0,
                len(self.strides) - len(self.depth_caps))
            object.__setattr__(self, 'depth_caps', caps)
        if any(k % 2 == 0 or k < 1 for k in self.kernels):
            raise SpecError(f'kernels must be odd positive sizes, got '
                            f'{self.kernels}')
        if self.width_multiple < 1:
            raise SpecError('width_multiple must be >= 1')

    @classmethod
    def for_block(cls, block: str, **overrides) -> 'SearchSpace':
        """The official configs' space of a family (``docs/conventions.md``),
        overridden."""
        if block not in BLOCK_FAMILIES:
            raise SpecError(
                f'block must be one of {", ".join(BLOCK_FAMILIES)}; '
                f'got {block!r}')
        base = dict(block=block, strides=DEFAULT_STRIDES[block])
        if block in DEPTHWISE_FAMILIES:
            base.update(
                kernels=(3, 5, 7),
                channels=(8, 1280),
                stem_channels=(16, 32),
                mid_ratio=(1.5, 6.0),
                depth_caps=(None, ) * 5,
                head_channels=DEPTHWISE_HEAD_CHANNELS)
        elif block == 'basic':
            base.update(mid_ratio=(0.1, 1.0))
        base.update(overrides)
        return cls(**base)

    # ---- sizes --------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return len(self.strides)

    @property
    def max_depths(self) -> np.ndarray:
        caps = [
            self.depth[1] if cap is None else min(cap, self.depth[1])
            for cap in self.depth_caps
        ]
        return np.asarray(caps, dtype=np.int64)

    def mid_bounds(self, out: np.ndarray):
        """Bounds of the mid width for out channels ``out``: the ratio bounds
        rounded to the width grid, as the official mutator rounds them."""
        step = self.width_multiple
        low = np.maximum(
            np.round(out * self.mid_ratio[0] / step) * step, self.channels[0])
        high = np.round(out * self.mid_ratio[1] / step) * step
        return low.astype(np.int64), high.astype(np.int64)

    def channel_grid(self, low: Optional[int] = None) -> np.ndarray:
        step = self.width_multiple
        low = self.channels[0] if low is None else low
        start = -(-low // step) * step
        return np.arange(start, self.channels[1] + 1, step, dtype=np.int64)

    # ---- spec conversion ----------------------------------------------------
    def to_spec(self,
                stem: int,
                out,
                mid,
                kernel,
                depth,
                name: str = '',
                meta=None) -> ArchSpec:
        stages = tuple(
            StageSpec(
                block=self.block,
                out_channels=int(out[i]),
                mid_channels=int(mid[i]),
                kernel_size=int(kernel[i]),
                depth=int(depth[i]),
                stride=int(self.strides[i])) for i in range(self.num_stages))
        head = (
            HeadConvSpec(out_channels=self.head_channels)
            if self.head_channels else None)
        act = 'silu' if self.block == 'mbv2-se' else 'relu'
        return ArchSpec(
            stem=StemSpec(
                out_channels=int(stem),
                kernel_size=self.stem_kernel,
                stride=self.stem_stride),
            stages=stages,
            head_conv=head,
            resolution=self.resolution,
            style=self.style,
            act=act,
            name=name,
            meta=dict(meta or {}))

    def candidates_from_spec(self, spec: ArchSpec) -> 'Candidates':
        """Encode a spec of this space's shape (checks family and strides)."""
        if spec.num_stages != self.num_stages:
            raise SpecError(
                f'the spec has {spec.num_stages} stages, the space '
                f'{self.num_stages}')
        for i, stage in enumerate(spec.stages):
            if stage.block != self.block or stage.stride != self.strides[i]:
                raise SpecError(
                    f'stages[{i}] is a stride-{stage.stride} {stage.block} '
                    f'stage; the space wants stride-{self.strides[i]} '
                    f'{self.block}')
        return Candidates.single(spec.stem.out_channels,
                                 [s.out_channels for s in spec.stages],
                                 [s.mid_channels for s in spec.stages],
                                 [s.kernel_size for s in spec.stages],
                                 [s.depth for s in spec.stages])

    def with_(self, **changes) -> 'SearchSpace':
        return replace(self, **changes)

    # ---- membership ---------------------------------------------------------
    def contains(self, cand: 'Candidates') -> np.ndarray:
        """Which designs of a batch lie in the space (bounds, grid, ratios)."""
        step = self.width_multiple
        ok = (cand.stem >= self.stem_channels[0]) & (
            cand.stem <= self.stem_channels[1]) & (
                cand.stem % step == 0)
        ok &= np.all(
            (cand.out >= self.channels[0])
            & (cand.out <= self.channels[1]) & (cand.out % step == 0),
            axis=1)
        ok &= np.all(
            (cand.mid >= self.channels[0]) & (cand.mid % step == 0), axis=1)
        low, high = self.mid_bounds(cand.out)
        ok &= np.all((cand.mid >= low) & (cand.mid <= high), axis=1)
        ok &= np.all(np.isin(cand.kernel, self.kernels), axis=1)
        ok &= np.all(
            (cand.depth >= self.depth[0])
            & (cand.depth <= self.max_depths[None, :]),
            axis=1)
        if self.non_decreasing:
            ok &= np.all(np.diff(cand.out, axis=1) >= 0, axis=1)
        return ok


@dataclass
class Candidates:
    """N designs as integer arrays: stem (N,), out/mid/kernel/depth (N, M)."""

    stem: np.ndarray
    out: np.ndarray
    mid: np.ndarray
    kernel: np.ndarray
    depth: np.ndarray
    extra: dict = field(default_factory=dict)

    @classmethod
    def single(cls, stem, out, mid, kernel, depth) -> 'Candidates':
        return cls(
            stem=np.asarray([stem], dtype=np.int64),
            out=np.asarray([out], dtype=np.int64),
            mid=np.asarray([mid], dtype=np.int64),
            kernel=np.asarray([kernel], dtype=np.int64),
            depth=np.asarray([depth], dtype=np.int64))

    def __len__(self) -> int:
        return int(self.stem.shape[0])

    def take(self, index) -> 'Candidates':
        index = np.atleast_1d(index)
        return Candidates(self.stem[index], self.out[index], self.mid[index],
                          self.kernel[index], self.depth[index])

    @staticmethod
    def concat(parts) -> 'Candidates':
        parts = [p for p in parts if len(p)]
        return Candidates(*(np.concatenate([getattr(p, name) for p in parts])
                            for name in ('stem', 'out', 'mid', 'kernel',
                                         'depth')))

    def row(self, i: int):
        return (int(self.stem[i]), self.out[i].tolist(), self.mid[i].tolist(),
                self.kernel[i].tolist(), self.depth[i].tolist())

    def key(self, i: int) -> tuple:
        return (int(self.stem[i]), ) + tuple(self.out[i]) + tuple(
            self.mid[i]) + tuple(self.kernel[i]) + tuple(self.depth[i])
