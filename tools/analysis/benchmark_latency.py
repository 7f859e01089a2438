# Copyright (c) mmdeepmad authors. All rights reserved.
"""How well latency is predicted, and what designing to a latency budget
buys, on this machine.

    python tools/analysis/benchmark_latency.py [--threads 2] [--designs 30]
        [--lut-dir work_dirs/latency] [--parts a,b,c,d] [--batches 1,32]

(a) whole-network prediction error: seeded random designs of the four
    families (the design engine at random budgets and resolutions), every
    preset, and torchvision's ResNet-50 and MobileNetV2 (their trunks, no
    classifier), each predicted from its family's LUT and measured, deployed
    (BN folded), round-robin;
(b) at the measured latency of torchvision's ResNet-50 (batch 1, and each
    other ``--batches``): the design for that latency budget (``--measure``:
    tightened until its measured latency meets it) against the design for a
    FLOPs budget scaled (by bisection) to the same measured latency, both with
    ResNet-50's params budget 25.55M and rho 0.3, paper convention;
(c) the same on a GPU, where CUDA is present (otherwise skipped, and said);
(d) the time a LUT adds to a design: ``tools/design.py`` (a fresh process,
    so the LUT's loading counts) at seeded random FLOPs/params budgets of
    each family, without a LUT, then with a latency budget far from binding
    (10x the first design's predicted latency) and two binding ones (0.8x
    and 0.6x); the median of ``--timing-runs`` runs each.

A family's LUT is read from ``--lut-dir``
(``<family>-<device>-b<batch>.json``) or profiled there first
(``tools/analysis/profile_latency.py``'s defaults).
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torchvision

from mmdeepmad.arch.classics import mobilenet_v2, resnet50
from mmdeepmad.arch.loader import list_presets, load_arch, load_preset
from mmdeepmad.conventions import evaluate
from mmdeepmad.design.api import design
from mmdeepmad.design.defaults import DEFAULT_RHO
from mmdeepmad.design.solver import InfeasibleBudgetError
from mmdeepmad.latency.calibrate import design_measured
from mmdeepmad.latency.device import DeviceSettings
from mmdeepmad.latency.measure import (backbone, deployed, make_input, place,
                                       time_modules)
from mmdeepmad.latency.profile import run_profile
from mmdeepmad.latency.table import LatencyTable, load_lut

FAMILIES = ('bottleneck', 'basic', 'mbv2', 'mbv2-se')
#: params per FLOP of the releases (R50 25.55M / 4.13G; B0-like 5.3M / 390M)
PARAMS_PER_FLOP = {
    'bottleneck': 6.2e-3,
    'basic': 6.4e-3,
    'mbv2': 13.6e-3,
    'mbv2-se': 13.6e-3
}
FLOPS_RANGE = {
    'bottleneck': (0.5e9, 6e9),
    'basic': (0.5e9, 4e9),
    'mbv2': (0.1e9, 1.2e9),
    'mbv2-se': (0.1e9, 1.2e9)
}
R50_PARAMS = 25.55e6


def say(message: str) -> None:
    print(
        f'[{time.strftime("%H:%M:%S")}] {message}',
        file=sys.stderr,
        flush=True)


def family_of(spec) -> str:
    return spec.stages[0].block


# ---- LUTs -------------------------------------------------------------------
def ensure_lut(block: str, settings: DeviceSettings, lut_dir: str,
               samples: Optional[int]) -> LatencyTable:
    path = os.path.join(lut_dir,
                        f'{block}-{settings.device}-b{settings.batch}.json')
    if os.path.exists(path):
        table = load_lut(path)
        if table.device.get('threads') == settings.threads:
            return table
        say(f'{path} was profiled with {table.device.get("threads")} '
            f'threads; profiling again with {settings.threads}')
    os.makedirs(lut_dir, exist_ok=True)
    say(f'profiling {block} units at batch {settings.batch} -> {path}')
    options = {} if samples is None else dict(samples=samples)

    def progress(state):
        if state.done == state.total or state.done % 50 == 0:
            say(f'  {state.done}/{state.total} samples')

    return run_profile(
        block, settings, out_path=path, progress=progress, **options)


# ---- (a) prediction error ---------------------------------------------------
def random_designs(count: int,
                   seed: int,
                   families=FAMILIES) -> List[Tuple[str, object]]:
    """``(label, spec)`` of designs at seeded random budgets: the families in
    turn, log-uniform FLOPs, params around the releases' ratio, random rho,
    resolution and convention."""
    rng = np.random.default_rng(seed)
    designs = []
    attempt = 0
    while len(designs) < count and attempt < 4 * count:
        block = families[attempt % len(families)]
        attempt += 1
        low, high = FLOPS_RANGE[block]
        flops = float(math.exp(rng.uniform(math.log(low), math.log(high))))
        params = flops * PARAMS_PER_FLOP[block] * float(rng.uniform(0.5, 2))
        rho = float(rng.uniform(0.2, 1.0))
        resolution = int(rng.choice([160, 192, 224, 256]))
        convention = str(rng.choice(['paper', 'tinynas']))
        try:
            result = design(
                block=block,
                flops=flops,
                params=params,
                rho=rho,
                resolution=resolution,
                convention=convention)
        except (InfeasibleBudgetError, ValueError):
            continue
        label = (f'random-{len(designs):02d} {block} {flops / 1e9:.2f}G '
                 f'{resolution}px')
        designs.append((label, result.spec))
    return designs


def torchvision_trunks() -> Dict[str, Tuple[torch.nn.Module, object]]:
    """torchvision's ResNet-50 and MobileNetV2 without their classifiers,
    with the specs of the same networks (their predictions)."""
    resnet = torchvision.models.resnet50()
    resnet_trunk = torch.nn.Sequential(*list(resnet.children())[:-2])
    mobile = torchvision.models.mobilenet_v2().features
    return {
        'torchvision resnet50': (resnet_trunk, resnet50()),
        'torchvision mobilenet_v2': (mobile, mobilenet_v2()),
    }


def measure_all(networks: Sequence[Tuple[str, torch.nn.Module, int]],
                settings: DeviceSettings, repeats: int) -> List[float]:
    """Median seconds of each ``(label, module, resolution)``, deployed and
    timed round-robin, in groups of eight (memory)."""
    seconds = []
    for first in range(0, len(networks), 8):
        pairs = []
        for _, module, resolution in networks[first:first + 8]:
            module = place(deployed(module), settings)
            shape = (settings.batch, 3, resolution, resolution)
            pairs.append((module, make_input(shape, settings)))
        seconds += time_modules(pairs, settings, repeats=repeats)
    return seconds


def part_a(tables: Dict[str, LatencyTable], settings: DeviceSettings,
           count: int, seed: int, repeats: int) -> None:
    print('\n(a) whole-network prediction error '
          f'(batch {settings.batch}, {settings.threads} threads, '
          f'{settings.dtype}, {tables[next(iter(tables))].device["name"]})')
    say(f'designing {count} networks at seeded random budgets')
    entries = random_designs(count, seed, tuple(tables))
    for name in list_presets():
        spec = load_preset(name)
        if family_of(spec) in tables:
            entries.append((f'preset {name}', spec))
    networks = [(label, backbone(spec), spec.resolution)
                for label, spec in entries]
    predicted = [
        tables[family_of(spec)].model.predict(spec) for _, spec in entries
    ]
    for label, (module, spec) in torchvision_trunks().items():
        if family_of(spec) in tables:
            networks.append((label, module, spec.resolution))
            predicted.append(tables[family_of(spec)].model.predict(spec))
    say(f'measuring {len(networks)} networks')
    measured = measure_all(networks, settings, repeats)
    rows, errors = [], []
    for (label, _, _), p, m in zip(networks, predicted, measured):
        error = (p - m) / m
        errors.append(abs(error))
        rows.append((label, f'{p * 1e3:.2f}', f'{m * 1e3:.2f}',
                     f'{100 * error:+.1f}%'))
    width = max(len(r[0]) for r in rows)
    print(f'{"network":<{width}}  predicted ms  measured ms   error')
    for label, p, m, e in rows:
        print(f'{label:<{width}}  {p:>12}  {m:>11}  {e:>7}')
    print(f'summary (a): {len(errors)} networks, median |error| '
          f'{100 * statistics.median(errors):.1f}%, max '
          f'{100 * max(errors):.1f}% (targets: median <= 10%, max <= 25%)')


# ---- (b) at ResNet-50's latency ---------------------------------------------
def _design(**budgets):
    return design(block='bottleneck', params=R50_PARAMS, rho=0.3, **budgets)


def flops_design_at(latency: float, settings: DeviceSettings,
                    steps: int) -> Tuple[object, float]:
    """The FLOPs-budget design whose measured latency is the largest not
    above ``latency`` (bisection on log FLOPs)."""
    low, high = 0.3e9, 16e9
    best = None
    for _ in range(steps):
        middle = math.sqrt(low * high)
        try:
            result = _design(flops=middle)
        except InfeasibleBudgetError:
            low = middle
            continue
        measured = time_modules([_placed(result.spec, settings)], settings)[0]
        say(f'  FLOPs {middle / 1e9:.3f}G: measured {measured * 1e3:.2f} ms')
        if measured <= latency:
            low, best = middle, (result, middle)
        else:
            high = middle
    if best is None:
        raise RuntimeError('no FLOPs budget met the latency')
    return best


def _placed(spec, settings):
    module = place(backbone(spec), settings)
    x = make_input((settings.batch, 3, spec.resolution, spec.resolution),
                   settings)
    return module, x


def part_b(table: LatencyTable, settings: DeviceSettings, repeats: int,
           steps: int) -> None:
    print(f'\n(b) at the measured latency of torchvision ResNet-50 (batch '
          f'{settings.batch}, {settings.threads} threads)')
    trunk, _ = torchvision_trunks()['torchvision resnet50']
    target = measure_all([('resnet50', trunk, 224)], settings, repeats)[0]
    say(f'ResNet-50 measured {target * 1e3:.2f} ms')

    def solve(budget):
        return _design(latency=budget, lut=table)

    by_latency = design_measured(solve, table, target, progress=say)
    by_flops, flops = flops_design_at(target, settings, steps)
    networks = [('torchvision resnet50', trunk, 224),
                ('latency-budget design', backbone(by_latency.result.spec),
                 224), ('FLOPs-budget design', backbone(by_flops.spec), 224)]
    measured = measure_all(networks, settings, repeats)
    counted = evaluate(resnet50(), 'paper')
    rows = [('torchvision resnet50', counted.score, measured[0], counted.flops,
             counted.params),
            ('latency-budget design', by_latency.result.score, measured[1],
             by_latency.result.flops, by_latency.result.params),
            (f'FLOPs-budget design ({flops / 1e9:.3f}G)', by_flops.score,
             measured[2], by_flops.flops, by_flops.params)]
    print(f'{"network":<36} {"score":>10} {"measured ms":>12} '
          f'{"FLOPs":>9} {"params":>9}')
    for label, score, m, f, p in rows:
        print(f'{label:<36} {score:>10.1f} {m * 1e3:>12.2f} '
              f'{f / 1e9:>8.3f}G {p / 1e6:>8.2f}M')
    higher = by_latency.result.score >= by_flops.score
    print(f'summary (b) batch {settings.batch}: latency design score '
          f'{by_latency.result.score:.1f} vs FLOPs design '
          f'{by_flops.score:.1f} '
          f'({"higher" if higher else "LOWER"}); '
          f'measured {measured[1] * 1e3:.2f} ms vs ResNet-50 '
          f'{measured[0] * 1e3:.2f} ms '
          f'({"not above" if measured[1] <= measured[0] else "ABOVE"}); '
          f'rounds {len(by_latency.rounds)}')


# ---- (d) what a LUT adds to a design's time ---------------------------------
DESIGN_TOOL = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'design.py')


def _timed_design(arguments: Sequence[str], out: str,
                  runs: int) -> Tuple[float, int]:
    """Median wall seconds of ``tools/design.py`` with ``arguments`` (fresh
    processes) and its exit status."""
    seconds, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        status = subprocess.run([
            sys.executable, DESIGN_TOOL, *arguments, '-q', '--no-plot',
            '--out', out
        ],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), status


def part_d(tables: Dict[str, LatencyTable], cases: int, seed: int,
           runs: int) -> None:
    print(f'\n(d) the time a LUT adds to a design (tools/design.py, median '
          f'of {runs} runs; latency budgets as multiples of the design '
          'without one)')
    rng = np.random.default_rng(seed)
    print(f'{"case":<34} {"no LUT s":>9} {"10x":>7} {"0.8x":>7} {"0.6x":>7}')
    added = []
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, 'design.json')
        for block, table in tables.items():
            for _ in range(cases):
                low, high = FLOPS_RANGE[block]
                flops = math.exp(rng.uniform(math.log(low), math.log(high)))
                params = flops * PARAMS_PER_FLOP[block] * rng.uniform(0.5, 2)
                budgets = [
                    '--block', block, '--flops', f'{flops:.4g}', '--params',
                    f'{params:.4g}', '--rho',
                    str(DEFAULT_RHO[block])
                ]
                alone, status = _timed_design(budgets, out, runs)
                if status != 0:
                    print(f'{block} {flops / 1e9:.2f}G: no design '
                          f'(exit {status}); skipped')
                    continue
                predicted = table.model.predict(load_arch(out))
                cells = []
                for factor in (10.0, 0.8, 0.6):
                    seconds, status = _timed_design(
                        budgets + [
                            '--latency', f'{factor * predicted:.6g}s', '--lut',
                            table.path
                        ], out, runs)
                    added.append(seconds - alone)
                    cells.append(f'{seconds - alone:+.2f}' +
                                 ('' if status == 0 else '*'))
                label = (f'{block} {flops / 1e9:.2f}G {params / 1e6:.1f}M')
                print(f'{label:<34} {alone:>9.2f} ' + ' '.join(f'{c:>7}'
                                                               for c in cells))
    print('(seconds added by the LUT; * the design tool found no design)')
    if not added:
        print('summary (d): no design was timed')
        return
    print(f'summary (d): {len(added)} designs with a LUT, seconds added '
          f'median {statistics.median(added):+.2f}, max {max(added):+.2f} '
          '(target: <= 2 s)')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--designs', type=int, default=30)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--lut-dir', default='work_dirs/latency')
    parser.add_argument(
        '--samples',
        type=int,
        default=None,
        help='profile samples of a missing LUT')
    parser.add_argument('--parts', default='a,b,c,d')
    parser.add_argument(
        '--batches', default='1,32', help='batches of part (b)')
    parser.add_argument('--families', default=','.join(FAMILIES))
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--bisection-steps', type=int, default=7)
    parser.add_argument(
        '--timing-cases',
        type=int,
        default=2,
        help='budgets per family of part (d)')
    parser.add_argument(
        '--timing-runs',
        type=int,
        default=3,
        help='runs of each design of part (d)')
    args = parser.parse_args(argv)
    if args.timing_cases < 1 or args.timing_runs < 1:
        parser.error('--timing-cases and --timing-runs must be at least 1')
    parts = set(args.parts.split(','))
    families = args.families.split(',')
    batches = [int(b) for b in args.batches.split(',')]
    single = DeviceSettings(device='cpu', batch=1, threads=args.threads)
    started = time.perf_counter()
    if 'a' in parts:
        tables = {
            block: ensure_lut(block, single, args.lut_dir, args.samples)
            for block in families
        }
        part_a(tables, single, args.designs, args.seed, args.repeats)
    if 'b' in parts:
        for batch in batches:
            settings = DeviceSettings(
                device='cpu', batch=batch, threads=args.threads)
            table = ensure_lut('bottleneck', settings, args.lut_dir,
                               args.samples)
            part_b(table, settings, max(5, args.repeats // batch),
                   args.bisection_steps)
    if 'c' in parts:
        if not torch.cuda.is_available():
            print('\n(c) GPU: no CUDA device on this machine; skipped (the '
                  'same script runs part (b) on a GPU where CUDA is present)')
        else:
            for batch in batches:
                settings = DeviceSettings(
                    device='cuda', batch=batch, threads=args.threads)
                table = ensure_lut('bottleneck', settings, args.lut_dir,
                                   args.samples)
                part_b(table, settings, args.repeats, args.bisection_steps)
    if 'd' in parts:
        tables = {
            block: ensure_lut(block, single, args.lut_dir, args.samples)
            for block in families
        }
        part_d(tables, args.timing_cases, args.seed, args.timing_runs)
    say(f'benchmark done in {time.perf_counter() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
