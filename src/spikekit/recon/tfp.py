"""TFP, texture from playback: the mean firing rate in a window of spike frames.

Zhu et al., "A retina-inspired sampling method for visual texture reconstruction", ICME 2019;
Chen et al. 2022, Eq. 2:

    I(t) = min(scale * (1 / w) * sum_{f = t - w//2}^{t - w//2 + w - 1} s(f), 1)

where s(f) in {0, 1} is the spike of a pixel in spike frame f. Odd w centres the window on t;
an even w holds one more frame before t than after it (w//2 before, w//2 - 1 after). Valid
centres: w//2 <= t <= T - 1 - (w - 1)//2. Computed by the fused ``spikekit::tfp_packed`` kernel
straight from the packed bytes (CPU: sliding int32 counts; CUDA: one thread per packed byte).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import ops
from .base import DEFAULT_SCALE, Method, check_window, kernel_scale, reconstruct
from .source import Source, run_packed


@dataclass(frozen=True)
class TfpOptions:
    """Options of ``-m tfp``.

    Attributes:
        window: w in spike frames, 1..65535 (odd: centred on t; even: one more frame before t).

    Raises:
        ValueError: a window that is not an integer in 1..65535.
    """

    window: int = 41

    def __post_init__(self):
        object.__setattr__(self, "window", check_window(self.window))


def tfp_valid(frames: int, opts: TfpOptions) -> tuple[int, int]:
    """First and last centre whose window fits a ``frames``-frame stream."""
    return opts.window // 2, frames - 1 - (opts.window - 1) // 2


def tfp_run(source: Source, centres: list, opts: TfpOptions, scale):
    """Yield ``(centres, float32 (N, n, H, W))`` batches of TFP images (the Method contract)."""
    w, fused = opts.window, kernel_scale(scale)
    yield from run_packed(source, centres, w // 2, (w - 1) // 2, lambda packed, local: ops.tfp_packed(
        packed, source.height, source.width, local, w, fused, flip=source.flip))


METHOD = Method("tfp", "TFP: mean firing rate over a window of -w spike frames (Zhu et al. 2019)",
                tfp_run, tfp_valid, TfpOptions)


def tfp(spikes, *, window: int = TfpOptions.window, at=None, stride=None, scale=DEFAULT_SCALE, start=None,
        stop=None, gamma: float = 1.0, device=None, pad: str = "none") -> torch.Tensor:
    """TFP reconstruction: scale x mean spike count over ``window`` frames centred on each index.

    Args:
        spikes: a :class:`~spikekit.io.SpikeStream` (read chunk by chunk, bounded memory) or a
            tensor/ndarray (..., T, H, W) of uint8/bool/float (value > 0 is a spike), row 0 the top.
        window: w in spike frames, 1..65535 (even: one more frame before the centre).
        at: a spike-frame index -> one (..., H, W) image; a sequence -> (..., N, H, W).
            Default (with no ``stride``): the middle frame T // 2.
        stride: every ``stride``-th valid centre, from w//2 (or ``start``) up to
            T-1-(w-1)//2 (or ``stop`` - 1) -> (..., N, H, W).
        scale: intensity per unit firing rate (default 1/0.6, the REDS-derived convention),
            a string like "1/0.6", or "auto" (the 99.5th percentile maps to 1).
        gamma: output = intensity ** (1 / gamma).
        device: where a SpikeStream is processed (tensors stay on their device).
        pad: "none", or "reflect" to centre windows on any frame 0..T-1, mirroring the stream
            at its ends (:mod:`spikekit.recon.padding`).

    Returns:
        float32 images in [0, 1] (clipped), on the computation's device.

    Raises:
        ValueError: with ``pad="none"``, a centre whose window leaves the stream (names the
            valid range w//2 .. T-1-(w-1)//2); a window outside 1..65535, both ``at`` and
            ``stride``, an unknown ``pad``.

    Source: Zhu et al., ICME 2019 (TFP); Chen et al. 2022, Eq. 2.
    """
    return reconstruct(METHOD, spikes, at=at, stride=stride, start=start, stop=stop, scale=scale,
                       gamma=gamma, device=device, pad=pad, window=window)
