"""Which precision SSML runs in: ``auto`` (the default), ``fp32`` or ``bf16`` autocast; one policy
for inference (``--param precision``), training (``spikekit train --amp``) and ``spikekit adapt``.

``auto`` is bf16 where the hardware computes bf16 natively (a CPU with AVX-512 BF16 or AMX, a
CUDA GPU that supports bf16) and fp32 elsewhere (emulated bf16 is slower than fp32). What bf16
costs in quality and gains in speed is measured by ``benchmarks/bench_ssml_infer.py`` (parts
``quality`` and ``efficiency``; tables in docs/benchmarks.md). The attention's energies and
softmax stay float32 under autocast (``ssml.attention``).

Training follows the same rule (``TrainConfig.amp``: ``auto``, ``none`` = fp32, ``bf16``): on a
CPU without native bf16 (e.g. AMD Zen 3, AVX2 only) a bf16 training step is several times slower
than a float32 one, so ``auto`` never picks it there. A CPU with native bf16 plays one without it
for oneDNN with ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` (e.g. ``python
benchmarks/bench_ssml_train.py --quick``). The CPU's flags are read from :data:`CPUINFO`; tests
point it at another file to play a CPU without native bf16.
"""
from __future__ import annotations

from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
"""Values of ``--param precision``."""
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags of CPUs that compute bf16 natively."""
CPUINFO = Path("/proc/cpuinfo")
"""Where the CPU's flags are read (a module attribute so that tests can play another CPU)."""
AMP_MODES = ("auto", "none", "bf16")
"""Values of ``TrainConfig.amp`` / ``--amp``: ``none`` is float32 (``fp32`` of :data:`PRECISIONS`)."""


def native_bf16(device) -> bool:
    """Whether ``device`` (a torch.device or string) computes bf16 natively (see the module)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = Path(CPUINFO).read_text().split()
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


def resolve_amp(amp, device) -> str:
    """The training autocast mode for ``amp`` (one of :data:`AMP_MODES`) on ``device``: ``"none"``
    (float32) or ``"bf16"``, by the rule of :func:`resolve_precision` for ``auto``.

    Raises:
        ValueError: an unknown mode (the message lists the known ones).
    """
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {amp!r}")
    return "none" if resolve_precision("fp32" if amp == "none" else amp, device) == "fp32" else "bf16"


def describe_precision(precision: str, device) -> str:
    """Words for the start of a run: ``precision`` (``fp32``/``none`` or ``bf16``, settled) and
    why it suits ``device`` (e.g. ``"float32 (this CPU has no native bf16)"``)."""
    device = torch.device(device)
    where = "this GPU" if device.type == "cuda" else "this CPU"
    native = native_bf16(device)
    if precision == "bf16":
        return f"bf16 autocast ({where} {'computes bf16 natively' if native else 'has no native bf16: emulated, slow'})"
    return "float32" + ("" if native else f" ({where} has no native bf16)")
