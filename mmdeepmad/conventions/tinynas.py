"""The ``tinynas`` convention: how the official DeepMAD code scores and counts.

The official implementation of DeepMAD (TinyNAS, alibaba/lightweight-neural-
architecture-search at 8ccaf88) scores a structure and counts its budgets with
formulas that differ from the paper's (see ``docs/conventions.md``). This
module reproduces them exactly, quirks included, so designs can be compared
with the official releases on the official code's own terms. Everything is
computed per unit from TinyNAS's own per-block formulas (written anew here),
with numpy float64 and TinyNAS's order of summation.

Per unit (``c`` = in channels, ``o`` = out, ``m`` = btn, ``k`` kernel, ``s``
stride; ``conv(a, b, k, s, g) = a*b*k^2/s^2/g + 2*b/s^2`` is a conv + BN per
input-side^2; FLOPs below are per input-side^2 of the unit, multiplied by the
square of the unit's *float* input side, image_size / product of earlier
strides):

* ConvKXBNRELU (stem, head conv): params ``c*o*k^2 + 2o``; FLOPs
  ``conv(c, o, k, s) + o/s^2`` (ReLU); entropy ``log sqrt(c*k^2)``; width
  ``c*k^2``; 1 layer.
* ResK1KXK1 (bottleneck): params ``c*m + 2m + m*m*k^2 + 2m + m*o + 2o`` plus
  the projection ``c*o + 2o``, present when ``c != o`` or on the first unit of
  its super-block; FLOPs ``conv(c,m,1,1) + conv(m,m,k,s) + conv(m,o,1,1)/s^2 +
  m + m/s^2 + o/s^2`` (ReLUs), ``+ c`` (2x2 average pool, on every stride-2
  unit), and with the projection ``+ conv(c,o,1,1)/s^2 + o/s^2`` (the ``o/s^2``
  is only counted together with a projection); entropy ``log sqrt(c) + log
  sqrt(m) + log sqrt(k^2) + log sqrt(m)``; width ``c*m*k^2*m``; 3 layers.
* ResK1DWSEK1 (mbv2-se) / ResK1DWK1 (mbv2): params ``c*m + 2m + m*k^2 + 2m +
  m*o + 2o`` plus, with SE, ``m*q + 2q + q*m + 2m`` (``q = max(1, round(m/4) //
  8) * 8``); FLOPs ``conv(c,m,1,1) + conv(m,m,k,s,g=m) + conv(m,o,1,1)/s^2 +
  m + m/s^2 + o/s^2`` plus ``c`` (average pool) on a stride-2 unit with
  ``c == o``; the SE adds no FLOPs and there is never a projection; entropy
  ``log sqrt(c) + log sqrt(k^2) + log sqrt(m)``; width ``c*k^2*m``; 3 layers.
* ResKXKX (basic): params ``c*m*k^2 + 2m + m*o*k^2 + 2o`` plus a projection
  ``c*o + 2o`` only when ``c != o``; the stride sits on the *second* k x k
  conv; FLOPs ``conv(c,m,k,1) + conv(m,o,k,s) + m + o/s^2 + [s=2] c`` plus,
  with the projection, ``conv(c,o,1,1)/s^2 + o/s^2``. TinyNAS defines no
  DeepMAD entropy and no width for it (its scorer fails on such networks); here
  they are extended as ``log sqrt(c*k^2) + log sqrt(m*k^2)`` and
  ``c*k^2*m*k^2``, and the evaluation says ``exact=False``.

Score: stages end before every stride-2 block at list position > 0 and at the
end (``stage_info`` is TinyNAS's ``get_stage_info``: block index, cumulative
units B_s, cumulative layers D_s, channels C_s and side R_s). R_s is computed
at ``score_resolution`` = 224 by default whatever the image size, with floor
division, and is 1 after any SE unit (TinyNAS's SE reports output side 1).
``S = sum_s alpha_s (log C_s + log R_s^2) sum_{u < B_s} h_u``. The depth
penalty is ``beta * exp(std(L))`` (population std) over the super-blocks'
``L``; when the second block is a SuperResK1KXK1 the first ``L`` is dropped
twice (and there must be exactly five super-blocks), for SuperResKXKX once, for
depthwise networks never.
``rho = max_s exp(log D_s - sum_{u < B_s} log w_u / D_s)``.
"""
from __future__ import annotations
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from mmdeepmad.arch.layout import se_squeeze_channels
from mmdeepmad.arch.spec import ArchSpec, SpecError
from mmdeepmad.arch.tinynas_format import (FAMILY_OF_CLASS, PLAIN_CLASS,
                                           spec_from_tinynas, spec_to_tinynas,
                                           validate_structure)
from mmdeepmad.conventions.rules import (DEFAULT_BETA,
                                         TINYNAS_SCORE_RESOLUTION,
                                         default_alpha)
from mmdeepmad.conventions.rules import depth_penalty as _depth_penalty
from .budgets import Budgets

#: What the ``tinynas`` figures count (printed with them).
CONVENTION = (
    'tinynas convention: FLOPs and params as the official DeepMAD code '
    '(TinyNAS) counts them: conv MACs + 2 per output element for BN + ReLU '
    'and 2x2-pool terms; params = conv weights + BN affine; stem included, no '
    'classifier head; score and rho by TinyNAS\'s stage rule, R_s at 224')

# Unit kinds (TinyNAS inner classes) and the plain conv.
CONV = 'ConvKXBNRELU'
K1KXK1 = 'ResK1KXK1'
K1DWSEK1 = 'ResK1DWSEK1'
K1DWK1 = 'ResK1DWK1'
KXKX = 'ResKXKX'
_UNIT_OF_CLASS = {
    'SuperResK1KXK1': K1KXK1,
    'SuperResK1DWSEK1': K1DWSEK1,
    'SuperResK1DWK1': K1DWK1,
    'SuperResKXKX': KXKX,
}
_LOG = np.log
_SQRT = np.sqrt


def _conv_flops(c_in: int, c_out: int, k: int, s: int, g: int,
                side: float) -> float:
    """TinyNAS's ConvKXBN FLOPs (conv MACs + 2 per output element for BN) at an
    input side ``side``."""
    per_pixel = c_in * c_out * k**2 / s**2 / g + 2 * c_out / s**2
    return per_pixel * side**2


@dataclass(frozen=True)
class TinyNASUnit:
    """One entry of TinyNAS's per-block lists: a plain conv or a residual unit.

    ``flops`` is per input-side^2 (TinyNAS's ``self.flops``); ``entropy`` is
    the unit's ``get_deepmad_forward`` value and ``width`` its
    ``get_width``."""

    block_index: int
    kind: str
    in_channels: int
    out_channels: int
    mid_channels: int
    kernel_size: int
    stride: int
    first: bool
    params: int
    flops: float
    entropy: float
    width: int
    layers: int
    exact: bool = True

    def output_side(self, side):
        """TinyNAS's ``get_output_resolution`` (floor division; 1 after SE)."""
        if self.kind == K1DWSEK1:
            return 1  # the SE reports side 1; the last 1x1 conv keeps it
        return side // self.stride


def _plain_unit(index: int, c_in: int, c_out: int, k: int,
                s: int) -> TinyNASUnit:
    flops = c_in * c_out * k**2 / s**2 / 1 + 2 * c_out / s**2
    flops = flops + c_out / s**2  # ReLU
    return TinyNASUnit(
        block_index=index,
        kind=CONV,
        in_channels=c_in,
        out_channels=c_out,
        mid_channels=c_out,
        kernel_size=k,
        stride=s,
        first=True,
        params=c_in * c_out * k**2 + 2 * c_out,
        flops=flops,
        entropy=_LOG(_SQRT((c_in**1) * (k**(2 * 1)))),
        width=c_in * k**2,
        layers=1)


def _residual_unit(index: int, kind: str, c_in: int, c_out: int, m: int,
                   k: int, s: int, first: bool) -> TinyNASUnit:
    exact = True
    if kind == K1KXK1:
        params = (c_in * m + 2 * m) + (m * m * k**2 + 2 * m) + (
            m * c_out + 2 * c_out)
        flops = (
            _conv_flops(c_in, m, 1, 1, 1, 1.0) +
            _conv_flops(m, m, k, s, 1, 1.0) +
            _conv_flops(m, c_out, 1, 1, 1, 1.0 / s) + m + m / s**2 +
            c_out / s**2)
        if s == 2:
            flops = flops + c_in
        if c_in != c_out or first:
            params += c_in * c_out + 2 * c_out
            flops = flops + _conv_flops(c_in, c_out, 1, 1, 1,
                                        1.0 / s) + c_out / s**2
        entropy = (
            _LOG(_SQRT(c_in**1)) + _LOG(_SQRT(1**2)) + _LOG(_SQRT(m**1)) +
            _LOG(_SQRT(k**2)) + _LOG(_SQRT(m**1)) + _LOG(_SQRT(1**2)))
        width = c_in * 1**2 * m * k**2 * m * 1**2
        layers = 3
    elif kind in (K1DWSEK1, K1DWK1):
        params = (c_in * m + 2 * m) + (m * k**2 + 2 * m) + (
            m * c_out + 2 * c_out)
        if kind == K1DWSEK1:
            q = se_squeeze_channels(m)
            params += (m * q + 2 * q) + (q * m + 2 * m)
        flops = (
            _conv_flops(c_in, m, 1, 1, 1, 1.0) +
            _conv_flops(m, m, k, s, m, 1.0) +
            _conv_flops(m, c_out, 1, 1, 1, 1.0 / s) + m + m / s**2 +
            c_out / s**2)
        if c_in == c_out and s == 2:
            flops += c_in
        entropy = (
            _LOG(_SQRT(c_in**1)) + _LOG(_SQRT(1**2)) + _LOG(_SQRT(k**2)) +
            _LOG(_SQRT(m**1)) + _LOG(_SQRT(1**2)))
        width = c_in * 1**2 * 1 * k**2 * m * 1**2
        layers = 3
    elif kind == KXKX:
        params = (c_in * m * k**2 + 2 * m) + (m * c_out * k**2 + 2 * c_out)
        flops = (
            _conv_flops(c_in, m, k, 1, 1, 1.0) +
            _conv_flops(m, c_out, k, s, 1, 1.0) + m + c_out / s**2)
        if s == 2:
            flops = flops + c_in
        if c_in != c_out:
            params += c_in * c_out + 2 * c_out
            flops = flops + _conv_flops(c_in, c_out, 1, 1, 1,
                                        1.0 / s) + c_out / s**2
        # Not defined by TinyNAS (ResKXKX has no
        # get_deepmad_forward/get_width).
        entropy = _LOG(_SQRT(c_in * k**2)) + _LOG(_SQRT(m * k**2))
        width = c_in * k**2 * m * k**2
        layers = 2
        exact = False
    else:  # pragma: no cover - guarded by the format module
        raise ValueError(f'unknown TinyNAS unit kind {kind!r}')
    return TinyNASUnit(
        block_index=index,
        kind=kind,
        in_channels=c_in,
        out_channels=c_out,
        mid_channels=m,
        kernel_size=k,
        stride=s,
        first=first,
        params=params,
        flops=flops,
        entropy=entropy,
        width=width,
        layers=layers,
        exact=exact)


def tinynas_blocks(
        structure: Sequence[Dict[str, Any]]) -> List[List[TinyNASUnit]]:
    """The units of every block of a (valid) TinyNAS structure, in order."""
    blocks = []
    for index, block in enumerate(structure):
        stride = block.get('s', 1)
        if block['class'] == PLAIN_CLASS:
            blocks.append([
                _plain_unit(index, block['in'], block['out'], block['k'],
                            stride)
            ])
            continue
        kind = _UNIT_OF_CLASS[block['class']]
        units = []
        for unit_index in range(block['L']):
            first = unit_index == 0
            units.append(
                _residual_unit(index, kind,
                               block['in'] if first else block['out'],
                               block['out'], block['btn'], block['k'],
                               stride if first else 1, first))
        blocks.append(units)
    return blocks


@dataclass(frozen=True)
class StageInfo:
    """TinyNAS's ``get_stage_info``: for each stage, the index of its last
    block, the cumulative number of units (B_s) and layers (D_s), its output
    channels (C_s) and the feature-map side the scorer uses (R_s)."""

    stage_idx: Tuple[int, ...]
    stage_block_num: Tuple[int, ...]
    stage_layer_num: Tuple[int, ...]
    stage_channels: Tuple[int, ...]
    stage_feature_map_size: Tuple[Union[int, float], ...]

    @property
    def num_stages(self) -> int:
        return len(self.stage_idx)

    def to_dict(self) -> Dict[str, List]:
        return {
            'stage_idx': list(self.stage_idx),
            'stage_block_num': list(self.stage_block_num),
            'stage_layer_num': list(self.stage_layer_num),
            'stage_channels': list(self.stage_channels),
            'stage_feature_map_size': list(self.stage_feature_map_size),
        }


def stage_info(structure: Sequence[Dict[str, Any]],
               resolution: Union[int, float] = TINYNAS_SCORE_RESOLUTION,
               blocks: Optional[List[List[TinyNASUnit]]] = None) -> StageInfo:
    """TinyNAS's stage boundaries of a structure (see :class:`StageInfo`)."""
    blocks = tinynas_blocks(structure) if blocks is None else blocks
    idx, block_num, layer_num, channels, sides = [], [], [], [], []
    unit_count = layer_count = channel = 0
    side = resolution
    last = len(structure) - 1
    for index, (block, units) in enumerate(zip(structure, blocks)):
        if block.get('s', 1) == 2 and index > 0:
            idx.append(index - 1)
            block_num.append(unit_count)
            layer_num.append(layer_count)
            channels.append(channel)
            sides.append(side)
        unit_count += len(units)
        channel = block['out']
        layer_count += sum(unit.layers for unit in units)
        for unit in units:
            side = unit.output_side(side)
        if index == last:
            idx.append(index)
            block_num.append(unit_count)
            layer_num.append(layer_count)
            channels.append(channel)
            sides.append(side)
    return StageInfo(
        tuple(idx), tuple(block_num), tuple(layer_num), tuple(channels),
        tuple(sides))


def depth_penalty(structure: Sequence[Dict[str, Any]],
                  beta: float = DEFAULT_BETA) -> float:
    """``beta * exp(std(L))`` over the super-blocks TinyNAS keeps: its rule
    is decided by the class of the *second* block (the first super-block;
    :func:`mmdeepmad.conventions.rules.penalised_stages`). ``beta == 0``
    gives 0."""
    depths = [int(block['L']) for block in structure if 'L' in block]
    second = structure[1]['class'] if len(structure) > 1 else None
    family = FAMILY_OF_CLASS.get(second, 'mbv2')
    if beta == 0:
        return 0.0
    return _depth_penalty(depths, beta, 'tinynas', family)


@dataclass(frozen=True)
class TinyNASEvaluation:
    """Everything TinyNAS computes for one structure.

    ``flops`` is at the image size, the score at ``score_resolution``.
    ``exact`` is False when the official code cannot compute the score and rho
    itself (ResKXKX units) and they are extended here."""

    params: int
    flops: float
    rho: float
    score: float
    depth_penalty: float
    penalised_score: float
    per_stage_score: Tuple[float, ...]
    stage_info: StageInfo
    image_size: Union[int, float] = 224
    budgets: Optional[Budgets] = None
    satisfies_budgets: Optional[bool] = None
    exact: bool = True
    units: Tuple[TinyNASUnit, ...] = field(default=(), repr=False)

    def satisfies(self, budgets: Optional[Budgets]) -> bool:
        """TinyNAS's ``is_satify_budget``: no value above its budget."""
        if budgets is None:
            return True
        return budgets.satisfied_by(self.flops, self.params, self.rho)

    def to_dict(self) -> Dict[str, Any]:
        data = {
            'params': self.params,
            'flops': self.flops,
            'rho': self.rho,
            'score': self.score,
            'depth_penalty': self.depth_penalty,
            'penalised_score': self.penalised_score,
            'per_stage_score': list(self.per_stage_score),
            'stage_info': self.stage_info.to_dict(),
            'image_size': self.image_size,
            'exact': self.exact,
        }
        if self.budgets is not None:
            data['budgets'] = self.budgets.to_dict()
            data['satisfies_budgets'] = self.satisfies_budgets
        return data


def _as_structure(arch) -> Tuple[List[Dict[str, Any]], Optional[int]]:
    if isinstance(arch, ArchSpec):
        return spec_to_tinynas(arch), arch.resolution
    if isinstance(arch, (list, tuple)):
        validate_structure(arch)
        spec_from_tinynas(arch)  # everything the spec can hold, nothing else
        return [dict(block) for block in arch], None
    raise SpecError('expected an ArchSpec or a TinyNAS structure (list of '
                    f'block dicts), got {type(arch).__name__}')


def evaluate_tinynas(
    arch: Union[ArchSpec, Sequence[Dict[str, Any]]],
    alpha: Optional[Sequence[float]] = None,
    beta: float = DEFAULT_BETA,
    budgets: Optional[Budgets] = None,
    *,
    image_size: Optional[Union[int, float]] = None,
    score_resolution: Union[int, float] = TINYNAS_SCORE_RESOLUTION
) -> TinyNASEvaluation:
    """Score and count a spec or a raw TinyNAS structure as TinyNAS does.

    ``alpha`` is the ``multi_block_ratio`` (one weight per stage, a 0 weight
    skips the stage; default 1, ..., 1, 8), ``beta`` the
    ``depth_penalty_ratio``. FLOPs are counted at ``image_size`` (default: the
    spec's resolution, 224 for a structure). Raises ``ValueError`` when the
    number of stages differs from ``len(alpha)`` (TinyNAS then scores -9999)
    or when a SuperResK1KXK1 network does not have five super-blocks (TinyNAS
    then fails)."""
    structure, spec_resolution = _as_structure(arch)
    if image_size is None:
        image_size = spec_resolution if spec_resolution is not None else 224
    blocks = tinynas_blocks(structure)
    units = tuple(unit for block in blocks for unit in block)

    # ---- budgets: model size and FLOPs (cnnnet.get_flops) ------------------
    params = sum(unit.params for unit in units)
    flops = 0.0
    side = image_size
    for block, block_units in zip(structure, blocks):
        block_flops = 0.0
        current = 1.0
        for unit in block_units:
            block_flops = block_flops + unit.flops * current**2
            current /= unit.stride
        flops += block_flops * side**2
        side /= block.get('s', 1)

    # ---- stages, score and effectiveness ----------------------------------
    info = stage_info(structure, score_resolution, blocks)
    alpha = default_alpha(info.num_stages) if alpha is None else tuple(alpha)
    if info.num_stages != len(alpha):
        raise ValueError(
            f'the structure has {info.num_stages} stages (boundaries before '
            'every stride-2 block after the stem, and at the end) but alpha '
            f'has {len(alpha)} weights; TinyNAS would score it -9999')
    entropies = [unit.entropy for unit in units]
    per_stage = []
    for stage, ratio in enumerate(alpha):
        if ratio == 0:
            per_stage.append(0.0)
            continue
        total = 0.0
        for position in range(info.stage_block_num[stage]):
            total += entropies[position]
        value = _LOG(info.stage_channels[stage])
        value = value + _LOG(info.stage_feature_map_size[stage]**2)
        value = value * total
        per_stage.append(value * ratio)
    per_stage_arr = np.array(per_stage) * 1
    score = float(np.sum(per_stage_arr))

    widths = [unit.width for unit in units]
    log_widths = []
    for stage in range(info.num_stages):
        total = 0.0
        for position in range(info.stage_block_num[stage]):
            total += _LOG(widths[position])
        log_widths.append(total)
    depth_arr = np.array(info.stage_layer_num)
    rho = float(
        np.max(np.exp(np.log(depth_arr) - np.array(log_widths) / depth_arr)))

    penalty = depth_penalty(structure, beta)
    evaluation = TinyNASEvaluation(
        params=int(params),
        flops=float(flops),
        rho=rho,
        score=score,
        depth_penalty=penalty,
        penalised_score=score - penalty,
        per_stage_score=tuple(float(v) for v in per_stage_arr),
        stage_info=info,
        image_size=image_size,
        budgets=budgets,
        satisfies_budgets=None,
        exact=all(unit.exact for unit in units),
        units=units)
    if budgets is not None:
        object.__setattr__(evaluation, 'satisfies_budgets',
                           evaluation.satisfies(budgets))
    return evaluation
