# UperNet with the official DeepMAD-R50 backbone (TinyNAS's released
# structure, preset tinynas-deepmad-r50) on ADE20K, 160k iterations at
# 512 x 512 (paper Table 5): the deepmad-r50 UperNet config with the
# backbone swapped (the same stages: strides 4, 8, 16 and 32).
_base_ = './upernet_deepmad-r50_4xb4-160k_ade20k-512x512.py'

# The ImageNet-trained backbone: the official DeepMAD-R50 classifier,
# converted from TinyNAS's release (R50.pth.tar, see model_zoo.md) with
#   python tools/model_converters/tinynas2mmdeepmad.py --preset \
#     tinynas-deepmad-r50 --mmpretrain R50.pth.tar \
#     checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth
# (or the output of configs/deepmad/tinynas-deepmad-r50_8xb256-480e_in1k.py).
# Set the path here (the base resolved its own path already: both keys).
pretrained = 'checkpoints/tinynas-deepmad-r50_8xb256-480e_in1k.pth'

model = dict(
    backbone=dict(
        arch='tinynas-deepmad-r50',
        init_cfg=dict(checkpoint=pretrained)),
    # = DeepMAD('tinynas-deepmad-r50', out_indices=(0, 1, 3, 4)).out_channels;
    # tests/configs checks both heads
    decode_head=dict(in_channels=[128, 512, 1024, 1232]),
    auxiliary_head=dict(in_channels=1024))
