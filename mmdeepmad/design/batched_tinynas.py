"""Vectorised ``tinynas`` scoring of many candidates at once.

:class:`TinyNASFastScorer` fixes everything a search over TinyNAS's space does
not change (the block family, the stride of every super-block, the stem's
kernel and stride, the head conv, the image size, alpha and beta) and evaluates
numpy arrays of candidates in closed form: one pass of array arithmetic per
super-block, no Python loop over units or candidates. It computes exactly the
quantities of :func:`mmdeepmad.conventions.tinynas.evaluate_tinynas`
(agreement to ~1e-12 relative; params are exact integers held in float64);
only the order of floating-point summation differs.

Example::

    scorer = TinyNASFastScorer('bottleneck', strides=(2, 2, 2, 1, 2))
    result = scorer(out_channels, mid_channels, kernel_size, depth,
                    stem_channels)          # (N, 5) arrays and an (N,) array
    ok = result.satisfies(Budgets(flops=1.82e9, params=11.69e6, rho=0.3))
    best = np.argmax(np.where(ok, result.score, -np.inf))

Closed forms (``c`` in channels of the super-block, ``o`` out, ``m`` btn, ``k``
kernel, ``s`` stride, ``L`` units; FLOPs per unit are per input-side^2 and are
multiplied by the square of the float input side; the first unit has input
``c`` and stride ``s``, the other ``L - 1`` units input ``o``, stride 1 and
side ``r / s``), see :mod:`mmdeepmad.conventions.tinynas` for each
term's origin:

* bottleneck (ResK1KXK1), first unit: params ``cm + 2m + m^2k^2 + 2m + mo + 2o
  + co + 2o``; FLOPs ``cm + 2m + (m^2k^2 + 2m)/s^2 + (mo + 2o)/s^2 + m + m/s^2
  + o/s^2 + [s=2] c + (co + 2o)/s^2 + o/s^2``; other units: params ``2om +
  m^2k^2 + 4m + 2o``, FLOPs ``2om + m^2k^2 + 6m + 3o``.
* mbv2 / mbv2-se (ResK1DWK1 / ResK1DWSEK1), first unit: params ``cm + 2m + mk^2
  + 2m + mo + 2o`` (+ SE ``2mq + 2q + 2m``); FLOPs ``cm + 2m + (mk^2 + 2m)/s^2
  + (mo + 2o)/s^2 + m + m/s^2 + o/s^2 + [c=o, s=2] c``; other units: params
  ``2om + mk^2 + 4m + 2o`` (+ SE), FLOPs ``2om + mk^2 + 6m + 3o``.
* basic (ResKXKX), first unit: params ``cmk^2 + 2m + mok^2 + 2o + [c!=o](co +
  2o)``; FLOPs ``cmk^2 + 2m + (mok^2 + 2o)/s^2 + m + o/s^2 + [s=2] c + [c!=o]
  ((co + 2o)/s^2 + o/s^2)``; other units: params ``2omk^2 + 2m + 2o``, FLOPs
  ``2omk^2 + 3m + 3o``.
* stem / head conv (ConvKXBNRELU): params ``cok^2 + 2o``, FLOPs ``(cok^2 + 2o +
  o)/s^2``.
* Entropy of a unit ``h = log(w) / 2`` with the width ``w`` = ``c m^2 k^2``
  (bottleneck), ``c k^2 m`` (depthwise), ``c k^2`` (plain conv), ``c k^4 m``
  (basic, not defined by TinyNAS).
"""
from __future__ import annotations
from typing import Dict, Optional, Sequence

import numpy as np

from mmdeepmad.arch.layout import se_squeeze_channels
from mmdeepmad.arch.spec import BLOCK_FAMILIES, ArchSpec
from mmdeepmad.arch.tinynas_format import CLASS_OF_FAMILY, spec_to_tinynas
from mmdeepmad.conventions.rules import (DEFAULT_BETA,
                                         TINYNAS_SCORE_RESOLUTION,
                                         default_alpha, depth_penalty,
                                         penalised_stages)
from mmdeepmad.conventions.tinynas import stage_info, tinynas_blocks
from .batched import BatchScores


class TinyNASFastScorer:
    """Closed-form ``tinynas`` evaluation of candidate arrays.

    Args:
        family: block family of every super-block ('bottleneck', 'basic',
            'mbv2' or 'mbv2-se').
        strides: stride (1 or 2) of each of the S super-blocks.
        stem_stride, stem_kernel: the stem conv's stride and kernel.
        head_channels: out channels of the final 1x1 ConvKXBNRELU, or None.
        head_kernel: its kernel size.
        in_channels: image channels.
        image_size: side at which FLOPs are counted (TinyNAS's cfg.image_size).
        alpha: per-stage weights (TinyNAS's ``multi_block_ratio``); the stride
            pattern must give exactly ``len(alpha)`` stages (default 1, ...,
            1, 8 for the stages it gives).
        beta: the depth-penalty ratio.
        score_resolution: side the scorer uses for R_s (224 in TinyNAS).

    Raises ``ValueError`` for a pattern TinyNAS cannot score (wrong number
    of stages; a bottleneck network without exactly 5 super-blocks when
    ``beta != 0``).
    """

    def __init__(self,
                 family: str,
                 strides: Sequence[int],
                 *,
                 stem_stride: int = 2,
                 stem_kernel: int = 3,
                 head_channels: Optional[int] = None,
                 head_kernel: int = 1,
                 in_channels: int = 3,
                 image_size: float = 224,
                 alpha: Optional[Sequence[float]] = None,
                 beta: float = DEFAULT_BETA,
                 score_resolution: float = TINYNAS_SCORE_RESOLUTION) -> None:
        if family not in BLOCK_FAMILIES:
            raise ValueError(f'family must be one of {BLOCK_FAMILIES}, '
                             f'got {family!r}')
        strides = tuple(int(s) for s in strides)
        if not strides or any(s not in (1, 2) for s in strides):
            raise ValueError(f'strides must be a non-empty sequence of 1 or '
                             f'2, got {strides!r}')
        if stem_stride not in (1, 2):
            raise ValueError(f'stem_stride must be 1 or 2, got {stem_stride}')
        self.family = family
        self.strides = strides
        self.num_blocks = len(strides)
        self.stem_stride = stem_stride
        self.stem_kernel = stem_kernel
        self.head_channels = head_channels
        self.head_kernel = head_kernel
        self.in_channels = in_channels
        self.image_size = image_size
        self.alpha = None if alpha is None else tuple(float(a) for a in alpha)
        self.beta = float(beta)
        self.score_resolution = score_resolution
        if self.beta != 0:  # raises where TinyNAS cannot penalise
            penalised_stages(family, self.num_blocks, 'tinynas')

        # The stage pattern depends only on the strides (and on SE); read it
        # off a dummy structure with the slow code so both agree by design.
        dummy = self._dummy_structure()
        info = stage_info(dummy, score_resolution, tinynas_blocks(dummy))
        if self.alpha is None:
            self.alpha = default_alpha(info.num_stages)
        if info.num_stages != len(self.alpha):
            raise ValueError(
                f'the stride pattern gives {info.num_stages} stages but alpha '
                f'has {len(self.alpha)} weights (TinyNAS would score -9999)')
        self.stage_idx = info.stage_idx
        log_side = []
        with np.errstate(divide='ignore'):
            for side in info.stage_feature_map_size:
                log_side.append(float(np.log(side**2)))
        self._log_side = tuple(log_side)
        # input side (float) of every super-block for the FLOPs
        side = float(image_size) / stem_stride
        sides = []
        for s in strides:
            sides.append(side)
            side /= s
        self._sides = tuple(sides)
        self._final_side = side
        self._stem_side = float(image_size)

    def _dummy_structure(self):
        klass = CLASS_OF_FAMILY[self.family]
        structure = [{
            'class': 'ConvKXBNRELU',
            'in': self.in_channels,
            'out': 8,
            'k': self.stem_kernel,
            's': self.stem_stride
        }]
        for s in self.strides:
            structure.append({
                'class': klass,
                'in': 8,
                'out': 8,
                'k': 3,
                's': s,
                'L': 1,
                'btn': 8
            })
        if self.head_channels is not None:
            structure.append({
                'class': 'ConvKXBNRELU',
                'in': 8,
                'out': self.head_channels,
                'k': self.head_kernel,
                's': 1
            })
        return structure

    # ---- construction helpers ---------------------------------------------
    @classmethod
    def from_spec(cls, spec: ArchSpec, **overrides) -> 'TinyNASFastScorer':
        """A scorer for the fixed parts of ``spec`` (family, strides, stem
        kernel and stride, head conv, resolution); ``overrides`` (alpha, beta,
        image_size, score_resolution, ...) win."""
        spec_to_tinynas(spec)  # raises SpecError if TinyNAS cannot hold it
        families = set(spec.blocks)
        if len(families) != 1:
            raise ValueError(
                'the fast scorer needs one block family, the spec '
                f'has {sorted(families)}')
        kwargs = dict(
            family=spec.stages[0].block,
            strides=tuple(stage.stride for stage in spec.stages),
            stem_stride=spec.stem.stride,
            stem_kernel=spec.stem.kernel_size,
            head_channels=(spec.head_conv.out_channels
                           if spec.head_conv is not None else None),
            head_kernel=(spec.head_conv.kernel_size
                         if spec.head_conv is not None else 1),
            in_channels=spec.in_channels,
            image_size=spec.resolution)
        kwargs.update(overrides)
        return cls(**kwargs)

    @staticmethod
    def arrays_from_specs(specs: Sequence[ArchSpec]) -> Dict[str, np.ndarray]:
        """The candidate arrays of a list of specs, as keyword arguments for
        :meth:`__call__`."""
        return {
            'out_channels':
            np.array([[st.out_channels for st in sp.stages] for sp in specs]),
            'mid_channels':
            np.array([[st.mid_channels for st in sp.stages] for sp in specs]),
            'kernel_size':
            np.array([[st.kernel_size for st in sp.stages] for sp in specs]),
            'depth':
            np.array([[st.depth for st in sp.stages] for sp in specs]),
            'stem_channels':
            np.array([sp.stem.out_channels for sp in specs]),
        }

    # ---- evaluation --------------------------------------------------------
    def __call__(self, out_channels, mid_channels, kernel_size, depth,
                 stem_channels) -> BatchScores:
        """Evaluate N candidates.

        Args:
            out_channels, mid_channels, kernel_size, depth: (N, S) arrays of
                every super-block's ``out``, ``btn``, ``k`` and ``L``.
            stem_channels: (N,) array of the stem's out channels.

        The candidates are assumed valid (positive integers, odd kernels);
        nothing is checked per candidate.
        """
        out = np.asarray(out_channels, dtype=np.float64)
        mid = np.asarray(mid_channels, dtype=np.float64)
        ker = np.asarray(kernel_size, dtype=np.float64)
        dep = np.asarray(depth, dtype=np.float64)
        stem = np.asarray(stem_channels, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != self.num_blocks:
            raise ValueError(f'out_channels must have shape (N, '
                             f'{self.num_blocks}), got {out.shape}')
        for name, array in (('mid_channels', mid), ('kernel_size', ker),
                            ('depth', dep)):
            if array.shape != out.shape:
                raise ValueError(f'{name} must have shape {out.shape}, got '
                                 f'{array.shape}')
        if stem.shape != out.shape[:1]:
            raise ValueError(f'stem_channels must have shape {out.shape[:1]}, '
                             f'got {stem.shape}')

        family = self.family
        k0, s0 = self.stem_kernel, self.stem_stride
        c_img = float(self.in_channels)
        # stem
        params = c_img * stem * k0**2 + 2 * stem
        flops = ((c_img * k0**2 + 3.0) / s0**2 * self._stem_side**2) * stem
        log_w_stem = float(np.log(c_img * k0**2))
        cum_logw = np.full(out.shape[0], log_w_stem)  # sum of log widths
        layers = np.ones(out.shape[0])
        stage_logw = {}
        stage_layers = {}
        stage_channels = {}
        per_unit_layers = 2.0 if family == 'basic' else 3.0
        c = stem
        for b in range(self.num_blocks):
            s = float(self.strides[b])
            s2 = s * s
            o, m, k, L = out[:, b], mid[:, b], ker[:, b], dep[:, b]
            rest = L - 1.0
            k2 = k * k
            if family == 'bottleneck':
                mk2 = m * m * k2
                om = o * m
                p_first = c * m + 4 * m + mk2 + om + 4 * o + c * o
                p_rest = 2 * om + mk2 + 4 * m + 2 * o
                f_first = (
                    c * m + 3 * m + (mk2 + 3 * m + om + 6 * o + c * o) / s2)
                if s == 2:
                    f_first = f_first + c
                f_rest = 2 * om + mk2 + 6 * m + 3 * o
                logw_first = np.log(c * mk2)
                logw_rest = np.log(o * mk2)
            elif family in ('mbv2', 'mbv2-se'):
                mk2 = m * k2
                om = o * m
                p_first = c * m + 4 * m + mk2 + om + 2 * o
                p_rest = 2 * om + mk2 + 4 * m + 2 * o
                if family == 'mbv2-se':
                    q = se_squeeze_channels(m)
                    se = 2 * m * q + 2 * q + 2 * m
                    p_first = p_first + se
                    p_rest = p_rest + se
                f_first = c * m + 3 * m + (mk2 + 3 * m + om + 3 * o) / s2
                if s == 2:
                    f_first = f_first + np.where(c == o, c, 0.0)
                f_rest = 2 * om + mk2 + 6 * m + 3 * o
                logw_first = np.log(c * mk2)
                logw_rest = np.log(o * mk2)
            else:  # basic
                omk2 = o * m * k2
                proj = c != o
                p_first = (
                    c * m * k2 + 2 * m + omk2 + 2 * o +
                    np.where(proj, c * o + 2 * o, 0.0))
                p_rest = 2 * omk2 + 2 * m + 2 * o
                f_first = (
                    c * m * k2 + 3 * m + (omk2 + 3 * o) / s2 +
                    np.where(proj, (c * o + 3 * o) / s2, 0.0))
                if s == 2:
                    f_first = f_first + c
                f_rest = 2 * omk2 + 3 * m + 3 * o
                logw_first = np.log(c * m * k2 * k2)
                logw_rest = np.log(o * m * k2 * k2)
            side2 = self._sides[b]**2
            params = params + p_first + rest * p_rest
            flops = flops + (f_first + rest * (f_rest / s2)) * side2
            cum_logw = cum_logw + logw_first + rest * logw_rest
            layers = layers + per_unit_layers * L
            stage_logw[b + 1] = cum_logw
            stage_layers[b + 1] = layers
            stage_channels[b + 1] = o
            c = o
        stage_logw[0] = np.full(out.shape[0], log_w_stem)
        stage_layers[0] = np.ones(out.shape[0])
        stage_channels[0] = stem
        if self.head_channels is not None:
            hk, hc = self.head_kernel, float(self.head_channels)
            params = params + c * (hc * hk**2) + 2 * hc
            flops = flops + (c * (hc * hk**2) + 3 * hc) * self._final_side**2
            cum_logw = cum_logw + np.log(c * hk**2)
            layers = layers + 1.0
            last = self.num_blocks + 1
            stage_logw[last] = cum_logw
            stage_layers[last] = layers
            stage_channels[last] = np.full(out.shape[0], hc)

        n_stages = len(self.stage_idx)
        per_stage = np.empty((out.shape[0], n_stages))
        rho = None
        for index, block in enumerate(self.stage_idx):
            ratio = self.alpha[index]
            logw = stage_logw[block]
            depth_s = stage_layers[block]
            if ratio == 0:
                per_stage[:, index] = 0.0
            else:
                # entropy sum = half the sum of log widths
                per_stage[:, index] = (ratio * 0.5) * logw * (
                    np.log(stage_channels[block]) + self._log_side[index])
            rho_s = np.exp(np.log(depth_s) - logw / depth_s)
            rho = rho_s if rho is None else np.maximum(rho, rho_s)
        score = per_stage.sum(axis=1)

        penalty = depth_penalty(dep, self.beta, 'tinynas', family)
        return BatchScores(
            score=score - penalty,
            entropy=score,
            penalty=penalty,
            flops=flops,
            params=params,
            rho=rho,
            per_stage=per_stage)

    def score_specs(self, specs: Sequence[ArchSpec]) -> BatchScores:
        """Convenience: evaluate a list of specs sharing this scorer's fixed
        parts (not checked)."""
        return self(**self.arrays_from_specs(specs))
