# Copyright (c) mmdeepmad authors. All rights reserved.
"""Train any mmdeepmad config: classification (mmpretrain), detection
(mmdet), segmentation (mmseg) or action recognition (mmaction2).

The library is chosen by the config's ``default_scope``. Examples::

    python tools/train.py configs/deepmad/deepmad-r18_8xb256-480e_in1k.py
    python tools/train.py configs/fcos_deepmad_r50.py --resume
    bash tools/dist_train.sh configs/fcos_deepmad_r50.py 8   # torchrun
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdeepmad.engine import launch  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train a model from an mmdeepmad config.')
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
        action=launch.DictAction,
        help='override config entries, e.g. '
        'train_dataloader.batch_size=64 model.backbone.init_cfg=None')
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


def main(argv=None):
    args = parse_args(argv)
    cfg = launch.load_config(args.config, args.cfg_options)
    launch.register_scope(cfg)
    cfg.launcher = args.launcher
    launch.default_work_dir(cfg, args.config, args.work_dir)
    launch.use_amp_when_possible(cfg, args.amp)
    launch.init_cpu_distributed(cfg)
    if args.auto_scale_lr:
        launch.enable_auto_scale_lr(cfg)
    if args.no_validate:
        launch.disable_validation(cfg)
    launch.set_resume(cfg, args.resume)
    # fail now, not after the datasets are built, if a file is missing
    from mmdeepmad.engine import MissingPretrainedError, check_pretrained
    try:
        check_pretrained(cfg.get('model', {}), prefix='model')
    except MissingPretrainedError as error:
        raise SystemExit(f'error: {error}') from None

    runner = launch.build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
