"""The latency LUT file: a fitted :class:`~.model.LatencyModel` with the
device it was measured on, the fit's errors and the measured samples.

Format (JSON)::

    {"format": "mmdeepmad-latency-lut", "version": 1,
     "block": "bottleneck",
     "device": {"device": "cpu", "name": "...", "threads": 2,
                "torch": "2.14.1", "dtype": "fp32", "batch": 1,
                "channels_last": false},
     "knots": [1, 2, ...],                      # sides, increasing
     "coefficients": {"pointwise": [...], ...}, # one per knot, >= 0
     "fit": {"heldout_median": ..., "heldout_max": ..., "samples": N, ...},
     "samples": [{<part>, "features": [[kind, side, value], ...],
                  "seconds": ...}, ...]}

:func:`load_lut` checks every field and raises :class:`LutError` naming the
file, the field (``coefficients.dense[3]``) and the fix.
:func:`check_device` compares the LUT's device with the settings at hand.
"""
from __future__ import annotations
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from mmdeepmad.arch.spec import BLOCK_FAMILIES
from mmdeepmad.engine.errors import InputError
from .device import DeviceSettings, describe_device, device_mismatches
from .model import LatencyModel
from .terms import KINDS

FORMAT = 'mmdeepmad-latency-lut'
VERSION = 1

#: How to make a LUT (the fix most messages end with).
REMAKE = ('profile the device to make a new one: '
          'tools/analysis/profile_latency.py --block FAMILY --out LUT.json')

#: The device fields and their types.
DEVICE_TYPES = dict(
    device=str,
    name=str,
    threads=int,
    torch=str,
    dtype=str,
    batch=int,
    channels_last=bool)

#: Purposes of :func:`check_device`, and the fields that refuse a LUT when
#: it is used to stand for measurements.
PURPOSES = ('design', 'measure')
MEASURE_REFUSES = ('name', 'device', 'dtype', 'batch', 'channels_last')


class LutError(InputError, ValueError):
    """A LUT file that cannot be used; the message names the file, the
    field and the fix."""


@dataclass
class LatencyTable:
    """A fitted latency model and where it holds."""

    block: str
    device: Dict[str, Any]
    model: LatencyModel
    fit: Dict[str, Any] = field(default_factory=dict)
    samples: List[Dict[str, Any]] = field(default_factory=list)
    #: the file it was loaded from (None if made in memory)
    path: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return dict(
            format=FORMAT,
            version=VERSION,
            block=self.block,
            device=dict(self.device),
            knots=list(self.model.knots),
            coefficients=self.model.to_dict(),
            fit=dict(self.fit),
            samples=list(self.samples))


def save_lut(table: LatencyTable, path: str) -> None:
    """Write ``table`` to ``path`` atomically (a temporary file in the same
    folder, then renamed over ``path``)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(
        prefix=os.path.basename(path) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            json.dump(table.to_dict(), stream, indent=1)
            stream.write('\n')
        os.chmod(temp, 0o644)  # mkstemp makes it private
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


# ---- loading ----------------------------------------------------------------
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    """Raises :class:`LutError` with the file, the field and the fix."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, where: str, problem: str, fix: str = REMAKE) -> None:
        raise LutError(f'{self.path}: {where} {problem}; {fix}')

    def require(self, data: Dict[str, Any], key: str, kind, where: str,
                what: str) -> Any:
        if key not in data:
            self.fail(where, 'is missing')
        value = data[key]
        wrong = not isinstance(value, kind) or (
            kind is int and isinstance(value, bool))
        if wrong:
            self.fail(where, f'must be {what}, got {value!r}')
        return value


def _check_device(check: _Checker, device: Dict[str, Any]) -> None:
    for key, kind in DEVICE_TYPES.items():
        what = {str: 'a string', int: 'an integer', bool: 'true or false'}
        check.require(device, key, kind, f'device.{key}', what[kind])
    for key in ('batch', 'threads'):
        if device[key] < 1:
            check.fail(f'device.{key}', f'must be positive, got '
                       f'{device[key]}')


def _check_knots(check: _Checker, knots: List[Any]) -> List[float]:
    if not knots:
        check.fail('knots', 'is empty')
    for j, knot in enumerate(knots):
        if not _number(knot) or not math.isfinite(knot) or knot <= 0:
            check.fail(f'knots[{j}]', f'must be a positive side, got '
                       f'{knot!r}')
        if j and knot <= knots[j - 1]:
            check.fail(
                f'knots[{j}]', f'is {knot}, not larger than knots[{j - 1}] '
                f'= {knots[j - 1]} (knots must increase)')
    return [float(k) for k in knots]


def _check_coefficients(check: _Checker, coefficients: Dict[str, Any],
                        count: int) -> None:
    for kind in KINDS:
        where = f'coefficients.{kind}'
        values = check.require(coefficients, kind, list, where,
                               f'a list of {count} numbers (one per knot)')
        if len(values) != count:
            check.fail(
                where, f'has {len(values)} values; there are {count} knots '
                '(one coefficient per knot)')
        for j, value in enumerate(values):
            if not _number(value) or not math.isfinite(value) or value < 0:
                check.fail(
                    f'{where}[{j}]', f'is {value!r}: coefficients must be '
                    'finite and non-negative')
    unknown = sorted(set(coefficients) - set(KINDS))
    if unknown:
        check.fail(
            f'coefficients.{unknown[0]}', f'is not a kind of term (known: '
            f'{", ".join(KINDS)})', 'remove it or ' + REMAKE)


def _check_fit(check: _Checker, fit: Dict[str, Any]) -> None:
    for key in ('heldout_median', 'heldout_max', 'samples'):
        if key not in fit:
            check.fail(f'fit.{key}', 'is missing')
        value = fit[key]
        if not _number(value) or not math.isfinite(value) or value < 0:
            check.fail(f'fit.{key}', f'must be a non-negative number, got '
                       f'{value!r}')


def table_from_dict(data: Any, path: str = '<LUT>') -> LatencyTable:
    """A :class:`LatencyTable` from the parsed JSON, every field checked."""
    check = _Checker(path)
    if not isinstance(data, dict):
        check.fail('the file', f'must hold a JSON object, got '
                   f'{type(data).__name__}')
    fmt = data.get('format')
    if fmt != FORMAT:
        check.fail('format', f'is {fmt!r}, not {FORMAT!r} (not a latency '
                   'LUT)')
    version = check.require(data, 'version', int, 'version', 'an integer')
    if version != VERSION:
        check.fail(
            'version', f'is {version}; this mmdeepmad reads version '
            f'{VERSION}', REMAKE)
    block = check.require(data, 'block', str, 'block', 'a block family')
    if block not in BLOCK_FAMILIES:
        check.fail('block', f'is {block!r}, not one of '
                   f'{", ".join(BLOCK_FAMILIES)}')
    device = check.require(data, 'device', dict, 'device', 'an object')
    _check_device(check, device)
    knots = _check_knots(
        check,
        check.require(data, 'knots', list, 'knots', 'a list of sides'))
    coefficients = check.require(data, 'coefficients', dict, 'coefficients',
                                 'an object of lists per kind')
    _check_coefficients(check, coefficients, len(knots))
    fit = check.require(data, 'fit', dict, 'fit', 'an object')
    _check_fit(check, fit)
    samples = data.get('samples', [])
    if not isinstance(samples, list):
        check.fail('samples', f'must be a list, got {type(samples).__name__}')
    try:
        model = LatencyModel(knots, coefficients)
    except ValueError as error:  # the checks above should cover it all
        check.fail('coefficients', f'do not make a model ({error})')
    return LatencyTable(
        block=block,
        device=device,
        model=model,
        fit=fit,
        samples=samples,
        path=path)


def load_lut(path: str) -> LatencyTable:
    """Read and check a LUT file (:class:`LutError` if it is unusable)."""
    if not os.path.isfile(path):
        raise LutError(f'{path}: no such LUT file; {REMAKE}')
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise LutError(f'{path}: not JSON ({error}); the file is damaged: '
                       f'{REMAKE}') from None
    return table_from_dict(data, path)


# ---- the device -------------------------------------------------------------
def _describe(key: str, value: Any) -> str:
    """How a device field reads in a sentence."""
    if key == 'name':
        return f'on {value!r}'
    if key == 'device':
        return f'on {value}'
    if key == 'torch':
        return f'with torch {value}'
    if key == 'dtype':
        return f'in {value}'
    if key == 'batch':
        return f'at batch {value}'
    if key == 'threads':
        return f'with {value} threads'
    return 'channels-last' if value else 'in NCHW (not channels-last)'


def _here(key: str, value: Any) -> str:
    if key == 'torch':
        return f'this machine has {value}'
    if key == 'name':
        return f'this machine is {value!r}'
    return 'these settings are ' + _describe(key, value)


def check_device(table: LatencyTable, settings: DeviceSettings,
                 purpose: str = 'design') -> List[str]:
    """Compare the LUT's device with ``settings`` on this machine. Returns
    a warning per field that differs; for ``purpose='measure'`` (the LUT
    stands for measurements here) a different device model, device, dtype,
    batch or layout raises :class:`LutError` instead (torch version and
    threads only warn)."""
    if purpose not in PURPOSES:
        raise ValueError(f'purpose must be one of {PURPOSES}, got '
                         f'{purpose!r}')
    current = describe_device(settings)
    warnings, refused = [], []
    for key, recorded, here in device_mismatches(table.device, current):
        text = (f'device.{key}: the LUT was measured '
                f'{_describe(key, recorded)}; {_here(key, here)}')
        if purpose == 'measure' and key in MEASURE_REFUSES:
            refused.append(text)
        else:
            warnings.append(text + ": predictions are for the LUT's setup")
    if refused:
        raise LutError(
            f'{table.path or "the LUT"}: it does not stand for measurements '
            'with these settings: ' + '; '.join(refused) + '; ' + REMAKE)
    return warnings


def lut_summary(table: LatencyTable) -> str:
    """One line: block, device and held-out error."""
    device = table.device
    fit = table.fit
    return (f'{table.block} on {device.get("device")} {device.get("name")!r}'
            f' ({device.get("threads")} threads, batch {device.get("batch")},'
            f' {device.get("dtype")}), held-out part error median '
            f'{100 * fit.get("heldout_median", float("nan")):.1f}%, max '
            f'{100 * fit.get("heldout_max", float("nan")):.1f}%')
