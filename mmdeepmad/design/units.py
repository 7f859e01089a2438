"""Budgets and lists on the command line: parsing with explicit units.

Counts (FLOPs, params) take an optional decimal suffix, case-insensitive:
``K`` = 1e3, ``M`` = 1e6, ``G`` = 1e9, ``T`` = 1e12 (``4.13G``, ``4130M`` and
``4.13e9`` are the same budget; ``m`` is mega, never milli, since a count has
no fractions). rho is a plain positive number. A latency takes a unit,
``s``, ``ms`` or ``us`` (``20ms`` = ``0.02s``), a throughput is images per
second, a plain number or with ``/s`` (``800``, ``800/s``). Every error is a
:class:`UnitError` whose message says what was wrong and how to write it.

Only the standard library is imported here (the command line imports this
before anything heavy).
"""
from __future__ import annotations
import decimal
import math
import numbers
import re
from typing import Optional, Sequence, Tuple

#: Multipliers of the count suffixes (upper case; parsing ignores case).
SUFFIXES = {'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}

_NUMBER = r'[+-]?(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?'
_QUANTITY = re.compile(rf'^\s*({_NUMBER})\s*([A-Za-z]?)\s*$')

_EXAMPLES = {
    'flops': '4.13G, 4130M or 4.13e9',
    'params': '25.55M, 25550K or 2.555e7',
}


class UnitError(ValueError):
    """A value that cannot be read; the message names the field and the fix."""


def _prefix(name: Optional[str]) -> str:
    return f'{name}: ' if name else ''


def parse_count(text: str,
                kind: str = 'flops',
                name: Optional[str] = None) -> float:
    """A positive count with an optional K/M/G/T suffix, as a float.

    ``kind`` (``flops`` or ``params``) picks the examples of the error
    message, ``name`` (e.g. ``--flops``) prefixes it.

    >>> parse_count('4.13G') == parse_count('4130M') == 4.13e9
    True
    """
    example = _EXAMPLES.get(kind, _EXAMPLES['flops'])
    where = _prefix(name)
    if not isinstance(text, str):
        text = str(text)
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(
            f'{where}{text!r} is not a number with an optional K/M/G/T '
            f'suffix; write e.g. {example}')
    number, suffix = match.groups()
    if suffix and suffix.upper() not in SUFFIXES:
        raise UnitError(
            f'{where}{text!r} has the unknown unit suffix {suffix!r}; use K '
            f'(1e3), M (1e6), G (1e9) or T (1e12), e.g. {example}')
    number = number.replace('_', '')
    # Scale through the decimal text so '4.13G' gives exactly 4.13e9.
    value = (
        _exact_scaled(number, suffix.upper()) if suffix else float(number))
    if not math.isfinite(value):
        raise UnitError(f'{where}{text!r} is not finite; write e.g. {example}')
    if value <= 0:
        raise UnitError(f'{where}must be positive, got {text!r}; write e.g. '
                        f'{example}')
    return value


def _exact_scaled(number: str, suffix: str) -> float:
    """``number * 10**k`` rounded once (``4.13G`` -> ``4.13e9`` exactly, not
    ``4.13 * 1e9`` = 4130000000.0000005)."""
    exponent = {'K': 3, 'M': 6, 'G': 9, 'T': 12}[suffix]
    mantissa, _, power = number.lower().partition('e')
    return float(f'{mantissa}e{int(power or 0) + exponent}')


def parse_rho(text: str, name: Optional[str] = None) -> float:
    """One positive, finite rho (no unit suffix)."""
    where = _prefix(name)
    try:
        value = float(str(text).strip())
    except ValueError:
        raise UnitError(f'{where}{text!r} is not a number; write e.g. 0.3 '
                        '(rho is a plain number, no unit)') from None
    if not math.isfinite(value) or value <= 0:
        raise UnitError(_rho_range(where, repr(text)))
    return value


def _rho_range(where: str, shown: str) -> str:
    return (f'{where}must be a finite positive number, got {shown}; the '
            'paper uses 0.1 to 2.0 (0.3 for ResNet blocks, 0.5 for MobileNet '
            'blocks)')


#: The three budgets of a design, in the order they are given.
BUDGET_NAMES = ('flops', 'params', 'rho')

#: Seconds per unit of a latency.
LATENCY_UNITS = {'s': 1.0, 'ms': 1e-3, 'us': 1e-6}
_LATENCY = re.compile(rf'^\s*({_NUMBER})\s*([A-Za-z]*)\s*$')


def parse_latency(value, name: Optional[str] = None) -> float:
    """A latency in seconds from ``20ms``, ``0.02s`` or ``20000us`` (a unit
    is required for a string: a bare 20 could mean seconds or
    milliseconds), or from a number of seconds."""
    where = _prefix(name)
    if isinstance(value, str):
        match = _LATENCY.match(value)
        unit = match.group(2).lower() if match else ''
        if match is None or unit not in LATENCY_UNITS:
            raise UnitError(f'{where}{value!r} is not a latency; write a '
                            'number with a unit, e.g. 20ms, 0.02s or 20000us')
        seconds = float(match.group(1).replace('_', '')) * \
            LATENCY_UNITS[unit]
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UnitError(f'{where}{value!r} is not a latency; give seconds or '
                        "a string such as '20ms'")
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UnitError(f'{where}must be a finite positive latency, got '
                        f'{value!r}; write e.g. 20ms')
    return seconds


def parse_throughput(value, name: Optional[str] = None) -> float:
    """Images per second from ``800``, ``800/s`` or a number."""
    where = _prefix(name)
    text = value
    if isinstance(value, str):
        text = value.strip()
        if text.lower().endswith('/s'):
            text = text[:-2]
        try:
            number = float(text.replace('_', ''))
        except ValueError:
            raise UnitError(f'{where}{value!r} is not a throughput; write '
                            'images per second, e.g. 800 or 800/s') from None
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UnitError(f'{where}{value!r} is not a throughput; give images '
                        'per second, e.g. 800')
    else:
        number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise UnitError(f'{where}must be a finite positive number of images '
                        f'per second, got {value!r}')
    return number


def format_latency(seconds: Optional[float]) -> str:
    """``21.53ms``, ``850.2us``, ``1.204s`` (four significant digits; read
    back by :func:`parse_latency`)."""
    if seconds is None:
        return 'unbounded'
    for scale, unit in ((1.0, 's'), (1e-3, 'ms')):
        if seconds >= scale:
            return f'{seconds / scale:.4g}{unit}'
    return f'{seconds / 1e-6:.4g}us'


def parse_budget(kind: str, value, name: Optional[str] = None) -> float:
    """One budget as people give it, checked the same way everywhere (the
    command line's ``--flops 4.13G``, the library's ``flops='4.13G'`` or
    ``flops=4.13e9``, a config's ``arch=dict(flops=...)``).

    ``kind`` is ``flops``, ``params`` or ``rho``; ``value`` a string (counts
    with an optional K/M/G/T suffix, rho a plain number) or a real number
    (not a bool); the result is a finite positive float. ``name`` (default:
    ``kind``) prefixes the message of the :class:`UnitError`.
    """
    if kind == 'latency':
        return parse_latency(value, kind if name is None else name)
    if kind not in BUDGET_NAMES:
        raise UnitError(f'unknown budget {kind!r}; the budgets are '
                        f'{", ".join(BUDGET_NAMES)} (and latency)')
    name = kind if name is None else name
    if value is None:
        raise UnitError(f'{_prefix(name)}the {kind} budget is missing; give '
                        'flops, params and rho together')
    if isinstance(value, str):
        if kind == 'rho':
            return parse_rho(value, name)
        return parse_count(value, kind, name)
    example = '0.3' if kind == 'rho' else _EXAMPLES[kind]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UnitError(
            f'{_prefix(name)}{value!r} ({type(value).__name__}) is not a '
            f'number; give a number or a string, e.g. {example}')
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        if kind == 'rho':
            raise UnitError(_rho_range(_prefix(name), repr(value)))
        raise UnitError(f'{_prefix(name)}must be a finite positive number, '
                        f'got {value!r}; write e.g. {example}')
    return number


def parse_budgets(flops, params, rho) -> Tuple[float, float, float]:
    """The three budgets through :func:`parse_budget` (all required)."""
    missing = [
        kind for kind, value in zip(BUDGET_NAMES, (flops, params, rho))
        if value is None
    ]
    if missing:
        raise UnitError(f'the {" and ".join(missing)} budget'
                        f'{"s are" if len(missing) > 1 else " is"} missing; '
                        'give flops, params and rho together, e.g. '
                        "flops='4.13G', params='25.55M', rho=0.3")
    return (parse_budget('flops', flops), parse_budget('params', params),
            parse_budget('rho', rho))


def check_alpha(values, name: Optional[str] = 'alpha') -> Tuple[float, ...]:
    """Guideline 1's stage weights: finite, none negative, at least one
    positive (all zero would score every design 0)."""
    where = _prefix(name)
    if isinstance(values, (str, bytes)) or not hasattr(values, '__len__'):
        raise UnitError(f'{where}give one weight per scored stage, e.g. '
                        f'(1, 1, 1, 1, 8); got {values!r}')
    weights = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value) or value < 0:
            raise UnitError(f'{where}entry {value!r} must be a finite, '
                            'non-negative number')
        weights.append(float(value))
    if not weights:
        raise UnitError(f'{where}is empty; give one weight per scored stage')
    if not any(weight > 0 for weight in weights):
        raise UnitError(f'{where}every weight is 0; at least one must be '
                        'positive (the default is 1,...,1,8)')
    return tuple(weights)


def parse_rho_list(text: str, name: Optional[str] = None) -> Tuple[float, ...]:
    """``0.3`` or a sweep ``0.1,0.3,0.5,1.0`` (distinct values, in order)."""
    parts = _split(text, name, 'a number such as 0.3 or a list 0.1,0.3,0.5')
    values = tuple(parse_rho(part, name) for part in parts)
    if len(set(values)) != len(values):
        raise UnitError(f'{_prefix(name)}{text!r} lists a value twice; give '
                        'each rho once')
    return values


def parse_int_list(text: str,
                   name: Optional[str] = None,
                   allowed: Optional[Sequence[int]] = None,
                   minimum: Optional[int] = None) -> Tuple[int, ...]:
    """``2,2,2,1,2``: comma-separated integers (optionally from ``allowed``,
    or at least ``minimum``)."""
    where = _prefix(name)
    parts = _split(text, name, 'comma-separated integers such as 2,2,2,1,2')
    values = []
    for part in parts:
        try:
            value = int(part)
        except ValueError:
            raise UnitError(
                f'{where}entry {part!r} is not an integer; give '
                'comma-separated integers, e.g. 2,2,2,1,2') from None
        if allowed is not None and value not in allowed:
            raise UnitError(f'{where}entry {value} is not allowed; each must '
                            f'be one of {", ".join(map(str, allowed))}')
        if minimum is not None and value < minimum:
            raise UnitError(f'{where}entry {value} must be at least {minimum}')
        values.append(value)
    return tuple(values)


def parse_float_list(text: str,
                     name: Optional[str] = None,
                     non_negative: bool = True) -> Tuple[float, ...]:
    """``1,1,1,1,8``: comma-separated finite numbers."""
    where = _prefix(name)
    parts = _split(text, name, 'comma-separated numbers such as 1,1,1,1,8')
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise UnitError(
                f'{where}entry {part!r} is not a number; give '
                'comma-separated numbers, e.g. 1,1,1,1,8') from None
        if not math.isfinite(value) or (non_negative and value < 0):
            raise UnitError(f'{where}entry {part!r} must be a finite, '
                            'non-negative number')
        values.append(value)
    return tuple(values)


def _split(text: str, name: Optional[str], what: str) -> Tuple[str, ...]:
    parts = tuple(part.strip() for part in str(text).split(','))
    if any(not part for part in parts):
        raise UnitError(f'{_prefix(name)}{text!r} has an empty entry; give '
                        f'{what}')
    return parts


def format_count(value: Optional[float], digits: int = 3) -> str:
    """``4.128G`` / ``25.40M`` / ``928``: a count with a decimal suffix."""
    if value is None:
        return '-'
    for scale, unit in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(value) >= scale:
            return f'{value / scale:.{digits}f}{unit}'
    if float(value).is_integer():
        return f'{int(value)}'
    return f'{value:.{digits}f}'


def format_compact(value: Optional[float]) -> str:
    """A budget as one would type it: ``4.13G``, ``25.55M``, ``0.3``."""
    if value is None:
        return '-'
    for scale, unit in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(value) >= scale:
            return f'{value / scale:.4g}{unit}'
    return f'{value:.4g}'


def format_budget(name: str, value: Optional[float]) -> str:
    """A budget in a message: ``4.13G``, ``25.55M``, ``0.3``; ``unbounded``
    for None."""
    if value is None:
        return 'unbounded'
    if name == 'rho':
        return f'{value:.3g}'
    if name == 'latency':
        return format_latency(value)
    for scale, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if value >= scale:
            return _trim(f'{value / scale:.3f}') + unit
    return f'{value:g}'


def _trim(text: str) -> str:
    """``164.700`` -> ``164.7``, ``4.000`` -> ``4``."""
    return text.rstrip('0').rstrip('.') if '.' in text else text


def _round_significant(value: float, digits: int, rounding: str) -> float:
    """``value`` rounded to ``digits`` significant digits in the decimal
    ``rounding`` mode (inf, nan and non-positive values unchanged)."""
    if not math.isfinite(value) or value <= 0:
        return value
    exact = decimal.Decimal(repr(float(value)))
    shift = exact.adjusted() - digits + 1
    rounded = exact.scaleb(-shift).to_integral_value(
        rounding=rounding).scaleb(shift)
    return float(rounded)


def round_up(value: float, digits: int = 3) -> float:
    """``value`` rounded up to ``digits`` significant digits (717.34e6 ->
    718e6, 0.17679 -> 0.177): a budget to advise is never below what it
    advises on."""
    return _round_significant(value, digits, decimal.ROUND_CEILING)


def round_down(value: float, digits: int = 4) -> float:
    """``value`` rounded down to ``digits`` significant digits (a figure the
    message says a budget "needs at least" is never printed above itself)."""
    return _round_significant(value, digits, decimal.ROUND_FLOOR)


def format_value(kind: str, value: float) -> str:
    """A budget as one would type it (``718M``, ``37.7K``, ``0.181``):
    :func:`parse_budget` reads it back as ``value`` when ``value`` has at
    most four significant digits."""
    if kind == 'rho':
        return f'{value:.4g}'
    if kind == 'latency':
        return format_latency(value)
    return format_compact(value)


def format_bound(kind: str, value: Optional[float]) -> str:
    """A proven least value in a message ("has FLOPs > ..."): rounded down
    to four significant digits
    (``717.3M``, ``0.1767``)."""
    if value is None:
        return 'unbounded'
    return format_value(kind, round_down(value))


def format_exact(value: float) -> str:
    """An exact count with thousands separators (``25,403,664``); a count
    that is not an integer (TinyNAS's FLOPs may not be) keeps its fraction."""
    if float(value).is_integer():
        return f'{int(value):,}'
    return f'{value:,.3f}'


def rho_tag(rho: float) -> str:
    """The tag of a sweep member's files: ``rho0.3``, ``rho1.0``."""
    return f'rho{float(rho)!r}'
