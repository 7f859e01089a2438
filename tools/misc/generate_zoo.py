# Copyright (c) mmdeepmad authors. All rights reserved.
"""Generate the model zoo: configs/**/metafile.yml, model-index.yml and
model_zoo.md (see :mod:`mmdeepmad.zoo`).

Params and FLOPs are measured on the built models (mmengine FlopAnalyzer,
conv + linear multiply-accumulates, ImageNet entries with their 1000-class
head); configs are discovered by reading ``model.backbone.arch`` of every
``configs/**/*.py``. ``tests/zoo/test_zoo.py`` fails when the committed files
differ from what this writes.

Usage::

    python tools/misc/generate_zoo.py [--out-dir DIR] [--reference JSON]
        [--check] [--measure-design-times] [--debug]

``--check`` writes nothing and exits 1 when a committed file is stale.
Expected errors (the TinyNAS reference data missing or malformed, a preset
file that does not read, an output that cannot be written) print one line
on stderr and exit 2; ``--debug`` adds the traceback.
``--measure-design-times`` first times every preset's design and writes the
record ``mmdeepmad/zoo/design_times.json`` that the comparison table reads
(measurements are recorded, never re-measured by a plain run, so the
generated files stay deterministic).
"""
import argparse
import os
import os.path as osp
import sys
import time
import traceback

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmdeepmad.arch.spec import SpecError  # noqa: E402
from mmdeepmad.reference import ReferenceDataError  # noqa: E402
from mmdeepmad.reference import tinynas_releases  # noqa: E402
from mmdeepmad.zoo import build_zoo  # noqa: E402
from mmdeepmad.zoo import default_reference  # noqa: E402
from mmdeepmad.zoo import generated_paths  # noqa: E402
from mmdeepmad.zoo import write_zoo  # noqa: E402

PROG = 'generate_zoo.py'

#: what a run can meet that is not a bug: the reference data missing or
#: malformed, a preset file that does not read, an output that cannot be
#: written; one line on stderr and exit status 2 (``--debug``: traceback)
EXPECTED_ERRORS = (ReferenceDataError, SpecError, OSError)


def measure_design_times(repeats: int = 3) -> None:
    """Time every preset's design (median of ``repeats`` runs) and write the
    record the comparison table reads."""
    import json
    import platform
    import statistics
    import warnings

    from mmdeepmad.design.presets import design_preset, preset_names
    from mmdeepmad.zoo.facts import DESIGN_TIMES
    warnings.filterwarnings('ignore')
    seconds = {}
    for name in preset_names():
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            design_preset(name)
            runs.append(time.perf_counter() - started)
        seconds[name] = round(statistics.median(runs), 2)
        print(f'design time {name:<16} {seconds[name]:7.2f} s '
              f'(median of {repeats})')
    record = dict(
        machine=f'{os.cpu_count()}-core {platform.machine()} CPU',
        date=time.strftime('%Y-%m-%d'),
        method=f'design_preset(name) wall time, median of {repeats}',
        seconds=seconds)
    with open(DESIGN_TIMES, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write('\n')
    print(f'wrote {DESIGN_TIMES}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--root',
        default=ROOT,
        help='checkout to read configs/presets/checkpoints '
        'from (default: this repository)')
    parser.add_argument(
        '--out-dir', default=None, help='where to write (default: --root)')
    parser.add_argument(
        '--reference',
        default=None,
        help='TinyNAS reference data (default: '
        '$MMDEEPMAD_TINYNAS_REFERENCE or the committed '
        'mmdeepmad/reference/tinynas_released.json)')
    parser.add_argument(
        '--check',
        action='store_true',
        help='write nothing; exit 1 if committed files are '
        'stale')
    parser.add_argument(
        '--measure-design-times',
        action='store_true',
        help='time every preset\'s design and write '
        'mmdeepmad/zoo/design_times.json first')
    parser.add_argument(
        '--debug', action='store_true', help='show the traceback of an error')
    args = parser.parse_args(argv)
    try:
        return run(args)
    except EXPECTED_ERRORS as error:
        if args.debug:
            traceback.print_exc()
        print(f'{PROG}: error: {_one_line(error)}', file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename:
        reason = error.strerror or type(error).__name__
        return f'{error.filename}: {reason}'
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def run(args) -> int:
    root = osp.abspath(args.root)
    reference = args.reference or default_reference(root)
    tinynas_releases(reference)  # a bad reference fails now, not in a minute
    if args.measure_design_times:
        measure_design_times()
    files = build_zoo(root, reference, progress=print)
    if args.check:
        stale = []
        for rel, text in sorted(files.items()):
            path = osp.join(root, rel)
            if not osp.isfile(path) or open(
                    path, encoding='utf-8').read() != text:
                stale.append(rel)
        stale += [p for p in generated_paths(root) if p not in files]
        for rel in stale:
            print(f'stale: {rel}')
        print('up to date'
              if not stale else 'run python tools/misc/generate_zoo.py')
        return 1 if stale else 0
    out_dir = osp.abspath(args.out_dir or root)
    if out_dir == root:
        # metafiles of folders that no longer hold a preset config
        for rel in generated_paths(root):
            if rel.endswith('metafile.yml') and rel not in files:
                os.remove(osp.join(root, rel))
                print(f'removed stale {rel}')
    for path in write_zoo(files, out_dir):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
