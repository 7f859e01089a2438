"""Resource budgets of a design: FLOPs, params and the effectiveness rho.

A field left ``None`` is unconstrained. A value satisfies a budget when it is
*at most* the budget (the official TinyNAS code rejects a structure only when
``budget < value``, so equality passes). Which convention the values are
counted in (``paper`` or ``tinynas``) is up to the caller; the budgets are
plain numbers.
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


@dataclass(frozen=True)
class Budgets:
    """Upper bounds; ``None`` means unconstrained.

    ``flops`` and ``params`` are absolute counts (e.g. ``1.82e9``), ``rho`` the
    effectiveness bound (0.3 for the ResNet-type DeepMAD configs, 0.5 for the
    depthwise ones).
    """

    flops: Optional[float] = None
    params: Optional[float] = None
    rho: Optional[float] = None

    def __post_init__(self) -> None:
        for name in ('flops', 'params', 'rho'):
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

    def satisfied_by(self, flops: float, params: float, rho: float) -> bool:
        """True when every constrained quantity is at most its budget."""
        return ((self.flops is None or flops <= self.flops)
                and (self.params is None or params <= self.params)
                and (self.rho is None or rho <= self.rho))

    def mask(self, flops, params, rho) -> np.ndarray:
        """Vectorised :meth:`satisfied_by` over numpy arrays (a boolean
        array)."""
        flops = np.asarray(flops)
        ok = np.ones(np.shape(flops), dtype=bool)
        if self.flops is not None:
            ok &= flops <= self.flops
        if self.params is not None:
            ok &= np.asarray(params) <= self.params
        if self.rho is not None:
            ok &= np.asarray(rho) <= self.rho
        return ok

    @property
    def constrained(self) -> Dict[str, float]:
        """The constrained fields only, by name."""
        return {
            name: getattr(self, name)
            for name in ('flops', 'params', 'rho')
            if getattr(self, name) is not None
        }

    def to_dict(self) -> Dict[str, Optional[float]]:
        return {'flops': self.flops, 'params': self.params, 'rho': self.rho}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'Budgets':
        """From ``{'flops': .., 'params': .., 'rho': ..}`` (missing = None)."""
        unknown = sorted(set(data) - {'flops', 'params', 'rho'})
        if unknown:
            raise ValueError(f'unknown budget field(s) {unknown}; '
                             "known: ['flops', 'params', 'rho']")
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
