# TSN (3 segments) with a DeepMAD-R50 backbone on Kinetics-400 RGB frames
# (paper Table 6), mmaction2's ImageNet-pretrained TSN recipe otherwise.
# Data: rawframes as written by mmaction2's tools/data/kinetics scripts,
#   data/kinetics400/rawframes_{train,val}/<video>/img_00001.jpg ...
#   data/kinetics400/kinetics400_{train,val}_list_rawframes.txt
#   with lines "<video> <number of frames> <label>".
_base_ = ('mmaction::recognition/tsn/'
          'tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py')

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
        out_indices=(-1, ),
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # = DeepMAD('deepmad-r50').out_channels[-1]; tests/configs checks it
    cls_head=dict(in_channels=1232, num_classes=400))

dataset_type = 'RawframeDataset'
data_root = 'data/kinetics400/rawframes_train'
data_root_val = 'data/kinetics400/rawframes_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_rawframes.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_rawframes.txt'

train_pipeline = [
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=3),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=3,
        test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=25,
        test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='TenCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(img=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(img=data_root_val),
        pipeline=val_pipeline))
test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(img=data_root_val),
        pipeline=test_pipeline))

visualizer = dict(vis_backends=[
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
])
