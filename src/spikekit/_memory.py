"""Output buffers backed by transparent huge pages, and the memory check before a large one.

On Linux machines whose transparent huge pages are in ``madvise`` mode, a fresh ``torch.empty``
buffer is faulted in 4 KiB pages, which can cost more than the kernel that fills it. NumPy's
allocator madvises large blocks for huge pages, so buffers made here come from NumPy and are
shared with torch without a copy.

:func:`check_allocation` refuses, before allocating, a buffer larger than the memory the machine
has available (instead of the machine swapping to a halt or killing the process).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CHECKED_ABOVE = 256 << 20
"""Buffers up to this size (bytes) are allocated without looking at the memory available."""
MEMINFO = Path("/proc/meminfo")
CGROUP_MEMORY = Path("/sys/fs/cgroup")
"""cgroup v2 files memory.max and memory.current of this process's group (Linux)."""

_NUMPY_DTYPES = {
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
    torch.int32: np.int32,
    torch.int64: np.int64,
    torch.float32: np.float32,
    torch.float64: np.float64,
}


def empty_hugepage(shape, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """Uninitialised CPU tensor of ``shape`` and ``dtype`` whose memory NumPy allocated.

    Args:
        shape: tuple of ints, the tensor shape.
        dtype: one of uint8, bool, int32, int64, float32, float64.

    Returns:
        A contiguous CPU tensor (huge-page backed when the block is large enough).

    Raises:
        TypeError: for a dtype NumPy cannot allocate here.
    """
    if dtype not in _NUMPY_DTYPES:
        raise TypeError(f"empty_hugepage: unsupported dtype {dtype}")
    return torch.from_numpy(np.empty(tuple(int(s) for s in shape), dtype=_NUMPY_DTYPES[dtype]))


def available_bytes() -> int | None:
    """Memory this process can still take: ``MemAvailable`` of /proc/meminfo, capped by a cgroup
    v2 limit (``memory.max - memory.current``); ``None`` where neither can be read."""
    found = []
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = (CGROUP_MEMORY / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((CGROUP_MEMORY / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_allocation(nbytes: int, what: str, hint: str) -> None:
    """Refuse a buffer of ``nbytes`` larger than :func:`available_bytes` (checked only above
    :data:`CHECKED_ABOVE`).

    Args:
        nbytes: the size about to be allocated.  what: the request, for the message (names the
            file).  hint: how to ask for less.

    Raises:
        MemoryError: ``"{what} needs X GiB, more than the Y GiB of memory available; {hint}"``.
    """
    if nbytes <= CHECKED_ABOVE:
        return
    free = available_bytes()
    if free is not None and nbytes > free:
        raise MemoryError(f"{what} needs {nbytes / 2**30:.1f} GiB, more than the {max(free, 0) / 2**30:.1f} "
                          f"GiB of memory available; {hint}")
