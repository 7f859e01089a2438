# An ImageNet-1k classifier on a DeepMAD backbone (paper Table 12 recipe):
# BN momentum 0.01, label smoothing 0.1, Mixup 0.8 / CutMix 1.0 applied to
# the batch with switch probability 0.5.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DeepMAD',
        arch='deepmad-r50',  # every config below names its preset
        out_indices=(-1, ),
        norm_cfg=dict(type='BN', momentum=0.01, requires_grad=True),
        norm_eval=False,
        zero_init_residual=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1232,  # = backbone.out_channels[-1]; tested per config
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(
        augments=[
            dict(type='Mixup', alpha=0.8),
            dict(type='CutMix', alpha=1.0)
        ],
        probs=[0.5, 0.5]))
