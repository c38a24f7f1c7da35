"""Shared pytest fixtures: the real data in ../shared/data, CPU/CUDA device parametrisation."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device and spikekit's CUDA kernels")
    config.addinivalue_line("markers", "slow: takes more than a few seconds on 2 cores")


def pytest_collection_modifyitems(config, items):
    from spikekit import ops

    if torch.cuda.is_available() and ops.WITH_CUDA:
        return
    skip = pytest.mark.skip(reason="no CUDA device or spikekit built without CUDA kernels")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (the real spike streams, GT and videos); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
"""Use with @pytest.mark.parametrize("device", DEVICES)."""


def _cpu_paths() -> list[str]:
    from spikekit import ops

    return list(ops.supported_cpu_capabilities())


@pytest.fixture(params=_cpu_paths())
def cpu_path(request):
    """Runs the test once per CPU instruction-set path this machine supports (default, avx2,
    avx512; csrc/common/dispatch.h), so each path is checked against the plain references."""
    from spikekit import ops

    before = ops.cpu_capability()
    ops.set_cpu_capability(request.param)
    yield request.param
    ops.set_cpu_capability(before)
