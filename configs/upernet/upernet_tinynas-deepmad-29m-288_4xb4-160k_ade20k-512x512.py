# UperNet with the official DeepMAD-29M* backbone (TinyNAS's released
# structure deepmad-29M-288, preset tinynas-deepmad-29m-288) on ADE20K, 160k
# iterations at 512 x 512 (paper Table 5), mmseg's recipe for the ResNet-50
# baseline otherwise.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

# The ImageNet-trained backbone: the official DeepMAD-29M* classifier,
# converted from TinyNAS's release (DeepMAD-29M-Res288-82.8acc.pth.tar, see
# model_zoo.md) with
#   python tools/model_converters/tinynas2mmdeepmad.py --preset \
#     tinynas-deepmad-29m-288 --mmpretrain DeepMAD-29M-Res288-82.8acc.pth.tar \
#     checkpoints/tinynas-deepmad-29m-288_8xb256-480e_in1k.pth
# (or the output of
# configs/deepmad/tinynas-deepmad-29m-288_8xb256-480e_in1k.py).
# Set the path here.
pretrained = 'checkpoints/tinynas-deepmad-29m-288_8xb256-480e_in1k.pth'

custom_imports = dict(imports=['mmdeepmad'], allow_failed_imports=False)

# a resumed run repeats an uninterrupted one exactly (random states are
# saved in checkpoints)
custom_hooks = [dict(type='mmdeepmad.RandomStateHook')]

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='DeepMAD',
        arch='tinynas-deepmad-29m-288',
        # strides 4, 8, 16 (the last stride-16 stage) and 32 (with the head
        # conv)
        out_indices=(0, 1, 3, 4),
        norm_cfg=norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # = DeepMAD('tinynas-deepmad-29m-288', out_indices=(0, 1, 3, 4))
    #   .out_channels; tests/configs checks both heads
    decode_head=dict(in_channels=[61, 96, 217, 1792]),
    auxiliary_head=dict(in_channels=217))

visualizer = dict(vis_backends=[
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
])
