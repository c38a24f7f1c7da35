"""Which precision SSML inference runs in: ``auto`` (the default), ``fp32`` or ``bf16`` autocast.

``auto`` is bf16 where the hardware computes bf16 natively (a CPU with AVX-512 BF16 or AMX, a
CUDA GPU that supports bf16) and fp32 elsewhere (emulated bf16 is slower than fp32). What bf16
costs in quality and gains in speed is measured by ``benchmarks/bench_ssml_infer.py`` (parts
``quality`` and ``efficiency``; tables in docs/benchmarks.md). The attention's energies and
softmax stay float32 under autocast (``ssml.attention``).
"""
from __future__ import annotations

from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
"""Values of ``--param precision``."""
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of CPUs that compute bf16 natively."""


def native_bf16(device) -> bool:
    """Whether ``device`` (a torch.device or string) computes bf16 natively (see the module)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def precision_name(name) -> str:
    """``name`` as one of :data:`PRECISIONS` (any case accepted), checked.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    precision = str(name).lower()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return precision


def resolve_precision(name, device) -> str:
    """``"fp32"`` or ``"bf16"`` for the requested ``name`` (``auto``/``fp32``/``bf16``, any case).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    precision = precision_name(name)
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision
