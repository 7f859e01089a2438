# Copyright (c) mmdeepmad authors. All rights reserved.
"""Check tinynas2mmdeepmad.py against TinyNAS's own model code.

Builds TinyNAS's ``CnnNet`` from a TinyNAS checkout (not part of mmdeepmad;
pass its root), gives it random weights and BN statistics, saves its state
dict, converts it with ``tinynas2mmdeepmad.py``, loads the result into
``DeepMAD`` (strict) and prints the largest absolute difference of every
compared output::

    python tools/model_converters/check_tinynas_conversion.py \\
        --tinynas-root /path/to/lightweight-neural-architecture-search

TinyNAS's model package imports ``modelscope`` only for its registry; a
stand-in registry is put in ``sys.modules`` for the run (nothing is written
to the checkout).
"""
import argparse
import ast
import copy
import os.path as osp
import subprocess
import sys
import tempfile
import types

import torch

from mmdeepmad.arch.tinynas_format import spec_from_tinynas
from mmdeepmad.models import DeepMAD

HERE = osp.dirname(osp.abspath(__file__))
#: every released DeepMAD structure (the official networks, presets
#: tinynas-deepmad-*)
DEFAULT_STRUCTURES = ('deepmad-R18', 'deepmad-R34', 'deepmad-R50',
                      'deepmad-29M-224', 'deepmad-29M-288', 'deepmad-50M',
                      'deepmad-89M')


def stub_modelscope() -> None:
    """A stand-in for ``modelscope.utils.registry`` (register only)."""

    class Registry:

        def __init__(self, name):
            self.name, self.modules = name, {}

        def register_module(self, module_name=None, **kwargs):

            def register(cls):
                self.modules[module_name or cls.__name__] = cls
                return cls

            return register

    def build_from_cfg(*args, **kwargs):
        raise NotImplementedError('not needed to build CnnNet directly')

    registry = types.ModuleType('modelscope.utils.registry')
    registry.Registry, registry.build_from_cfg = Registry, build_from_cfg
    for name in ('modelscope', 'modelscope.utils'):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules['modelscope.utils.registry'] = registry


def matching_stages(structure) -> tuple:
    """DeepMAD stages whose outputs are TinyNAS's ``out_indices=(1, 2, 3,
    4)``: the blocks before each later stride-2 block, and the last block."""
    boundaries = [
        index - 1 for index, block in enumerate(structure)
        if index > 0 and block.get('s', 1) == 2
    ] + [len(structure) - 1]
    num_stages = sum(block['class'] != 'ConvKXBNRELU' for block in structure)
    # block i (1..M) is stage i-1; a final plain block is the head conv,
    # which belongs to the last stage
    return tuple(min(index, num_stages) - 1 for index in boundaries[1:5])


def check(name: str, structure_file: str, workdir: str, batch: int) -> None:
    from tinynas.models.blocks_cnn_2d import network_weight_stupid_init
    from tinynas.models.cnnnet import CnnNet
    with open(structure_file, encoding='utf-8') as handle:
        structure = ast.literal_eval(handle.read())['best_structures'][0]
    net = CnnNet(
        structure_info=copy.deepcopy(structure), out_indices=(1, 2, 3, 4))
    network_weight_stupid_init(net)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    net.eval()
    source = osp.join(workdir, f'{name}_tinynas.pth')
    target = osp.join(workdir, f'{name}_mmdeepmad.pth')
    torch.save(net.state_dict(), source)
    subprocess.run([
        sys.executable,
        osp.join(HERE, 'tinynas2mmdeepmad.py'), source, target, '--structure',
        structure_file
    ],
                   check=True)
    checkpoint = torch.load(target, weights_only=True)
    meta = checkpoint['meta']
    model = DeepMAD(
        meta['arch'],
        out_indices=matching_stages(structure),
        **meta['backbone_kwargs'])
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    model.eval()
    assert model.arch_spec == spec_from_tinynas(structure).replace(
        name=model.arch_spec.name)
    x = torch.rand(batch, 3, 224, 224)
    with torch.no_grad():
        expected, actual = net(x), model(x)
    for index, (a, b) in enumerate(zip(expected, actual)):
        print(f'{name} output {index} {tuple(a.shape)}: '
              f'max |TinyNAS| {a.abs().max().item():.3g}, '
              f'max abs difference {(a - b).abs().max().item():.3g}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tinynas-root', required=True)
    parser.add_argument(
        '--structures',
        nargs='+',
        default=list(DEFAULT_STRUCTURES),
        help='names under configs/classification/models/ (without .txt)')
    parser.add_argument('--batch', type=int, default=2)
    args = parser.parse_args()
    stub_modelscope()
    sys.path.insert(0, osp.abspath(args.tinynas_root))
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.structures:
            check(
                name,
                osp.join(args.tinynas_root, 'configs', 'classification',
                         'models', f'{name}.txt'), workdir, args.batch)


if __name__ == '__main__':
    main()
