# Copyright (c) mmdeepmad authors. All rights reserved.
"""Train any mmdeepmad config: classification (mmpretrain), detection
(mmdet), segmentation (mmseg) or action recognition (mmaction2).

The library is chosen by the config's ``default_scope``. Examples::

    python tools/train.py configs/deepmad/deepmad-r18_8xb256-480e_in1k.py
    python tools/train.py configs/fcos_deepmad_r50.py --resume
    bash tools/dist_train.sh configs/fcos_deepmad_r50.py 8   # torchrun

The config, ``--cfg-options`` keys, the data paths, the model and its
pretrained checkpoint are checked before the Runner creates the work dir.
An error prints one line (``train.py: error: ...``) and exits with 2 (bad
input) or 1 (the run failed); Ctrl-C exits with 130; ``--debug`` shows the
traceback instead.
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdeepmad.engine import cli  # noqa: E402

PROG = 'train.py'


def parse_args(argv=None):
    parser = cli.ArgumentParser(
        prog=PROG, description='Train a model from an mmdeepmad config.')
    parser.add_argument('config', help='training config file')
    parser.add_argument(
        '--work-dir',
        help='where logs and checkpoints go '
        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the latest checkpoint in the work dir, or from '
        'the checkpoint given')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the real total batch size '
        '(GPUs x samples per GPU) over the config\'s auto_scale_lr.'
        'base_batch_size')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip validation during training')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=cli.DictAction,
        help='override config entries, e.g. '
        'train_dataloader.batch_size=64 model.backbone.init_cfg=None; '
        'each key must exist in the config (+KEY=VALUE adds a new one)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (tools/dist_train.sh uses pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def prepare(args):
    """The config of the run, checked: everything a user can get wrong
    fails here, before the Runner creates the work dir."""
    from mmdeepmad.engine import check_pretrained, launch
    from mmdeepmad.engine.config_check import check_data
    from mmdeepmad.engine.model_check import check_model
    cfg = launch.load_config(args.config, args.cfg_options)
    scope = launch.register_scope(cfg)
    cfg.launcher = args.launcher
    launch.default_work_dir(cfg, args.config, args.work_dir)
    launch.use_amp_when_possible(cfg, args.amp)
    if args.auto_scale_lr:
        launch.enable_auto_scale_lr(cfg)
    if args.no_validate:
        launch.disable_validation(cfg)
    launch.set_resume(cfg, args.resume)
    # a missing pretrained file, missing data, a model that cannot be built
    # or a pretrained checkpoint that does not fit it
    check_pretrained(cfg.get('model', {}), prefix='model')
    check_data(cfg, ('train_dataloader', 'val_dataloader'))
    launch.init_cpu_distributed(cfg)
    check_model(cfg, scope)
    return cfg


def train(cfg):
    """Build the Runner and its datasets (removing what it created if that
    fails), then train."""
    import torch

    from mmdeepmad.engine import launch
    from mmdeepmad.engine.errors import Interrupted, RunFailure, ToolError
    from mmdeepmad.engine.run_dir import RunDirGuard, build_loops
    guard = RunDirGuard(cfg.work_dir)
    try:
        runner = launch.build_runner(cfg)
        build_loops(runner, ('train_loop', 'val_loop'))
    except (ToolError, KeyboardInterrupt):
        guard.clean()
        raise
    try:
        return runner.train()
    except ToolError:
        raise
    except KeyboardInterrupt:
        raise Interrupted(
            f'interrupted; the run so far is in {runner.work_dir} (continue '
            'it with --resume)') from None
    except (FileNotFoundError, MemoryError,
            torch.cuda.OutOfMemoryError) as error:
        raise RunFailure(
            f'training stopped: {type(error).__name__}: {error} (logs in '
            f'{runner.log_dir})') from error


def run(argv=None):
    args = parse_args(argv)
    cfg = prepare(args)
    return train(cfg)


def main(argv=None):
    return cli.run_tool(PROG, run, argv)


if __name__ == '__main__':
    main()
