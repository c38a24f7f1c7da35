"""Output buffers backed by transparent huge pages.

On Linux machines whose transparent huge pages are in ``madvise`` mode, a fresh ``torch.empty``
buffer is faulted in 4 KiB pages, which can cost more than the kernel that fills it. NumPy's
allocator madvises large blocks for huge pages, so buffers made here come from NumPy and are
shared with torch without a copy.
"""
from __future__ import annotations

import numpy as np
import torch

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
