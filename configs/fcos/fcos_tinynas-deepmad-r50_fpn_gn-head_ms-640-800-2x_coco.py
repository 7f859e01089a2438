# FCOS with the official DeepMAD-R50 backbone (TinyNAS's released structure,
# preset tinynas-deepmad-r50) on COCO: 2x schedule (24 epochs) with
# multi-scale training (paper Table 4), mmdet's recipe for the ResNet-50
# baseline otherwise.
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_ms-640-800-2x_coco.py'

# The ImageNet-trained backbone: the official DeepMAD-R50 classifier,
# converted from TinyNAS's release (R50.pth.tar, see model_zoo.md) with
#   python tools/model_converters/tinynas2mmdeepmad.py --preset \
#     tinynas-deepmad-r50 --mmpretrain R50.pth.tar \
#     checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth
# (or the output of configs/deepmad/tinynas-deepmad-r50_8xb256-480e_in1k.py).
# Set the path here.
pretrained = 'checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth'

custom_imports = dict(imports=['mmdeepmad'], allow_failed_imports=False)

# a resumed run repeats an uninterrupted one exactly (random states are
# saved in checkpoints)
custom_hooks = [dict(type='mmdeepmad.RandomStateHook')]

model = dict(
    # the backbone is trained on RGB images normalised by ImageNet statistics
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='DeepMAD',
        arch='tinynas-deepmad-r50',
        # the last stage at strides 8, 16 and 32 (C3, C4, C5)
        out_indices=(1, 3, 4),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        zero_init_residual=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        # = DeepMAD('tinynas-deepmad-r50', out_indices=(1, 3, 4)).out_channels;
        # tests/configs checks it
        in_channels=[512, 1024, 1232],
        start_level=0))

visualizer = dict(vis_backends=[
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
])
