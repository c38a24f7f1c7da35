"""TFSTP, texture from short-term plasticity (Zheng et al., "High-speed image reconstruction
through short-term plasticity for spiking cameras", CVPR 2021; TPAMI 2023 extension).

Each pixel drives a synapse whose resources R (depression) and release probability u
(facilitation) are updated at every spike, with Delta the interval since the pixel's previous
spike (in spike frames):

    R <- 1 - (1 - R (1 - u)) exp(-Delta / D)             (R first, with the old u)
    u <- u0 + (f - u0 + u (1 - f)) exp(-Delta / F)       (= u0 + (u + f (1 - u) - u0) e^{-Delta/F})

Between spikes the state is held. Under a constant interval Delta the state converges to a
steady state, and inverting it gives two firing-rate estimates 1/Delta:

    Delta_u = -F ln((u - u0) / (f - u0 + u (1 - f)))      (facilitation)
    Delta_R = -D ln((1 - R) / (1 - R (1 - u)))            (depression)

Note the facilitation term is ``f - u0 + u (1 - f)``: the widely copied SpikeCV code writes the
time constant ``F`` in place of ``f`` there, which is not the steady state of its own update.
Our intensity is ``min(scale * mean(1/Delta_u, 1/Delta_R), 1)``: the average of the estimates
that are defined (a ratio in (0, 1); a ratio >= 1 means Delta <= 0 and counts as rate 1; where R
has recovered to 1 in float64 - intervals beyond ~35 frames with D = 1 - only the facilitation
estimate is used; no spike yet -> 0). Unlike SpikeCV we do not min-max normalise per image, so
the output is finite everywhere (flat or all-dark frames included) and on the same scale as
TFP/TFI (firing rate x scale).

Parameters (SpikeCV's TFSTP defaults, intervals in spike frames): u0 = 0.15, D = 1.0 (0.05 x 20),
F = 10.0 (0.5 x 20), f = 0.15. The state starts at rest (R = 1, u = u0) ``warmup`` frames before
the first output (default 400; ``None``: from frame 0), and a pixel's first spike uses the
interval since the frame before that start. Where the stream holds fewer than ``warmup`` frames
before an output (its first frames), the missing history is the stream's own first frames played
backwards (frames k, k-1, ..., 1 before frame 0, k = the frames missing), so the synapses reach
the steady state of what the pixel sees before the first output instead of starting from rest,
which reads too dark there (``warmup=None`` keeps the plain recurrence from rest at frame 0). The
recurrence is the ``spikekit::tfstp_frames`` kernel (csrc/tfstp/), on the device of the frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Optional

import torch

from .. import ops
from .base import DEFAULT_SCALE, Method, kernel_scale, reconstruct
from .source import Source

CHUNK_FRAMES = 64
"""Spike frames decoded per recurrence call."""


@dataclass(frozen=True)
class TfstpOptions:
    """Options of ``-m tfstp`` (SpikeCV's TFSTP defaults, intervals in spike frames).

    Attributes:
        u0, f: rest and increment of the release probability (dimensionless, in (0, 1)).
        D, F: depression and facilitation time constants in spike frames (> 0).
        warmup: spike frames of history before each output (>= 0; None: from frame 0).

    Raises:
        ValueError: D or F <= 0, u0 or f outside (0, 1), warmup < 0 or not a whole number.
    """

    u0: float = 0.15
    D: float = 1.0
    F: float = 10.0
    f: float = 0.15
    warmup: Optional[int] = 400

    def __post_init__(self):
        number = lambda v: isinstance(v, Real) and not isinstance(v, bool)
        if not (number(self.D) and number(self.F) and self.D > 0 and self.F > 0):
            raise ValueError(f"time constants D and F must be > 0 spike frames, got D={self.D!r}, "
                             f"F={self.F!r}")
        if not (number(self.u0) and number(self.f) and 0 < self.u0 < 1 and 0 < self.f < 1):
            raise ValueError(f"u0 and f must be in (0, 1), got u0={self.u0!r}, f={self.f!r}")
        w = self.warmup
        if w is not None and not (number(w) and int(w) == w and w >= 0):
            raise ValueError(f"warmup must be a number of spike frames >= 0 or None, got {w!r}")


def _segments(centres: list, warmup) -> list:
    """[(first frame, centres)]: the recurrence restarts when outputs are > warmup frames apart."""
    segments: list = []
    for c in centres:
        if segments and (warmup is None or c - segments[-1][1][-1] <= warmup):
            segments[-1][1].append(c)
        else:
            segments.append((0 if warmup is None else max(0, c - int(warmup)), [c]))
    return segments


def _rest_state(npix: int, u0: float, start: int, device) -> tuple:
    """(R, u, last) of ``npix`` synapses at rest before frame ``start``: float64 R = 1, u = u0;
    int64 last = start - 1 (the frame of the previous spike, before the first one)."""
    return (torch.ones(npix, dtype=torch.float64, device=device),
            torch.full((npix,), float(u0), dtype=torch.float64, device=device),
            torch.full((npix,), start - 1, dtype=torch.int64, device=device))


def tfstp_valid(frames: int, opts: TfstpOptions) -> tuple[int, int]:
    """Every index is valid (the recurrence is causal: frames up to t are used)."""
    return 0, frames - 1


def _mirror_length(start: int, first: int, frames: int, warmup) -> int:
    """Frames of mirrored history to play before frame 0: what ``warmup`` asks for before the
    first output ``first`` and the stream lacks (0 unless the segment starts at frame 0; 0 for
    ``warmup=None``, the plain recurrence from rest at frame 0)."""
    if start != 0 or warmup is None:
        return 0
    return max(0, min(int(warmup) - first, frames - 1))


def _play_mirrored(source: Source, k: int, sample: int, state: tuple, p: TfstpOptions, scale) -> None:
    """Run the recurrence of ``state`` (rest at frame -k) over frames k, k-1, ..., 1 of the stream
    as spike frames -k .. -1."""
    npix, dev = source.height * source.width, source.device
    head = torch.cat([b.reshape(-1, npix) for b in source.iter_frames(1, k + 1, CHUNK_FRAMES, sample=sample)])
    none = torch.empty(0, dtype=torch.int64)
    ops.tfstp_frames(head.flip(0).contiguous(), *state, none, -k, -k, float(p.u0), float(p.D), float(p.F),
                     float(p.f), scale, torch.empty((0, npix), dtype=torch.float32, device=dev))


def tfstp_run(source: Source, centres: list, opts: TfstpOptions, scale):
    """Yield ``(centres, float32 (N, n, H, W))`` batches of TFSTP images (the Method contract)."""
    p, scale = opts, kernel_scale(scale)
    npix, dev = source.height * source.width, source.device
    for start, wanted in _segments(centres, p.warmup):
        k = _mirror_length(start, wanted[0], source.frames, p.warmup)
        states = [_rest_state(npix, p.u0, start - k, dev) for _ in range(source.samples())]
        if k:
            for n, state in enumerate(states):
                _play_mirrored(source, k, n, state, p, scale)
        origin = start - k
        readers = [source.iter_frames(start, wanted[-1] + 1, CHUNK_FRAMES, sample=n)
                   for n in range(source.samples())]
        t0, w = start, 0
        for blocks in zip(*readers):
            n = blocks[0].shape[0]
            emit = []
            while w < len(wanted) and wanted[w] < t0 + n:
                emit.append(wanted[w] - t0)
                w += 1
            emit_t = torch.tensor(emit, dtype=torch.int64)
            out = torch.empty((len(blocks), len(emit), npix), dtype=torch.float32, device=dev)
            for b, (frames, state) in enumerate(zip(blocks, states)):
                ops.tfstp_frames(frames.reshape(n, npix).contiguous(), *state, emit_t, t0, origin, float(p.u0),
                                 float(p.D), float(p.F), float(p.f), scale, out[b])
            t0 += n
            if emit:
                yield [t0 - n + e for e in emit], out.reshape(len(blocks), len(emit), source.height, source.width)


METHOD = Method("tfstp", "TFSTP: steady-state inversion of per-pixel short-term plasticity (Zheng et al. 2021)",
                tfstp_run, tfstp_valid, TfstpOptions)


def tfstp(spikes, *, at=None, stride=None, scale=DEFAULT_SCALE, start=None, stop=None,
          gamma: float = 1.0, u0: float = TfstpOptions.u0, D: float = TfstpOptions.D,
          F: float = TfstpOptions.F, f: float = TfstpOptions.f, warmup=TfstpOptions.warmup,
          device=None) -> torch.Tensor:
    """TFSTP reconstruction (module docstring: equations, parameters, edge cases).

    Args:
        spikes: a :class:`~spikekit.io.SpikeStream` or a tensor/ndarray (..., T, H, W) of
            uint8/bool/float (value > 0 is a spike), row 0 the top.
        at: index -> (..., H, W); sequence -> (..., N, H, W). Default: the middle frame T // 2.
        stride: every ``stride``-th frame from 0 (or ``start``) to T - 1 (or ``stop`` - 1).
        scale: default 1/0.6; "auto" maps the 99.5th percentile to 1.  gamma: I ** (1/gamma).
        u0, f: rest and increment of the release probability (dimensionless, in (0, 1)).
        D, F: depression and facilitation time constants in spike frames (> 0).
        warmup: spike frames of history before each output (None: from frame 0).
        device: device of a SpikeStream's frames, the recurrence and the output.

    Returns:
        float32 images in [0, 1], finite everywhere.

    Raises:
        ValueError: an index outside [0, T - 1], bad parameters.

    Source: Zheng et al., CVPR 2021 (TFSTP); parameters as SpikeCV's TFSTP.
    """
    return reconstruct(METHOD, spikes, at=at, stride=stride, start=start, stop=stop, scale=scale,
                       gamma=gamma, device=device, u0=u0, D=D, F=F, f=f, warmup=warmup)
