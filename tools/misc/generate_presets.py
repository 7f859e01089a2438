"""Re-solve every preset and write mmdeepmad/presets/<name>.json.

Usage: python tools/misc/generate_presets.py [NAME ...]

These are our designs (``deepmad-*``). The official DeepMAD networks
(``tinynas-deepmad-*``) are not designed but converted from TinyNAS's
releases: ``tools/misc/import_tinynas_presets.py TINYNAS_CHECKOUT`` writes
them.
"""
import os
import sys
import time

sys.path.insert(
    0,
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from mmdeepmad.arch.loader import preset_path  # noqa: E402
from mmdeepmad.design.presets import design_preset  # noqa: E402
from mmdeepmad.design.presets import preset_names  # noqa


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or preset_names()
    for name in names:
        started = time.perf_counter()
        result = design_preset(name)
        path = preset_path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = path + '.tmp'
        with open(temporary, 'w', encoding='utf-8') as handle:
            handle.write(result.spec.to_json())
        os.replace(temporary, path)
        print(f'{name:<16} score {result.score:10.1f}  FLOPs '
              f'{result.flops / 1e9:6.3f}G  params {result.params / 1e6:6.2f}M'
              f'  rho {result.rho:.3f}  depths {list(result.spec.depths)}  '
              f'{time.perf_counter() - started:.1f} s -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
