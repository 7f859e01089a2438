"""The architecture contract: what a designed network is, and what training
needs of it (standard library only).

* :mod:`.spec`: :class:`ArchSpec` and its JSON form (``docs/arch_spec.md``);
* :mod:`.layout`: every unit and conv a spec builds (read by the backbone and
  by both counting conventions);
* :mod:`.tinynas_format`: TinyNAS's structure format, both ways;
* :mod:`.loader`: :func:`load_arch`, the one way from a name, file, dict,
  TinyNAS list or budgets to a spec; :func:`list_presets`;
* :mod:`.classics`: ResNet-18/34/50 and MobileNetV2 written as specs.
"""
from .loader import list_presets, load_arch, load_preset, read_arch_file
from .spec import ArchSpec, HeadConvSpec, SpecError, StageSpec, StemSpec

__all__ = [
    'ArchSpec', 'HeadConvSpec', 'SpecError', 'StageSpec', 'StemSpec',
    'list_presets', 'load_arch', 'load_preset', 'read_arch_file'
]
