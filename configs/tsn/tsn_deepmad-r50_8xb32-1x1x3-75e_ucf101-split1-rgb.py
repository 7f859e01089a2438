# TSN (3 segments) with a DeepMAD-R50 backbone on UCF101 split 1, RGB frames
# (paper Table 6): the Kinetics-400 config's model and pipelines, 101
# classes, 75 epochs.
# Data: rawframes as written by mmaction2's tools/data/ucf101 scripts,
#   data/ucf101/rawframes/<class>/<video>/img_00001.jpg ...
#   data/ucf101/ucf101_{train,val}_split_1_rawframes.txt
#   with lines "<class>/<video> <number of frames> <label>".
_base_ = './tsn_deepmad-r50_8xb32-1x1x3-100e_kinetics400-rgb.py'

model = dict(cls_head=dict(num_classes=101))

data_root = 'data/ucf101/rawframes'
ann_file_train = 'data/ucf101/ucf101_train_split_1_rawframes.txt'
ann_file_val = 'data/ucf101/ucf101_val_split_1_rawframes.txt'

train_dataloader = dict(
    dataset=dict(ann_file=ann_file_train, data_prefix=dict(img=data_root)))
val_dataloader = dict(
    dataset=dict(ann_file=ann_file_val, data_prefix=dict(img=data_root)))
test_dataloader = dict(
    dataset=dict(ann_file=ann_file_val, data_prefix=dict(img=data_root)))

max_epochs = 75
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[30, 60],
        gamma=0.1)
]
