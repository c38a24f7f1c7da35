"""Spike stream I/O: bit-packed ``.dat`` files, their JSON sidecars, and unpacked NumPy arrays."""
from .atomic import atomic_output, save_torch, write_image
from .dat import DEFAULT_HEIGHT, DEFAULT_RATE, DEFAULT_WIDTH, SpikeStream, count_frames, read_dat, resolve_size, write_dat
from .npz import npz_to_dat, read_npz
from .sidecar import read_sidecar, sidecar_path, write_sidecar

__all__ = ["SpikeStream", "read_dat", "write_dat", "read_npz", "npz_to_dat", "read_sidecar",
           "write_sidecar", "sidecar_path", "atomic_output", "save_torch", "write_image", "count_frames", "resolve_size",
           "DEFAULT_HEIGHT", "DEFAULT_WIDTH", "DEFAULT_RATE"]
