# Copyright (c) mmdeepmad authors. All rights reserved.
"""Detection heads for mmdet 3.x. Importing this package imports mmdet and
registers the heads into mmdet's ``MODELS``; :mod:`..registration` does it
lazily, once mmdet's registry is imported."""
from .gflv2_head import GFLV2Head

__all__ = ['GFLV2Head']
