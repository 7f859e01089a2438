# Copyright (c) mmdeepmad authors. All rights reserved.
"""Test-session settings shared by every test folder.

Run the suite with ``.venv/bin/python -m pytest tests -q`` (add ``-n 2`` for
pytest-xdist). Layout: ``foundation/`` (environment, entry point, compat
fixes), ``design/`` (DeepMAD design, no torch), ``models/`` (backbones),
``configs/`` (OpenMMLab configs), ``tools/`` (command-line tools).
"""
import os

# Must happen before numpy/torch/matplotlib are imported by any test module.
os.environ.setdefault('MPLBACKEND', 'Agg')
_threads = '1' if os.environ.get('PYTEST_XDIST_WORKER') else str(
    min(2,
        os.cpu_count() or 1))
for _var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
    os.environ.setdefault(_var, _threads)
# Never reach out for weights / datasets during tests.
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import importlib.util  # noqa: E402

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line('markers',
                            'gpu: needs a CUDA device (skipped without one)')
    config.addinivalue_line('markers', 'slow: takes more than a few seconds')


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker('gpu') for item in items):
        return
    has_cuda = False
    if importlib.util.find_spec('torch') is not None:
        import torch
        has_cuda = torch.cuda.is_available()
    if has_cuda:
        return
    skip = pytest.mark.skip(reason='no CUDA device')
    for item in items:
        if item.get_closest_marker('gpu'):
            item.add_marker(skip)


@pytest.fixture
def sigint_delivered():
    """SIGINT raises KeyboardInterrupt here and has its default action in
    child processes, also when the test run was started with SIGINT ignored
    (a background job of a non-interactive shell, which a tool rightly
    leaves ignored)."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
