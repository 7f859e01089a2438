# Copyright (c) mmdeepmad authors. All rights reserved.
from .deepmad import DeepMAD, DeepMADForMMAction

__all__ = ['DeepMAD', 'DeepMADForMMAction']
