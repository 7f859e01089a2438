"""The latency profile: time sampled parts of a family's networks on the
device, fit the model, write the LUT.

**Parts.** A part (stem, one residual unit, head conv) is described by a
JSON-able dict:

* ``{'part': 'unit', 'block', 'style', 'act', 'side', 'in', 'mid', 'out',
  'kernel', 'stride', 'first', 'expand'}``: a residual unit reading an
  ``in x side x side`` map; ``first``: the first unit of its stage (a TinyNAS
  bottleneck projects there), otherwise in == out and stride 1; ``expand``
  (depthwise families): the 1x1 expansion conv is there;
* ``{'part': 'stem', 'style', 'act', 'resolution', 'out', 'kernel',
  'stride', 'max_pool'}``: the stem conv (and its max pool) on the image;
* ``{'part': 'head', 'block', 'style', 'act', 'side', 'in', 'out'}``: the
  1x1 head conv of the depthwise families;
* ``{'part': 'network', 'spec': {...}}``: a whole backbone (a few per
  profile: they tie the parts' sum to what a network takes, see
  :mod:`.fit`).

Each part is cut out of a small :class:`~mmdeepmad.models.DeepMAD` whose spec
holds it (:func:`part_spec`), so it is the module a whole network runs, and
its features are what :mod:`.terms` counts for it.

**Samples.** :func:`profile_samples` draws parts of the family's design space
at the sides that input resolutions 32..320 give: units of every stage (first
units with the stage's stride or the other one, rest units), most with the
widths of a plausible network (widths growing stage by stage, so wide at
small sides), the rest with widths drawn over the whole grid; stems; head
convs; and a few whole networks of the space. Widths are log-uniform, mid
widths within the ratio bounds, and a part above :data:`MAC_CAP`
multiply-accumulates (a network above :data:`NETWORK_CAP` times that) is
drawn again.

**Run.** :func:`run_profile` times the samples in groups, round-robin with
a fixed *canary* part (:func:`canary_part`, :class:`.measure.SteadyTimer`:
a group that other processes disturbed is timed again), appends each
finished sample to ``<out>.partial.jsonl`` (so that an interrupted run
resumes), measures the groups still disturbed once more at the end, then
fits (:mod:`.fit`) and writes the LUT (:mod:`.table`).
"""
from __future__ import annotations
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch.nn as nn

from mmdeepmad.arch.layout import NetworkLayout, build_layout
from mmdeepmad.arch.spec import (DEPTHWISE_FAMILIES, ArchSpec, HeadConvSpec,
                                 StageSpec, StemSpec)
from mmdeepmad.engine.errors import InputError
from .device import DeviceSettings, describe_device, device_mismatches
from .measure import (REPEATS, WARMUP, BackgroundLoad, SteadyTimer,
                      apply_threads, deployed, make_input, place, time_modules)
from .terms import (Features, head_features, network_features, stage_sides,
                    stem_features, unit_features)

Part = Dict[str, Any]

#: Input resolutions whose sides the profile samples.
RESOLUTIONS = (32, 64, 96, 128, 160, 192, 224, 256, 288, 320)
#: Samples of the default profile (about 5 minutes at batch 1 on 2 cores).
DEFAULT_SAMPLES = 1500
#: Most multiply-accumulates of one image through a sampled part; at batch B
#: at most :data:`BATCH_MAC_CAP` / B (about a second per forward or less).
MAC_CAP = 1.5e9
BATCH_MAC_CAP = 2.4e10
#: Samples timed together (round-robin) and written together.
GROUP = 8
#: Shares of the samples: stems, head convs (depthwise families), units
#: first in their stage, units with torchvision's layout, units with the
#: widths of a plausible network (the rest: widths over the whole grid).
STEM_SHARE, HEAD_SHARE, FIRST_SHARE = 0.04, 0.04, 0.45
#: Share of whole networks among the samples, the most multiply-accumulates
#: of one (times the part cap) and the most units a stage has in them.
NETWORK_SHARE_OF_SAMPLES, NETWORK_CAP, NETWORK_DEPTH = 0.03, 3.0, 16
TORCHVISION_SHARE, NETWORK_SHARE = 0.25, 0.7
#: Width of a plausible network's first stage (log-uniform range) and the
#: growth of the width from stage to stage.
FIRST_WIDTHS = {
    'bottleneck': (32, 320),
    'basic': (16, 192),
    'mbv2': (16, 160),
    'mbv2-se': (16, 160),
}
GROWTH = (1.0, 2.5)
#: Head conv widths of the depthwise networks (1792 in the design space).
HEAD_WIDTHS = (1792, 1792, 1792, 1280, 2048, 2560)

PARTIAL_FORMAT = 'mmdeepmad-latency-partial'


class ProfileError(InputError, ValueError):
    """A profile that cannot start or resume as asked."""


# ---- parts ------------------------------------------------------------------
def family_act(block: str) -> str:
    """The activation the design space gives a family (as
    :meth:`SearchSpace.to_spec`)."""
    return 'silu' if block == 'mbv2-se' else 'relu'


def part_spec(part: Part) -> ArchSpec:
    """A spec whose network holds ``part``: a unit is the first (or second)
    unit of its one stage, the stem is the stem, the head conv the head
    conv."""
    kind = part['part']
    if kind == 'network':
        return ArchSpec.from_dict(part['spec'])
    common = dict(style=part['style'], act=part['act'])
    if kind == 'unit':
        first = bool(part['first'])
        if not first and (part['in'] != part['out'] or part['stride'] != 1):
            raise ValueError('a unit that is not the first of its stage has '
                             f'in == out and stride 1, got {part}')
        stage = StageSpec(
            block=part['block'],
            out_channels=part['out'],
            mid_channels=part['mid'],
            kernel_size=part['kernel'],
            depth=1 if first else 2,
            stride=part['stride'],
            expand_conv=bool(part.get('expand', True)))
        return ArchSpec(
            stem=StemSpec(out_channels=part['in'], kernel_size=1, stride=1),
            stages=(stage, ),
            resolution=part['side'],
            **common)
    if kind == 'stem':
        stage = StageSpec(
            block='bottleneck',
            out_channels=8,
            mid_channels=8,
            kernel_size=1,
            depth=1,
            stride=1)
        return ArchSpec(
            stem=StemSpec(
                out_channels=part['out'],
                kernel_size=part['kernel'],
                stride=part['stride'],
                max_pool=bool(part['max_pool'])),
            stages=(stage, ),
            resolution=part['resolution'],
            **common)
    if kind == 'head':
        stage = StageSpec(
            block=part['block'],
            out_channels=part['in'],
            mid_channels=part['in'],
            kernel_size=1,
            depth=1,
            stride=1)
        return ArchSpec(
            stem=StemSpec(out_channels=part['in'], kernel_size=1, stride=1),
            stages=(stage, ),
            head_conv=HeadConvSpec(out_channels=part['out']),
            resolution=part['side'],
            **common)
    raise ValueError(f'unknown part {kind!r} (unit, stem or head)')


def part_features(part: Part,
                  layout: Optional[NetworkLayout] = None) -> Features:
    """The part's ``(kind, side, value)`` terms, counted by :mod:`.terms`."""
    layout = layout or build_layout(part_spec(part))
    kind = part['part']
    if kind == 'network':
        return [term for _, features in network_features(layout)
                for term in features]
    if kind == 'unit':
        return unit_features(layout.units[0 if part['first'] else 1])
    if kind == 'stem':
        return stem_features(layout)
    return head_features(layout.head_conv)


def part_macs(part: Part) -> float:
    """Multiply-accumulates of one image through the part."""
    return float(
        sum(value for kind, _, value in part_features(part)
            if kind not in ('memory', 'overhead')))


def build_part(part: Part) -> Tuple[nn.Module, Tuple[int, ...], Features]:
    """``(module, input shape without the batch, features)``; the module is
    not deployed yet (:func:`.measure.deployed`)."""
    from mmdeepmad.models import DeepMAD
    model = DeepMAD(arch=part_spec(part))
    features = part_features(part, model.layout)
    kind = part['part']
    if kind == 'network':
        spec = model.arch_spec
        return model, (spec.in_channels, spec.resolution,
                       spec.resolution), features
    if kind == 'unit':
        module = model.stage1[0 if part['first'] else 1]
        shape = (part['in'], part['side'], part['side'])
    elif kind == 'stem':
        module = nn.Sequential(model.stem)
        if model.stem_pool is not None:
            module.append(model.stem_pool)
        shape = (model.arch_spec.in_channels, part['resolution'],
                 part['resolution'])
    else:
        module = model.head_conv
        shape = (part['in'], part['side'], part['side'])
    return module, shape, features


# ---- samples ----------------------------------------------------------------
def _log_uniform(rng, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _width(value: float, space, low: Optional[int] = None) -> int:
    """``value`` on the space's width grid, within its channel bounds."""
    step = space.width_multiple
    low = space.channels[0] if low is None else low
    width = int(round(value / step)) * step
    return int(min(max(width, low), space.channels[1]))


def _mid(rng, space, out: int) -> int:
    low, high = space.mid_bounds(np.asarray([out]))
    low, high = int(low[0]), max(int(high[0]), int(low[0]))
    step = space.width_multiple
    mid = int(round(_log_uniform(rng, low, high) / step)) * step
    return int(min(max(mid, low), high))


def _network_widths(rng, space) -> List[int]:
    """Stem and stage widths of a plausible network: the first stage's
    width log-uniform, growing by a log-uniform factor each stage."""
    low, high = FIRST_WIDTHS[space.block]
    widths = [_width(_log_uniform(rng, *space.stem_channels), space,
                     space.stem_channels[0])]
    width = _log_uniform(rng, low, high)
    for _ in space.strides:
        widths.append(_width(width, space))
        width *= _log_uniform(rng, *GROWTH)
    for i in range(2, len(widths)):  # non-decreasing, as the space wants
        widths[i] = max(widths[i], widths[i - 1])
    return widths


def _unit_sample(rng, space, resolutions, style: str) -> Part:
    resolution = int(rng.choice(resolutions))
    _, sides = stage_sides(resolution, space.stem_stride, space.strides)
    stage = int(rng.integers(len(space.strides)))
    first = bool(rng.random() < FIRST_SHARE)
    if rng.random() < NETWORK_SHARE:
        widths = _network_widths(rng, space)
        width_in, out = widths[stage], widths[stage + 1]
    else:
        width_in = _width(_log_uniform(rng, 8, space.channels[1]), space)
        out = _width(_log_uniform(rng, 8, space.channels[1]), space)
    side, stride = sides[stage][0], space.strides[stage]
    if not first:
        width_in, side, stride = out, sides[stage][1], 1
    elif rng.random() < 0.2:  # the other stride (classic layouts)
        stride = 3 - stride
    part = dict(
        part='unit',
        block=space.block,
        style=style,
        act=family_act(space.block),
        side=int(side),
        **{'in': int(width_in)},
        mid=_mid(rng, space, out),
        out=int(out),
        kernel=int(rng.choice(space.kernels)),
        stride=int(stride),
        first=first)
    if space.block in DEPTHWISE_FAMILIES:
        # MobileNetV2's first unit has no expansion (its mid is its input)
        part['expand'] = not (first and rng.random() < 0.05)
        if not part['expand']:
            part['mid'] = part['in']
    return part


def _stem_sample(rng, space, resolutions, style: str) -> Part:
    resolution = int(rng.choice(resolutions))
    classic = space.block not in DEPTHWISE_FAMILIES and rng.random() < 0.2
    out = 64 if classic else _width(
        _log_uniform(rng, *space.stem_channels), space, space.stem_channels[0])
    return dict(
        part='stem',
        style=style,
        act=family_act(space.block),
        resolution=resolution,
        out=int(out),
        kernel=7 if classic else space.stem_kernel,
        stride=space.stem_stride,
        max_pool=classic)


def _head_sample(rng, space, resolutions, style: str) -> Part:
    resolution = int(rng.choice(resolutions))
    _, sides = stage_sides(resolution, space.stem_stride, space.strides)
    return dict(
        part='head',
        block=space.block,
        style=style,
        act=family_act(space.block),
        side=int(sides[-1][1]),
        **{'in': _width(_log_uniform(rng, 64, space.channels[1]), space)},
        out=int(rng.choice(HEAD_WIDTHS)))


def _network_sample(rng, space, resolutions, style: str) -> Part:
    """A whole network of the space at one of the resolutions: plausible
    widths, log-uniform depths."""
    widths = _network_widths(rng, space)
    stages = len(space.strides)
    caps = np.minimum(space.max_depths, NETWORK_DEPTH)
    depth = [int(round(_log_uniform(rng, 1, cap + 0.49))) for cap in caps]
    resolution = int(rng.choice(resolutions))
    spec = space.with_(resolution=resolution, style=style).to_spec(
        widths[0], widths[1:], [_mid(rng, space, w) for w in widths[1:]],
        rng.choice(space.kernels, stages), depth)
    return dict(part='network', spec=spec.to_dict())


def profile_samples(block: str,
                    samples: int = DEFAULT_SAMPLES,
                    seed: int = 0,
                    resolutions: Sequence[int] = RESOLUTIONS,
                    mac_cap: float = MAC_CAP) -> List[Part]:
    """``samples`` parts of ``block``'s design space (see the module
    docstring), the same for the same arguments."""
    from mmdeepmad.design.search_space import SearchSpace
    if samples < 1:
        raise ProfileError(f'samples must be positive, got {samples}')
    smallest = min(resolutions)
    if smallest < 32:
        raise ProfileError(
            f'resolutions must be at least 32 (the total stride), got '
            f'{smallest}')
    space = SearchSpace.for_block(block)
    rng = np.random.default_rng(seed)
    head = HEAD_SHARE if space.head_channels else 0.0
    parts = []
    for _ in range(samples):
        draw = rng.random()
        style = 'torchvision' if rng.random() < TORCHVISION_SHARE \
            else 'tinynas'
        cap = mac_cap
        if draw < STEM_SHARE:
            sample = _stem_sample
        elif draw < STEM_SHARE + head:
            sample = _head_sample
        elif draw < STEM_SHARE + head + NETWORK_SHARE_OF_SAMPLES:
            sample, cap = _network_sample, NETWORK_CAP * mac_cap
        else:
            sample = _unit_sample
        for _ in range(1000):
            part = sample(rng, space, resolutions, style)
            if part_macs(part) <= cap:
                break
        else:
            raise ProfileError(
                f'no {part["part"]} of {block} at resolutions '
                f'{list(resolutions)} stays within {mac_cap:g} MACs; '
                'raise the cap')
        parts.append(part)
    return parts


# ---- the run ----------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """Where a profile run is: ``done`` of ``total`` samples measured
    (``resumed`` of them by an earlier run), the last part measured, the
    seconds since this run started, the estimated seconds left and the
    cores other processes kept busy while the last group was timed
    (``None`` where unknown)."""

    done: int
    total: int
    resumed: int
    part: Optional[Part]
    elapsed: float
    eta: float
    background: Optional[float] = None
    #: ``measure``, or ``again`` while groups whose timing other processes
    #: disturbed are measured again (``done`` and ``total`` count groups)
    stage: str = 'measure'


def partial_path(out_path: str) -> str:
    return f'{out_path}.partial.jsonl'


def profile_header(block: str, settings: DeviceSettings, samples: int,
                   seed: int, warmup: int, repeats: int,
                   resolutions: Sequence[int],
                   mac_cap: float) -> Dict[str, Any]:
    """The first line of the partial file: what the run measures."""
    return dict(
        format=PARTIAL_FORMAT,
        block=block,
        samples=samples,
        seed=seed,
        warmup=warmup,
        repeats=repeats,
        resolutions=[int(r) for r in resolutions],
        mac_cap=float(mac_cap),
        device=describe_device(settings))


#: How messages name the header's fields.
_OPTION_NAMES = {
    'format': 'the file format',
    'block': '--block',
    'samples': '--samples',
    'seed': '--seed',
    'warmup': '--warmup',
    'repeats': '--repeats',
    'resolutions': '--resolutions',
    'mac_cap': 'the MAC cap',
    'device': '--device',
    'batch': '--batch',
    'threads': '--threads',
    'dtype': '--dtype',
    'channels_last': '--channels-last',
    'name': 'the device model',
    'torch': 'the torch version',
}


def header_differences(recorded: Dict[str, Any],
                       current: Dict[str, Any]) -> List[str]:
    """``'--samples: 2000 in the partial file, 1000 now'`` for every field
    that differs."""
    found = []
    for key, value in current.items():
        if key == 'device':
            continue
        if recorded.get(key) != value:
            found.append((key, recorded.get(key), value))
    found += device_mismatches(recorded.get('device') or {},
                               current['device'])
    return [
        f'{_OPTION_NAMES.get(key, key)}: {old!r} in the partial file, '
        f'{new!r} now' for key, old, new in found
    ]


def read_partial(path: str, header: Dict[str, Any],
                 parts: Sequence[Part]) -> List[Dict[str, Any]]:
    """The finished samples of a partial file written with ``header`` (a
    sample measured again replaces its first line); a file written with
    other arguments is refused, naming what differs. A torn last line (the
    run was killed while writing) is dropped."""
    with open(path, encoding='utf-8') as handle:
        lines = handle.read().splitlines()
    try:
        recorded = json.loads(lines[0])['header']
    except (IndexError, ValueError, KeyError, TypeError):
        raise ProfileError(
            f'{path} is not a partial profile (its first line is not a '
            'header); delete it or add --restart') from None
    differences = header_differences(recorded, header)
    if differences:
        raise ProfileError(
            f'{path} holds a profile started with other arguments ('
            + '; '.join(differences) + '): re-run with the same arguments '
            'to resume it, or add --restart to start over (its measured '
            'samples are discarded)')
    records = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                break  # torn last line
            raise ProfileError(
                f'{path} line {number} is not JSON; add --restart to start '
                'over') from None
        index = record.get('index') if isinstance(record, dict) else None
        known = isinstance(index, int) and 0 <= index <= len(records) \
            and index < len(parts) and record.get('part') == parts[index]
        if not known:
            raise ProfileError(
                f'{path} line {number} is not a sample of this profile '
                '(written by another version?); add --restart to start '
                'over')
        if index == len(records):
            records.append(record)
        else:  # measured again (its first timing was disturbed)
            records[index] = record
    return records


def _write_lines(path: str, lines: Sequence[str]) -> None:
    """Replace ``path`` by ``lines`` atomically."""
    temp = f'{path}.tmp'
    with open(temp, 'w', encoding='utf-8') as handle:
        handle.writelines(line + '\n' for line in lines)
    os.replace(temp, path)


def canary_part(block: str) -> Part:
    """The reference part timed in every group of a profile (a mid-sized
    unit at side 14): its time tracks the machine's speed, which drifts
    while other processes or virtual machines load it; each group's times
    are scaled by it (:func:`.fit.calibrated_seconds`)."""
    from mmdeepmad.design.search_space import SearchSpace
    space = SearchSpace.for_block(block)
    width, mid = (96, 576) if block in DEPTHWISE_FAMILIES else (512, 128)
    part = dict(
        part='unit',
        block=block,
        style=space.style,
        act=family_act(block),
        side=14,
        **{'in': width},
        mid=mid,
        out=width,
        kernel=3,
        stride=1,
        first=False)
    if block in DEPTHWISE_FAMILIES:
        part['expand'] = True
    return part


def measure_parts(parts: Sequence[Part],
                  settings: DeviceSettings,
                  warmup: int = WARMUP,
                  repeats: int = REPEATS,
                  seed: int = 0,
                  timer: Optional[SteadyTimer] = None
                  ) -> List[Tuple[Features, float]]:
    """``(features, seconds)`` of each part, timed round-robin (by
    ``timer`` if given: then the last part is its canary)."""
    pairs, features = [], []
    for part in parts:
        module, shape, counted = build_part(part)
        module = place(deployed(module), settings)
        pairs.append((module, make_input((settings.batch, ) + shape,
                                         settings)))
        features.append(counted)
    if timer is not None:
        seconds = timer(pairs, seed=seed)
    else:
        seconds = time_modules(pairs, settings, warmup, repeats, seed=seed)
    return list(zip(features, seconds))


def disturbed_groups(records: Sequence[Dict[str, Any]]) -> List[List[int]]:
    """Indices of the samples timed together, per group whose canary took
    more than :data:`.fit.DISTURBED` times its median."""
    from .fit import DISTURBED
    if not records:
        return []
    limit = DISTURBED * float(np.median([r['canary'] for r in records]))
    groups: Dict[int, List[int]] = {}
    for index, record in enumerate(records):
        if record['canary'] > limit:
            groups.setdefault(index // GROUP, []).append(index)
    return list(groups.values())


def sample_record(index: int, part: Part, features: Features,
                  seconds: float, canary: float) -> Dict[str, Any]:
    """One line of the partial file: the part, its features, its seconds
    and the seconds of the canary timed with it."""
    return dict(
        index=index,
        part=part,
        features=[[kind, int(side), float(value)]
                  for kind, side, value in features],
        seconds=float(seconds),
        canary=float(canary))


def run_profile(block: str,
                settings: DeviceSettings,
                samples: int = DEFAULT_SAMPLES,
                out_path: str = 'latency_lut.json',
                seed: int = 0,
                warmup: int = WARMUP,
                repeats: int = REPEATS,
                progress: Optional[Callable[[Progress], None]] = None,
                restart: bool = False,
                resolutions: Sequence[int] = RESOLUTIONS,
                mac_cap: Optional[float] = None):
    """Measure the profile's samples (resuming ``<out>.partial.jsonl`` if a
    run with the same arguments left one), fit, write the LUT to
    ``out_path`` atomically and remove the partial file. Returns the
    :class:`~.table.LatencyTable`.

    ``mac_cap`` (default: :data:`MAC_CAP`, at most :data:`BATCH_MAC_CAP`
    / batch) bounds a sample's multiply-accumulates per image."""
    from .fit import fit_samples
    from .table import LatencyTable, save_lut
    if warmup < 0 or repeats < 1:
        raise ProfileError(f'warmup must be >= 0 and repeats >= 1, got '
                           f'{warmup} and {repeats}')
    apply_threads(settings)
    if mac_cap is None:
        mac_cap = min(MAC_CAP, BATCH_MAC_CAP / settings.batch)
    parts = profile_samples(block, samples, seed, resolutions, mac_cap)
    header = profile_header(block, settings, samples, seed, warmup, repeats,
                            resolutions, mac_cap)
    partial = partial_path(out_path)
    records: List[Dict[str, Any]] = []
    if os.path.exists(partial) and not restart:
        records = read_partial(partial, header, parts)
    lines = [json.dumps(dict(header=header))]
    lines += [json.dumps(record) for record in records]
    _write_lines(partial, lines)
    resumed, start = len(records), time.perf_counter()
    canary = canary_part(block)
    load = BackgroundLoad()
    timer = SteadyTimer(
        settings,
        warmup,
        repeats,
        reference=min((r['canary'] for r in records), default=None))

    def measure(indices: Sequence[int], handle) -> None:
        group = [parts[i] for i in indices]
        *measured, (_, canary_seconds) = measure_parts(
            group + [canary], settings, seed=indices[0], timer=timer)
        for index, (features, seconds) in zip(indices, measured):
            record = sample_record(index, parts[index], features, seconds,
                                   canary_seconds)
            if index < len(records):
                records[index] = record
            else:
                records.append(record)
            handle.write(json.dumps(record) + '\n')
        handle.flush()

    with open(partial, 'a', encoding='utf-8') as handle:
        for first in range(resumed, samples, GROUP):
            group_load = BackgroundLoad()
            measure(range(first, min(first + GROUP, samples)), handle)
            if progress is not None:
                elapsed = time.perf_counter() - start
                done = len(records)
                rate = elapsed / max(done - resumed, 1)
                progress(
                    Progress(done, samples, resumed, parts[done - 1],
                             elapsed, rate * (samples - done),
                             group_load.cores()))
        again = disturbed_groups(records)
        for count, indices in enumerate(again, start=1):
            if not timer.allowed:
                break
            group_load = BackgroundLoad()
            measure(indices, handle)
            if progress is not None:
                progress(
                    Progress(count, len(again), resumed,
                             parts[indices[-1]],
                             time.perf_counter() - start, 0.0,
                             group_load.cores(), 'again'))
    samples = [lut_sample(record) for record in records]
    model, report = fit_samples(samples)
    report.update(
        background_cores=load.cores(),
        retried_groups=timer.retry_count,
        waited_seconds=timer.extra,
        canary=canary)
    table = LatencyTable(
        block=block,
        device=header['device'],
        model=model,
        fit=report,
        samples=samples)
    save_lut(table, out_path)
    os.remove(partial)
    return table


def lut_sample(record: Dict[str, Any]) -> Dict[str, Any]:
    """A measured sample as the LUT stores it: the part's description with
    its features and seconds."""
    return dict(
        record['part'],
        features=record['features'],
        seconds=record['seconds'],
        canary=record['canary'])
