# GFLV2 with the official DeepMAD-R50 backbone (TinyNAS's released structure,
# preset tinynas-deepmad-r50) on COCO (paper Table 4): the deepmad-r50 GFLV2
# config (schedule, multi-scale data, GFLV2 head) with the backbone swapped.
_base_ = './gflv2_deepmad-r50_fpn_ms-2x_coco.py'

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
    # = DeepMAD('tinynas-deepmad-r50', out_indices=(1, 3, 4)).out_channels;
    # tests/configs checks it
    neck=dict(in_channels=[512, 1024, 1232]))
