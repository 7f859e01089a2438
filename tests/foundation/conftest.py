# Copyright (c) mmdeepmad authors. All rights reserved.
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code_or_args, *, cwd=None, timeout=300):
    """Run a fresh interpreter of this environment (``sys.executable``).

    ``code_or_args``: a code string for ``-c`` or a list of arguments.
    Returns the CompletedProcess (text mode, output captured).
    """
    args = (['-c', code_or_args]
            if isinstance(code_or_args, str) else list(code_or_args))
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    return subprocess.run([sys.executable, *args],
                          cwd=cwd or REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=timeout)


@pytest.fixture
def fresh_python():
    return run_python
