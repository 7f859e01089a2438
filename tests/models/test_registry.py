# Copyright (c) mmdeepmad authors. All rights reserved.
"""``type='DeepMAD'`` and ``type='mmdeepmad.DeepMAD'`` build through each
OpenMMLab library's ``Runner`` with that library's ``default_scope``, from a
config file that imports mmdeepmad through ``custom_imports``."""
import textwrap

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.runner import Runner

from mmdeepmad.models import DeepMAD, DeepMADForMMAction
from mmdeepmad.models.registration import register_downstream
from mmdeepmad.registry import MODELS
from .deepmad_specs import tiny_spec

SCOPES = ('mmpretrain', 'mmdet', 'mmseg', 'mmaction')


def test_own_registry_is_a_scoped_child_of_the_root():
    assert MODELS.scope == 'mmdeepmad'
    assert MODELS.parent is ROOT_MODELS
    assert MODELS.get('DeepMAD') is DeepMAD
    assert ROOT_MODELS.get('mmdeepmad.DeepMAD') is DeepMAD


@pytest.mark.parametrize('type_name', ['DeepMAD', 'mmdeepmad.DeepMAD'])
@pytest.mark.parametrize('scope', SCOPES)
def test_runner_builds_deepmad(scope, type_name, tmp_path):
    # one file name per case: the Runner names its DefaultScope after it
    config = tmp_path / f'{scope}_{type_name.replace(".", "_")}.py'
    config.write_text(
        textwrap.dedent(f'''
        custom_imports = dict(imports=['mmdeepmad'],
                              allow_failed_imports=False)
        default_scope = {scope!r}
        work_dir = {str(tmp_path)!r}
        log_level = 'WARNING'
        model = dict(type={type_name!r}, arch={tiny_spec().to_dict()!r})
        '''))
    runner = Runner.from_cfg(Config.fromfile(str(config)))
    expected = (
        DeepMADForMMAction
        if scope == 'mmaction' and type_name == 'DeepMAD' else DeepMAD)
    assert type(runner.model) is expected
    assert runner.model.arch_spec == tiny_spec()


def test_registration_is_idempotent():
    register_downstream()
    register_downstream()
    import mmdet.registry
    assert mmdet.registry.MODELS.get('DeepMAD') is DeepMAD
