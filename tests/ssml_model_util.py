"""Helpers shared by the tests/test_ssml_model*.py files."""
from __future__ import annotations

import pytest
import torch


def spikes(*shape, p=0.3, seed=0, dtype=torch.float32) -> torch.Tensor:
    """Random {0, 1} spikes of ``shape`` (firing probability ``p``), reproducible by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(dtype)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread per test: these small tensors are faster on one thread, and on a
    shared machine a busy core stalls every two-thread parallel region by a whole time slice."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_lite(folder, seed: int):
    """An untrained :class:`ssml.lite.LiteNet` (torch seed ``seed``) saved as a bare state dict in
    ``folder``: (path as str, the model in eval mode)."""
    from ssml.lite import LiteNet

    torch.manual_seed(seed)
    model = LiteNet()
    path = folder / "lite.pt"
    torch.save(model.state_dict(), path)
    return str(path), model.eval()
