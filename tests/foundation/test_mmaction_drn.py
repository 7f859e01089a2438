# Copyright (c) mmdeepmad authors. All rights reserved.
"""mmaction2 1.2.0 from PyPI lacks ``mmaction.models.localizers.drn``;
``import mmdeepmad`` provides a placeholder so ``mmaction.models`` imports."""
import importlib.machinery
import sys
import textwrap

import pytest

from mmdeepmad.compat import mmaction_drn

pytest.importorskip('mmaction')


def test_import_mmaction_models_after_mmdeepmad(fresh_python):
    code = textwrap.dedent('''
        import mmdeepmad
        import mmaction.models
        from mmaction.models.localizers import DRN, BMN
        import mmaction.models.localizers.drn.drn as drn_mod
        from mmdeepmad.compat.mmaction_drn import is_stub
        print('OK', is_stub(drn_mod), DRN.__name__, BMN.__name__)
    ''')
    proc = fresh_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1].split()
    assert last[0] == 'OK'
    assert last[1] == str(mmaction_drn.drn_is_missing())
    assert last[2:] == ['DRN', 'BMN']


@pytest.mark.skipif(
    not mmaction_drn.drn_is_missing(),
    reason='installed mmaction2 ships localizers/drn: no placeholder needed')
def test_drn_placeholder_raises_clear_error():
    import mmaction.models  # noqa: F401
    from mmaction.models.localizers import DRN
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    assert mmaction_drn.is_stub(sys.modules[mmaction_drn.MODULE])
    assert mmaction_drn.is_stub(sys.modules[mmaction_drn.PACKAGE])
    with pytest.raises(
            mmaction_drn.DRNUnavailableError, match='not available'):
        DRN()
    init_default_scope('mmaction')
    with pytest.raises(NotImplementedError, match='ships without'):
        MODELS.build(dict(type='DRN', vision_feature_dim=512))


def test_finder_is_last_resort():
    """The finder sits at the end of sys.meta_path and only answers for the
    two DRN module names."""
    if mmaction_drn.install():
        assert sys.meta_path[-1] is mmaction_drn._FINDER or (
            mmaction_drn._FINDER in sys.meta_path)
        assert sys.meta_path.index(mmaction_drn._FINDER) > sys.meta_path.index(
            importlib.machinery.PathFinder)
    finder = mmaction_drn._DRNStubFinder()
    assert finder.find_spec('mmaction.models.localizers.bmn') is None
    assert finder.find_spec('mmaction.models.localizers.drnx') is None
    assert finder.find_spec(mmaction_drn.PACKAGE).submodule_search_locations \
        is not None


def test_not_installed_when_drn_present(tmp_path, monkeypatch):
    """A mmaction that has localizers/drn gets no placeholder."""
    pkg = tmp_path / 'mmaction'
    (pkg / 'models' / 'localizers' / 'drn').mkdir(parents=True)
    spec = importlib.machinery.ModuleSpec('mmaction', None, is_package=True)
    spec.submodule_search_locations = [str(pkg)]

    class _Mod:
        __spec__ = spec

    monkeypatch.setitem(sys.modules, 'mmaction', _Mod)
    assert mmaction_drn.drn_is_missing() is False
    (pkg / 'models' / 'localizers' / 'drn').rmdir()
    assert mmaction_drn.drn_is_missing() is True
    monkeypatch.setitem(sys.modules, 'mmaction', None)  # not installed
    assert mmaction_drn.drn_is_missing() is False
