# Copyright (c) mmdeepmad authors. All rights reserved.
"""CPU throughput of the DeepMAD backbone: unfused, fused (deploy), the same
structure hand-built from plain torch layers (our module's overhead), and
torchvision's ResNet-50 (no classifier), at batch 1 and 32.

    python tools/analysis/benchmark_backbone.py [--arch ARCH] [--iters 5]

Models are timed round-robin (one forward each per round, in a shuffled
order) so that load from other processes on the machine spreads evenly over
them; the fastest round is reported (as ``timeit`` advises: interference only
ever slows a round down). Inference mode, eval mode, float32, NCHW.
"""
import argparse
import random
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torchvision

from mmdeepmad.arch.layout import ConvLayer, UnitLayout, build_layout
from mmdeepmad.arch.loader import load_arch
from mmdeepmad.arch.spec import ArchSpec
from mmdeepmad.conventions.counters import count
from mmdeepmad.models import DeepMAD
from mmdeepmad.reference import tinynas_releases

# TinyNAS's released deepmad-R50 (its configs/classification/models/ file)
DEEPMAD_R50 = next(entry['structure']
                   for entry in tinynas_releases()['structures']
                   if entry['name'] == 'deepmad-R50')

ACTS = {'relu': nn.ReLU, 'relu6': nn.ReLU6, 'silu': nn.SiLU}


# ---- the same network from plain torch layers -------------------------------
def plain_conv(layer: ConvLayer, act: Callable[[], nn.Module]) -> nn.Module:
    modules = [
        nn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.kernel_size // 2,
            groups=layer.groups,
            bias=False),
        nn.BatchNorm2d(layer.out_channels)
    ]
    if layer.act:
        modules.append(act(inplace=True))
    return nn.Sequential(*modules)


class PlainSE(nn.Module):

    def __init__(self, squeeze: nn.Module, excite: nn.Module):
        super().__init__()
        self.squeeze, self.excite = squeeze, excite

    def forward(self, x):
        scale = self.excite(
            self.squeeze(nn.functional.adaptive_avg_pool2d(x, 1)))
        return x * torch.sigmoid(scale)


class PlainUnit(nn.Module):
    """One residual unit as a hand-written network would have it."""

    def __init__(self, unit: UnitLayout, act):
        super().__init__()
        main = [plain_conv(layer, act) for layer in unit.main]
        if unit.se:
            main.insert(
                -1, PlainSE(*(plain_conv(layer, act) for layer in unit.se)))
        self.main = nn.Sequential(*main)
        self.has_shortcut = unit.shortcut != 'none'
        shortcut = []
        if unit.shortcut in ('pool', 'pool_proj'):
            shortcut.append(
                nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False))
        if unit.shortcut_conv is not None:
            shortcut.append(plain_conv(unit.shortcut_conv, act))
        self.shortcut = nn.Sequential(*shortcut)
        self.act = act(inplace=True) if unit.act_after_add else nn.Identity()

    def forward(self, x):
        out = self.main(x)
        if self.has_shortcut:
            out = out + self.shortcut(x)
        return self.act(out)


def plain_model(spec: ArchSpec) -> nn.Module:
    layout = build_layout(spec)
    act = ACTS[spec.act]
    modules = [plain_conv(layout.stem, act)]
    if spec.stem.max_pool:
        modules.append(nn.MaxPool2d(3, 2, 1))
    modules += [PlainUnit(unit, act) for unit in layout.units]
    if layout.head_conv is not None:
        modules.append(plain_conv(layout.head_conv, act))
    return nn.Sequential(*modules)


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Both build their convs and norms in the same order."""
    pairs = zip(source.state_dict().values(), target.state_dict().values())
    with torch.no_grad():
        for a, b in pairs:
            b.copy_(a)


# ---- timing -----------------------------------------------------------------
def benchmark(models: Dict[str, nn.Module], batch: int, resolution: int,
              warmup: int, iters: int) -> Dict[str, float]:
    x = torch.rand(batch, 3, resolution, resolution)
    rng = random.Random(batch)
    seconds: Dict[str, List[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in range(warmup):
            for model in models.values():
                model(x)
        order = list(models)
        for _ in range(iters):
            rng.shuffle(order)  # no model always runs after the same one
            for name in order:
                model = models[name]
                start = time.perf_counter()
                model(x)
                seconds[name].append(time.perf_counter() - start)
    return {name: batch / min(s) for name, s in seconds.items()}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--arch',
        default=None,
        help='anything DeepMAD(arch=...) takes (default: the TinyNAS '
        'release deepmad-R50 structure)')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--resolution', type=int, default=224)
    parser.add_argument(
        '--iters',
        type=int,
        default=5,
        help='timed rounds per batch size (batch >= 8: a '
        'third of them, at least 3)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch intra-op threads (default: torch\'s)')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = load_arch(args.arch if args.arch else DEEPMAD_R50)
    torch.manual_seed(0)
    unfused = DeepMAD(spec).eval()
    fused = DeepMAD(spec).eval()
    fused.load_state_dict(unfused.state_dict())
    fused.switch_to_deploy()
    plain = plain_model(spec).eval()
    copy_weights(unfused, plain)
    resnet50 = torchvision.models.resnet50(weights=None).eval()
    resnet50.fc = nn.Identity()

    x = torch.rand(1, 3, args.resolution, args.resolution)
    with torch.inference_mode():
        reference = unfused(x)[-1]
        scale = reference.abs().max().item()
        plain_diff = (plain(x) - reference).abs().max().item() / scale
        fused_diff = (fused(x)[-1] - reference).abs().max().item() / scale

    models = {
        'DeepMAD (unfused)': unfused,
        'DeepMAD (fused)': fused,
        'plain torch, same structure': plain,
        'torchvision ResNet-50': resnet50,
    }
    counts = count(spec)
    print(f'arch: {spec.name or "deepmad-R50 (TinyNAS release)"}; '
          f'{counts.describe()}')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'input {args.resolution}x{args.resolution}, float32, eval, '
          'inference_mode; best of round-robin rounds')
    print('check (max abs difference / max abs output): plain vs DeepMAD '
          f'{plain_diff:.1e}, fused vs unfused {fused_diff:.1e}')
    for batch in args.batch_sizes:
        iters = args.iters if batch < 8 else max(3, args.iters // 3)
        warmup = args.warmup if batch < 8 else 1
        result = benchmark(models, batch, args.resolution, warmup, iters)
        base = result['plain torch, same structure']
        print(f'\nbatch {batch} ({iters} rounds)')
        print(f'  {"model":<30} {"images/s":>9} {"vs plain":>9}')
        for name, throughput in result.items():
            print(f'  {name:<30} {throughput:>9.2f} '
                  f'{(throughput / base - 1) * 100:>+8.1f}%')


if __name__ == '__main__':
    main()
