"""Timing torch modules in their deployed form.

Deployed means what inference runs: eval mode, every BatchNorm folded into
its conv, no autograd (``torch.inference_mode``), on the settings' device,
dtype and memory layout. Parts of a network (:mod:`.profile`) and whole
networks are timed the same way, so that their times add up.

Several modules are timed *round-robin*: each round runs one forward of
every module (in a shuffled order), so load from other processes spreads
evenly over them; a module's time is the median over the rounds.
"""
from __future__ import annotations
import os
import random
import time
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdeepmad.arch.spec import ArchSpec
from .device import DeviceSettings, check_available

#: Default rounds: untimed warm-up rounds, then timed rounds.
WARMUP, REPEATS = 2, 9

#: Seed of the inputs (fixed: timings do not depend on it, but runs are
#: reproducible).
INPUT_SEED = 0


def deployed(module: nn.Module) -> nn.Module:
    """``module`` in eval mode with its BatchNorms folded into the convs
    (DeepMAD's :meth:`switch_to_deploy`, mmcv ConvModules, or torch.fx
    fusion for plain conv + BN models such as torchvision's), without
    gradients. Changes ``module`` in place; returns it (or, after torch.fx
    fusion, the fused copy)."""
    from mmdeepmad.models.fusion import fuse_conv_bn
    module = module.eval()
    if hasattr(module, 'switch_to_deploy'):
        module.switch_to_deploy()
    else:
        fuse_conv_bn(module)
    if any(isinstance(m, _BatchNorm) for m in module.modules()):
        try:
            from torch.fx.experimental.optimization import fuse
            module = fuse(module)
        except Exception:  # not traceable: keep the BNs, still correct
            pass
    for param in module.parameters():
        param.requires_grad_(False)
    return module.eval()


def place(module: nn.Module, settings: DeviceSettings) -> nn.Module:
    """``module`` on the settings' device, dtype and memory layout."""
    module = module.to(device=settings.device, dtype=settings.torch_dtype)
    if settings.channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def make_input(shape: Sequence[int], settings: DeviceSettings,
               seed: int = INPUT_SEED) -> torch.Tensor:
    """A deterministic input of ``shape`` (batch first) for ``settings``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(tuple(shape), generator=generator)
    x = x.to(device=settings.device, dtype=settings.torch_dtype)
    if settings.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def apply_threads(settings: DeviceSettings) -> None:
    """Set torch's intra-op threads (and check the device can run)."""
    check_available(settings)
    if torch.get_num_threads() != settings.threads:
        torch.set_num_threads(settings.threads)


def time_modules(modules_with_inputs: Sequence[Tuple[nn.Module,
                                                     torch.Tensor]],
                 settings: DeviceSettings,
                 warmup: int = WARMUP,
                 repeats: int = REPEATS,
                 seed: int = 0) -> List[float]:
    """Median seconds of one forward of each ``(module, input)``, timed
    round-robin. Modules and inputs must already be placed (:func:`place`,
    :func:`make_input`)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f'repeats must be >= 1 and warmup >= 0, got '
                         f'{repeats}, {warmup}')
    apply_threads(settings)
    cuda = settings.device == 'cuda'
    order = list(range(len(modules_with_inputs)))
    rng = random.Random(seed)
    times: List[List[float]] = [[] for _ in order]
    with torch.inference_mode():
        for round_index in range(warmup + repeats):
            rng.shuffle(order)  # no module always runs after the same one
            for i in order:
                module, x = modules_with_inputs[i]
                if cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                module(x)
                if cuda:
                    torch.cuda.synchronize()
                if round_index >= warmup:
                    times[i].append(time.perf_counter() - start)
    return [_median(t) for t in times]


class BackgroundLoad:
    """CPU time other processes used while this one measured, in cores
    (Linux: /proc/stat minus this process's own time; ``None``
    elsewhere). Timings taken while other processes keep a core busy are
    slower and noisier than the machine is."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open('/proc/stat', encoding='ascii') as handle:
                fields = handle.readline().split()[1:]
            busy = sum(int(v) for i, v in enumerate(fields[:8])
                       if i not in (3, 4))  # not idle, iowait, guest
            own = os.times()
            tick = os.sysconf('SC_CLK_TCK')
            return busy / tick, own.user + own.system, time.monotonic()
        except (OSError, ValueError, IndexError):
            return None

    def cores(self) -> Optional[float]:
        """Mean cores others kept busy since the start."""
        end = self._sample()
        if self.start is None or end is None:
            return None
        elapsed = end[2] - self.start[2]
        if elapsed <= 0:
            return None
        others = (end[0] - self.start[0]) - (end[1] - self.start[1])
        return max(0.0, others / elapsed)


class SteadyTimer:
    """:func:`time_modules` that watches the machine's speed.

    The last module of every call is a *canary* (the same module each
    time). Its ``reference`` time is its fastest forward alone (measured at
    the first call, or given). Other processes disturb a 2-thread timing
    badly (a thread waits for a core: a 1 ms module can take 100 ms), so:

    * before timing, the canary is probed; while it is slower than
      ``tolerance`` times the reference, the timer waits (pauses growing
      from ``pause`` to ``max_pause`` seconds);
    * a call whose canary was slower than that is timed again, up to
      ``retries`` times; the attempt with the fastest canary is kept.

    Waiting and re-timing stop when they have cost ``budget`` times the
    time spent timing plus ``grace`` seconds: a profile on a machine that
    stays busy then goes on (and :mod:`.fit` leaves the disturbed samples
    out)."""

    def __init__(self,
                 settings: DeviceSettings,
                 warmup: int = WARMUP,
                 repeats: int = REPEATS,
                 reference: Optional[float] = None,
                 tolerance: float = 1.5,
                 retries: int = 2,
                 budget: float = 0.5,
                 grace: float = 5.0,
                 pause: float = 0.2,
                 max_pause: float = 2.0):
        self.settings, self.warmup, self.repeats = settings, warmup, repeats
        self.reference = reference
        self.tolerance, self.retries = tolerance, retries
        self.budget, self.grace = budget, grace
        self.pause, self.max_pause = pause, max_pause
        #: seconds spent timing (first attempts), and re-timing or waiting
        self.timed = self.extra = 0.0
        self.retry_count = 0

    @property
    def allowed(self) -> bool:
        """Whether waiting or re-timing is still within the budget."""
        return self.extra < self.budget * self.timed + self.grace

    def _fastest(self, canary, forwards: int) -> float:
        return min(time_modules([canary] * forwards, self.settings, 1, 1))

    def calibrate(self, canary: Tuple[nn.Module, torch.Tensor],
                  forwards: int = 30) -> float:
        """Set the reference to the canary's fastest forward of a few
        (when no reference is known yet); returns the reference."""
        if self.reference is None:
            self.reference = self._fastest(canary, forwards)
        return self.reference

    def steady(self, seconds: float) -> bool:
        return seconds <= self.tolerance * self.reference

    def settle(self, canary: Tuple[nn.Module, torch.Tensor]) -> bool:
        """Wait (within the budget) until the canary runs at its speed;
        whether it does."""
        pause = self.pause
        while True:
            start = time.perf_counter()
            fast = self.steady(self._fastest(canary, 3))
            self.extra += time.perf_counter() - start
            if fast or not self.allowed:
                return fast
            time.sleep(pause)
            self.extra += pause
            pause = min(2 * pause, self.max_pause)

    def __call__(self, modules_with_inputs, seed: int = 0) -> List[float]:
        """Seconds of each module (the canary last)."""
        canary = modules_with_inputs[-1]
        self.calibrate(canary)
        best = None
        for attempt in range(self.retries + 1):
            self.settle(canary)
            start = time.perf_counter()
            times = time_modules(modules_with_inputs, self.settings,
                                 self.warmup, self.repeats,
                                 seed + 7919 * attempt)
            spent = time.perf_counter() - start
            if attempt:
                self.extra += spent
                self.retry_count += 1
            else:
                self.timed += spent
            if best is None or times[-1] < best[-1]:
                best = times
            if self.steady(times[-1]) or not self.allowed:
                break
        self.reference = min(self.reference, best[-1])
        return best


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    middle = n // 2
    if n % 2:
        return ordered[middle]
    return 0.5 * (ordered[middle - 1] + ordered[middle])


def measure_module(module: nn.Module,
                   input_shape: Sequence[int],
                   settings: DeviceSettings,
                   warmup: int = WARMUP,
                   repeats: int = REPEATS) -> float:
    """Median seconds of one forward of ``module`` (deployed here) on an
    input of ``input_shape`` without the batch, e.g. ``(3, 224, 224)``."""
    apply_threads(settings)
    module = place(deployed(module), settings)
    x = make_input((settings.batch, ) + tuple(input_shape), settings)
    return time_modules([(module, x)], settings, warmup, repeats)[0]


def backbone(spec: ArchSpec) -> nn.Module:
    """The deployed DeepMAD backbone of ``spec`` (no classifier; the
    default output, the last stage)."""
    from mmdeepmad.models import DeepMAD
    return deployed(DeepMAD(arch=spec))


def measure_spec(spec: ArchSpec,
                 settings: DeviceSettings,
                 warmup: int = WARMUP,
                 repeats: int = REPEATS) -> float:
    """Median seconds of one forward of the deployed backbone of ``spec``
    at its resolution."""
    return measure_specs([spec], settings, warmup, repeats)[0]


def measure_specs(specs: Sequence[ArchSpec],
                  settings: DeviceSettings,
                  warmup: int = WARMUP,
                  repeats: int = REPEATS) -> List[float]:
    """:func:`measure_spec` of several specs, timed round-robin."""
    apply_threads(settings)
    pairs = []
    for spec in specs:
        module = place(backbone(spec), settings)
        shape = (settings.batch, spec.in_channels, spec.resolution,
                 spec.resolution)
        pairs.append((module, make_input(shape, settings)))
    return time_modules(pairs, settings, warmup, repeats)
