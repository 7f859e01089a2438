# Copyright (c) mmdeepmad authors. All rights reserved.
"""Evaluate a checkpoint of any mmdeepmad config with its test evaluator
(the library is chosen by the config's ``default_scope``). Example::

    python tools/test.py configs/fcos_deepmad_r50.py work_dirs/.../epoch_24.pth
    bash tools/dist_test.sh configs/fcos_deepmad_r50.py CKPT 8   # torchrun

The checkpoint must fit the config's model exactly (every tensor, no other,
same shapes): one that does not is refused before any evaluation. Errors
print one line (``test.py: error: ...``, exit 2 for bad input, 1 for a
failed run, 130 for Ctrl-C); ``--debug`` shows the traceback instead.
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdeepmad.engine import cli  # noqa: E402

PROG = 'test.py'


def parse_args(argv=None):
    parser = cli.ArgumentParser(
        prog=PROG, description='Test a checkpoint with an mmdeepmad config.')
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
        action=cli.DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=1; '
        'each key must exist in the config (+KEY=VALUE adds a new one)')
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


def prepare(args):
    """The config of the evaluation, checked (the checkpoint must fit the
    model), before the Runner creates the work dir."""
    from mmdeepmad.engine import launch
    from mmdeepmad.engine.config_check import check_data
    from mmdeepmad.engine.errors import MissingFileError
    from mmdeepmad.engine.model_check import build_model, check_checkpoint_fits
    if not osp.isfile(args.checkpoint):
        raise MissingFileError(
            f'checkpoint {args.checkpoint!r} does not exist')
    cfg = launch.load_config(args.config, args.cfg_options)
    scope = launch.register_scope(cfg)
    cfg.launcher = args.launcher
    launch.default_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # the checkpoint supplies every weight: skip pretrained initialisation
    launch.drop_pretrained(cfg)
    if args.out is not None:
        launch.add_dump_results(cfg, args.out)
    check_data(cfg, ('test_dataloader', ))
    launch.init_cpu_distributed(cfg)
    model = build_model(cfg, scope, quiet=True)
    check_checkpoint_fits(model, args.checkpoint, args.config)
    del model
    return cfg


def test(cfg):
    """Build the Runner and the test dataset (removing what it created if
    that fails), then evaluate."""
    from mmdeepmad.engine import launch
    from mmdeepmad.engine.errors import ToolError
    from mmdeepmad.engine.run_dir import RunDirGuard, build_loops
    guard = RunDirGuard(cfg.work_dir)
    try:
        runner = launch.build_runner(cfg)
        build_loops(runner, ('test_loop', ))
    except (ToolError, KeyboardInterrupt):
        guard.clean()
        raise
    return runner.test()


def run(argv=None):
    args = parse_args(argv)
    cfg = prepare(args)
    return test(cfg)


def main(argv=None):
    return cli.run_tool(PROG, run, argv)


if __name__ == '__main__':
    main()
