# Copyright (c) mmdeepmad authors. All rights reserved.
"""Training-side helpers shared by ``tools/train.py``, ``tools/test.py`` and
``tools/analysis/get_flops.py``: config loading with the right scope and
checked ``--cfg-options`` (:mod:`.launch`, :mod:`.config_check`), the error
boundary of the tools (:mod:`.cli`, :mod:`.errors`), the pretrained-file
check and strict pretrained loading (:mod:`.pretrained`,
:mod:`.checkpoint`), the model check before a run (:mod:`.model_check`),
hooks."""
from .checkpoint import StateDictFit, check_state_dict_fits, state_dict_fit
from .errors import (CheckpointMismatchError, ConfigError, DataError,
                     InputError, ModelBuildError, ToolError)
from .pretrained import (MissingPretrainedError, check_pretrained,
                         load_pretrained)

__all__ = [
    'CheckpointMismatchError', 'ConfigError', 'DataError', 'InputError',
    'MissingPretrainedError', 'ModelBuildError', 'StateDictFit', 'ToolError',
    'check_pretrained', 'check_state_dict_fits', 'load_pretrained',
    'state_dict_fit'
]
