# TSN (3 segments) with the official DeepMAD-R50 backbone (TinyNAS's released
# structure, preset tinynas-deepmad-r50) on UCF101 split 1, RGB frames (paper
# Table 6): the deepmad-r50 UCF101 config (data, pipelines, 75 epochs) with
# the backbone swapped.
_base_ = './tsn_deepmad-r50_8xb32-1x1x3-75e_ucf101-split1-rgb.py'

# The ImageNet-trained backbone: the official DeepMAD-R50 classifier,
# converted from TinyNAS's release (R50.pth.tar, see model_zoo.md) with
#   python tools/model_converters/tinynas2mmdeepmad.py --preset \
#     tinynas-deepmad-r50 --mmpretrain R50.pth.tar \
#     checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth
# (or the output of configs/deepmad/tinynas-deepmad-r50_8xb256-480e_in1k.py).
# Set the path here.
pretrained = 'checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth'

model = dict(
    backbone=dict(
        arch='tinynas-deepmad-r50',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # = DeepMAD('tinynas-deepmad-r50').out_channels[-1]; tests/configs checks
    # it
    cls_head=dict(in_channels=1232))
