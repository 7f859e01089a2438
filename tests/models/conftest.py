# Copyright (c) mmdeepmad authors. All rights reserved.
import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    """The models tested here are tiny: one intra-op thread is faster than two
    (no thread hand-off per op; on a busy 2-core machine a two-thread forward
    of a tiny network can take seconds instead of milliseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
