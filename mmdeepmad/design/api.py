"""One call from budgets to a designed architecture.

``design(...)`` builds the search space from plain options, solves Eq. 5 and
returns a :class:`~mmdeepmad.design.solver.DesignResult`; ``design_arch(...)``
returns just the spec (what the backbone's ``arch=dict(flops=..., ...)`` uses).
"""
from __future__ import annotations
import math
from typing import Optional, Sequence, Tuple

from mmdeepmad.arch.spec import (BLOCK_FAMILIES, DEPTHWISE_FAMILIES, ArchSpec,
                                 SpecError)
from mmdeepmad.conventions import CONVENTIONS, DEFAULT_BETA, evaluate
from mmdeepmad.conventions.budgets import Budgets
from .defaults import DEFAULT_DESIGN
from .search_space import DEFAULT_STRIDES, SearchSpace
from .solver import DesignResult, solve


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
    if not isinstance(stages, int) or stages < 1:
        raise SpecError(f'stages must be a positive integer, got {stages!r}')
    strides = tuple(strides) if strides is not None else default_strides(
        block, stages)
    if len(strides) != stages:
        raise SpecError(f'strides gives {len(strides)} values for {stages} '
                        'stages; give one stride per stage')
    if any(s not in (1, 2) for s in strides):
        raise SpecError(f'strides must be 1 or 2, got {list(strides)}')
    overrides = dict(
        strides=strides,
        resolution=resolution,
        width_multiple=width_multiple,
        non_decreasing=non_decreasing)
    base = SearchSpace.for_block(block)
    if kernels is not None:
        overrides['kernels'] = tuple(int(k) for k in kernels)
    if convention == 'paper':
        overrides['depth_caps'] = (None, ) * stages
    else:
        caps = tuple(base.depth_caps) + (None, ) * stages
        overrides['depth_caps'] = caps[:stages]
    if max_depth is not None:
        if max_depth < 1:
            raise SpecError(f'max_depth must be at least 1, got {max_depth}')
        overrides['depth'] = (1, int(max_depth))
    if max_channels is not None:
        overrides['channels'] = (base.channels[0], int(max_channels))
    if head_channels is not None:
        if head_channels < 0:
            raise SpecError('head_channels must be >= 0 (0: no head conv), '
                            f'got {head_channels}')
        overrides['head_channels'] = int(head_channels) or None
    if width_multiple < 1:
        raise SpecError(f'width_multiple must be >= 1, got {width_multiple}')
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
           progress=None) -> DesignResult:
    """Solve Eq. 5 for the budgets (all three must be given; a caller without
    its own takes them from :data:`DEFAULT_DESIGN`) and return a verified
    design: its arch JSON reads back as the same spec and the convention's
    reference counts it to the solver's figures, within every budget
    (:func:`verify_round_trip`)."""
    for key, value in (('flops', flops), ('params', params), ('rho', rho)):
        if value is None:
            raise SpecError(f'the {key} budget is missing: give {key}=...')
        if not value > 0:
            raise SpecError(f'the {key} budget must be positive, got {value}')
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
    budgets = Budgets(flops=float(flops), params=float(params), rho=float(rho))
    result = solve(
        space,
        budgets,
        convention=convention,
        alpha=alpha,
        beta=beta,
        progress=progress)
    meta = dict(
        budgets=dict(flops=float(flops), params=float(params), rho=float(rho)),
        convention=convention,
        block=block,
        alpha=list(alpha) if alpha is not None else None,
        beta=beta)
    if command:
        meta['command'] = command
    result.spec = result.spec.replace(name=name, meta=meta)
    result.evaluation = verify_round_trip(result, alpha, beta)
    return result


def verify_round_trip(result: DesignResult, alpha, beta):
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
    if not result.budgets.satisfied_by(exact.flops, exact.params, exact.rho):
        raise AssertionError('internal error: the design breaks a budget by '
                             'exact count')
    return exact


def design_arch(block: str = DEFAULT_DESIGN['block'],
                flops: Optional[float] = None,
                params: Optional[float] = None,
                rho: Optional[float] = None,
                resolution: int = DEFAULT_DESIGN['resolution'],
                **options):
    """The spec of :func:`design`: what ``DeepMAD(arch=dict(flops=...))``
    builds."""
    return design(
        block=block,
        flops=flops,
        params=params,
        rho=rho,
        resolution=resolution,
        **options).spec
