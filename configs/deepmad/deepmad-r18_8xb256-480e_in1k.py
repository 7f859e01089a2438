# deepmad-r18 on ImageNet-1k, paper recipe (Table 12): 8 GPUs x 256.
_base_ = [
    '../_base_/models/deepmad_in1k.py',
    '../_base_/datasets/imagenet_bs256_deepmad.py',
    '../_base_/schedules/imagenet_bs2048_sgd-nesterov_480e.py',
    '../_base_/default_runtime.py',
]

model = dict(backbone=dict(arch='deepmad-r18'), head=dict(in_channels=1000))
