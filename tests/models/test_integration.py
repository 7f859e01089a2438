# Copyright (c) mmdeepmad authors. All rights reserved.
"""DeepMAD in the real models of each OpenMMLab library: built from a config
dict in the library's scope, one forward + backward on tiny inputs with a
finite loss and gradients reaching the backbone's stem.

The backbone is a tiny 5-stage spec (<= 32 channels; outputs at strides 4, 8,
16, 16, 32); every channel number a head or neck needs is read from
``DeepMAD(...).out_channels``, never typed.
"""
import pytest
import torch
from mmengine.registry import DefaultScope

from mmdeepmad.models import DeepMAD
from .deepmad_specs import tiny_spec

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def backbone_cfg(spec, **kwargs):
    return dict(type='DeepMAD', arch=spec.to_dict(), **kwargs)


def out_channels(spec, **kwargs):
    return list(DeepMAD(spec, **kwargs).out_channels)


def train_step(model, data):
    """Preprocess, compute the losses, backpropagate; returns the loss."""
    model.train()
    data = model.data_preprocessor(data, training=True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    assert torch.isfinite(loss)
    stem = model.backbone.stem.conv.weight.grad
    assert stem is not None and torch.isfinite(stem).all()
    assert stem.abs().sum() > 0
    return loss


def test_mmpretrain_image_classifier():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    spec = tiny_spec('mbv2-se', head_conv=True, act='silu')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                data_preprocessor=dict(
                    type='ClsDataPreprocessor',
                    mean=MEAN,
                    std=STD,
                    to_rgb=True),
                backbone=backbone_cfg(spec),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead',
                    num_classes=5,
                    in_channels=out_channels(spec)[-1],
                    loss=dict(type='CrossEntropyLoss'))))
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in (1, 3)])
    train_step(model, data)


@pytest.mark.parametrize('detector', ['FCOS', 'GFL'])
def test_mmdet_one_stage_detectors(detector):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    spec = tiny_spec('bottleneck')
    out_indices = (1, 3, 4)  # strides 8, 16, 32
    neck = dict(
        type='FPN',
        in_channels=out_channels(spec, out_indices=out_indices),
        out_channels=16,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=5)
    losses = dict(
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0))
    if detector == 'FCOS':
        head = dict(
            type='FCOSHead',
            num_classes=3,
            in_channels=16,
            stacked_convs=1,
            feat_channels=16,
            strides=[8, 16, 32, 64, 128],
            norm_cfg=None,
            loss_centerness=dict(
                type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
            **losses)
        train_cfg = dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1),
            allowed_border=-1,
            pos_weight=-1,
            debug=False)
    else:
        head = dict(
            type='GFLHead',
            num_classes=3,
            in_channels=16,
            stacked_convs=1,
            feat_channels=16,
            norm_cfg=None,
            anchor_generator=dict(
                type='AnchorGenerator',
                ratios=[1.0],
                octave_base_scale=8,
                scales_per_octave=1,
                strides=[8, 16, 32, 64, 128]),
            loss_cls=dict(
                type='QualityFocalLoss',
                use_sigmoid=True,
                beta=2.0,
                loss_weight=1.0),
            loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
            reg_max=4,
            loss_bbox=dict(type='GIoULoss', loss_weight=2.0))
        train_cfg = dict(
            assigner=dict(type='ATSSAssigner', topk=9),
            allowed_border=-1,
            pos_weight=-1,
            debug=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            dict(
                type=detector,
                data_preprocessor=dict(
                    type='DetDataPreprocessor',
                    mean=MEAN,
                    std=STD,
                    bgr_to_rgb=True,
                    pad_size_divisor=32),
                backbone=backbone_cfg(
                    spec, out_indices=out_indices, norm_eval=False),
                neck=neck,
                bbox_head=head,
                train_cfg=train_cfg,
                test_cfg=dict(
                    nms_pre=100,
                    min_bbox_size=0,
                    score_thr=0.05,
                    nms=dict(type='nms', iou_threshold=0.6),
                    max_per_img=10)))
    data = demo_mm_inputs(
        batch_size=2,
        image_shapes=(3, 64, 64),
        num_items=[2, 3],
        num_classes=3)
    train_step(model, data)


def test_mmseg_encoder_decoder_uperhead():
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    spec = tiny_spec('basic', style='torchvision')
    out_indices = (0, 1, 3, 4)  # strides 4, 8, 16, 32
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(
            dict(
                type='EncoderDecoder',
                data_preprocessor=dict(
                    type='SegDataPreProcessor',
                    mean=MEAN,
                    std=STD,
                    bgr_to_rgb=True,
                    pad_val=0,
                    seg_pad_val=255,
                    size=(64, 64)),
                backbone=backbone_cfg(spec, out_indices=out_indices),
                decode_head=dict(
                    type='UPerHead',
                    in_channels=out_channels(spec, out_indices=out_indices),
                    in_index=[0, 1, 2, 3],
                    pool_scales=(1, 2, 3, 6),
                    channels=16,
                    dropout_ratio=0.1,
                    num_classes=4,
                    norm_cfg=dict(type='BN', requires_grad=True),
                    align_corners=False,
                    loss_decode=dict(
                        type='CrossEntropyLoss',
                        use_sigmoid=False,
                        loss_weight=1.0)),
                train_cfg=dict(),
                test_cfg=dict(mode='whole')))
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 4, (1, 64, 64), dtype=torch.long))
        sample.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64)))
        samples.append(sample)
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=samples)
    train_step(model, data)


@pytest.mark.parametrize('type_name', ['DeepMAD', 'mmpretrain.DeepMAD'])
def test_mmaction_recognizer2d_tsn(type_name):
    """mmaction's two routes for a 2D backbone: ``DeepMAD`` in its own scope
    (mmaction's convention: a single output is a tensor) and the
    ``mmpretrain.`` prefix (Recognizer2D unwraps the 1-tuple itself)."""
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    spec = tiny_spec('mbv2', act='relu6', head_conv=True)
    backbone = backbone_cfg(spec)
    backbone['type'] = type_name
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(
            dict(
                type='Recognizer2D',
                backbone=backbone,
                cls_head=dict(
                    type='TSNHead',
                    num_classes=5,
                    in_channels=out_channels(spec)[-1],
                    spatial_type='avg',
                    consensus=dict(type='AvgConsensus', dim=1),
                    dropout_ratio=0.4,
                    init_std=0.01,
                    average_clips='prob'),
                data_preprocessor=dict(
                    type='ActionDataPreprocessor',
                    mean=MEAN,
                    std=STD,
                    format_shape='NCHW')))
    assert model.backbone_from == (
        'mmpretrain' if type_name.startswith('mmpretrain.') else 'mmaction2')
    num_segs = 3
    data = dict(
        inputs=[
            torch.randint(0, 256, (num_segs, 3, 32, 32), dtype=torch.uint8)
            for _ in range(2)
        ],
        data_samples=[
            ActionDataSample().set_gt_label(label) for label in (0, 4)
        ])
    train_step(model, data)
    # and inference
    model.eval()
    with torch.no_grad():
        predictions = model.test_step(data)
    assert predictions[0].pred_score.shape == (5, )
