"""Summary statistics of a spike stream: firing rate, per-frame counts, dead, saturated and hot pixels."""
from __future__ import annotations

import torch

from . import ops
from .io.dat import SpikeStream
from .progress import progress as reporter

HOT_FRACTION = 0.9
"""A pixel firing in more than 90% of the spike frames is saturated (a bright scene does it)."""
CHUNK_BYTES = 32 << 20
"""Packed bytes counted at a time (fewer than ``chunk`` frames when frames are large)."""
HOT_NEIGHBOURS = 0.5
"""A saturated pixel is hot (faulty) when none of its 8 neighbours fires in as many as this share
of its own frames: a white car body saturates whole regions, a faulty pixel stands alone."""


def hot_mask(per_pixel: torch.Tensor, frames: int) -> torch.Tensor:
    """Hot pixels: bool (H, W), True where a pixel fires in more than :data:`HOT_FRACTION` of
    ``frames`` spike frames while each of its 8 neighbours (those inside the image) fires in
    fewer than :data:`HOT_NEIGHBOURS` times as many.

    Args:
        per_pixel: int (H, W) spike counts of each pixel over ``frames`` spike frames.
    """
    # The largest neighbour, shift by shift in place: 16 bytes per pixel beside the counts, not the
    # 9 float64 copies an unfold would hold (spikekit info's memory bound, docs/format.md).
    h, w = per_pixel.shape
    neighbours = torch.full_like(per_pixel, -1)  # outside the image: no neighbour
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                into = neighbours[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
                torch.maximum(into, per_pixel[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)], out=into)
    limit = per_pixel.to(torch.float64).mul_(HOT_NEIGHBOURS)
    return (per_pixel > HOT_FRACTION * frames) & (neighbours < limit)


def stream_stats(stream: SpikeStream, chunk: int = 4096, progress: bool = False) -> dict:
    """Statistics of a whole ``.dat`` stream, read chunk by chunk (bounded memory).

    Args:
        stream: an open :class:`~spikekit.io.SpikeStream`.
        chunk: spike frames counted at a time (at most :data:`CHUNK_BYTES` of them). Memory:
            the chunk's packed bytes plus two int64 counts per pixel (16 x H x W bytes).
        progress: report progress (:func:`spikekit.progress.progress`).

    Returns:
        dict with ``frames``, ``height``, ``width``, ``rate`` (Hz), ``duration_s`` (seconds),
        ``total_spikes``, ``mean_rate`` (mean firing rate: spikes per pixel per spike frame, in
        [0, 1]), ``mean_rate_hz`` (spikes per pixel per second), ``frame_spikes_min`` /
        ``_mean`` / ``_max`` (spikes per spike frame), ``dead_pixels`` (never fire),
        ``saturated_pixels`` (fire in more than 90% of the frames) and ``hot_pixels`` (those of
        them that stand alone, :func:`hot_mask`: faulty pixels, not a bright scene).
    """
    chunk = max(1, min(chunk, CHUNK_BYTES // stream.frame_bytes))
    per_pixel = torch.zeros(stream.height, stream.width, dtype=torch.int64)
    fmin, fmax, total = None, 0, 0
    bar = reporter(len(stream), "info", quiet=not progress)
    for packed in stream.iter_chunks(chunk, packed=True):  # counted without decoding
        pixels, counts = ops.spike_counts(packed, stream.height, stream.width, stream.flip)
        per_pixel += pixels
        cmin, cmax = int(counts.min()), int(counts.max())
        fmin = cmin if fmin is None else min(fmin, cmin)
        fmax = max(fmax, cmax)
        total += int(counts.sum())
        bar.update(packed.shape[0])
    bar.close()
    n, npix = len(stream), stream.height * stream.width
    mean_rate = total / (n * npix)
    return {
        "path": str(stream.path),
        "frames": n,
        "height": stream.height,
        "width": stream.width,
        "rate": stream.rate,
        "duration_s": n / stream.rate,
        "total_spikes": total,
        "mean_rate": mean_rate,
        "mean_rate_hz": mean_rate * stream.rate,
        "frame_spikes_min": fmin,
        "frame_spikes_mean": total / n,
        "frame_spikes_max": fmax,
        "dead_pixels": int((per_pixel == 0).sum()),
        "saturated_pixels": int((per_pixel > HOT_FRACTION * n).sum()),
        "hot_pixels": int(hot_mask(per_pixel, n).sum()),
    }
