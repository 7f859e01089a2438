"""The measurement settings and the device they run on.

A latency table is only valid for the setup it was measured with:
:class:`DeviceSettings` is what the user chooses (device, batch, threads,
dtype, memory layout), :func:`describe_device` adds what the machine is (CPU
or GPU model, torch version), and :func:`device_mismatches` lists what
differs between a recorded description and the current one.

fp16 runs on a CPU when torch implements half-precision convolutions there
(recent torch on x86 does; checked with a probe conv, refused otherwise).
"""
from __future__ import annotations
import dataclasses
import importlib.util
import os.path as osp
import platform
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from mmdeepmad.engine.errors import InputError

DEVICES = ('cpu', 'cuda')
DTYPES = ('fp32', 'fp16')

#: The fields :func:`device_mismatches` compares, in this order.
DEVICE_FIELDS = ('name', 'device', 'torch', 'dtype', 'batch', 'threads',
                 'channels_last')


class DeviceError(InputError, ValueError):
    """Settings that cannot be measured on this machine (or make no
    sense)."""


@dataclass(frozen=True)
class DeviceSettings:
    """How latency is measured: on ``device``, ``batch`` images per forward,
    ``threads`` torch intra-op threads, in ``dtype``, NCHW or channels-last.
    """

    device: str = 'cpu'
    batch: int = 1
    threads: int = 1
    dtype: str = 'fp32'
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise DeviceError(f'device must be one of {", ".join(DEVICES)}; '
                              f'got {self.device!r}')
        if self.dtype not in DTYPES:
            raise DeviceError(f'dtype must be one of {", ".join(DTYPES)}; '
                              f'got {self.dtype!r}')
        for name in ('batch', 'threads'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise DeviceError(
                    f'{name} must be a positive integer, got {value!r}')
        if not isinstance(self.channels_last, bool):
            raise DeviceError('channels_last must be true or false, got '
                              f'{self.channels_last!r}')

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'DeviceSettings':
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: data[name] for name in names if name in data})

    @property
    def torch_dtype(self):
        import torch
        return torch.float16 if self.dtype == 'fp16' else torch.float32


def cpu_name() -> str:
    """The CPU model: ``model name`` of /proc/cpuinfo, else the platform's
    processor string."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            for line in handle:
                key, _, value = line.partition(':')
                if key.strip() == 'model name' and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'


def check_available(settings: DeviceSettings) -> None:
    """Raise :class:`DeviceError` when ``settings`` cannot run here: cuda
    without a CUDA device, fp16 where torch has no half convolutions."""
    import torch
    if settings.device == 'cuda' and not torch.cuda.is_available():
        raise DeviceError(
            'device cuda was asked for, but torch sees no CUDA device '
            f'(torch {torch.__version__}, built with CUDA '
            f'{torch.version.cuda or "none"}); use --device cpu or run on a '
            'machine with a GPU')
    if settings.dtype == 'fp16' and settings.device == 'cpu':
        try:
            conv = torch.nn.Conv2d(8, 8, 3, padding=1).half()
            with torch.inference_mode():
                conv(torch.zeros(1, 8, 8, 8, dtype=torch.float16))
        except RuntimeError as error:
            raise DeviceError(
                'dtype fp16 on the CPU: this torch has no half-precision '
                f'convolution here ({str(error).splitlines()[0]}); use '
                '--dtype fp32, or --device cuda') from None


def torch_version() -> str:
    """``torch.__version__`` (local tag included, e.g. ``2.14.1+cu130``),
    read from torch's ``version.py`` where torch is not imported yet:
    importing it takes seconds, and a design on the CPU needs only this."""
    if 'torch' in sys.modules:
        return sys.modules['torch'].__version__
    spec = importlib.util.find_spec('torch')
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            with open(osp.join(folder, 'version.py'), encoding='utf-8') as f:
                found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)",
                                  f.read(), re.M)
        except OSError:
            continue
        if found:
            return found.group(1)
    import torch
    return torch.__version__


def describe_device(settings: DeviceSettings) -> Dict[str, Any]:
    """What the measurements depend on: the settings, the device's model
    name and the torch version (torch is imported for a GPU only)."""
    if settings.device == 'cuda':
        import torch
        check_available(settings)
        name = torch.cuda.get_device_name(torch.cuda.current_device())
    else:
        name = cpu_name()
    return dict(
        device=settings.device,
        name=name,
        threads=settings.threads,
        torch=torch_version(),
        dtype=settings.dtype,
        batch=settings.batch,
        channels_last=settings.channels_last)


def device_mismatches(recorded: Dict[str, Any],
                      current: Dict[str, Any]) -> List[Tuple[str, Any, Any]]:
    """``(field, recorded value, current value)`` of every field of
    :data:`DEVICE_FIELDS` that differs."""
    return [(name, recorded.get(name), current.get(name))
            for name in DEVICE_FIELDS
            if recorded.get(name) != current.get(name)]
