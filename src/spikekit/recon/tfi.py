"""TFI, texture from inter-spike intervals, and the ISI it is built on.

Seed paper Eq. 3 (after Zhu et al., ICME 2019): I(t) = min(scale / ISI(t), 1), with the
project's ISI definition (search bound M = ``max_interval`` frames on each side):

    l = last spike frame in [t - M + 1, t]   (frame t included), else t - M
    r = first spike frame in [t + 1, t + M],                      else t + M
    ISI(t) = r - l   in [1, 2M]

A side with no spike in range uses the search bound on that side, so an all-dark pixel gets
ISI = 2M and TFI = scale / (2M) (finite everywhere). At the stream's ends a side whose search is
cut off by the first or last frame and finds no spike is unknown, not dark: the ISI is then the
interval from the nearest spike on the other side to the next one beyond it (within M), so a
uniform stream reconstructs uniformly to its first and last frames; only without such a pair do
frames outside the stream count as no spike. Every t in [0, T - 1] is valid. A spike at frame 0
counts. SSML's AMIM uses M = 12 inside 41-frame windows, where the ends never matter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import ops
from .base import DEFAULT_SCALE, Method, check_max_interval, kernel_scale, reconstruct
from .source import MAX_CHUNK_OUTPUTS, Source, run_packed

_OP_DTYPES = (torch.uint8, torch.bool, torch.float32)


def isi(spikes: torch.Tensor, at, max_interval: int = 20) -> torch.Tensor:
    """Inter-spike interval ISI(at) per pixel of a batch of spike streams (definition above).

    Args:
        spikes: tensor (..., T, H, W) of uint8, bool or any float dtype (value > 0 is a spike),
            on CPU or CUDA; leading batch dims allowed (e.g. SSML's (B, 41, H, W) windows).
            Slices along T of a longer window are read without a copy.
        at: spike-frame index t in [0, T) -> (..., H, W); or a sequence of K indices ->
            (..., K, H, W).
        max_interval: M >= 1, search bound in spike frames on each side.

    Returns:
        float32 ISI in spike frames, in [1, 2M], on the spikes' device (not differentiable).

    Raises:
        ValueError: ``at`` outside [0, T) (names the range), M < 1, fewer than 3 dims.

    Source: Chen et al. 2022, Eq. 3; the ISI definition of docs/methods.md.
    """
    m = check_max_interval(max_interval)
    if not isinstance(spikes, torch.Tensor) or spikes.dim() < 3:
        raise ValueError(f"spikes must be a tensor (..., T, H, W), got "
                         f"{tuple(spikes.shape) if isinstance(spikes, torch.Tensor) else type(spikes).__name__}")
    frames, height, width = spikes.shape[-3:]
    single = np.ndim(at) == 0
    centres = [at] if single else list(at)
    for c in centres:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < frames:
            raise ValueError(f"isi: at={c!r} must be a spike-frame index in [0, {frames - 1}] "
                             f"of the {frames}-frame window")
    if spikes.dtype not in _OP_DTYPES:
        spikes = spikes > 0
    flat = spikes.detach().reshape(-1, frames, height * width)
    if flat.shape[2] > 1 and flat.stride(2) != 1 or frames > 1 and flat.stride(1) != flat.shape[2]:
        flat = flat.contiguous()
    out = ops.isi(flat, torch.tensor(centres, dtype=torch.int64), m)
    out = out.reshape(*spikes.shape[:-3], len(centres), height, width)
    return out.squeeze(-3) if single else out


@dataclass(frozen=True)
class TfiOptions:
    """Options of ``-m tfi``.

    Attributes:
        max_interval: M, the ISI search bound in spike frames on each side (>= 1).

    Raises:
        ValueError: M is not a positive integer.
    """

    max_interval: int = 20

    def __post_init__(self):
        object.__setattr__(self, "max_interval", check_max_interval(self.max_interval))


def tfi_valid(frames: int, opts: TfiOptions) -> tuple[int, int]:
    """Every index of the stream is valid (missing sides use the search bound)."""
    return 0, frames - 1


def tfi_run(source: Source, centres: list, opts: TfiOptions, scale):
    """Yield ``(centres, float32 (N, n, H, W))`` batches of TFI images (the Method contract)."""
    m, scale = opts.max_interval, kernel_scale(scale)
    if source.stream is None:  # in memory: the batched ISI op on the unpacked tensor
        for a in range(0, len(centres), MAX_CHUNK_OUTPUTS):
            part = centres[a:a + MAX_CHUNK_OUTPUTS]
            intervals = isi(source.tensor, part, m).reshape(-1, len(part), source.height, source.width)
            yield part, torch.div(scale, intervals).clamp_(max=1.0)  # as the kernel: one rounding
        return
    # Context: M - 1 frames before and M after each centre, and as many again for the pair of
    # spikes the rule at the stream's ends reads, so a chunk's edge is never taken for the stream's.
    yield from run_packed(source, centres, 2 * m - 1, 2 * m, lambda packed, local: ops.tfi_packed(
        packed, source.height, source.width, local, m, scale, flip=source.flip))


METHOD = Method("tfi", "TFI: scale / inter-spike interval, searched up to --max-interval frames each way",
                tfi_run, tfi_valid, TfiOptions)


def tfi(spikes, *, at=None, stride=None, max_interval: int = TfiOptions.max_interval, scale=DEFAULT_SCALE, start=None,
        stop=None, gamma: float = 1.0, device=None) -> torch.Tensor:
    """TFI reconstruction: min(scale / ISI(t), 1) per pixel (ISI as in :func:`isi`).

    Args:
        spikes: a :class:`~spikekit.io.SpikeStream` (read chunk by chunk from the packed bytes)
            or a tensor/ndarray (..., T, H, W) of uint8/bool/float (value > 0 is a spike).
        at: index -> (..., H, W); sequence -> (..., N, H, W). Default: the middle frame T // 2.
        stride: every ``stride``-th frame from 0 (or ``start``) to T - 1 (or ``stop`` - 1).
        max_interval: M, search bound in spike frames each way (default 20).
        scale: default 1/0.6; a string like "1/0.6"; or "auto" (99.5th percentile -> 1).
        gamma: output = intensity ** (1 / gamma).  device: where a SpikeStream is processed.

    Returns:
        float32 images in [0, 1]: values scale/(2M) .. min(scale, 1).

    Raises:
        ValueError: an index outside [0, T - 1], M < 1, both ``at`` and ``stride``.

    Source: Chen et al. 2022, Eq. 3 (TFI, after Zhu et al., ICME 2019).
    """
    return reconstruct(METHOD, spikes, at=at, stride=stride, start=start, stop=stop, scale=scale,
                       gamma=gamma, device=device, max_interval=max_interval)
