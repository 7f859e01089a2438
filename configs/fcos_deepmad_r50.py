# Short name of configs/fcos/fcos_deepmad-r50_fpn_gn-head_ms-640-800-2x_coco.py
# (python tools/train.py configs/fcos_deepmad_r50.py).
_base_ = './fcos/fcos_deepmad-r50_fpn_gn-head_ms-640-800-2x_coco.py'
