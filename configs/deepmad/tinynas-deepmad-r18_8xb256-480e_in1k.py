# tinynas-deepmad-r18 on ImageNet-1k, paper recipe (Table 12): 8 GPUs x 256.
# The official DeepMAD-R18 network: TinyNAS's released structure
# deepmad-R18.txt, converted (mmdeepmad/presets/tinynas-deepmad-r18.json). To
# evaluate the official weights, convert the release with
# tools/model_converters/tinynas2mmdeepmad.py --preset tinynas-deepmad-r18
# --mmpretrain and run tools/test.py on this config.
_base_ = [
    '../_base_/models/deepmad_in1k.py',
    '../_base_/datasets/imagenet_bs256_deepmad.py',
    '../_base_/schedules/imagenet_bs2048_sgd-nesterov_480e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(arch='tinynas-deepmad-r18'), head=dict(in_channels=672))
