# Short name of configs/gfl/gflv2_deepmad-r50_fpn_ms-2x_coco.py
# (python tools/train.py configs/gfl_deepmad_r50.py).
_base_ = './gfl/gflv2_deepmad-r50_fpn_ms-2x_coco.py'
