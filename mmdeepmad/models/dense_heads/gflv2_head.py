# Copyright (c) mmdeepmad authors. All rights reserved.
"""The GFLV2 head for mmdet 3.x (mmdet ships GFL V1 only)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import Scale
from mmdet.models.dense_heads import GFLHead
from mmdet.models.utils import filter_scores_and_topk
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import ConfigType
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor


@MODELS.register_module()
class GFLV2Head(GFLHead):
    """The head of GFLV2: `Generalized Focal Loss V2: Learning Reliable
    Localization Quality Estimation for Dense Object Detection
    <https://arxiv.org/abs/2011.12885>`_ (Li et al., CVPR 2021).

    GFLV2 keeps GFL's general distribution of each box side (``reg_max + 1``
    bins, Distribution Focal Loss) and its joint classification-IoU score
    (Quality Focal Loss), and estimates the IoU from the distribution: the
    Distribution-Guided Quality Predictor (DGQP) takes, for each of the four
    sides, the ``reg_topk`` largest bin probabilities (and their mean with
    ``add_mean``), feeds the ``4 * (reg_topk + add_mean)`` statistics to a
    two-layer 1x1-conv MLP (``reg_channels`` hidden channels, ReLU, one output
    channel, sigmoid) and multiplies the predicted quality ``q`` with the
    classification probability::

        cls_score = sigmoid(gfl_cls(cls_feat)) * q      # in [0, 1]

    ``cls_score`` is therefore a probability, not a logit: QFL must take it as
    is (``QualityFocalLoss(activated=True)``), the quality weight of the box
    losses is its max over the classes, and prediction does not apply a
    sigmoid again. Everything else -- target assignment, DFL, GIoU, box
    decoding -- is :class:`mmdet.models.dense_heads.GFLHead`'s. The MLP is
    called ``reg_conf``, as in the authors' code, so its parameters keep the
    names of the released checkpoints.

    Args:
        num_classes (int): Number of categories excluding the background.
        in_channels (int): Number of channels of the input feature maps.
        reg_topk (int): Number of top-k bin probabilities taken from each
            side's distribution. At most ``reg_max + 1``. Defaults to 4.
        reg_channels (int): Hidden channels of the DGQP MLP. Defaults to 64.
        add_mean (bool): Also feed the mean of each side's top-k
            probabilities to the DGQP. Defaults to True.
        loss_cls (:obj:`ConfigDict` or dict): The classification (QFL) loss;
            it gets probabilities, so it must be built with
            ``activated=True``. Defaults to
            ``QualityFocalLoss(use_sigmoid=True, activated=True, beta=2.0)``.
        loss_bbox (:obj:`ConfigDict` or dict): The box loss on the decoded
            boxes. Defaults to ``GIoULoss(loss_weight=2.0)``.
        **kwargs: The other arguments of :class:`GFLHead` (``reg_max``,
            ``loss_dfl``, ``stacked_convs``, ``anchor_generator``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 reg_topk: int = 4,
                 reg_channels: int = 64,
                 add_mean: bool = True,
                 loss_cls: ConfigType = dict(
                     type='QualityFocalLoss',
                     use_sigmoid=True,
                     activated=True,
                     beta=2.0,
                     loss_weight=1.0),
                 loss_bbox: ConfigType = dict(
                     type='GIoULoss', loss_weight=2.0),
                 **kwargs) -> None:
        reg_max = kwargs.get('reg_max', 16)
        if not 1 <= reg_topk <= reg_max + 1:
            raise ValueError(f'reg_topk must be in [1, reg_max + 1 = '
                             f'{reg_max + 1}], got {reg_topk}')
        # read by _init_layers, which GFLHead.__init__ calls
        self.reg_topk = reg_topk
        self.reg_channels = reg_channels
        self.add_mean = add_mean
        self.dgqp_in_channels = 4 * (reg_topk + int(add_mean))
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            **kwargs)
        if getattr(self.loss_cls, 'activated', False) is not True:
            raise ValueError(
                'GFLV2Head predicts probabilities (sigmoid(cls) * quality): '
                'loss_cls must take them as they are, e.g. '
                "dict(type='QualityFocalLoss', use_sigmoid=True, "
                f'activated=True, beta=2.0), got {type(self.loss_cls)} with '
                f"activated={getattr(self.loss_cls, 'activated', None)}")

    def _init_layers(self) -> None:
        """GFLHead's layers plus the DGQP (``reg_conf``)."""
        super()._init_layers()
        # initialised by GFLHead's init_cfg (normal, std 0.01, zero bias)
        # like every Conv2d of the head
        self.reg_conf = nn.Sequential(
            nn.Conv2d(self.dgqp_in_channels, self.reg_channels, 1),
            nn.ReLU(inplace=True), nn.Conv2d(self.reg_channels, 1, 1),
            nn.Sigmoid())

    def distribution_statistics(self, bbox_pred: Tensor) -> Tensor:
        """The DGQP's input: the top-k bin probabilities of each side (and
        their mean).

        Args:
            bbox_pred (Tensor): Box distribution logits of shape
                (N, 4 * (reg_max + 1), H, W).

        Returns:
            Tensor: Shape (N, 4 * (reg_topk + add_mean), H, W), the side's
            ``reg_topk`` probabilities in decreasing order (then their mean)
            for the sides left, top, right, bottom in turn.
        """
        n, _, h, w = bbox_pred.shape
        prob = F.softmax(bbox_pred.reshape(n, 4, self.reg_max + 1, h, w), 2)
        stat = prob.topk(self.reg_topk, dim=2).values
        if self.add_mean:
            stat = torch.cat([stat, stat.mean(dim=2, keepdim=True)], dim=2)
        return stat.reshape(n, self.dgqp_in_channels, h, w)

    def forward_single(self, x: Tensor, scale: Scale) -> Sequence[Tensor]:
        """Forward feature of a single scale level.

        Returns:
            tuple:

            - cls_score (Tensor): Joint classification-quality scores,
              probabilities ``sigmoid(cls) * q`` of shape
              (N, num_classes, H, W).
            - bbox_pred (Tensor): Box distribution logits of shape
              (N, 4 * (reg_max + 1), H, W).
        """
        cls_feat = x
        reg_feat = x
        for cls_conv in self.cls_convs:
            cls_feat = cls_conv(cls_feat)
        for reg_conv in self.reg_convs:
            reg_feat = reg_conv(reg_feat)
        bbox_pred = scale(self.gfl_reg(reg_feat)).float()
        # (as GFLHead, bbox_pred is float32 even in a half-precision model)
        stat = self.distribution_statistics(bbox_pred)
        quality = self.reg_conf(stat.type_as(self.reg_conf[0].weight))
        cls_score = self.gfl_cls(cls_feat).sigmoid() * quality
        return cls_score, bbox_pred

    def loss_by_feat_single(self, anchors: Tensor, cls_score: Tensor,
                            bbox_pred: Tensor, labels: Tensor,
                            label_weights: Tensor, bbox_targets: Tensor,
                            stride: Tuple[int], avg_factor: int) -> tuple:
        """GFLHead's losses of one level, for probability scores: the box
        losses are weighted by the highest joint score itself (no sigmoid)
        and QFL gets the scores as they are (``activated=True``). See
        :meth:`GFLHead.loss_by_feat_single` for the arguments.

        Returns:
            tuple: ``loss_cls``, ``loss_bbox``, ``loss_dfl`` and the sum of
            the box-loss weights (to normalise the box losses over levels).
        """
        assert stride[0] == stride[1], 'h stride is not equal to w stride!'
        num_bins = self.reg_max + 1
        anchors = anchors.reshape(-1, 4)
        cls_score = cls_score.permute(0, 2, 3,
                                      1).reshape(-1, self.cls_out_channels)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 4 * num_bins)
        bbox_targets = bbox_targets.reshape(-1, 4)
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)

        # foreground labels are 0 .. num_classes - 1, background num_classes
        pos_inds = ((labels >= 0) &
                    (labels < self.num_classes)).nonzero(as_tuple=True)[0]
        # QFL's targets: the IoU of the predicted box at positives, else 0
        quality_targets = label_weights.new_zeros(labels.shape)

        if len(pos_inds) > 0:
            pos_centers = self.anchor_center(anchors[pos_inds]) / stride[0]
            pos_bbox_pred = bbox_pred[pos_inds]
            pos_decoded_targets = bbox_targets[pos_inds] / stride[0]
            pos_decoded_pred = self.bbox_coder.decode(
                pos_centers, self.integral(pos_bbox_pred))
            quality_targets[pos_inds] = bbox_overlaps(
                pos_decoded_pred.detach(),
                pos_decoded_targets,
                is_aligned=True)
            # the joint score is a probability already
            weight_targets = cls_score.detach().max(dim=1).values[pos_inds]

            loss_bbox = self.loss_bbox(
                pos_decoded_pred,
                pos_decoded_targets,
                weight=weight_targets,
                avg_factor=1.0)
            target_corners = self.bbox_coder.encode(pos_centers,
                                                    pos_decoded_targets,
                                                    self.reg_max)
            loss_dfl = self.loss_dfl(
                pos_bbox_pred.reshape(-1, num_bins),
                target_corners.reshape(-1),
                weight=weight_targets[:, None].expand(-1, 4).reshape(-1),
                avg_factor=4.0)
        else:
            loss_bbox = bbox_pred.sum() * 0
            loss_dfl = bbox_pred.sum() * 0
            weight_targets = bbox_pred.new_tensor(0)

        # F.binary_cross_entropy (QFL on probabilities) refuses to run in an
        # autocast region (mixed precision): compute it in float32
        with torch.autocast(cls_score.device.type, enabled=False):
            loss_cls = self.loss_cls(
                cls_score.float(), (labels, quality_targets),
                weight=label_weights,
                avg_factor=avg_factor)

        return loss_cls, loss_bbox, loss_dfl, weight_targets.sum()

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                mlvl_priors: List[Tensor],
                                img_meta: dict,
                                cfg: ConfigDict,
                                rescale: bool = False,
                                with_nms: bool = True) -> InstanceData:
        """GFLHead's post-processing of one image without its sigmoid: the
        joint scores are probabilities already. See
        :meth:`GFLHead._predict_by_feat_single` for the arguments.

        Returns:
            :obj:`InstanceData`: ``bboxes`` (n, 4), ``scores`` (n, ) in
            [0, 1] and ``labels`` (n, ).
        """
        cfg = self.test_cfg if cfg is None else cfg
        img_shape = img_meta['img_shape']
        nms_pre = cfg.get('nms_pre', -1)

        mlvl_bboxes, mlvl_scores, mlvl_labels = [], [], []
        for cls_score, bbox_pred, stride, priors in zip(
                cls_score_list, bbox_pred_list, self.prior_generator.strides,
                mlvl_priors):
            assert cls_score.size()[-2:] == bbox_pred.size()[-2:]
            assert stride[0] == stride[1]
            distances = self.integral(bbox_pred.permute(1, 2, 0)) * stride[0]
            scores = cls_score.permute(1, 2,
                                       0).reshape(-1, self.cls_out_channels)
            scores, labels, _, kept = filter_scores_and_topk(
                scores, cfg.score_thr, nms_pre,
                dict(distances=distances, priors=priors))
            mlvl_bboxes.append(
                self.bbox_coder.decode(
                    self.anchor_center(kept['priors']),
                    kept['distances'],
                    max_shape=img_shape))
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)

        results = InstanceData()
        results.bboxes = torch.cat(mlvl_bboxes)
        results.scores = torch.cat(mlvl_scores)
        results.labels = torch.cat(mlvl_labels)
        return self._bbox_post_process(
            results=results,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms,
            img_meta=img_meta)
