# tinynas-deepmad-29m-288 on ImageNet-1k, paper recipe (Table 12): 8 GPUs x
# 256, at 288 px: the deepmad-29m-288 config (its 288 px pipelines) with the
# backbone swapped. The official DeepMAD-29M* network: TinyNAS's released
# structure deepmad-29M-288.txt, converted
# (mmdeepmad/presets/tinynas-deepmad-29m-288.json). To evaluate the official
# weights, convert the release with tools/model_converters/tinynas2mmdeepmad.py
# --preset tinynas-deepmad-29m-288 --mmpretrain and run tools/test.py on this
# config.
_base_ = './deepmad-29m-288_8xb256-480e_in1k.py'

model = dict(
    backbone=dict(arch='tinynas-deepmad-29m-288'),
    head=dict(in_channels=1792))
