# tinynas-deepmad-29m-288 on ImageNet-1k,
# paper recipe (Table 12): 8 GPUs x 256.
# The official DeepMAD-29M* network: TinyNAS's released structure
# deepmad-29M-288.txt, converted
# (mmdeepmad/presets/tinynas-deepmad-29m-288.json). To evaluate the official
# weights, convert the release with tools/model_converters/tinynas2mmdeepmad.py
# --preset tinynas-deepmad-29m-288 --mmpretrain and run tools/test.py on this
# config.
_base_ = [
    '../_base_/models/deepmad_in1k.py',
    '../_base_/datasets/imagenet_bs256_deepmad.py',
    '../_base_/schedules/imagenet_bs2048_sgd-nesterov_480e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='tinynas-deepmad-29m-288'), head=dict(in_channels=1792))

# the network is designed for 288 x 288 inputs (paper Table 3, DeepMAD-29M*):
# the base pipelines at img_size = 288 (a test checks they differ only there)
img_size = 288
crop_pct = 0.95
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.2,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=int(img_size / crop_pct),
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
