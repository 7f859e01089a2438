"""One call from budgets to a designed architecture.

``design(...)`` builds the search space from plain options, solves Eq. 5 and
returns a :class:`~mmdeepmad.design.solver.DesignResult`; ``design_arch(...)``
returns just the spec (what the backbone's ``arch=dict(flops=..., ...)`` uses).
"""
from __future__ import annotations
import difflib
import inspect
import math
import numbers
from typing import Any, Optional, Sequence, Tuple

from mmdeepmad.arch.spec import (BLOCK_FAMILIES, DEPTHWISE_FAMILIES,
                                 MAX_CHANNELS, MAX_DEPTH, MAX_KERNEL,
                                 MAX_RESOLUTION, MAX_STAGES, ArchSpec,
                                 SpecError, check_resolution)
from mmdeepmad.conventions import (CONVENTIONS, DEFAULT_BETA, evaluate,
                                   scored_stage_count)
from mmdeepmad.conventions.budgets import Budgets
from .defaults import DEFAULT_DESIGN, DEFAULT_RHO
from .search_space import DEFAULT_STRIDES, SearchSpace
from .solver import DesignResult, solve
from .units import (UnitError, check_alpha, parse_budget, parse_budgets,
                    parse_latency, parse_throughput)


def _integer(value: Any,
             name: str,
             low: int = 1,
             high: Optional[int] = None,
             what: str = '') -> int:
    """An integer option in ``[low, high]`` (a bool or a float is refused,
    so is a string: ``resolution='224'`` is a mistake, not a number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(f'{name} must be an integer, got {value!r}')
    value = int(value)
    if value < low:
        raise SpecError(f'{name} must be at least {low}, got {value}')
    if high is not None and value > high:
        raise SpecError(f'{name} is {value}, above the limit {high}'
                        f'{" " + what if what else ""} (no real network '
                        'reaches it)')
    return value


def default_strides(block: str, stages: int) -> Tuple[int, ...]:
    """The releases' pattern for 5 stages; otherwise every stage halves the
    side (the first depthwise stage keeps it, as MobileNetV2's does)."""
    if stages == 5:
        return DEFAULT_STRIDES[block]
    if block in DEPTHWISE_FAMILIES:
        return (1, ) + (2, ) * (stages - 1)
    return (2, ) * stages


def make_space(block: str = DEFAULT_DESIGN['block'],
               convention: str = DEFAULT_DESIGN['convention'],
               resolution: int = DEFAULT_DESIGN['resolution'],
               stages: int = DEFAULT_DESIGN['stages'],
               strides: Optional[Sequence[int]] = None,
               kernels: Optional[Sequence[int]] = None,
               width_multiple: int = DEFAULT_DESIGN['width_multiple'],
               max_depth: Optional[int] = None,
               max_channels: Optional[int] = None,
               head_channels: Optional[int] = None,
               non_decreasing: bool = True) -> SearchSpace:
    """The search space for a family: the official configs' space
    (``docs/conventions.md``) under ``tinynas``; under ``paper`` the same
    without TinyNAS's first-stage depth cap of 3."""
    if block not in BLOCK_FAMILIES:
        raise SpecError(f'block must be one of {", ".join(BLOCK_FAMILIES)}; '
                        f'got {block!r}')
    if convention not in CONVENTIONS:
        raise SpecError(f'convention must be one of {", ".join(CONVENTIONS)};'
                        f' got {convention!r}')
    stages = _integer(stages, 'stages', 1, MAX_STAGES)
    resolution = _integer(resolution, 'resolution', 1, MAX_RESOLUTION,
                          'pixels')
    width_multiple = _integer(width_multiple, 'width_multiple', 1,
                              MAX_CHANNELS)
    if isinstance(strides, (str, bytes)):
        raise SpecError(f'strides must be a list of 1s and 2s, got '
                        f'{strides!r}')
    strides = tuple(strides) if strides is not None else default_strides(
        block, stages)
    if len(strides) != stages:
        raise SpecError(f'strides gives {len(strides)} values for {stages} '
                        'stages; give one stride per stage')
    if any(isinstance(s, bool) or s not in (1, 2) for s in strides):
        raise SpecError(f'strides must be 1 or 2, got {list(strides)}')
    strides = tuple(int(s) for s in strides)
    base = SearchSpace.for_block(block)
    check_resolution(
        resolution, (base.stem_stride, ) + strides,
        steps=f'stem {base.stem_stride}, '
        f'stages {",".join(map(str, strides))}')
    overrides = dict(
        strides=strides,
        resolution=resolution,
        width_multiple=width_multiple,
        non_decreasing=non_decreasing)
    if kernels is not None:
        if isinstance(kernels, (str, bytes)) or not kernels:
            raise SpecError(f'kernels must be a list of odd sizes such as '
                            f'(3, 5), got {kernels!r}')
        kernels = tuple(
            _integer(k, 'kernels entry', 1, MAX_KERNEL) for k in kernels)
        even = [k for k in kernels if k % 2 == 0]
        if even:
            raise SpecError(f'kernels entry {even[0]} is even; kernels must '
                            'be odd, e.g. (3, 5)')
        overrides['kernels'] = kernels
    if convention == 'paper':
        overrides['depth_caps'] = (None, ) * stages
    else:
        caps = tuple(base.depth_caps) + (None, ) * stages
        overrides['depth_caps'] = caps[:stages]
    if max_depth is not None:
        max_depth = _integer(max_depth, 'max_depth', 1, MAX_DEPTH,
                             'units per stage')
        overrides['depth'] = (1, max_depth)
    if max_channels is not None:
        max_channels = _integer(max_channels, 'max_channels', 1, MAX_CHANNELS,
                                'channels')
        overrides['channels'] = (base.channels[0], max_channels)
    if head_channels is not None:
        head_channels = _integer(head_channels, 'head_channels', 0,
                                 MAX_CHANNELS, 'channels')
        overrides['head_channels'] = head_channels or None
    return SearchSpace.for_block(block, **overrides)


def design(block: str = DEFAULT_DESIGN['block'],
           flops: Optional[float] = None,
           params: Optional[float] = None,
           rho: Optional[float] = None,
           resolution: int = DEFAULT_DESIGN['resolution'],
           convention: str = DEFAULT_DESIGN['convention'],
           alpha: Optional[Sequence[float]] = None,
           beta: float = DEFAULT_BETA,
           stages: int = DEFAULT_DESIGN['stages'],
           strides: Optional[Sequence[int]] = None,
           kernels: Optional[Sequence[int]] = None,
           width_multiple: int = DEFAULT_DESIGN['width_multiple'],
           max_depth: Optional[int] = None,
           head_channels: Optional[int] = None,
           name: str = '',
           command: Optional[str] = None,
           progress=None,
           latency=None,
           throughput=None,
           lut=None,
           certify: Optional[float] = None) -> DesignResult:
    """Solve Eq. 5 for the budgets and return a verified design: its arch
    JSON reads back as the same spec and the convention's reference counts it
    to the solver's figures, within every budget (:func:`verify_round_trip`).

    FLOPs, params and rho must be given together (a caller without its own
    takes them from :data:`DEFAULT_DESIGN`), unless there is a device budget:
    ``latency`` (seconds, or ``'20ms'``) or ``throughput`` (images per
    second at the LUT's batch), with ``lut`` (a profiled LUT file or
    :class:`~mmdeepmad.latency.table.LatencyTable`); then FLOPs and params
    are optional and rho defaults to the family's (:data:`DEFAULT_RHO`).

    ``certify`` (seconds) proves a bound on the best score of the whole
    discrete space (:func:`mmdeepmad.design.certificate.certify`); a better
    design its search meets becomes the answer, and ``meta.certificate``
    records ``{bound, gap, seconds, status}``."""
    table = None
    try:
        if latency is not None or throughput is not None or lut is not None:
            table = _latency_table(lut, block, latency, throughput)
            if latency is not None:
                latency = parse_latency(latency, 'latency')
            else:
                throughput = parse_throughput(throughput, 'throughput')
                latency = table.device['batch'] / throughput
            flops = None if flops is None else parse_budget('flops', flops)
            params = None if params is None else parse_budget('params', params)
            rho = DEFAULT_RHO.get(block, 0.3) if rho is None else \
                parse_budget('rho', rho)
        else:
            flops, params, rho = parse_budgets(flops, params, rho)
        if alpha is not None:
            alpha = check_alpha(alpha)
    except UnitError as error:
        raise SpecError(str(error)) from None
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or \
            not math.isfinite(beta) or beta < 0:
        raise SpecError(f'beta must be a finite, non-negative number, got '
                        f'{beta!r}')
    if not isinstance(name, str):
        raise SpecError(f'name must be a string, got {name!r}')
    if certify is not None and (isinstance(certify, bool)
                                or not isinstance(certify, numbers.Real) or
                                not certify > 0 or not math.isfinite(certify)):
        raise SpecError(f'certify must be a positive number of seconds, got '
                        f'{certify!r}')
    space = make_space(
        block=block,
        convention=convention,
        resolution=resolution,
        stages=stages,
        strides=strides,
        kernels=kernels,
        width_multiple=width_multiple,
        max_depth=max_depth,
        head_channels=head_channels)
    if alpha is not None:
        scored = scored_stage_count(space.strides, convention)
        if len(alpha) != scored:
            raise SpecError(
                f'alpha gives {len(alpha)} weights; the {convention} '
                f'convention scores {scored} stages here, so give {scored}, '
                'e.g. ' + ','.join(['1'] * (scored - 1) + ['8']))
    beta = float(beta)
    budgets = Budgets(flops=flops, params=params, rho=rho, latency=latency)
    model = table.model if table is not None else None
    result = solve(
        space,
        budgets,
        convention=convention,
        alpha=alpha,
        beta=beta,
        progress=progress,
        latency=model)
    meta = dict(
        budgets=budgets.to_dict(),
        convention=convention,
        block=block,
        alpha=list(alpha) if alpha is not None else None,
        beta=beta)
    certificate = None
    if certify is not None:
        result, certificate = certified(result, space,
                                        budgets, convention, alpha, beta,
                                        float(certify), model, progress)
        meta['certificate'] = certificate.to_meta()
    if table is not None:
        meta['latency'] = latency_meta(table, latency, result.latency,
                                       throughput)
    if command:
        meta['command'] = command
    result.spec = result.spec.replace(name=name, meta=meta)
    result.evaluation = verify_round_trip(result, alpha, beta, model)
    return result


def certified(result: DesignResult,
              space,
              budgets,
              convention,
              alpha,
              beta,
              seconds: float,
              latency=None,
              progress=None):
    """``(result, certificate)``: the certificate of ``result`` and, when
    its search met a better design, that design as the result (counted and
    verified as every design is)."""
    import dataclasses
    import time

    from .certificate import certify
    from .solver import verified_figures
    say = progress or (lambda message: None)
    say(f'certifying: branch and bound over the whole space for up to '
        f'{seconds:g} s')
    started = time.perf_counter()
    certificate = certify(
        space,
        budgets,
        convention,
        alpha,
        beta,
        incumbent=result.spec,
        seconds=seconds,
        latency=latency,
        progress=progress)
    if certificate.design is not None and certificate.score > result.score:
        spec = space.to_spec(*certificate.design.row(0))
        result = dataclasses.replace(
            result,
            **verified_figures(spec, budgets, convention,
                               result.evaluation.alpha, beta, latency),
            status=result.status + '; a better design found by the '
            'certificate\'s branch and bound')
    result.solve_time += time.perf_counter() - started
    say(f'certificate: bound {certificate.bound:.4f}, gap '
        f'{100 * certificate.gap:.3f}% ({certificate.status})')
    return result, certificate


def _latency_table(lut, block: str, latency, throughput):
    """The LUT of a device budget, checked against the design's family."""
    if lut is None:
        raise UnitError('a latency or throughput budget needs lut: a LUT '
                        'file profiled on the device (python '
                        'tools/analysis/profile_latency.py --block '
                        f'{block} --out LUT.json)')
    if latency is None and throughput is None:
        raise UnitError('lut is given but no latency or throughput budget; '
                        "give one, e.g. latency='20ms'")
    if latency is not None and throughput is not None:
        raise UnitError('give a latency or a throughput budget, not both')
    from mmdeepmad.latency.table import LatencyTable, LutError, load_lut
    if not isinstance(lut, LatencyTable):
        try:
            lut = load_lut(lut)
        except LutError as error:
            raise UnitError(str(error)) from None
    if lut.block != block:
        raise UnitError(f'the LUT was profiled for {lut.block} units; this '
                        f'design has {block} units: profile {block} '
                        '(tools/analysis/profile_latency.py --block '
                        f'{block})')
    return lut


def latency_meta(table,
                 budget: float,
                 predicted: float,
                 throughput: Optional[float] = None) -> dict:
    """``meta.latency`` of a design: the budget and the prediction in ms, the
    device the LUT was profiled on (its batch: a throughput budget is
    ``batch / latency``)."""
    meta = dict(
        budget_ms=round(budget * 1e3, 6),
        predicted_ms=round(predicted * 1e3, 6),
        device=table.device.get('name'),
        batch=table.device.get('batch'))
    if throughput is not None:
        meta['throughput_budget'] = throughput
    return meta


def verify_round_trip(result: DesignResult, alpha, beta, latency=None):
    """The design as a user gets it: its arch JSON read back must be the same
    spec and the same bytes, counted again by the convention's reference it
    must give the solver's figures and meet the budgets. Returns that
    :class:`~mmdeepmad.conventions.Evaluation`; raises AssertionError (an
    internal error: such a design is never returned) otherwise."""
    text = result.spec.to_json()
    spec = ArchSpec.from_json(text)
    if spec != result.spec or spec.to_json() != text:
        raise AssertionError('internal error: the arch JSON does not read '
                             'back as the design')
    exact = evaluate(spec, result.convention, alpha=alpha, beta=beta)
    for key in ('flops', 'params', 'rho', 'score'):
        ours, theirs = exact.figure(key), float(getattr(result, key))
        if not math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9):
            raise AssertionError(
                f'internal error: the design\'s {key} is {theirs} by the '
                f'solver but {ours} by exact count')
    seconds = latency.predict(spec) if latency is not None else None
    if not result.budgets.satisfied_by(exact.flops, exact.params, exact.rho,
                                       seconds):
        raise AssertionError('internal error: the design breaks a budget by '
                             'exact count')
    return exact


def design_options() -> Tuple[str, ...]:
    """The names :func:`design` (and so ``arch=dict(...)``) accepts."""
    return tuple(inspect.signature(design).parameters)


def check_design_options(options) -> None:
    """Unknown option names are a :class:`SpecError` naming them, the
    closest known name and every known one."""
    known = design_options()
    unknown = sorted(set(options) - set(known))
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), known, n=1)
        if close:
            hints.append(f'{key!r} (did you mean {close[0]!r}?)')
        else:
            hints.append(repr(key))
    raise SpecError(f'unknown design option{"s" if len(unknown) > 1 else ""} '
                    f'{", ".join(hints)}; known: {", ".join(known)}')


def design_arch(block: str = DEFAULT_DESIGN['block'],
                flops: Optional[float] = None,
                params: Optional[float] = None,
                rho: Optional[float] = None,
                resolution: int = DEFAULT_DESIGN['resolution'],
                **options):
    """The spec of :func:`design`: what ``DeepMAD(arch=dict(flops=...))``
    builds. Budgets may be numbers or strings (``flops='4.13G'``); every
    option is checked as the command line checks it, and an unknown one is a
    :class:`SpecError` naming the known ones."""
    check_design_options(options)
    return design(
        block=block,
        flops=flops,
        params=params,
        rho=rho,
        resolution=resolution,
        **options).spec
