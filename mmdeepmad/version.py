# Copyright (c) mmdeepmad authors. All rights reserved.
"""Version of the mmdeepmad package (single source of truth)."""

__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string like ``'0.1.0'`` or ``'0.1.0rc1'`` into a
    tuple such as ``(0, 1, 0)`` or ``(0, 1, 0, 'rc1')``."""
    parts = []
    for x in version_str.split('.'):
        if x.isdigit():
            parts.append(int(x))
        elif 'rc' in x:
            num, rc = x.split('rc', 1)
            parts.append(int(num))
            parts.append(f'rc{rc}')
        else:
            parts.append(x)
    return tuple(parts)


version_info = parse_version_info(__version__)

__all__ = ['__version__', 'version_info', 'parse_version_info']
