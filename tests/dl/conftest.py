"""dl tests train on one intra-op thread: with other test processes on a 2-core machine, OpenMP threads
that spin-wait for a busy core make a run 10-50x slower; one thread keeps the suite fast and steady."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
