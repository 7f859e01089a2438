# Copyright (c) mmdeepmad authors. All rights reserved.
"""torch >= 2.6 loads with ``weights_only=True``; mmengine 0.10.7 checkpoints
need extra safe globals. Save -> load -> resume must work through the
project's entry point (config ``custom_imports``)."""
import io
import json
import os
import pickle

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmengine')

from tests.foundation.conftest import run_python  # noqa: E402


@pytest.fixture(scope='module')
def roundtrip(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ckpt')
    for var in ('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD',
                'TORCH_FORCE_WEIGHTS_ONLY_LOAD'):
        os.environ.pop(var, None)
    proc = run_python(
        ['-m', 'tests.foundation._checkpoint_roundtrip',
         str(work_dir)])
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT ')]
    assert line, proc.stdout[-3000:]
    return work_dir, json.loads(line[-1][len('RESULT '):])


def test_resume_restores_saved_state(roundtrip):
    _, res = roundtrip
    assert res['saved_epoch'] == 2
    assert {
        'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'
    } <= set(res['saved_keys'])
    assert 'train/loss' in res['hub_scalars']
    # the new Runner resumed at epoch 2 with the saved weights ...
    assert res['resumed_epoch'] == 2
    assert res['resumed_iter'] == 4
    assert res['weights_equal'] is True
    assert res['resumed_momentum_buffers'] > 0  # optimizer state restored
    assert res['resumed_lr'] == pytest.approx(0.01)  # scheduler state
    assert 'train/loss' in res['resumed_log_scalars']  # message hub
    # ... and continued training for the third epoch
    assert res['final_epoch'] == 3
    assert res['trained_after_resume'] is True
    assert res['epoch3_exists'] is True


def test_plain_torch_load_needs_the_fix(roundtrip):
    """Without mmdeepmad, torch's default weights-only load refuses the
    checkpoint (this is the trap the fix addresses)."""
    work_dir, _ = roundtrip
    code = ('import torch\n'
            'try:\n'
            f'    torch.load({str(work_dir / "epoch_2.pth")!r})\n'
            'except Exception as e:\n'
            '    print("REFUSED", type(e).__name__)\n'
            'else:\n'
            '    print("LOADED")\n')
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == 'REFUSED'


def test_safe_getattr_is_restricted():
    """``builtins.getattr`` is only allowed for HistoryBuffer statistics."""
    from mmengine.logging import HistoryBuffer

    import mmdeepmad  # noqa: F401
    from mmdeepmad.compat.torch_load import safe_getattr
    assert safe_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        safe_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        safe_getattr(os, 'system')

    class Evil:

        def __init__(self, obj, name):
            self.args = (obj, name)

        def __reduce__(self):
            return (getattr, self.args)

    for obj, name in ((set, 'mro'), (HistoryBuffer, '__init__')):
        buf = io.BytesIO()
        torch.save({'x': Evil(obj, name)}, buf)
        buf.seek(0)
        with pytest.raises(pickle.UnpicklingError, match='not allowed'):
            torch.load(buf, weights_only=True)


def test_numpy_and_configdict_round_trip():
    import numpy as np
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer

    import mmdeepmad  # noqa: F401
    hb = HistoryBuffer()
    hb.update(1.5)
    hb.update(2.5)
    obj = dict(
        arr=np.arange(6, dtype=np.int64).reshape(2, 3),
        f16=np.ones(2, dtype=np.float16),
        scalar=np.float64(0.25),
        flag=np.bool_(True),
        cfg=ConfigDict(a=1, b=dict(c=[1, 2])),
        hb=hb)
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    out = torch.load(buf, weights_only=True)
    assert np.array_equal(out['arr'], obj['arr'])
    assert out['f16'].dtype == np.float16
    assert out['scalar'] == 0.25 and bool(out['flag']) is True
    assert isinstance(out['cfg'], ConfigDict) and out['cfg'].b.c == [1, 2]
    assert out['hb'].mean() == pytest.approx(2.0)
