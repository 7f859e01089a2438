# Copyright (c) mmdeepmad authors. All rights reserved.
"""Evaluate a checkpoint of any mmdeepmad config with its test evaluator
(the library is chosen by the config's ``default_scope``). Example::

    python tools/test.py configs/fcos_deepmad_r50.py work_dirs/.../epoch_24.pth
    bash tools/dist_test.sh configs/fcos_deepmad_r50.py CKPT 8   # torchrun
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdeepmad.engine import launch  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test a checkpoint with an mmdeepmad config.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='where the evaluation logs go '
        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=launch.DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=1')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (tools/dist_test.sh uses pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = launch.load_config(args.config, args.cfg_options)
    launch.register_scope(cfg)
    cfg.launcher = args.launcher
    launch.default_work_dir(cfg, args.config, args.work_dir)
    launch.init_cpu_distributed(cfg)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # the checkpoint supplies every weight: skip pretrained initialisation
    launch.drop_pretrained(cfg)
    if args.out is not None:
        launch.add_dump_results(cfg, args.out)

    runner = launch.build_runner(cfg)
    metrics = runner.test()
    return metrics


if __name__ == '__main__':
    main()
