# Copyright (c) mmdeepmad authors. All rights reserved.
"""Save -> load -> resume with mmengine's Runner in a FRESH interpreter.

Run as ``python -m tests.foundation._checkpoint_roundtrip WORK_DIR`` from the
repository root. ``mmdeepmad`` is imported only through the config's
``custom_imports``, as in real use. Prints one JSON line with the results.
"""
import json
import os.path as osp
import sys
import textwrap

CFG = '''
custom_imports = dict(
    imports=['mmdeepmad', 'tests.foundation._toys'],
    allow_failed_imports=False)
default_scope = 'mmengine'
work_dir = {work_dir!r}
experiment_name = {name!r}
model = dict(type='MmdeepmadToyModel')
train_dataloader = dict(
    dataset=dict(type='MmdeepmadToyDataset'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_size=4,
    num_workers=0)
train_cfg = dict(by_epoch=True, max_epochs={max_epochs})
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
param_scheduler = dict(type='MultiStepLR', milestones=[1], gamma=0.1)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1),
    logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='MmdeepmadRecordHook')]
randomness = dict(seed=0)
resume = {resume}
'''


def main(work_dir):
    assert 'mmdeepmad' not in sys.modules
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    def run(name, max_epochs, resume):
        path = osp.join(work_dir, f'{name}.py')
        with open(path, 'w') as f:
            f.write(
                textwrap.dedent(
                    CFG.format(
                        work_dir=work_dir,
                        name=name,
                        max_epochs=max_epochs,
                        resume=resume)))
        cfg = Config.fromfile(path)
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner

    run('first', 2, False)
    assert 'mmdeepmad' in sys.modules  # via custom_imports
    from tests.foundation._toys import RECORD

    ckpt_path = osp.join(work_dir, 'epoch_2.pth')
    # torch's default: weights_only=True (since 2.6)
    ckpt = torch.load(ckpt_path, map_location='cpu')
    saved = ckpt['state_dict']

    second = run('second', 3, True)
    resumed = dict(RECORD)
    equal = sorted(saved) == sorted(resumed['state_dict']) and all(
        torch.equal(saved[k], resumed['state_dict'][k]) for k in saved)
    final = second.model.state_dict()
    changed = any(not torch.equal(saved[k], final[k]) for k in saved
                  if saved[k].is_floating_point())
    out = dict(
        torch=torch.__version__,
        saved_epoch=ckpt['meta']['epoch'],
        saved_keys=sorted(ckpt),
        hub_scalars=sorted(ckpt['message_hub']['log_scalars']),
        resumed_epoch=resumed['epoch'],
        resumed_iter=resumed['iter'],
        resumed_lr=resumed['lr'],
        resumed_momentum_buffers=resumed['momentum_buffers'],
        resumed_log_scalars=resumed['log_scalars'],
        weights_equal=equal,
        final_epoch=second.epoch,
        trained_after_resume=changed,
        epoch3_exists=osp.exists(osp.join(work_dir, 'epoch_3.pth')),
    )
    print('RESULT ' + json.dumps(out))


if __name__ == '__main__':
    main(sys.argv[1])
