"""An exact reference image for a static camera: the mean firing rate of a long stretch of the stream.

An integrate-and-fire pixel that sees a constant intensity I fires floor(A0 + N g I / theta)
times in N spike frames (A0 in [0, 1) its starting charge), so its mean firing rate over N
frames is g I / theta to within 1/N: over a 500-frame stretch, to 0.002. No reconstruction from a
41-frame window can be that exact, so where the scene does not change, the stretch's mean,
times the same scale as the images, is a ground truth that a real recording carries with it.
:func:`static_reference` computes it and finds the pixels that did not change: the stretch is
cut into :data:`SEGMENTS` equal parts, and a pixel is static when its spike counts in the parts
differ by at most :func:`count_tolerance` (a constant intensity gives counts within 1 of each
other, plus the threshold and shot noise of a real sensor). ``spikekit eval --static`` scores
every method against it on those pixels (:func:`spikekit.metrics.masked_psnr`).

It measures how well a method recovers still texture and brightness from few spikes (noise
and quantisation), and nothing about motion: for that, simulated scenes with exact ground truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SEGMENTS = 4
"""Parts the stretch is cut into to find the pixels that did not change."""
MIN_FRAMES = 200
"""Fewest spike frames of a stretch (a 1/N-exact reference needs a long N)."""


def count_tolerance(mean_count: torch.Tensor) -> torch.Tensor:
    """Largest spread (max - min) of a static pixel's counts over the parts, for parts that hold
    ``mean_count`` spikes on average: 2 (integrate-and-fire rounding, one spike each way) plus one
    standard deviation of a Poisson count of that mean. An integrate-and-fire count varies far
    less than a Poisson one: the simulator's strong noise (``ssml.data.noise_model("strong")``)
    spreads 4 parts of 30 spikes by at most 3, against a tolerance of 7.5 here; a pixel that
    changed by a tenth of its rate for a quarter of a 500-frame stretch is caught."""
    return 2.0 + mean_count.sqrt()


@dataclass
class StaticReference:
    """The reference of a stretch of a stream.

    Attributes:
        rate: float32 (H, W) mean firing rate per spike frame over the stretch (exact to 1/frames
            for a static pixel).
        static: bool (H, W), the pixels whose counts did not change over the stretch.
        start, stop: the stretch, spike frames [start, stop).
    """

    rate: torch.Tensor
    static: torch.Tensor
    start: int
    stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def static_share(self) -> float:
        """Share of the pixels that are static, in [0, 1]."""
        return float(self.static.float().mean())

    def image(self, scale: float) -> torch.Tensor:
        """The reference intensity: ``min(scale x rate, 1)``, float32 (H, W)."""
        return (self.rate * float(scale)).clamp(0.0, 1.0)


def static_reference(stream, start: int = 0, stop: int | None = None, segments: int = SEGMENTS,
                     chunk: int = 1024) -> StaticReference:
    """The mean firing rate of spike frames [start, stop) of ``stream`` and its static pixels.

    Args:
        stream: an open :class:`~spikekit.io.SpikeStream` (read chunk by chunk) or a (T, H, W)
            tensor of {0, 1}.
        start, stop: the stretch (default the whole stream); at least :data:`MIN_FRAMES` frames.
        segments: parts compared to find the static pixels (at least 2).

    Raises:
        ValueError: a stretch outside the stream or shorter than :data:`MIN_FRAMES` frames, or
            fewer than 2 segments (the message names the stream and the valid range).
    """
    total = len(stream)
    stop = total if stop is None else stop
    name = getattr(stream, "path", "the stream")
    if not 0 <= start < stop <= total:
        raise ValueError(f"{name}: static reference frames [{start}, {stop}) outside the stream's 0 .. {total}")
    if stop - start < MIN_FRAMES:
        raise ValueError(f"{name}: a static reference needs at least {MIN_FRAMES} spike frames, got "
                         f"{stop - start} (frames {start} .. {stop - 1})")
    if segments < 2:
        raise ValueError(f"segments must be at least 2, got {segments}")
    bounds = [start + round(k * (stop - start) / segments) for k in range(segments + 1)]
    counts = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = None
        for lo in range(a, b, chunk):
            hi = min(b, lo + chunk)
            frames = stream.decode(lo, hi) if hasattr(stream, "decode") else stream[lo:hi]
            s = frames.to(torch.int32).sum(0)
            part = s if part is None else part + s
        counts.append(part)
    counts = torch.stack(counts).to(torch.float32)  # (segments, H, W)
    lengths = torch.tensor([b - a for a, b in zip(bounds[:-1], bounds[1:])], dtype=torch.float32)
    per_frame = counts / lengths[:, None, None]  # parts may differ by a frame: compare rates
    shortest = float(lengths.min())
    spread = (per_frame.amax(0) - per_frame.amin(0)) * shortest
    rate = counts.sum(0) / float(stop - start)
    static = spread <= count_tolerance(rate * shortest)
    return StaticReference(rate, static, start, stop)


def noise_free_error_bound(frames: int) -> float:
    """The largest error of the mean firing rate of a static integrate-and-fire pixel over
    ``frames`` spike frames: 1 / frames (see the module)."""
    return 1.0 / frames if frames > 0 else math.inf


__all__ = ["StaticReference", "static_reference", "count_tolerance", "SEGMENTS", "MIN_FRAMES",
           "noise_free_error_bound"]
