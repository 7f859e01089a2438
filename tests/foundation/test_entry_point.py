# Copyright (c) mmdeepmad authors. All rights reserved.
"""``import mmdeepmad`` is cheap and applies the compat fixes."""
import json

import mmdeepmad
from mmdeepmad import compat
from mmdeepmad.version import parse_version_info


def test_version():
    assert isinstance(mmdeepmad.__version__, str)
    assert mmdeepmad.version_info[:2] == parse_version_info(
        mmdeepmad.__version__)[:2]
    assert parse_version_info('1.2.0rc3') == (1, 2, 0, 'rc3')


def test_compat_applied():
    applied = compat.apply_all()
    assert applied['torch_load'] is True  # torch is installed here
    assert applied['mmaction_drn'] == compat.mmaction_drn.drn_is_missing()


HEAVY = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmaction',
         'mmpretrain', 'cvxpy', 'matplotlib')


def test_import_is_light(fresh_python):
    """``import mmdeepmad`` imports no heavy library itself: with torch
    unavailable nothing heavy (and no ``mmdeepmad.models``) gets imported."""
    code = ('import sys, json\n'
            'sys.modules["torch"] = None  # as if torch were not installed\n'
            'import mmdeepmad\n'
            f'heavy = [m for m in {HEAVY!r} if sys.modules.get(m)]\n'
            'print(json.dumps([heavy, "mmdeepmad.models" in sys.modules]))')
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    heavy, models = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert models is False


def test_torch_load_fix_is_lazy(fresh_python):
    """The safe globals are registered when torch / mmengine get imported,
    whichever comes first, ``import mmdeepmad`` or the library."""
    code = ('import json, mmdeepmad\n'
            'from mmdeepmad.compat.torch_load import registered\n'
            'import torch\n'
            'a = registered()\n'
            'import mmengine.logging\n'
            'import mmengine.config\n'
            'print(json.dumps([a, registered()]))')
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    after_torch, after_mmengine = json.loads(
        proc.stdout.strip().splitlines()[-1])
    assert after_torch['numpy'] is True
    assert after_mmengine == dict(numpy=True, history_buffer=True, config=True)
