"""Where reconstructions read spike frames from: a ``SpikeStream`` (read in bounded chunks) or a
(..., T, H, W) tensor, plus the choice of output centres and the grouping of centres into
chunks so that long files stream in bounded memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from .. import ops
from ..io import SpikeStream

MAX_CHUNK_FRAMES = 1024
"""Spike frames read per chunk when several output centres share one read (12.5 MB at 250x400)."""
MAX_CHUNK_OUTPUTS = 32
"""Output images computed per chunk (13 MB of float32 at 250x400)."""
GAP_FRAMES = 256
"""A new chunk starts when the next window begins more than this many frames after the last."""


class Source:
    """A spike stream to reconstruct from: a :class:`~spikekit.io.SpikeStream` or a tensor.

    Args:
        spikes: ``SpikeStream``, or a tensor/ndarray (T, H, W) or (B..., T, H, W) of uint8, bool
            or float (value > 0 is a spike), row 0 the top, on any device.
        device: where the computation runs for a ``SpikeStream`` (default CPU); tensors stay on
            their own device.

    Attributes:
        frames (T), height (H), width (W), batch (leading dims, () for one stream), device.
        ends: (first, last), the indices of the recorded stream's first and last spike frames
            in this source's frames: (0, T - 1), except for frames that
            :func:`spikekit.recon.padding.reflected_source` mirrored past an end, where they may
            lie outside [0, T) (a learned method may read windows that cross an end with other
            weights).
        origin: the file such mirrored frames came from (for messages), else None.

    Raises:
        TypeError: other input types.  ValueError: fewer than 3 dims or an empty frame.
    """

    def __init__(self, spikes, device=None):
        self.origin = None
        if isinstance(spikes, np.ndarray):
            spikes = torch.from_numpy(np.ascontiguousarray(spikes))
        if isinstance(spikes, SpikeStream):
            self.stream, self.tensor = spikes, None
            self.frames, self.height, self.width = len(spikes), spikes.height, spikes.width
            self.batch = ()
            self.device = ops.check_device(device or "cpu")
            self.flip = spikes.flip
        elif isinstance(spikes, torch.Tensor):
            if spikes.dim() < 3 or spikes.shape[-1] == 0 or spikes.shape[-2] == 0:
                raise ValueError(f"spikes must have shape (..., T, H, W) with H, W > 0, got "
                                 f"{tuple(spikes.shape)}")
            self.stream, self.tensor = None, spikes
            self.frames, self.height, self.width = spikes.shape[-3:]
            self.batch = tuple(spikes.shape[:-3])
            self.device = spikes.device
            self.flip = False
            self._packed = None
        else:
            raise TypeError(f"spikes must be a SpikeStream, torch.Tensor or numpy.ndarray, got "
                            f"{type(spikes).__name__}")
        self.ends = (0, self.frames - 1)

    @property
    def name(self) -> str:
        """The file name (for mirrored frames, that of their file), or ``spikes`` for a tensor
        (for error messages)."""
        if self.origin is not None:
            return self.origin
        return str(self.stream.path) if self.stream is not None else "spikes"

    def samples(self) -> int:
        """Number of streams in the leading batch dims (1 for a single stream)."""
        return int(np.prod(self.batch)) if self.batch else 1

    def flat(self) -> torch.Tensor:
        """The tensor as (N, T, H, W) (a view when possible)."""
        return self.tensor.reshape(-1, self.frames, self.height, self.width)

    def packed_all(self) -> torch.Tensor:
        """A tensor source packed to uint8 (N, T, ceil(H*W/8)), rows top-down (computed once)."""
        if self._packed is None:
            spikes = self.flat()
            if spikes.dtype != torch.uint8:
                spikes = spikes > 0
            self._packed = torch.stack([ops.pack_spikes(s.contiguous().view(torch.uint8), flip=False)
                                        for s in spikes])
        return self._packed

    def iter_packed(self, chunks: Sequence["Chunk"]) -> Iterator[tuple["Chunk", torch.Tensor]]:
        """Packed frames [chunk.start, chunk.stop) of each chunk: uint8 (N, n, ceil(H*W/8)) on
        ``self.device`` (N = 1 for a file).

        For a file the pages of each chunk are released once the next one is asked for, so
        memory stays bounded on files of any length.
        """
        for chunk in chunks:
            if self.stream is None:
                yield chunk, self.packed_all()[:, chunk.start:chunk.stop]
                continue
            n = chunk.stop - chunk.start
            for packed in self.stream.iter_chunks(n, start=chunk.start, stop=chunk.stop, packed=True):
                yield chunk, packed.to(self.device).unsqueeze(0)

    def iter_frames(self, start: int, stop: int, chunk: int = 256, sample: int = 0) -> Iterator[torch.Tensor]:
        """Decoded uint8 (n, H, W) frames [start, stop) of one stream, ``chunk`` at a time, on
        ``self.device`` (``sample``: index into the flattened batch of a tensor source)."""
        if self.stream is not None:
            for frames in self.stream.iter_chunks(chunk, start=start, stop=stop):
                yield frames.to(self.device)
            return
        spikes = self.flat()[sample]
        for a in range(start, stop, chunk):
            block = spikes[a:min(a + chunk, stop)]
            yield block if block.dtype == torch.uint8 else (block > 0).to(torch.uint8)


@dataclass
class Chunk:
    """Frames [start, stop) read together to compute the outputs at ``centres`` (absolute)."""

    start: int
    stop: int
    centres: list[int]

    def local(self, device="cpu") -> torch.Tensor:
        """The centres relative to ``start`` as int64 (K,)."""
        return torch.tensor([c - self.start for c in self.centres], dtype=torch.int64, device=device)


def plan_chunks(centres: Sequence[int], before: int, after: int, frames: int,
                max_frames: int | None = None, max_outputs: int | None = None) -> list[Chunk]:
    """Group sorted output centres into chunks of frames to read.

    Each centre c needs frames [c - before, c + after] (clipped to [0, frames)). Consecutive
    centres share a chunk while it stays under ``max_frames`` frames (or is a single window),
    holds at most ``max_outputs`` centres, and the next window starts within ``GAP_FRAMES`` of
    the chunk's end (so sparse outputs do not read the frames between them). Defaults:
    :data:`MAX_CHUNK_FRAMES`, :data:`MAX_CHUNK_OUTPUTS`.
    """
    max_frames = MAX_CHUNK_FRAMES if max_frames is None else max_frames
    max_outputs = MAX_CHUNK_OUTPUTS if max_outputs is None else max_outputs
    chunks: list[Chunk] = []
    for c in centres:
        a, b = max(0, c - before), min(frames, c + after + 1)
        last = chunks[-1] if chunks else None
        if (last is not None and c >= last.centres[-1] and len(last.centres) < max_outputs
                and a <= last.stop + GAP_FRAMES and max(b, last.stop) - last.start <= max_frames):
            last.stop = max(last.stop, b)
            last.centres.append(c)
        else:
            chunks.append(Chunk(a, b, [c]))
    return chunks


def run_packed(source: Source, centres: Sequence[int], before: int, after: int, kernel):
    """Run a packed-frame kernel chunk by chunk: yield ``(centres, float32 (N, n, H, W))``.

    ``kernel(packed, local)`` gets one stream's packed frames uint8 (n_frames, ceil(H*W/8)) of a
    chunk and the chunk-relative centres int64 (n,), and returns float32 (n, H, W); each centre
    c needs frames [c - before, c + after].
    """
    for chunk, packed in source.iter_packed(plan_chunks(centres, before, after, source.frames)):
        local = chunk.local()
        images = [kernel(p, local) for p in packed]
        yield chunk.centres, images[0][None] if len(images) == 1 else torch.stack(images)


def select_centres(frames: int, valid: tuple[int, int], *, at=None, stride=None, start=None,
                   stop=None, what: str = "reconstruction", name: str = "spikes") -> tuple[list[int], bool]:
    """Spike-frame indices to reconstruct, checked against the valid range.

    Args:
        frames: T, frames in the stream.
        valid: (lo, hi), the first and last centre the method can reconstruct.
        at: one index (returns ``single=True``) or a sequence of indices.
        stride: every ``stride``-th valid centre from ``max(lo, start)``.
        start, stop: with ``stride``, limit the centres to [start, stop); each must lie in the
            stream (0 <= start < stop <= T), else ValueError (never clipped).
        what, name: wording of error messages (method and window; file name).
        Neither ``at`` nor ``stride``: the middle frame T // 2.

    Returns:
        (centres sorted as given, single) where single means one (H, W) image was asked for.

    Raises:
        ValueError: both ``at`` and ``stride``; stride < 1; an index outside the valid range
            (the message names the range); ``start``/``stop`` outside the stream; a stream too
            short for the window; no centre in [start, stop).
    """
    lo, hi = valid
    if lo > hi:
        raise ValueError(f"{name}: the {frames}-frame stream is too short for {what} (it needs "
                         f"at least {lo + frames - hi} frames)")
    if at is not None and stride is not None:
        raise ValueError("give either at (indices) or stride, not both")
    for key, value, low, high in (("start", start, 0, frames - 1), ("stop", stop, 1, frames)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or not low <= value <= high):
            raise ValueError(f"{name}: {key} must be a spike-frame index in the {frames}-frame stream "
                             f"(0 <= start < stop <= {frames}), got {value!r}")
    if start is not None and stop is not None and start >= stop:
        raise ValueError(f"{name}: start {start} is not before stop {stop} (0 <= start < stop <= {frames})")
    if stride is not None:
        if isinstance(stride, bool) or int(stride) != stride or stride < 1:
            raise ValueError(f"stride must be a positive number of spike frames, got {stride!r}")
        a = lo if start is None else max(lo, int(start))
        b = hi if stop is None else min(hi, int(stop) - 1)
        centres = list(range(a, b + 1, int(stride)))
        if not centres:
            raise ValueError(f"{name}: no centre in [{start}, {stop}) can be reconstructed by {what}; "
                             f"valid centres: {lo} .. {hi}")
        return centres, False
    single = at is None or np.ndim(at) == 0
    centres = [frames // 2] if at is None else ([at] if single else list(at))
    for c in centres:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"at must be an integer spike-frame index, got {c!r}")
        if not lo <= c <= hi:
            hint = ("; pad='reflect' (--pad reflect) mirrors the stream at its ends to centre "
                    "the window on any frame" if 0 <= c < frames else "")
            raise ValueError(f"{name}: spike frame {c} cannot be reconstructed by {what} in a "
                             f"{frames}-frame stream; valid centres: {lo} .. {hi}{hint}")
    if not centres:
        raise ValueError("at is empty: give at least one spike-frame index")
    return [int(c) for c in centres], single
