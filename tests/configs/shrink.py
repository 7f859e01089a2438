# Copyright (c) mmdeepmad authors. All rights reserved.
"""Make a real config fast enough for a test, changing nothing but sizes.

The model keeps its type, neck, head, losses and evaluator; only the backbone
becomes a tiny spec of the same block family (channels read from the built
backbone), images become a few dozen pixels, batches 2 images, and the data
points at the tiny on-disk datasets of :mod:`tests.configs.on_disk`.
"""
import os.path as osp

from mmdeepmad.engine import launch
from mmdeepmad.models import DeepMAD
from ..models.deepmad_specs import tiny_spec

#: transform type -> {key: small value}
SMALL_TRANSFORMS = {
    # mmpretrain
    'RandomResizedCrop': dict(scale=32),
    'ResizeEdge': dict(scale=36),
    'CenterCrop': dict(crop_size=32),
    # mmdet
    'RandomChoiceResize': dict(scales=[(96, 48), (96, 64)]),
    # mmaction
    'MultiScaleCrop': dict(input_size=32),
    'TenCrop': dict(crop_size=32),
}


def _shrink_transform(transform: dict, scope: str) -> dict:
    kind = transform.get('type')
    transform.update(SMALL_TRANSFORMS.get(kind, {}))
    if kind == 'RandomResize':  # mmdet (list of scales) or mmseg (ratios)
        transform['scale'] = ((96, 32) if scope == 'mmseg' else [(96, 48),
                                                                 (96, 64)])
    elif kind == 'Resize':
        scale = transform.get('scale')
        if scope == 'mmaction':
            transform['scale'] = (-1, 40) if scale[0] == -1 else (32, 32)
        elif scope == 'mmseg':
            transform['scale'] = (96, 32)
        else:
            transform['scale'] = (96, 64)
    elif kind == 'RandomCrop' and scope == 'mmseg':
        transform['crop_size'] = (32, 32)
    elif kind == 'SampleFrames' and transform.get('num_clips', 0) > 3:
        transform['num_clips'] = 3
    return transform


def _shrink_loader(loader, scope: str) -> None:
    loader.batch_size = 2
    loader.num_workers = 0
    loader.persistent_workers = False
    dataset = loader.dataset
    for transform in dataset.get('pipeline', []):
        _shrink_transform(transform, scope)


def _replace_syncbn(node) -> None:
    """SyncBN needs a process group: BN on a single CPU process."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            _replace_syncbn(value)
    elif isinstance(node, list):
        for value in node:
            _replace_syncbn(value)


def tiny_backbone(backbone_cfg) -> DeepMAD:
    """Swap the preset for a tiny spec of its block family and activation;
    return the tiny backbone (built with the config's out_indices)."""
    preset = DeepMAD(backbone_cfg.arch).arch_spec
    spec = tiny_spec(
        block=preset.stages[0].block,
        head_conv=preset.head_conv is not None,
        act=preset.act,
        resolution=32)
    backbone_cfg.arch = spec.to_dict()
    return DeepMAD(spec, out_indices=backbone_cfg.get('out_indices', (-1, )))


def _set_in_channels(model, channels) -> None:
    """Wire the tiny backbone's channels to whatever consumes them."""
    if model.get('neck') and 'in_channels' in model.neck:
        model.neck.in_channels = list(channels)
    if model.get('head') and 'in_channels' in model.head:
        model.head.in_channels = channels[-1]
    if model.get('cls_head'):
        model.cls_head.in_channels = channels[-1]
    if model.get('decode_head'):
        model.decode_head.in_channels = list(channels)
    if model.get('auxiliary_head'):
        index = model.auxiliary_head.get('in_index', -1)
        model.auxiliary_head.in_channels = channels[index]


def _point_at_data(cfg, scope: str, data: dict) -> None:
    loaders = [cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader]
    if scope == 'mmpretrain':
        for loader in loaders:
            folders = loader.dataset.type == 'CustomDataset'
            loader.dataset.data_root = data[
                'folders' if folders else 'imagenet']
    elif scope == 'mmdet':
        for loader, split in zip(loaders, ('train2017', 'val2017', 'val2017')):
            loader.dataset.data_root = data['coco']
            loader.dataset.ann_file = f'annotations/instances_{split}.json'
            loader.dataset.data_prefix = dict(img=f'{split}/')
        for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
            evaluator.ann_file = osp.join(data['coco'], 'annotations',
                                          'instances_val2017.json')
    elif scope == 'mmseg':
        for loader in loaders:
            loader.dataset.data_root = data['ade20k']
    elif scope == 'mmaction':
        for loader, split in zip(loaders, ('train', 'val', 'val')):
            loader.dataset.ann_file = data[f'rawframes_{split}_list']
            loader.dataset.data_prefix = dict(img=data['rawframes'])


def shrink(cfg, data: dict, work_dir: str):
    """Shrink ``cfg`` in place for a 2-iteration run on tiny data; returns
    the tiny backbone it now builds."""
    scope = cfg.default_scope
    cfg.work_dir = work_dir
    launch.drop_pretrained(cfg)
    launch.use_amp_when_possible(cfg)
    _replace_syncbn(cfg.model)
    backbone = tiny_backbone(cfg.model.backbone)
    _set_in_channels(cfg.model, backbone.out_channels)
    if scope == 'mmseg':
        cfg.model.data_preprocessor.size = (32, 32)
    if scope == 'mmdet':
        # an untrained detector scores below 0.05: keep every box, so the
        # COCO evaluator has results to score
        cfg.model.test_cfg.score_thr = 0.0
    # one visualizer per run (a fixed name would reuse an earlier run's
    # instance, and its files)
    cfg.visualizer.pop('name', None)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        _shrink_loader(loader, scope)
    _point_at_data(cfg, scope, data)
    # two training iterations, validation called by the test itself
    if cfg.train_cfg.get('type') == 'IterBasedTrainLoop' or \
            'max_iters' in cfg.train_cfg:
        cfg.train_cfg.max_iters = 2
        cfg.train_cfg.val_interval = 1000
    else:
        cfg.train_cfg.max_epochs = 1
        cfg.train_cfg.val_interval = 1000
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.log_processor = dict(window_size=1)
    cfg.randomness = dict(seed=0)
    return backbone
