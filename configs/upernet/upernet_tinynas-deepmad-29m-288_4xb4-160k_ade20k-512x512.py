# UperNet with the official DeepMAD-29M* backbone (TinyNAS's released
# structure for 288 px, preset tinynas-deepmad-29m-288) on ADE20K, 160k
# iterations at 512 x 512 (paper Table 5): the deepmad-29m-288 UperNet config
# with the backbone swapped. Its stages down-sample where the official network
# does, so the outputs at strides 4, 8, 16 and 32 are stages 0, 1, 3 and 4.
_base_ = './upernet_deepmad-29m-288_4xb4-160k_ade20k-512x512.py'

# The ImageNet-trained backbone: the official DeepMAD-29M* classifier,
# converted from TinyNAS's release (see model_zoo.md for the file) with
#   python tools/model_converters/tinynas2mmdeepmad.py --preset \
#     tinynas-deepmad-29m-288 --mmpretrain RELEASE.pth.tar \
#     checkpoints/tinynas-deepmad-29m-288_8xb256-480e_in1k.pth
# (or the output of
# configs/deepmad/tinynas-deepmad-29m-288_8xb256-480e_in1k.py).
# Set the path here (the base resolved its own path already: both keys).
pretrained = 'checkpoints/tinynas-deepmad-29m-288_8xb256-480e_in1k.pth'

model = dict(
    backbone=dict(
        arch='tinynas-deepmad-29m-288',
        out_indices=(0, 1, 3, 4),
        init_cfg=dict(checkpoint=pretrained)),
    # = DeepMAD('tinynas-deepmad-29m-288', out_indices=(0, 1, 3, 4))
    # .out_channels; tests/configs checks both heads
    decode_head=dict(in_channels=[61, 96, 217, 1792]),
    auxiliary_head=dict(in_channels=217))
