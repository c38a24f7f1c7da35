"""Already-unpacked spike arrays stored with NumPy (``.npz`` / ``.npy``), e.g. the UHSR recordings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dat import _as_spike_tensor, write_dat


def read_npz(path, key: str | None = None) -> torch.Tensor:
    """Load an unpacked spike stream from ``.npz`` (or ``.npy``).

    The array must be (T, H, W) of {0, 1}, upright (row 0 the top of the image), as in the UHSR
    dataset (key ``spk``).

    Args:
        path: ``.npz`` or ``.npy`` file.
        key: array name inside an ``.npz``; default ``spk`` if present, else the only
            3-D array.

    Returns:
        uint8 tensor (T, H, W) of {0, 1}.

    Raises:
        FileNotFoundError: missing file.
        KeyError: ``key`` not in the archive (lists the keys), or no unambiguous default.
        ValueError: not (T, H, W), or values other than 0/1 (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spike array file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:  # NumPy says "pickled data" for any non-array file
        raise ValueError(f"{path}: not a NumPy .npz/.npy array file") from exc
    if isinstance(data, np.ndarray):
        array = data
    else:
        with data:
            keys = list(data.keys())
            if key is None:
                spikes3d = [k for k in keys if data[k].ndim == 3]
                key = "spk" if "spk" in keys else (spikes3d[0] if len(spikes3d) == 1 else None)
                if key is None:
                    raise KeyError(f"{path}: pass key=...; arrays in the file: {keys}")
            if key not in keys:
                raise KeyError(f"{path}: no array {key!r}; arrays in the file: {keys}")
            array = data[key]
    if array.dtype != np.bool_:
        if not np.isin(array, (0, 1)).all():
            raise ValueError(f"{path}: spike array must contain only 0 and 1")
        array = array.astype(np.uint8, copy=False)
    try:
        return _as_spike_tensor(array).clone()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def npz_to_dat(src, dst, key: str | None = None, *, flip: bool = True, rate: float | None = None) -> Path:
    """Convert an unpacked ``.npz``/``.npy`` spike array to a ``.dat`` file with its sidecar.

    Args:
        src: input array file (see :func:`read_npz`).  dst: output ``.dat``.
        key: array name in the ``.npz``.  flip: store rows bottom-up.
        rate: spike frames per second to record in the sidecar (Hz), if known.

    Returns:
        The ``.dat`` path. Raises as :func:`read_npz` and :func:`write_dat`.
    """
    meta = {"source": str(src)}
    if rate is not None:
        meta["rate"] = float(rate)
    return write_dat(dst, read_npz(src, key), flip=flip, sidecar=meta)
