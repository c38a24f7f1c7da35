"""Summary statistics of a spike stream: firing rate, per-frame counts, dead and hot pixels."""
from __future__ import annotations

import torch

from . import ops
from .io.dat import SpikeStream
from .progress import progress as reporter

HOT_FRACTION = 0.9  # a pixel firing in more than 90% of the spike frames is "hot"


def stream_stats(stream: SpikeStream, chunk: int = 4096, progress: bool = False) -> dict:
    """Statistics of a whole ``.dat`` stream, read chunk by chunk (bounded memory).

    Args:
        stream: an open :class:`~spikekit.io.SpikeStream`.
        chunk: spike frames decoded at a time.
        progress: report progress (:func:`spikekit.progress.progress`).

    Returns:
        dict with ``frames``, ``height``, ``width``, ``rate`` (Hz), ``duration_s`` (seconds),
        ``total_spikes``, ``mean_rate`` (mean firing rate: spikes per pixel per spike frame, in
        [0, 1]), ``mean_rate_hz`` (spikes per pixel per second), ``frame_spikes_min`` /
        ``_mean`` / ``_max`` (spikes per spike frame), ``dead_pixels`` (never fire) and
        ``hot_pixels`` (fire in more than 90% of the frames).
    """
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
        "hot_pixels": int((per_pixel > HOT_FRACTION * n).sum()),
    }
