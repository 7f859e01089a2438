"""Resource budgets of a design: FLOPs, params, the effectiveness rho and,
for a device, latency.

A field left ``None`` is unconstrained. A value satisfies a budget when it is
*at most* the budget (the official TinyNAS code rejects a structure only when
``budget < value``, so equality passes). Which convention the values are
counted in (``paper`` or ``tinynas``) is up to the caller; the budgets are
plain numbers. ``latency`` is in seconds, as a latency model of the device
predicts it (:mod:`mmdeepmad.latency`).
"""
from __future__ import annotations
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

import numpy as np

#: TinyNAS's budget names for the same three quantities.
TINYNAS_BUDGET_NAMES = {
    'flops': 'flops',
    'model_size': 'params',
    'efficient_score': 'rho',
}

#: Every budget, in the order they are reported.
BUDGET_FIELDS = ('flops', 'params', 'rho', 'latency')


@dataclass(frozen=True)
class Budgets:
    """Upper bounds; ``None`` means unconstrained.

    ``flops`` and ``params`` are absolute counts (e.g. ``1.82e9``), ``rho`` the
    effectiveness bound (0.3 for the ResNet-type DeepMAD configs, 0.5 for the
    depthwise ones), ``latency`` seconds on a device.
    """

    flops: Optional[float] = None
    params: Optional[float] = None
    rho: Optional[float] = None
    latency: Optional[float] = None

    def __post_init__(self) -> None:
        for name in BUDGET_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(
                    value, (int, float, np.integer, np.floating)):
                raise ValueError(
                    f'Budgets.{name} must be a number or None, got {value!r}')
            if not value > 0:
                raise ValueError(
                    f'Budgets.{name} must be positive, got {value!r}')

    def satisfied_by(self,
                     flops: float,
                     params: float,
                     rho: float,
                     latency: Optional[float] = None) -> bool:
        """True when every constrained quantity is at most its budget (a
        latency budget needs the latency)."""
        return bool(self.mask(flops, params, rho, latency))

    def mask(self, flops, params, rho, latency=None) -> np.ndarray:
        """Vectorised :meth:`satisfied_by` over numpy arrays (a boolean
        array)."""
        flops = np.asarray(flops)
        ok = np.ones(np.shape(flops), dtype=bool)
        for name, value in (('flops', flops), ('params', params), ('rho', rho),
                            ('latency', latency)):
            bound = getattr(self, name)
            if bound is None:
                continue
            if value is None:
                raise ValueError(f'a {name} budget is set but no {name} '
                                 'was given to check it')
            ok &= np.asarray(value) <= bound
        return ok

    @property
    def constrained(self) -> Dict[str, float]:
        """The constrained fields only, by name."""
        return {
            name: getattr(self, name)
            for name in BUDGET_FIELDS if getattr(self, name) is not None
        }

    def to_dict(self) -> Dict[str, Optional[float]]:
        """flops, params and rho (None where unconstrained), and latency
        where it is constrained."""
        data = {'flops': self.flops, 'params': self.params, 'rho': self.rho}
        if self.latency is not None:
            data['latency'] = self.latency
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Budgets':
        """From ``{'flops': .., 'params': .., 'rho': ..}`` (missing = None;
        ``latency`` in seconds may be given too)."""
        unknown = sorted(set(data) - set(BUDGET_FIELDS))
        if unknown:
            raise ValueError(f'unknown budget field(s) {unknown}; '
                             f'known: {list(BUDGET_FIELDS)}')
        return cls(**dict(data))

    @classmethod
    def from_tinynas(cls, budgets) -> 'Budgets':
        """From a TinyNAS config's ``budgets`` list,
        e.g. ``[dict(type='flops', budget=1.82e9), dict(type='model_size',
        budget=11.69e6), dict(type='efficient_score', budget=0.3)]``.
        Budget types other than these three (latency, layers, max_feature)
        are not supported and raise ``ValueError``."""
        values: Dict[str, float] = {}
        for index, item in enumerate(budgets):
            kind = item.get('type')
            if kind not in TINYNAS_BUDGET_NAMES:
                raise ValueError(
                    f'budgets[{index}].type {kind!r} is not supported; known: '
                    f'{sorted(TINYNAS_BUDGET_NAMES)}')
            if 'budget' not in item:
                raise ValueError(
                    f"budgets[{index}] is missing the key 'budget'")
            values[TINYNAS_BUDGET_NAMES[kind]] = item['budget']
        return cls(**values)
