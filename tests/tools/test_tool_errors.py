# Copyright (c) mmdeepmad authors. All rights reserved.
"""What a user sees when something is wrong: ``tools/train.py``,
``tools/test.py`` and ``tools/analysis/get_flops.py`` print one message
(``train.py: error: ...``), exit with 2 (bad input), 1 (a failed run) or 130
(Ctrl-C), show no traceback unless ``--debug`` is given, and leave no work
dir behind when they stop before a run starts.

Most cases call the tools' ``main`` in this process (fast: the libraries are
imported once); a few run them as a user does, in a subprocess."""
import os
import os.path as osp
import runpy
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmdeepmad.engine.errors import MissingFileError
from ..configs.on_disk import write_class_folders
from ..models.deepmad_specs import tiny_spec

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL_PATHS = {
    'train.py': osp.join(REPO_ROOT, 'tools', 'train.py'),
    'test.py': osp.join(REPO_ROOT, 'tools', 'test.py'),
    'get_flops.py': osp.join(REPO_ROOT, 'tools', 'analysis', 'get_flops.py'),
}
B0_CONFIG = osp.join(REPO_ROOT, 'configs', 'deepmad',
                     'deepmad-b0_8xb256-480e_in1k.py')


# ---- fixtures ---------------------------------------------------------------
@pytest.fixture(scope='module')
def tools():
    return {
        name: runpy.run_path(path)['main']
        for name, path in TOOL_PATHS.items()
    }


def loader(data_root, split):
    return dict(
        batch_size=2,
        num_workers=0,
        dataset=dict(
            type='CustomDataset',
            data_root=data_root,
            data_prefix=split,
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='PackInputs')]),
        sampler=dict(type='DefaultSampler', shuffle=split == 'train'))


def tiny_cfg(data_root, block='bottleneck', epochs=1) -> dict:
    """A 2-class mmpretrain classifier on 32 px class folders."""
    return dict(
        default_scope='mmpretrain',
        model=dict(
            type='ImageClassifier',
            backbone=dict(
                type='DeepMAD', arch=tiny_spec(block,
                                               resolution=32).to_dict()),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=2,
                in_channels=32,
                loss=dict(type='CrossEntropyLoss'))),
        data_preprocessor=dict(
            num_classes=2, mean=[128.] * 3, std=[64.] * 3, to_rgb=True),
        train_dataloader=loader(data_root, 'train'),
        val_dataloader=loader(data_root, 'val'),
        test_dataloader=loader(data_root, 'val'),
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=1),
        val_cfg=dict(),
        test_cfg=dict(),
        val_evaluator=dict(type='Accuracy', topk=(1, )),
        test_evaluator=dict(type='Accuracy', topk=(1, )),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        log_processor=dict(window_size=1),
        randomness=dict(seed=0))


def write_config(path, cfg: dict) -> str:
    Config(cfg).dump(str(path))
    return str(path)


def save_weights(cfg: dict, path, prefix='') -> str:
    """The freshly built model's weights, as a checkpoint."""
    from mmengine.registry import MODELS, DefaultScope
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(cfg['model'], data_preprocessor=cfg['data_preprocessor']))
    state_dict = {f'{prefix}{k}': v for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state_dict), str(path))
    return str(path)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Tiny data, its config, a checkpoint of that model and one of a model
    whose backbone is another DeepMAD arch; none in the test's own cwd."""
    root = tmp_path_factory.mktemp('inputs')
    data = write_class_folders(str(root / 'data'), num_classes=2, per_class=2)
    cfg = tiny_cfg(data)
    other = tiny_cfg(data, block='basic')
    return dict(
        root=root,
        data=data,
        cfg=cfg,
        config=write_config(root / 'tiny.py', cfg),
        long_config=write_config(root / 'tiny_long.py',
                                 tiny_cfg(data, epochs=1000)),
        checkpoint=save_weights(cfg, root / 'tiny.pth'),
        other_arch=save_weights(other, root / 'other_arch.pth'))


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """An empty current directory: the tools' default work dir
    (work_dirs/<config>) would appear here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fails(tools, tool, argv, capsys, code=2) -> str:
    """Run a tool in this process; it must exit with ``code`` after one
    line on stderr, which is returned (without the newline)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        tools[tool](argv)
    assert stop.value.code == code
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    return err.rstrip('\n')


def nothing_left(directory, *kept):
    assert sorted(os.listdir(directory)) == sorted(kept)


# ---- the config -------------------------------------------------------------
def tool_argv(tool, config, files):
    """The arguments that make each tool read ``config``."""
    if tool == 'test.py':
        return [config, files['checkpoint']]
    return [config]


@pytest.mark.parametrize('tool', sorted(TOOL_PATHS))
def test_missing_config(tool, tools, files, cwd, capsys):
    err = fails(tools, tool, tool_argv(tool, 'nothing.py', files), capsys)
    assert err == f"{tool}: error: config file 'nothing.py' does not exist"
    nothing_left(cwd)


@pytest.mark.parametrize('tool', sorted(TOOL_PATHS))
def test_config_syntax_error_names_file_and_line(tool, tools, files, cwd,
                                                 capsys):
    (cwd / 'broken.py').write_text("model = dict(\n    type='X',\n"
                                   "train_cfg = dict(max_epochs=1)\n")
    err = fails(tools, tool, tool_argv(tool, 'broken.py', files), capsys)
    assert err == (f"{tool}: error: config 'broken.py', line 1: invalid "
                   "Python: '(' was never closed")
    nothing_left(cwd, 'broken.py')


def test_syntax_error_in_a_base_file(tools, files, cwd, capsys):
    (cwd / 'base.py').write_text('a = 1\nb = [1, 2\n')
    (cwd / 'child.py').write_text("_base_ = ['./base.py']\nc = 3\n")
    err = fails(tools, 'train.py', ['child.py'], capsys)
    assert err == ("train.py: error: config 'base.py', line 2: invalid "
                   "Python: '[' was never closed")
    (cwd / 'child.py').write_text("_base_ = './gone.py'\nc = 3\n")
    err = fails(tools, 'train.py', ['child.py'], capsys)
    assert err == ("train.py: error: config 'child.py', line 1: its _base_ "
                   "file 'gone.py' does not exist")
    nothing_left(cwd, 'base.py', 'child.py')


def test_config_that_fails_when_run_names_the_line(tools, cwd, capsys):
    (cwd / 'typo.py').write_text('epochs = 2\nmodel = dict(depth=epoch)\n')
    err = fails(tools, 'get_flops.py', ['typo.py'], capsys)
    assert err == ("get_flops.py: error: config 'typo.py', line 2: "
                   "NameError: name 'epoch' is not defined")


# ---- --cfg-options ----------------------------------------------------------
@pytest.mark.parametrize('tool', sorted(TOOL_PATHS))
def test_cfg_option_without_equals(tool, tools, files, cwd, capsys):
    argv = tool_argv(tool, files['config'],
                     files) + ['--cfg-options', 'train_cfg.max_epochs']
    err = fails(tools, tool, argv, capsys)
    assert err == (f"{tool}: error: argument --cfg-options: "
                   "'train_cfg.max_epochs' is not KEY=VALUE (e.g. "
                   f"train_cfg.max_epochs=12) (see {tool} --help)")
    nothing_left(cwd)


@pytest.mark.parametrize('tool', sorted(TOOL_PATHS))
def test_cfg_option_unknown_key_lists_the_nearest(tool, tools, files, cwd,
                                                  capsys):
    argv = tool_argv(tool, files['config'],
                     files) + ['--cfg-options', 'max_epochs=1']
    err = fails(tools, tool, argv, capsys)
    assert err == (f"{tool}: error: --cfg-options max_epochs: the config has "
                   "no key 'max_epochs'; nearest existing keys: "
                   'train_cfg.max_epochs (to add a new key, write '
                   '+max_epochs=...)')
    nothing_left(cwd)


def test_cfg_option_of_a_config_variable(tools, cwd, capsys):
    """The shipped configs define ``max_epochs = 480`` at the top: setting
    it after the file was read would change nothing."""
    err = fails(tools, 'train.py',
                [B0_CONFIG, '--cfg-options', 'max_epochs=1'], capsys)
    assert err == (
        "train.py: error: --cfg-options max_epochs: 'max_epochs' is a "
        'variable of the config file, copied into the keys that use it '
        'when the file was read, so setting it changes nothing; set those '
        'keys instead: train_cfg.max_epochs (or write +max_epochs=... to '
        'set it anyway)')
    nothing_left(cwd)


def test_cfg_option_bad_backbone_key(tools, files, cwd, capsys):
    argv = [files['config'], '--cfg-options', 'model.backbone.archh=x']
    err = fails(tools, 'train.py', argv, capsys)
    assert err == ("train.py: error: --cfg-options model.backbone.archh: "
                   "the config has no key 'model.backbone.archh'; nearest "
                   'existing keys: model.backbone.arch (to add a new key, '
                   'write +model.backbone.archh=...)')
    nothing_left(cwd)


# ---- the model --------------------------------------------------------------
@pytest.mark.parametrize('tool', sorted(TOOL_PATHS))
def test_unknown_backbone_argument_stops_before_the_work_dir(
        tool, tools, files, cwd, capsys):
    """``+key`` passes the key check; building the model catches it before
    the Runner creates work_dirs/<config>/<timestamp>/."""
    argv = tool_argv(tool, files['config'],
                     files) + ['--cfg-options', '+model.backbone.archh=x']
    err = fails(tools, tool, argv, capsys)
    assert err == (f'{tool}: error: the model cannot be built: '
                   'DeepMAD.__init__() got an unexpected keyword argument '
                   "'archh' (--debug shows the traceback)")
    nothing_left(cwd)


def test_unknown_arch_name(tools, files, cwd, capsys):
    argv = [files['config'], '--cfg-options', 'model.backbone.arch=deepmad-x']
    err = fails(tools, 'train.py', argv, capsys)
    assert err.startswith("train.py: error: the model cannot be built: "
                          "unknown DeepMAD preset 'deepmad-x'; available "
                          'presets: deepmad-29m, ')
    assert err.endswith('(--debug shows the traceback)')
    assert '\n' not in err
    nothing_left(cwd)


def test_bad_key_in_the_config_file(tools, files, cwd, capsys):
    cfg = tiny_cfg(files['data'])
    cfg['model']['backbone']['frozen_stage'] = 1
    config = write_config(cwd / 'frozen.py', cfg)
    err = fails(tools, 'train.py', [config], capsys)
    assert err == ('train.py: error: the model cannot be built: '
                   'DeepMAD.__init__() got an unexpected keyword argument '
                   "'frozen_stage' (--debug shows the traceback)")
    nothing_left(cwd, 'frozen.py')


def test_pretrained_of_another_arch_stops_training(tools, files, cwd, capsys):
    pretrained = ('+model.backbone.init_cfg.type=Pretrained',
                  f'+model.backbone.init_cfg.checkpoint={files["other_arch"]}',
                  '+model.backbone.init_cfg.prefix=backbone.')
    err = fails(tools, 'train.py',
                [files['config'], '--cfg-options', *pretrained], capsys)
    assert err.splitlines()[:-1] == [
        f"train.py: error: checkpoint {files['other_arch']!r} (tensors "
        "under 'backbone.') does not fit DeepMAD(arch='tiny-bottleneck') "
        '(70 of its 180 tensors would load):',
        "  missing from the checkpoint (60 of the model's 180): "
        'stage1.0.conv3.conv.weight, stage1.0.conv3.bn.weight, '
        'stage1.0.conv3.bn.bias, ... (57 more)',
        '  another shape (50): stage1.0.conv1.conv.weight (checkpoint '
        '8x8x3x3, model 8x8x1x1), stage1.1.conv1.conv.weight (checkpoint '
        '8x8x3x3, model 8x8x1x1), stage2.0.conv1.conv.weight (checkpoint '
        '8x8x3x3, model 8x8x1x1), ... (47 more)',
    ]
    lines = err.splitlines()
    assert lines[-1] == (
        'To load only the tensors that fit, add strict=False to the '
        'Pretrained init_cfg (e.g. --cfg-options '
        '+model.backbone.init_cfg.strict=False).')
    nothing_left(cwd)


# ---- checkpoints ------------------------------------------------------------
def test_missing_resume_checkpoint(tools, files, cwd, capsys):
    argv = [files['config'], '--resume', 'gone.pth']
    err = fails(tools, 'train.py', argv, capsys)
    assert err == ("train.py: error: --resume 'gone.pth': no such "
                   'checkpoint file')
    nothing_left(cwd)


def test_test_tool_refuses_another_arch(tools, files, cwd, capsys):
    """Nothing is evaluated, nothing is written."""
    err = fails(tools, 'test.py', [files['config'], files['other_arch']],
                capsys)
    assert err.splitlines()[:-1] == [
        f"test.py: error: checkpoint {files['other_arch']!r} does not fit "
        f"the model of config {files['config']!r} (72 of its 182 tensors "
        'would load):',
        "  missing from the checkpoint (60 of the model's 182): "
        'backbone.stage1.0.conv3.conv.weight, '
        'backbone.stage1.0.conv3.bn.weight, backbone.stage1.0.conv3.bn.bias, '
        '... (57 more)',
        '  another shape (50): backbone.stage1.0.conv1.conv.weight '
        '(checkpoint 8x8x3x3, model 8x8x1x1), '
        'backbone.stage1.1.conv1.conv.weight (checkpoint 8x8x3x3, model '
        '8x8x1x1), backbone.stage2.0.conv1.conv.weight (checkpoint 8x8x3x3, '
        'model 8x8x1x1), ... (47 more)',
    ]
    lines = err.splitlines()
    assert lines[-1] == ('tools/test.py evaluates every weight of the model: '
                         'use a checkpoint saved by a run of this config (or '
                         'of the same model).')
    nothing_left(cwd)


def test_test_tool_accepts_the_right_checkpoint(tools, files, cwd):
    metrics = tools['test.py']([
        files['config'], files['checkpoint'], '--cfg-options',
        '+experiment_name=right_checkpoint'
    ])
    assert 'accuracy/top1' in metrics


# ---- data -------------------------------------------------------------------
@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_missing_dataset_root(tool, tools, files, cwd, capsys):
    loader = 'train_dataloader' if tool == 'train.py' else 'test_dataloader'
    argv = tool_argv(tool, files['config'], files) + [
        '--cfg-options', f'{loader}.dataset.data_root=data/absent'
    ]
    err = fails(tools, tool, argv, capsys)
    assert err == (f'{tool}: error: dataset not found: {loader}.dataset.'
                   "data_root 'data/absent' does not exist (prepare the data "
                   'there, or point the config at it: --cfg-options '
                   f'{loader}.dataset.data_root=PATH)')
    nothing_left(cwd)


def test_dataset_that_fails_to_build_leaves_no_work_dir(
        tools, files, cwd, capsys):
    """The root exists but not its ``train`` folder: the dataset build
    fails after the Runner made its work dir, which is removed again."""
    os.makedirs('empty')
    argv = [
        files['config'], '--cfg-options',
        f'train_dataloader.dataset.data_root={cwd / "empty"}',
        '+experiment_name=no_train_folder'
    ]
    err = fails(tools, 'train.py', argv, capsys)
    assert err == ('train.py: error: dataset not found: train_dataloader: '
                   f"{str(cwd / 'empty' / 'train')!r} does not exist")
    nothing_left(cwd, 'empty')


def test_failed_setup_keeps_what_the_work_dir_had(tools, files, cwd, capsys):
    """In an existing work dir (a run to resume) only what this run created
    is removed."""
    os.makedirs('empty')
    os.makedirs('work/20200101_000000')
    (cwd / 'work' / 'epoch_1.pth').write_bytes(b'kept')
    argv = [
        files['config'], '--work-dir', 'work', '--cfg-options',
        f'train_dataloader.dataset.data_root={cwd / "empty"}',
        '+experiment_name=existing_work_dir'
    ]
    err = fails(tools, 'train.py', argv, capsys)
    assert err.startswith('train.py: error: dataset not found: ')
    nothing_left(cwd / 'work', '20200101_000000', 'epoch_1.pth')


# ---- Ctrl-C, bugs, --debug --------------------------------------------------
def test_ctrl_c_before_the_run(tools, files, cwd, capsys, monkeypatch):

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr('mmdeepmad.engine.model_check.check_model', interrupt)
    err = fails(tools, 'train.py', [files['config']], capsys, code=130)
    assert err == 'train.py: interrupted'
    nothing_left(cwd)


def test_ctrl_c_while_the_runner_is_set_up(tools, files, cwd, capsys,
                                           monkeypatch):

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr('mmdeepmad.engine.run_dir.build_loops', interrupt)
    err = fails(
        tools,
        'train.py',
        [files['config'], '--cfg-options', '+experiment_name=ctrl_c_setup'],
        capsys,
        code=130)
    assert err == 'train.py: interrupted'
    nothing_left(cwd)


def test_failure_during_training_exits_1_and_keeps_the_logs(
        tools, files, cwd, capsys, monkeypatch):
    """An image that vanished mid-run: a runtime failure (exit 1); the run's
    directory stays, with its log."""

    def vanished(runner):
        raise FileNotFoundError(2, 'No such file or directory', 'x.png')

    monkeypatch.setattr('mmengine.runner.Runner.train', vanished)
    err = fails(
        tools,
        'train.py',
        [files['config'], '--cfg-options', '+experiment_name=vanished'],
        capsys,
        code=1)
    work_dir = cwd / 'work_dirs' / 'tiny'
    runs = [name for name in os.listdir(work_dir) if name[:1].isdigit()]
    assert len(runs) == 1  # work_dirs/tiny/<timestamp>
    log_dir = str(work_dir / runs[0])
    assert os.listdir(log_dir)
    assert err == ('train.py: error: training stopped: FileNotFoundError: '
                   "[Errno 2] No such file or directory: 'x.png' (logs in "
                   f'{log_dir})')


def test_a_bug_keeps_its_traceback(tools, files, cwd, monkeypatch):

    def bug(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr('mmdeepmad.engine.model_check.check_model', bug)
    with pytest.raises(ZeroDivisionError):
        tools['train.py']([files['config']])


def test_debug_shows_the_traceback(tools, cwd):
    with pytest.raises(MissingFileError, match='does not exist'):
        tools['train.py'](['nothing.py', '--debug'])


# ---- as a user runs them ----------------------------------------------------
def run(*argv, cwd):
    return subprocess.run([sys.executable, *argv],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_process_missing_config(tmp_path):
    result = run(TOOL_PATHS['train.py'], 'nothing.py', cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("train.py: error: config file 'nothing.py' "
                             'does not exist\n')
    nothing_left(tmp_path)


def test_process_cfg_option_without_equals(tmp_path):
    result = run(
        TOOL_PATHS['get_flops.py'],
        B0_CONFIG,
        '--cfg-options',
        'model',
        cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "get_flops.py: error: argument --cfg-options: 'model' is not "
        'KEY=VALUE (e.g. train_cfg.max_epochs=12) (see get_flops.py '
        '--help)\n')


def test_process_debug_prints_the_traceback(tmp_path):
    result = run(
        TOOL_PATHS['test.py'], 'cfg.py', 'gone.pth', '--debug', cwd=tmp_path)
    assert result.returncode == 1  # an uncaught exception
    assert 'Traceback' in result.stderr
    assert "MissingFileError: checkpoint 'gone.pth' does not exist" in \
        result.stderr


@pytest.mark.slow
def test_process_ctrl_c_while_training(files, tmp_path, sigint_delivered):
    """A real SIGINT once training runs: one line, exit 130, the run's
    directory kept for --resume."""
    work_dir = tmp_path / 'work'
    process = subprocess.Popen([
        sys.executable, TOOL_PATHS['train.py'], files['long_config'],
        '--work-dir',
        str(work_dir)
    ],
                               cwd=tmp_path,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               text=True)
    for line in process.stdout:
        if 'Epoch(train)' in line:
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert err == (f'train.py: interrupted; the run so far is in {work_dir} '
                   '(continue it with --resume)\n')
    assert (work_dir / 'tiny_long.py').is_file()
