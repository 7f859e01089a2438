# Copyright (c) mmdeepmad authors. All rights reserved.
"""Every downstream library's model registry is reachable through the
project's entry point: a config with ``custom_imports=['mmdeepmad']`` is
loaded the way OpenMMLab tools load it, and each library builds a model."""
import importlib
import sys
import textwrap

import pytest

torch = pytest.importorskip('torch')

# scope, registry module, backbone config, input shape, expected out channels
CASES = {
    'mmdet': ('mmdet.registry',
              dict(
                  type='ResNet',
                  depth=18,
                  num_stages=4,
                  out_indices=(3, ),
                  norm_eval=False), (1, 3, 32, 32), 512),
    'mmseg':
    ('mmseg.registry', dict(type='ResNetV1c', depth=18,
                            out_indices=(3, )), (1, 3, 32, 32), 512),
    'mmaction':
    ('mmaction.registry', dict(type='ResNet', depth=18,
                               out_indices=(3, )), (1, 3, 32, 32), 512),
    'mmpretrain': ('mmpretrain.registry',
                   dict(type='ResNet', depth=18,
                        out_indices=(3, )), (1, 3, 32, 32), 512),
}


def _load_cfg(tmp_path, model):
    from mmengine.config import Config
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        textwrap.dedent(f'''
        custom_imports = dict(
            imports=['mmdeepmad'], allow_failed_imports=False)
        model = {model!r}
    '''))
    return Config.fromfile(str(cfg_file))


@pytest.mark.parametrize('scope', list(CASES))
def test_registry_builds_backbone(scope, tmp_path):
    reg_mod, model, shape, channels = CASES[scope]
    cfg = _load_cfg(tmp_path, model)
    assert 'mmdeepmad' in sys.modules  # imported through custom_imports
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    registry = importlib.import_module(reg_mod).MODELS
    backbone = registry.build(cfg.model)
    assert type(backbone).__module__.startswith(scope)
    backbone.eval()
    with torch.no_grad():
        outs = backbone(torch.rand(*shape))
    out = outs[-1] if isinstance(outs, (tuple, list)) else outs
    assert out.shape[:2] == (shape[0], channels)


def test_mmdet_detector_with_mmcv_ops(tmp_path):
    """A detector whose RoI head uses compiled mmcv ops (RoIAlign) builds
    and runs: mmcv was installed WITH ops."""
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]

    extractor = dict(
        type='SingleRoIExtractor',
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
        out_channels=8,
        featmap_strides=[4])
    cfg = _load_cfg(tmp_path, extractor)
    from mmdet.utils import register_all_modules
    from mmengine.registry import init_default_scope
    register_all_modules(init_default_scope=False)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    roi_extractor = MODELS.build(cfg.model)
    assert isinstance(roi_extractor.roi_layers[0], RoIAlign)
    feats = (torch.rand(1, 8, 16, 16), )
    rois = torch.tensor([[0., 0., 0., 32., 32.]])
    assert roi_extractor(feats, rois).shape == (1, 8, 7, 7)
