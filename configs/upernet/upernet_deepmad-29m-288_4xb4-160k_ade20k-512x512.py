# UperNet with a DeepMAD-29M* backbone on ADE20K, 160k iterations at 512 x 512
# (paper Table 5), mmseg's recipe for the ResNet-50 baseline otherwise.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

# The ImageNet-trained backbone: the output of
# configs/deepmad/deepmad-29m-288_8xb256-480e_in1k.py (or a converted TinyNAS
# release). Set the path here.
pretrained = 'checkpoints/deepmad-29m-288_8xb256-480e_in1k.pth'

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
        arch='deepmad-29m-288',
        # strides 4, 8, 16 and 32 (the head conv's output at 32)
        out_indices=(0, 1, 2, 4),
        norm_cfg=norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # = DeepMAD('deepmad-29m-288', out_indices=(0, 1, 2, 4)).out_channels;
    # tests/configs checks both heads
    decode_head=dict(in_channels=[72, 208, 392, 1792]),
    auxiliary_head=dict(in_channels=392))

visualizer = dict(vis_backends=[
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
])
