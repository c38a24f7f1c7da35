"""NBSN over a sequence of windows, each sub-stream's first stage computed once.

The NBSN (``ssml.networks.NBSN``; Chen et al., IJCAI 2022, Sec. 3.3, long-term temporal context)
runs its first stage (AMIM, U-Net(43 -> 32) and the NLA terms that see one sub-stream alone) on
the sub-streams at offsets 0, 7 and 14 of a 41-frame window. The window of output t starts at
t - 20, so the windows of outputs 7 (or 14) frames apart share two (one) of their three
sub-streams: at stride 7 a sequence computes one sub-stream per output instead of three.

:class:`SubstreamReuse` caches those first-stage results by (stream, first spike frame) and
returns exactly what ``NBSN.forward`` gives on each window alone (the same operations on the
same shapes, so the same bits on a deterministic backend).
"""
from __future__ import annotations

import torch

from .networks import SUBSTREAMS, WINDOW, NBSN, _prepare

REUSE_STRIDES = tuple(range(SUBSTREAMS[1][0], SUBSTREAMS[-1][0] + SUBSTREAMS[1][0], SUBSTREAMS[1][0]))
"""Output strides (spike frames) at which consecutive windows share sub-streams: 7 and 14."""


def reuses_substreams(centres) -> bool:
    """True when consecutive output indices (ints, increasing) are 7 or 14 frames apart, so
    that :class:`SubstreamReuse` saves work (at least two outputs)."""
    gaps = {b - a for a, b in zip(centres[:-1], centres[1:])}
    return bool(gaps) and gaps <= set(REUSE_STRIDES)


class SubstreamReuse:
    """Per-window NBSN outputs that share sub-stream features between calls.

    Args:
        model: an :class:`ssml.networks.NBSN` (eval mode; call under ``torch.no_grad``).

    Call ``reuse(window, start, stream=0)`` with a float (1, 41, H, W) window whose first spike
    frame is ``start`` (absolute, in spike frames) of stream ``stream``; returns the (1, 1, H, W)
    output of ``model(window)``. Only the sub-streams of the last window of each stream are kept
    (three (1, 32, H, W) pairs: 2 x 12.8 MB each at 250 x 400 in float32), so outputs should come
    in increasing order of ``start``.

    Raises:
        ValueError: a window that is not (1, 41, H, W), or a model that is not an NBSN.
    """

    def __init__(self, model: NBSN):
        if not isinstance(model, NBSN):
            raise ValueError(f"SubstreamReuse: expected an NBSN, got {type(model).__name__}")
        self.model = model
        self._kept: dict = {}

    def __call__(self, window: torch.Tensor, start: int, stream: int = 0) -> torch.Tensor:
        x = _prepare(window, self.model, "SubstreamReuse")
        if x.shape[0] != 1:
            raise ValueError(f"SubstreamReuse: expected one window (1, {WINDOW}, H, W), got {tuple(x.shape)}")
        kept = self._kept.get(stream, {})
        parts = {}
        for a, e in SUBSTREAMS:
            key = (start + a, x.shape[-2:], x.dtype, torch.is_autocast_enabled(x.device.type))
            parts[key] = kept[key] if key in kept else self.model.substream_features(x[:, a:e])
        self._kept[stream] = parts
        return self.model.fuse(list(parts.values()))
