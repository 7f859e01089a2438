"""The OpenMMLab config fragment printed with a design: the ``DeepMAD``
backbone reading the arch JSON, and the neck's ``in_channels`` it needs."""
from __future__ import annotations
from typing import Optional, Sequence, Tuple

from mmdeepmad.arch.spec import ArchSpec, SpecError


def default_out_indices(spec: ArchSpec) -> Tuple[int, ...]:
    """The last four stages (all of them when there are fewer)."""
    count = spec.num_stages
    return tuple(range(max(0, count - 4), count))


def config_fragment(spec: ArchSpec,
                    arch_path: str,
                    out_indices: Optional[Sequence[int]] = None) -> str:
    """An OpenMMLab config fragment building ``spec`` from ``arch_path``; the
    neck's ``in_channels`` are the output stages' channels (the last stage's
    include the head conv)."""
    if out_indices is None:
        out_indices = default_out_indices(spec)
    count = spec.num_stages
    indices = []
    for index in out_indices:
        if not -count <= index < count:
            raise SpecError(f'out_indices entry {index} is out of range for '
                            f'{count} stages (0-based; give 0..{count - 1})')
        indices.append(index % count)
    if len(set(indices)) != len(indices):
        raise SpecError(f'out_indices {tuple(out_indices)} names a stage '
                        'twice')
    indices = sorted(indices)
    channels = [spec.stage_channels[i] for i in indices]
    shown = '(' + ', '.join(map(
        str, indices)) + (',)' if len(indices) == 1 else ')')
    return (f'# OpenMMLab config fragment ({spec.name or "design"}): the '
            'DeepMAD backbone reads the arch JSON\n'
            "custom_imports = dict(imports=['mmdeepmad'], "
            'allow_failed_imports=False)\n'
            'model = dict(\n'
            '    backbone=dict(\n'
            "        type='DeepMAD',\n"
            f'        arch={arch_path!r},\n'
            f'        out_indices={shown}),\n'
            f'    neck=dict(in_channels={channels!r}))\n')
