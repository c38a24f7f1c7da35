"""Temporal binning of dark spike streams for ``-m ssml`` / ``-m ssml-lite`` (``--param bin``).

At a mean firing rate of 0.03 per spike frame (a dark real recording) a
41-frame window holds about 1.2 spikes per pixel, and the networks, trained on windows of rate
0.02-0.35, smooth the scene to hide that noise. With ``bin=k`` the network reads 41 x k spike
frames instead: each network input frame is the OR of k consecutive spike frames. An
integrate-and-fire pixel that fires less than once per k frames never fires twice within one bin,
so the binned window is exactly the stream of a camera read out k times slower, with the scene k
times brighter and moving k times faster per frame: inside the range the networks were trained on
(speeds up to 0.4 px per spike frame), with k times the spikes. The output is divided by k, so it
stays a firing rate per spike frame of the original stream.

``bin="auto"`` (the default) picks k once per reconstruction from the mean firing rate r of the
stream's middle 41 x :data:`MAX_BIN` spike frames: the largest k <= :data:`MAX_BIN` with
k x r <= :data:`BIN_RATE` (k = 1 from r > 0.05, so the bright validation and REDS-like streams,
rate 0.17-0.35, are read as before).

The constants were chosen on tuning data only (``dark_validation`` in ``tools/protocol.py``),
never the test grid: ``tools/bin_sweep.py`` measures PSNR and edge fidelity for each k and writes
the table, and what it shows, in docs/methods.md.
"""
from __future__ import annotations

import dataclasses

import torch

from .networks import WINDOW

BIN_RATE = 0.1
"""``bin="auto"`` bins until the binned window's mean firing rate would pass this (per network frame)."""
MAX_BIN = 3
"""Largest k that ``bin="auto"`` picks (spike frames per network input frame)."""
MAX_MANUAL_BIN = 16
"""Largest k that ``--param bin=K`` accepts."""


def check_bin(value) -> int | str:
    """``value`` as ``"auto"`` or an int in [1, :data:`MAX_MANUAL_BIN`].

    Raises:
        ValueError: anything else (names the parameter and what was expected).
    """
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MANUAL_BIN:
        raise ValueError(f"bin must be 'auto' or an integer number of spike frames in "
                         f"[1, {MAX_MANUAL_BIN}], got {value!r}")
    return value


def choose_bin(rate: float) -> int:
    """The k of ``bin="auto"`` for a mean firing rate ``rate`` (spikes per pixel per spike frame):
    the largest k in [1, :data:`MAX_BIN`] with k x rate <= :data:`BIN_RATE` (1 when none is)."""
    k = int(BIN_RATE / rate) if rate > 0 else MAX_BIN
    return max(1, min(MAX_BIN, k))


def span(k: int) -> tuple[int, int]:
    """Spike frames a ``bin=k`` window reaches before and after its output frame: the window is
    frames [t - before, t + after], 41 x k in all (for even k the output frame is the later of
    the two middle frames).

    Raises:
        ValueError: ``k`` is ``"auto"`` (it is settled per stream by :func:`resolve_bin` first).
    """
    if k == "auto":
        raise ValueError("bin='auto' has no window length until resolve_bin settles it for a stream")
    before = WINDOW * k // 2
    return before, WINDOW * k - 1 - before


def bin_windows(windows: torch.Tensor, k: int) -> torch.Tensor:
    """OR of each group of ``k`` consecutive spike frames.

    Args:
        windows: (B, 41 x k, H, W) spikes (bool or {0, 1} of any dtype).
        k: spike frames per output frame (>= 1).

    Returns:
        bool (B, 41, H, W) (``windows`` itself when it is bool and ``k`` is 1).

    Raises:
        ValueError: the window length is not 41 x k.
    """
    if windows.shape[1] != WINDOW * k:
        raise ValueError(f"bin_windows: expected {WINDOW * k} spike frames per window, got {windows.shape[1]}")
    spikes = windows if windows.dtype == torch.bool else windows > 0
    if k == 1:
        return spikes
    return spikes.reshape(spikes.shape[0], WINDOW, k, *spikes.shape[2:]).any(dim=2)


def resolve_bin(source, opts, pad: str = "none"):
    """``opts`` with ``bin="auto"`` replaced by :func:`choose_bin` of the mean firing rate of
    ``source``'s middle 41 x :data:`MAX_BIN` spike frames (all of them when it is shorter): one
    choice per reconstruction, so a video does not flicker between bins (the
    :class:`spikekit.recon.base.Method` ``prepare`` hook). With ``pad="none"`` K is also capped
    so that one whole window fits in the stream (K <= T // 41)."""
    if opts.bin != "auto":
        return opts
    n = min(WINDOW * MAX_BIN, source.frames)
    if n == 0:  # nothing to measure; the empty stream is refused when the centres are chosen
        return dataclasses.replace(opts, bin=1)
    lo = (source.frames - n) // 2
    block = source.stream[lo:lo + n] if source.stream is not None else source.tensor[..., lo:lo + n, :, :]
    k = choose_bin(float((block > 0).float().mean()))
    if pad == "none":
        k = min(k, max(1, source.frames // WINDOW))
    return dataclasses.replace(opts, bin=k)
