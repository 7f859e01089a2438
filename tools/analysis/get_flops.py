# Copyright (c) mmdeepmad authors. All rights reserved.
"""Parameters and FLOPs of any mmdeepmad config's model.

Convention (the same as mmengine's FlopAnalyzer, fvcore and the DeepMAD
paper's tables): one FLOP is one multiply-accumulate of a convolution or
linear layer, counted for one input at the given shape; norms, activations
and element-wise additions are counted as mmengine counts them (small);
parameters count every learnable tensor. The backbone line is what the
paper's downstream tables report ("FLOPs and Params are counted for
Backbone"). Example::

    python tools/analysis/get_flops.py configs/fcos_deepmad_r50.py
    python tools/analysis/get_flops.py \
        configs/deepmad/deepmad-r50_8xb256-480e_in1k.py

Default input shapes: the backbone's design resolution (classification),
800 x 1333 (detection), 512 x 512 (segmentation), the config's training
segments x 224 x 224 (action recognition); ``--shape H W`` overrides.

Errors print one line (``get_flops.py: error: ...``, exit 2 for bad input,
130 for Ctrl-C); ``--debug`` shows the traceback instead.
"""
import os.path as osp
import sys

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdeepmad.engine import cli  # noqa: E402

PROG = 'get_flops.py'
DEFAULT_SHAPES = {'mmdet': (800, 1333), 'mmseg': (512, 512)}


def parse_args(argv=None):
    parser = cli.ArgumentParser(
        prog=PROG,
        description='Count the parameters and FLOPs of a config\'s model.')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input height and width (see the defaults above)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=cli.DictAction,
        help='override config entries (each key must exist in the config; '
        '+KEY=VALUE adds a new one)')
    return parser.parse_args(argv)


def num_segments(cfg) -> int:
    for transform in cfg.get('train_pipeline', []):
        if transform.get('type') == 'SampleFrames':
            return transform.get('num_clips', 1) * transform.get('clip_len', 1)
    return 1


def input_tensor(cfg, scope: str, model, shape):
    import torch
    if shape is None:
        if scope in DEFAULT_SHAPES:
            shape = DEFAULT_SHAPES[scope]
        else:
            resolution = model.backbone.arch_spec.resolution
            shape = (224, 224) if scope == 'mmaction' else (resolution,
                                                            resolution)
    if scope == 'mmaction':
        return torch.zeros(1, num_segments(cfg), 3, *shape), shape
    return torch.zeros(1, 3, *shape), shape


def count(module, inputs):
    """(FLOPs, params) of ``module`` on ``inputs`` with mmengine's counter."""
    from mmengine.analysis import FlopAnalyzer, parameter_count
    module.eval()
    flops = FlopAnalyzer(module, inputs).unsupported_ops_warnings(
        False).uncalled_modules_warnings(False).total()
    return flops, parameter_count(module)['']


def run(argv=None):
    args = parse_args(argv)
    import torch

    from mmdeepmad.engine import launch
    from mmdeepmad.engine.model_check import build_model
    cfg = launch.load_config(args.config, args.cfg_options)
    scope = launch.register_scope(cfg)
    launch.drop_pretrained(cfg)
    model = build_model(cfg, scope, quiet=True)
    inputs, shape = input_tensor(cfg, scope, model, args.shape)

    class Tensors(torch.nn.Module):
        """The whole model's raw tensor outputs (mode='tensor')."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, mode='tensor')

    frames = inputs.flatten(0, 1) if inputs.dim() == 5 else inputs
    with torch.no_grad():
        backbone_flops, backbone_params = count(model.backbone, (frames, ))
        model_flops, model_params = count(Tensors(model), (inputs, ))

    spec = model.backbone.arch_spec
    print(f'config      {args.config}')
    print(f'scope       {scope}')
    print(f'backbone    DeepMAD {spec.stages[0].block}, '
          f'{len(spec.stages)} stages')
    print(f'input       {tuple(inputs.shape)}  (H x W = {shape[0]} x '
          f'{shape[1]})')
    print('convention  1 FLOP = 1 multiply-accumulate (mmengine '
          'FlopAnalyzer)')
    print(f'{"":12}{"params":>14}{"FLOPs":>14}')
    print(f'{"backbone":12}{backbone_params / 1e6:>12.2f} M'
          f'{backbone_flops / 1e9:>12.2f} G')
    print(f'{"model":12}{model_params / 1e6:>12.2f} M'
          f'{model_flops / 1e9:>12.2f} G')
    return dict(
        backbone_params=backbone_params,
        backbone_flops=backbone_flops,
        model_params=model_params,
        model_flops=model_flops)


def main(argv=None):
    return cli.run_tool(PROG, run, argv)


if __name__ == '__main__':
    main()
