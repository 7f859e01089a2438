# Copyright (c) mmdeepmad authors. All rights reserved.
"""Design, train and validate a DeepMAD classifier on real data, end to end
on a CPU: scikit-learn's bundled handwritten digits (1,797 8x8 images,
nothing downloaded).

1. data: the digits as an ImageNet-style folder dataset at 32x32
   (``<data>/{train,val}/<digit>/<index>.png``; a stratified 80/20 split,
   seed 0);
2. design: ``tools/design.py`` for a small budget (bottleneck blocks, 30M
   FLOPs, 0.3M params, rho 0.5, 32x32 input, 4 stages); the result must equal
   the committed ``configs/digits/deepmad-digits-32px.json``;
3. train: ``tools/train.py`` with
   ``configs/digits/deepmad-digits_1xb64-40e_digits-32px.py``
   on the designed architecture;
4. report the validation top-1 and the wall time of each phase; exit status 1
   below ``--min-accuracy`` (95 by default).

``--epochs`` and ``--train-fraction`` give the shortened run the tests use.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'digits',
                  'deepmad-digits_1xb64-40e_digits-32px.py')
ARCH = osp.join(REPO_ROOT, 'configs', 'digits', 'deepmad-digits-32px.json')
DESIGN_ARGS = [
    '--block', 'bottleneck', '--flops', '30M', '--params', '0.3M', '--rho',
    '0.5', '--resolution', '32', '--stages', '4', '--strides', '1,2,2,2',
    '--name', 'deepmad-digits-32px'
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--work-dir',
        default='work_dirs/digits_end_to_end',
        help='where the data, the design and the training run go')
    parser.add_argument(
        '--epochs', type=int, default=None, help='override max_epochs')
    parser.add_argument(
        '--train-fraction',
        type=float,
        default=1.0,
        help='use this fraction of the training split (shortened runs)')
    parser.add_argument(
        '--min-accuracy',
        type=float,
        default=95.0,
        help='exit status 1 below this validation top-1 (percent)')
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f'[digits] {message}', flush=True)


def write_dataset(root: str, train_fraction: float = 1.0) -> dict:
    """The digits at 32x32 in ``root/{train,val}/<digit>/``; returns the
    number of images per split."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 grey levels -> 0..255, bilinear upscaling to 32x32, 3 channels
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    indices = np.arange(len(images))
    train, val = train_test_split(
        indices, test_size=0.2, stratify=digits.target, random_state=0)
    if train_fraction < 1.0:
        train, _ = train_test_split(
            train,
            train_size=train_fraction,
            stratify=digits.target[train],
            random_state=0)
    counts = {}
    for split, chosen in (('train', train), ('val', val)):
        for index in sorted(chosen.tolist()):
            label = int(digits.target[index])
            path = osp.join(root, split, str(label), f'{index:04d}.png')
            os.makedirs(osp.dirname(path), exist_ok=True)
            image = Image.fromarray(images[index]).resize(
                (32, 32), Image.BILINEAR).convert('RGB')
            image.save(path)
        counts[split] = len(chosen)
    return counts


def design(work_dir: str) -> str:
    """Run tools/design.py; check the result equals the committed arch."""
    out = osp.join(work_dir, 'deepmad-digits-32px.json')
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'design.py'), *DESIGN_ARGS, '--out', out,
        '--no-plot', '-q'
    ],
                   check=True,
                   stdout=subprocess.DEVNULL)

    def architecture(path):
        with open(path) as f:
            spec = json.load(f)
        spec['meta'].pop('command')  # names the --out path
        return spec

    if architecture(out) != architecture(ARCH):
        raise SystemExit(f'the design {out} differs from the committed '
                         f'{ARCH}: regenerate it with the command in its '
                         'meta.command')
    return out


def last_accuracy(work_dir: str) -> float:
    runs = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    top1 = None
    with open(runs[-1]) as f:
        for line in f:
            record = json.loads(line)
            if 'accuracy/top1' in record:
                top1 = record['accuracy/top1']
    return top1


def main(argv=None) -> float:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    times = {}

    start = time.time()
    data_root = osp.join(args.work_dir, 'data')
    counts = write_dataset(data_root, args.train_fraction)
    times['data'] = time.time() - start
    log(f'wrote {counts["train"]} training and {counts["val"]} validation '
        f'images to {data_root} ({times["data"]:.1f} s)')

    start = time.time()
    arch = design(args.work_dir)
    times['design'] = time.time() - start
    log(f'designed {arch} with tools/design.py ({times["design"]:.1f} s); '
        'identical to the committed configs/digits/deepmad-digits-32px.json')

    start = time.time()
    train_dir = osp.join(args.work_dir, 'train')
    options = [f'data_root={data_root}', f'model.backbone.arch={arch}']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options.append(f'{loader}.dataset.data_root={data_root}')
    if args.epochs is not None:
        options += [
            f'train_cfg.max_epochs={args.epochs}',
            f'train_cfg.val_interval={args.epochs}',
            f'param_scheduler.1.T_max={max(1, args.epochs - 2)}',
            f'param_scheduler.1.end={args.epochs}',
        ]
    log('training with tools/train.py (mmengine progress below)')
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        train_dir, '--cfg-options', *options
    ],
                   check=True)
    times['train'] = time.time() - start

    accuracy = last_accuracy(train_dir)
    total = sum(times.values())
    log(f'validation top-1: {accuracy:.2f} % ({counts["val"]} images)')
    log('wall time: ' + ', '.join(f'{k} {v:.1f} s' for k, v in times.items()) +
        f'; total {total:.1f} s')
    if accuracy < args.min_accuracy:
        log(f'below the required {args.min_accuracy:.1f} %')
        raise SystemExit(1)
    return accuracy


if __name__ == '__main__':
    main()
