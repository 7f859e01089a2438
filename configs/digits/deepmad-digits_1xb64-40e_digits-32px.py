# A DeepMAD classifier for scikit-learn's handwritten digits (1,797 real 8x8
# images, upscaled to 32x32): the whole path -- design, train, validate --
# on a CPU in minutes. `python tools/misc/digits_end_to_end.py` writes the
# data to data/digits/{train,val}/<digit>/*.png, designs the backbone with
#   tools/design.py --block bottleneck --flops 30M --params 0.3M --rho 0.5
#       --resolution 32 --stages 4 --strides 1,2,2,2
# (its output is the committed deepmad-digits-32px.json beside this file;
# the script checks they are identical) and trains this config.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/digits'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DeepMAD',
        arch='{{fileDirname}}/deepmad-digits-32px.json',
        out_indices=(-1, ),
        norm_eval=False),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=360,  # = backbone.out_channels[-1]; tested
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

data_preprocessor = dict(
    num_classes=10, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=False)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # small shifts: digits are centred, flips would change their meaning
    dict(type='RandomCrop', crop_size=32, padding=3),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 40
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 2,
        eta_min=1e-4,
        by_epoch=True,
        begin=2,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)

default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0, deterministic=True)
