"""Temporal reflection at the ends of a spike stream, so that a windowed method (TFP, SSML) can
centre its window on any spike frame, including the first and last ones.

With ``pad="reflect"`` the frames a window needs before frame 0 or after frame T - 1 are the
stream mirrored about its end frames (whole-sample symmetry, as ``numpy.pad(mode="reflect")``):
frame -k reads frame k and frame T - 1 + k reads frame T - 1 - k. The window stays centred on
the requested spike frame, so the image is of the scene at that instant; the alternative of
shifting the window inwards would show the scene up to half a window later or earlier. The
mirrored half sees the same firing rates as the real half, so TFP is unbiased for a static
pixel; motion reverses at the mirror frame. This is our convention for scoring the 41-frame
spike-REDS streams at GT keys away from their centre (e.g. key 7 of ``000_part1_key_id21``).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .source import Source

PADS = ("none", "reflect")


def check_pad(pad) -> str:
    """``pad`` as one of :data:`PADS`. Raises ValueError otherwise."""
    if pad not in PADS:
        raise ValueError(f"pad must be one of {', '.join(PADS)}, got {pad!r}")
    return pad


def reflect_index(t: np.ndarray, frames: int) -> np.ndarray:
    """Map spike-frame indices (any integers) into [0, frames) by whole-sample reflection about
    the end frames (period 2 (frames - 1); a 1-frame stream maps everything to 0)."""
    t = np.asarray(t, dtype=np.int64)
    if frames == 1:
        return np.zeros_like(t)
    period = 2 * (frames - 1)
    t = np.mod(t, period)
    return np.where(t < frames, t, period - t)


def reflected_source(source: Source, start: int, stop: int) -> Source:
    """A tensor :class:`Source` holding spike frames [start, stop) of ``source`` (indices may run
    past either end, see :func:`reflect_index`), uint8 (..., stop - start, H, W) on its device,
    named after ``source``, its ``ends`` the stream's first and last frame at local indices
    ``-start`` and ``source.frames - 1 - start``."""
    index = reflect_index(np.arange(start, stop), source.frames)
    lo, hi = int(index.min()), int(index.max()) + 1
    if source.stream is not None:
        block = source.stream[lo:hi].to(source.device)
    else:
        block = source.tensor[..., lo:hi, :, :]
        block = block if block.dtype == torch.uint8 else (block > 0).to(torch.uint8)
    picked = Source(block.index_select(-3, torch.from_numpy(index - lo).to(block.device)))
    picked.origin, picked.ends = source.name, (-start, source.frames - 1 - start)
    return picked


def split_for_padding(centres: list, valid: tuple[int, int]):
    """Split sorted centres into (head, inside, tail) by the valid range (lo, hi): head < lo,
    tail > hi (and >= lo), inside the rest."""
    lo, hi = valid
    head = [c for c in centres if c < lo]
    tail = [c for c in centres if c >= lo and c > hi]
    inside = [c for c in centres if lo <= c <= hi]
    return head, inside, tail


def valid_centres(method, frames: int, opts, pad: str) -> tuple[int, int]:
    """First and last spike frame ``method`` can be centred on in a ``frames``-frame stream: its
    own range (``method.valid``), or every frame 0 .. T-1 with ``pad="reflect"``.

    Raises:
        ValueError: an unknown ``pad`` (or bad options, from ``method.valid``).
    """
    return (0, frames - 1) if check_pad(pad) == "reflect" else method.valid(frames, opts)


def run_padded(method, source: Source, centres: list, opts, scale) -> Iterator[tuple[list, torch.Tensor]]:
    """``method.run(source, centres, opts, scale)`` over sorted ``centres``, reflecting the stream
    where a centre's window does not fit; yields ``(centres, images)`` batches in order, as
    ``method.run`` does."""
    lo, hi = method.valid(source.frames, opts)
    before, after = lo, source.frames - 1 - hi

    def reflected(part):
        if not part:
            return
        start = part[0] - before
        padded = reflected_source(source, start, part[-1] + after + 1)
        for idx, images in method.run(padded, [c - start for c in part], opts, scale):
            yield [c + start for c in idx], images

    head, inside, tail = split_for_padding(centres, (lo, hi))
    yield from reflected(head)
    if inside:
        yield from method.run(source, inside, opts, scale)
    yield from reflected(tail)
