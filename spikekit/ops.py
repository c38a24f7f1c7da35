"""Typed wrappers over the ``torch.ops.spikekit.*`` operators of the ``spikekit._C`` extension.

Each op has a fake (meta) kernel registered with ``torch.library.register_fake`` so that it
traces under ``torch.compile``. This module holds nothing else: argument checking that needs
file names or user-facing wording lives in the callers.
"""
from __future__ import annotations

import torch

try:
    from . import _C  # noqa: F401  (importing registers the ops)
except ImportError as exc:  # pragma: no cover - only when the extension was never built
    raise ImportError(
        "spikekit._C (the compiled kernels) is not built. Run `make build`, or "
        "`pip install --no-build-isolation -e .` in the repository root."
    ) from exc

WITH_CUDA: bool = bool(_C.WITH_CUDA)
"""True when the CUDA kernels were compiled into this build."""


def frame_bytes(height: int, width: int) -> int:
    """Bytes of one packed spike frame of ``height`` x ``width`` pixels: ceil(H*W/8)."""
    return (int(height) * int(width) + 7) // 8


# --- bit packing -----------------------------------------------------------------------------

def unpack_spikes(packed: torch.Tensor, height: int, width: int, flip: bool = True,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """Decode packed spike frames (the ``.dat`` byte layout) to a spike stream.

    Args:
        packed: uint8 (T, ceil(H*W/8)), contiguous, CPU or CUDA.
        height, width: frame size H, W in pixels.
        flip: True when file rows are stored bottom-up (the Vidar ``.dat`` convention).
        out: optional preallocated uint8 (T, H, W) on the same device, reused as the result.

    Returns:
        uint8 (T, H, W) of {0, 1}, row 0 the top of the image.

    Raises:
        RuntimeError: wrong dtype, shape, device or non-contiguous input (message names the
            op and argument).
    """
    if out is None:
        return torch.ops.spikekit.unpack_spikes.default(packed, height, width, flip)
    torch.ops.spikekit.unpack_spikes_into.default(packed, height, width, flip, out)
    return out


def pack_spikes(spikes: torch.Tensor, flip: bool = True) -> torch.Tensor:
    """Encode a spike stream into packed frames (the inverse of :func:`unpack_spikes`).

    Args:
        spikes: uint8 (T, H, W) of {0, 1}, contiguous (values are not checked here; bit 0 of
            each byte is used).
        flip: True to store rows bottom-up (the Vidar ``.dat`` convention).

    Returns:
        uint8 (T, ceil(H*W/8)); padding bits of the last byte of each frame are 0.
    """
    return torch.ops.spikekit.pack_spikes.default(spikes, flip)


@torch.library.register_fake("spikekit::unpack_spikes")
def _unpack_spikes_fake(packed, height, width, flip):
    torch._check(packed.dim() == 2)
    return packed.new_empty((packed.shape[0], height, width))


@torch.library.register_fake("spikekit::unpack_spikes_into")
def _unpack_spikes_into_fake(packed, height, width, flip, out):
    return None


@torch.library.register_fake("spikekit::pack_spikes")
def _pack_spikes_fake(spikes, flip):
    torch._check(spikes.dim() == 3)
    return spikes.new_empty((spikes.shape[0], (spikes.shape[1] * spikes.shape[2] + 7) // 8))


# --- simulator (integrate-and-fire) ----------------------------------------------------------


# --- reconstruction (TFP / TFI windows) ------------------------------------------------------
