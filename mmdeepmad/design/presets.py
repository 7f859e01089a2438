"""The paper's models as design problems, and their stored designs.

Each preset is a budget (paper Tables 1-3, the official configs' budgets and
stride patterns) solved by the design engine under the ``tinynas`` convention,
the program the paper's models were designed with; the JSON in
``mmdeepmad/presets/`` is what ``tools/design.py`` wrote for the preset's
command, which is stored in it (``meta.command``).
``tools/misc/generate_presets.py`` rewrites them;
``tests/design/test_presets.py`` checks they are current.
"""
from __future__ import annotations
from typing import Dict, List

from mmdeepmad.arch.spec import SpecError
from .units import format_compact

_RESNET = dict(block='bottleneck', rho=0.3, strides=(2, 2, 2, 1, 2))
_MOBILE = dict(
    block='mbv2-se', rho=0.5, strides=(1, 2, 2, 2, 2), head_channels=1792)
_LARGE = dict(block='mbv2-se', rho=0.5, strides=(2, 2, 2, 2, 1))

#: name -> design problem (budgets in TinyNAS's count, as its configs
#: give them)
PRESETS: Dict[str, dict] = {
    'deepmad-r18':
    dict(_RESNET, flops=1.82e9, params=11.69e6),
    'deepmad-r34':
    dict(_RESNET, flops=3.68e9, params=21.80e6),
    'deepmad-r50':
    dict(_RESNET, flops=4.13e9, params=25.55e6),
    'deepmad-b0':
    dict(_MOBILE, flops=390e6, params=5.3e6),
    'deepmad-mb':
    dict(_MOBILE, flops=320e6, params=3.5e6),
    'deepmad-29m':
    dict(_MOBILE, flops=4.5e9, params=29e6),
    'deepmad-29m-288':
    dict(_LARGE, flops=4.5e9, params=29e6, resolution=288, head_channels=1792),
    'deepmad-50m':
    dict(_LARGE, flops=8.7e9, params=50e6, head_channels=2048),
    'deepmad-89m':
    dict(_LARGE, flops=15.4e9, params=89e6, head_channels=2560),
}


def preset_names() -> List[str]:
    return list(PRESETS)


def _check(name: str) -> None:
    if name not in PRESETS:
        raise SpecError(f'unknown preset {name!r}; presets: '
                        f'{", ".join(PRESETS)}')


def preset_arguments(name: str) -> List[str]:
    """The ``tools/design.py`` arguments that produce the preset."""
    _check(name)
    problem = PRESETS[name]
    args = [
        '--block', problem['block'], '--flops',
        format_compact(problem['flops']), '--params',
        format_compact(problem['params']), '--rho', f'{problem["rho"]:g}',
        '--resolution',
        str(problem.get('resolution', 224)), '--strides',
        ','.join(str(s) for s in problem['strides']), '--convention', 'tinynas'
    ]
    if problem.get('head_channels'):
        args += ['--head-channels', str(problem['head_channels'])]
    args += ['--name', name]
    return args


def preset_command(name: str) -> str:
    return 'python tools/design.py ' + ' '.join(
        preset_arguments(name)) + f' --out mmdeepmad/presets/{name}.json'


def design_preset(name: str, progress=None):
    """Solve the preset's problem (what the stored JSON holds)."""
    from .api import design
    _check(name)
    problem = dict(PRESETS[name])
    return design(
        block=problem.pop('block'),
        flops=problem.pop('flops'),
        params=problem.pop('params'),
        rho=problem.pop('rho'),
        resolution=problem.pop('resolution', 224),
        convention='tinynas',
        strides=problem.pop('strides'),
        head_channels=problem.pop('head_channels', None),
        name=name,
        command=preset_command(name),
        progress=progress)
