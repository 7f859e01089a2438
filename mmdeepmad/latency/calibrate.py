"""Design to a latency budget and check it on the device (``--measure``).

The program bounds the *predicted* latency. A prediction errs, so the design
is built, deployed and timed on this machine with the LUT's settings; when the
measurement breaks the budget by more than the tolerance, the budget the
program solves with is tightened by the ratio measured / budget and the
design solved again, a few rounds at most. A design whose measurement breaks
the budget is never returned: after the last round
:class:`MeasuredBudgetError` says what was measured.

A LUT stands for the machine as it was when profiled. Before the first
round the LUT's canary part (``fit.canary``) is timed again: its time over
the profiled one (``fit.canary_seconds``) says how much the machine's speed
has drifted since, and a drift beyond :data:`DRIFT` is reported.
"""
from __future__ import annotations
from dataclasses import dataclass, field
from typing import Callable, List, Optional

#: Rounds of tightening after the first design.
ROUNDS = 3
#: Each tightened budget is this much below what the ratio asks, so that a
#: measurement a little noisier than the last does not cost a round.
MARGIN = 0.98
#: A canary part this much slower or faster than when profiled is reported.
DRIFT = 0.2


class MeasuredBudgetError(ValueError):
    """No design met the latency budget by measurement within the rounds."""


@dataclass
class MeasuredDesign:
    result: object  # the DesignResult
    measured: float  # seconds, measured on this machine
    #: every round: (budget solved with, predicted, measured), in seconds
    rounds: List[tuple] = field(default_factory=list)
    #: the canary part's time now over its time when profiled (None: the
    #: LUT records no canary, or nothing was timed on the device)
    canary_ratio: Optional[float] = None


def settings_of(table):
    """The measurement settings a LUT was profiled with."""
    from .device import DeviceSettings
    device = table.device
    return DeviceSettings(
        device=device['device'],
        batch=int(device['batch']),
        threads=int(device['threads']),
        dtype=device['dtype'],
        channels_last=bool(device['channels_last']))


def canary_ratio(table, settings=None) -> Optional[float]:
    """The LUT's canary part timed on this machine now, over its time when
    the LUT was profiled: above 1 the machine runs slower than then (the
    predictions run low), below 1 faster. ``None`` when the LUT records no
    canary."""
    canary = table.fit.get('canary')
    then = table.fit.get('canary_seconds')
    if not canary or not then:
        return None
    from .profile import measure_parts
    [(_, now)] = measure_parts([dict(canary)], settings or settings_of(table))
    return now / float(then)


def describe_drift(ratio: Optional[float]) -> Optional[str]:
    """A warning when the canary ratio is beyond :data:`DRIFT`, else None."""
    if ratio is None or abs(ratio - 1.0) <= DRIFT:
        return None
    pace, side = ('slower', 'low') if ratio > 1 else ('faster', 'high')
    return (f'warning: this machine runs the LUT\'s canary part {ratio:.2f}x '
            f'its profiled time ({pace} than when the LUT was profiled): its '
            f'predictions run {side}; profile the device again '
            '(tools/analysis/profile_latency.py) for a tight budget')


def design_measured(
        solve: Callable[[float], object],
        table,
        budget: float,
        tolerance: float = 0.0,
        rounds: int = ROUNDS,
        measure: Optional[Callable] = None,
        progress: Optional[Callable[[str], None]] = None,
        drift: Optional[Callable[[], Optional[float]]] = None,
        warn: Optional[Callable[[str], None]] = None) -> MeasuredDesign:
    """``solve(latency_budget) -> DesignResult`` until the measured latency
    is at most ``budget * (1 + tolerance)``; raises
    :class:`MeasuredBudgetError` after ``rounds`` tightenings.

    ``measure(spec) -> seconds`` defaults to timing the deployed backbone
    with the LUT's settings (:func:`mmdeepmad.latency.measure.measure_spec`),
    and ``drift() -> ratio`` then to :func:`canary_ratio` (said before the
    first round; beyond :data:`DRIFT` a warning goes to ``warn``, by default
    to ``progress``).
    """
    say = progress or (lambda message: None)
    if measure is None:
        from .measure import measure_spec
        settings = settings_of(table)

        def measure(spec):
            return measure_spec(spec, settings)

        if drift is None:

            def drift():
                return canary_ratio(table, settings)

    ratio = drift() if drift is not None else None
    if ratio is not None:
        say(f'canary part: {ratio:.2f}x its time when the LUT was profiled')
        warning = describe_drift(ratio)
        if warning:
            (warn or say)(warning)

    limit = budget * (1.0 + tolerance)
    solved_with = budget
    history = []
    for attempt in range(rounds + 1):
        result = solve(solved_with)
        say(f'measuring the design on this machine (round {attempt + 1})')
        measured = float(measure(result.spec))
        history.append((solved_with, float(result.latency), measured))
        say(f'predicted {result.latency * 1e3:.3f} ms, measured '
            f'{measured * 1e3:.3f} ms, budget {budget * 1e3:.3f} ms')
        if measured <= limit:
            return MeasuredDesign(result, measured, history, ratio)
        solved_with = solved_with * (budget / measured) * MARGIN
        if attempt < rounds:
            say(f'the measurement breaks the budget: solving again with '
                f'{solved_with * 1e3:.3f} ms')
    measured_text = ', '.join(f'{m * 1e3:.3f}' for _, _, m in history)
    raise MeasuredBudgetError(
        f'no design met the latency budget {budget * 1e3:.3f} ms by '
        f'measurement in {rounds + 1} rounds (measured {measured_text} ms, '
        f'solving with budgets down to {history[-1][0] * 1e3:.3f} ms); the '
        'LUT predicts this machine poorly now' +
        (f' (its canary part runs {ratio:.2f}x its profiled time)'
         if ratio is not None else '') +
        ': profile it again, or raise --measure-tolerance')
