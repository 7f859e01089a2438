# Copyright (c) mmdeepmad authors. All rights reserved.
"""GFLV2Head: the DGQP (top-k statistics of the box distributions -> MLP ->
quality q), the joint score sigmoid(cls) * q in training and prediction (no
second sigmoid), a training step of a tiny GFL detector with a DeepMAD
backbone, and ``type='GFLV2Head'`` in mmdet's scope."""
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import GFLHead
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope

from mmdeepmad.models import DeepMAD
from mmdeepmad.models.dense_heads import GFLV2Head
from .deepmad_specs import REPO_ROOT, tiny_spec

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
NUM_CLASSES = 3
STRIDES = [8, 16, 32, 64, 128]
TEST_CFG = dict(
    nms_pre=100,
    min_bbox_size=0,
    score_thr=0.05,
    nms=dict(type='nms', iou_threshold=0.6),
    max_per_img=10)


def head_cfg(**kwargs):
    cfg = dict(
        type='GFLV2Head',
        num_classes=NUM_CLASSES,
        in_channels=16,
        stacked_convs=1,
        feat_channels=16,
        norm_cfg=None,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=8,
            scales_per_octave=1,
            strides=STRIDES),
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            activated=True,
            beta=2.0,
            loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        reg_max=4,
        reg_topk=4,
        reg_channels=8,
        add_mean=True,
        train_cfg=dict(
            assigner=dict(type='ATSSAssigner', topk=9),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        test_cfg=TEST_CFG)
    cfg.update(kwargs)
    return cfg


def build_head(**kwargs):
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(head_cfg(**kwargs))
    head.init_weights()
    return head


def build_detector():
    spec = tiny_spec('bottleneck')
    out_indices = (1, 3, 4)  # strides 8, 16, 32
    head = head_cfg()
    train_cfg, test_cfg = head.pop('train_cfg'), head.pop('test_cfg')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            ConfigDict(
                type='GFL',
                data_preprocessor=dict(
                    type='DetDataPreprocessor',
                    mean=MEAN,
                    std=STD,
                    bgr_to_rgb=True,
                    pad_size_divisor=32),
                backbone=dict(
                    type='DeepMAD',
                    arch=spec.to_dict(),
                    out_indices=out_indices,
                    norm_eval=False),
                neck=dict(
                    type='FPN',
                    in_channels=list(
                        DeepMAD(spec, out_indices=out_indices).out_channels),
                    out_channels=16,
                    start_level=0,
                    add_extra_convs='on_output',
                    num_outs=5),
                bbox_head=head,
                train_cfg=train_cfg,
                test_cfg=test_cfg))
    model.init_weights()
    return model


def demo_batch():
    return demo_mm_inputs(
        batch_size=2,
        image_shapes=(3, 64, 64),
        num_items=[2, 3],
        num_classes=NUM_CLASSES)


def level_feats(batch=2, sizes=(8, 4, 2, 1, 1)):
    return tuple(torch.randn(batch, 16, s, s) for s in sizes)


def manual_forward(head, x, scale):
    """sigmoid(cls) * q of one level, written out from the head's layers."""
    cls_feat, reg_feat = x, x
    for conv in head.cls_convs:
        cls_feat = conv(cls_feat)
    for conv in head.reg_convs:
        reg_feat = conv(reg_feat)
    bbox_pred = scale(head.gfl_reg(reg_feat))
    n, _, h, w = bbox_pred.shape
    prob = bbox_pred.reshape(n, 4, head.reg_max + 1, h, w).softmax(dim=2)
    top = prob.sort(dim=2, descending=True).values[:, :, :head.reg_topk]
    if head.add_mean:
        top = torch.cat([top, top.mean(dim=2, keepdim=True)], dim=2)
    stat = top.reshape(n, -1, h, w)
    hidden = F.relu(
        F.conv2d(stat, head.reg_conf[0].weight, head.reg_conf[0].bias))
    quality = torch.sigmoid(
        F.conv2d(hidden, head.reg_conf[2].weight, head.reg_conf[2].bias))
    return torch.sigmoid(head.gfl_cls(cls_feat)) * quality, bbox_pred, quality


def test_registered_in_mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert MODELS.get('GFLV2Head') is GFLV2Head
    assert issubclass(GFLV2Head, GFLHead)
    head = build_head()
    assert type(head) is GFLV2Head
    # the released GFLV2 checkpoints' parameter names
    assert {
        'reg_conf.0.weight', 'reg_conf.0.bias', 'reg_conf.2.weight',
        'reg_conf.2.bias'
    } <= set(head.state_dict())


def test_registration_is_lazy_and_import_order_safe(tmp_path):
    """``import mmdeepmad`` imports neither mmdet nor the head; importing
    mmdet's models afterwards (mmdet's registry is first imported halfway
    through) is not circular, and a config with ``custom_imports`` builds
    ``type='GFLV2Head'`` in the mmdet scope."""
    config = tmp_path / 'gflv2.py'
    config.write_text(
        textwrap.dedent(f'''
        custom_imports = dict(imports=['mmdeepmad'],
                              allow_failed_imports=False)
        model = {head_cfg(train_cfg=None)!r}
        '''))
    script = textwrap.dedent(f'''
        import sys
        import mmdeepmad
        assert 'mmdet' not in sys.modules, 'mmdet imported'
        assert 'torch' not in sys.modules, 'torch imported'
        import mmdet.models
        from mmengine.config import Config
        from mmengine.registry import DefaultScope
        from mmdet.registry import MODELS
        cfg = Config.fromfile({str(config)!r})
        with DefaultScope.overwrite_default_scope('mmdet'):
            head = MODELS.build(cfg.model)
        print(type(head).__module__, type(head).__name__)
        ''')
    out = subprocess.run([sys.executable, '-c', script],
                         cwd=REPO_ROOT,
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == [
        'mmdeepmad.models.dense_heads.gflv2_head', 'GFLV2Head'
    ]


@pytest.mark.parametrize('reg_topk,add_mean',
                         [(4, True), (4, False), (2, True), (1, False),
                          (5, True)])
def test_dgqp_input_channels_and_statistics(reg_topk, add_mean):
    head = build_head(reg_topk=reg_topk, add_mean=add_mean)
    channels = 4 * (reg_topk + int(add_mean))
    assert head.dgqp_in_channels == channels
    assert head.reg_conf[0].in_channels == channels
    assert head.reg_conf[0].out_channels == head.reg_channels == 8
    assert head.reg_conf[2].out_channels == 1

    bbox_pred = torch.randn(2, 4 * (head.reg_max + 1), 3, 5)
    stat = head.distribution_statistics(bbox_pred)
    assert stat.shape == (2, channels, 3, 5)
    # written out for one location and side
    probs = bbox_pred[1, :, 2, 4].reshape(4, -1).softmax(dim=1)
    side = 2  # right
    top = sorted(probs[side].tolist(), reverse=True)[:reg_topk]
    expected = top + [sum(top) / reg_topk] * int(add_mean)
    per_side = channels // 4
    got = stat[1, side * per_side:(side + 1) * per_side, 2, 4]
    assert torch.allclose(got, torch.tensor(expected), atol=1e-6)
    quality = head.reg_conf(stat)
    assert quality.shape == (2, 1, 3, 5)
    assert ((quality > 0) & (quality < 1)).all()


def test_invalid_arguments():
    with pytest.raises(ValueError, match='reg_topk'):
        build_head(reg_topk=6)  # reg_max = 4: 5 bins
    with pytest.raises(ValueError, match='activated'):
        build_head(
            loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0))


def test_forward_is_sigmoid_cls_times_quality():
    torch.manual_seed(0)
    head = build_head()
    feats = level_feats()
    cls_scores, bbox_preds = head(feats)
    assert len(cls_scores) == len(bbox_preds) == len(STRIDES)
    for x, scale, cls_score, bbox_pred in zip(feats, head.scales, cls_scores,
                                              bbox_preds):
        expected, expected_pred, quality = manual_forward(head, x, scale)
        assert cls_score.shape == (2, NUM_CLASSES) + x.shape[-2:]
        assert bbox_pred.shape == (2, 4 * 5) + x.shape[-2:]
        assert quality.shape == (2, 1) + x.shape[-2:]
        assert torch.allclose(cls_score, expected, atol=1e-6)
        assert torch.allclose(bbox_pred, expected_pred, atol=1e-6)
        assert ((cls_score >= 0) & (cls_score <= quality)).all()


def test_loss_weights_are_the_joint_scores_not_their_sigmoid():
    """The box losses are weighted by max_c score (a probability already)."""
    torch.manual_seed(0)
    head = build_head()
    size, stride = 4, 8
    anchors = head.prior_generator.single_level_grid_priors(
        (size, size), level_idx=0, device='cpu').unsqueeze(0)  # (1, 16, 4)
    cls_score = torch.rand(1, NUM_CLASSES, size, size) * 0.9 + 0.05
    bbox_pred = torch.randn(1, 4 * 5, size, size)
    labels = torch.full((1, size * size), NUM_CLASSES)
    pos = torch.tensor([0, 5, 10])
    labels[0, pos] = torch.tensor([0, 2, 1])
    label_weights = torch.ones(1, size * size)
    bbox_targets = anchors.clone()
    loss_cls, loss_bbox, loss_dfl, weight_sum = head.loss_by_feat_single(
        anchors,
        cls_score,
        bbox_pred,
        labels,
        label_weights,
        bbox_targets, (stride, stride),
        avg_factor=3.0)
    flat = cls_score.permute(0, 2, 3, 1).reshape(-1, NUM_CLASSES)
    assert torch.allclose(weight_sum, flat.max(dim=1).values[pos].sum())
    assert not torch.allclose(weight_sum,
                              flat.sigmoid().max(dim=1).values[pos].sum())
    for loss in (loss_cls, loss_bbox, loss_dfl):
        assert torch.isfinite(loss) and loss > 0


def test_train_step_reaches_the_dgqp():
    torch.manual_seed(0)
    model = build_detector()
    assert type(model.bbox_head) is GFLV2Head
    model.train()
    data = model.data_preprocessor(demo_batch(), training=True)
    losses = model(**data, mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_dfl'} <= set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    head = model.bbox_head
    for param in (head.reg_conf[0].weight, head.reg_conf[2].weight,
                  head.gfl_reg.weight, head.gfl_cls.weight,
                  model.backbone.stem.conv.weight):
        assert param.grad is not None and torch.isfinite(param.grad).all()
        assert param.grad.abs().sum() > 0


def test_predict_scores_are_the_joint_scores():
    """The detector's scores are sigmoid(cls) * q, in [0, 1]: with the
    classifier and the quality forced to constants every score is their
    product (a second sigmoid would give sigmoid(0.4) = 0.599)."""
    torch.manual_seed(0)
    model = build_detector().eval()
    head = model.bbox_head
    with torch.no_grad():
        head.gfl_cls.weight.zero_()
        head.gfl_cls.bias.fill_(torch.logit(torch.tensor(0.8)).item())
        head.reg_conf[2].weight.zero_()
        head.reg_conf[2].bias.zero_()  # q = sigmoid(0) = 0.5
        data = model.data_preprocessor(demo_batch(), training=False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert len(pred) == TEST_CFG['max_per_img']
        assert pred.bboxes.shape == (len(pred), 4)
        assert torch.allclose(pred.scores, torch.full_like(pred.scores, 0.4))


def test_predict_matches_gflhead_on_logits():
    """GFLV2Head's post-processing of the joint scores is GFLHead's of their
    logits: the same boxes, scores and labels; the scores, in [0, 1], are the
    forward's joint scores."""
    torch.manual_seed(0)
    head = build_head().double()
    feats = tuple(f.double() for f in level_feats(batch=1))
    with torch.no_grad():
        cls_scores, bbox_preds = head(feats)
    meta = dict(img_shape=(64, 64), scale_factor=(1., 1.))
    cfg = ConfigDict(TEST_CFG, nms_pre=10000, score_thr=0.0)
    ours = head.predict_by_feat(
        cls_scores,
        bbox_preds,
        batch_img_metas=[meta],
        cfg=cfg,
        with_nms=False)[0]
    priors = head.prior_generator.grid_priors(
        [s.shape[-2:] for s in cls_scores], dtype=torch.float64, device='cpu')
    reference = GFLHead._predict_by_feat_single(
        head,
        cls_score_list=[torch.logit(s[0]) for s in cls_scores],
        bbox_pred_list=[b[0] for b in bbox_preds],
        score_factor_list=[None] * len(cls_scores),
        mlvl_priors=priors,
        img_meta=meta,
        cfg=cfg,
        with_nms=False)
    all_scores = torch.cat([s.flatten() for s in cls_scores])
    assert len(ours) == all_scores.numel()
    assert ((ours.scores >= 0) & (ours.scores <= 1)).all()
    assert torch.allclose(
        ours.scores.sort().values, all_scores.sort().values, atol=1e-12)
    assert torch.equal(ours.labels, reference.labels)
    assert torch.allclose(ours.scores, reference.scores, atol=1e-12)
    assert torch.allclose(ours.bboxes, reference.bboxes, atol=1e-9)
