# GFLV2 with the official DeepMAD-R50 backbone (TinyNAS's released
# structure, preset tinynas-deepmad-r50) on COCO: 2x schedule (24 epochs)
# with multi-scale training (paper Table 4), mmdet's GFL recipe otherwise.
_base_ = 'mmdet::gfl/gfl_r50_fpn_ms-2x_coco.py'

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
        start_level=0),
    # GFLV2 (Li et al., CVPR 2021): GFL plus the Distribution-Guided Quality
    # Predictor, whose joint scores are probabilities, so QFL takes them as
    # they are (activated=True); mmdeepmad.models.dense_heads.GFLV2Head
    bbox_head=dict(
        type='GFLV2Head',
        reg_topk=4,
        reg_channels=64,
        add_mean=True,
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            activated=True,
            beta=2.0,
            loss_weight=1.0)))

visualizer = dict(vis_backends=[
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
])
