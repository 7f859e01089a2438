# Copyright (c) mmdeepmad authors. All rights reserved.
"""Training-side helpers shared by ``tools/train.py`` and ``tools/test.py``:
config loading with the right scope, the pretrained-file check, hooks."""
from .pretrained import MissingPretrainedError, check_pretrained

__all__ = ['MissingPretrainedError', 'check_pretrained']
