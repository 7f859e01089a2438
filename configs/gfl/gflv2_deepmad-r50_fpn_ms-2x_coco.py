# GFLV2 with a DeepMAD-R50 backbone on COCO: 2x schedule (24 epochs) with
# multi-scale training (paper Table 4), mmdet's GFL recipe otherwise.
_base_ = 'mmdet::gfl/gfl_r50_fpn_ms-2x_coco.py'

# The ImageNet-trained backbone: the output of
# configs/deepmad/deepmad-r50_8xb256-480e_in1k.py (or a converted TinyNAS
# release). Set the path here.
pretrained = 'checkpoints/deepmad-r50_8xb256-480e_in1k.pth'

custom_imports = dict(imports=['mmdeepmad'], allow_failed_imports=False)

# a resumed run repeats an uninterrupted one exactly (random states are
# saved in checkpoints)
custom_hooks = [dict(type='mmdeepmad.RandomStateHook')]

model = dict(
    backbone=dict(
        _delete_=True,
        type='DeepMAD',
        arch='deepmad-r50',
        # the last stage at strides 8, 16 and 32 (C3, C4, C5)
        out_indices=(1, 3, 4),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        zero_init_residual=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        # = DeepMAD('deepmad-r50', out_indices=(1, 3, 4)).out_channels;
        # tests/configs checks it
        in_channels=[240, 888, 1232],
        start_level=0),
    bbox_head=dict(type='GFLHead'))

visualizer = dict(vis_backends=[
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
])
