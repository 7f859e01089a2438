# Copyright (c) mmdeepmad authors. All rights reserved.
"""The backbone and its deploy form export to ONNX (TorchScript exporter,
``dynamo=False``: it needs no onnxscript); onnxruntime computes what torch
computes within 1e-4."""
import numpy as np
import pytest
import torch

from mmdeepmad.models import DeepMAD
from .deepmad_specs import tiny_spec
from .test_deploy import randomize

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*(legacy TorchScript-based ONNX|feature will be removed):"
    "DeprecationWarning")

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')


def export_and_run(model, x, path):
    names = [f'out{i}' for i in range(len(model.out_indices))]
    torch.onnx.export(
        model, (x, ),
        str(path),
        input_names=['input'],
        output_names=names,
        opset_version=17,
        dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    return session.run(names, {'input': x.numpy()})


@pytest.mark.parametrize('block', ['bottleneck', 'mbv2-se'])
@pytest.mark.parametrize('deploy', [False, True], ids=['unfused', 'fused'])
def test_onnxruntime_matches_torch(block, deploy, tmp_path):
    spec = tiny_spec(block, head_conv=block == 'mbv2-se', act='silu')
    model = randomize(DeepMAD(spec, out_indices=(1, 3, 4)))
    if deploy:
        model.switch_to_deploy()
    # an odd side: the ceil-mode 2x2 shortcut pools see odd maps
    x = torch.rand(1, 3, 50, 50)
    with torch.no_grad():
        expected = [out.numpy() for out in model(x)]
    actual = export_and_run(model, x, tmp_path / 'deepmad.onnx')
    assert len(actual) == len(expected) == 3
    for a, b in zip(actual, expected):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
