"""What the REDS-derived spike streams are: firing statistics measured against their ground truth.

    python tools/reds_statistics.py                      # measure, print, write docs/reds_statistics.json
    python tools/reds_statistics.py --doc docs/simulator.md       # ... and rewrite the doc's table
    python tools/reds_statistics.py render --doc docs/simulator.md  # the table from the JSON only

Reads the four streams with ground truth in ``../shared/data`` (``reds301/`` x 3, GT at spike
frame 150; ``reds41/000_part1``, GT keys K at spike frame K - 1; see the data's README) and, for
each, measures against its GT image (intensity = 8-bit value / 255):

* **rate vs intensity**: mean firing rate (spikes per pixel per spike frame) over the
  ``RATE_WINDOW`` frames centred on the GT index, on "flat" pixels (GT range <= ``FLAT_LEVELS``
  8-bit levels over the (2 ``FLAT_RADIUS`` + 1)^2 neighbourhood: small motion leaves their
  intensity unchanged); a least-squares line rate = gain x I + offset, and the ratio rate / I per
  tenth of the intensity range.
* **ISI spread** (per ``ISI_WINDOWS`` frames centred on the GT index, flat pixels with >= 3
  spikes): the fraction of *balanced* spike words (every two stretches of equal length hold spike
  counts that differ by at most one: exactly the words a noiseless integrate-and-fire pixel gives
  at constant intensity, whatever its phase and threshold), the mean within-pixel ISI variance per
  intensity bin beside what a noiseless IF pixel gives at that intensity (ISIs m and m + 1 with
  1 / (gain I) = m + f: variance f (1 - f)); and, from the exact rate interval [lo, hi] that a
  balanced word pins down (all q with floor/ceil(q L) matching every stretch of length L), the
  median of q / I (the gain), the robust relative spread of q / I (1.4826 MAD / median; beyond
  the same spread of the preset's stream of the same GT, sqrt(spread^2 - spread_preset^2) bounds
  the threshold mismatch, since theta_p scales the rate of pixel p), and the fraction of intervals
  that hold gain x I within the GT's 8-bit rounding; and the fraction of words whose halves differ
  by 2 spikes or more (the light changed under the pixel during the window).
* **initial phase**: from the first ``PHASE_FRAMES`` frames of every balanced pixel, the
  randomised probability integral transform of its first-spike time t1 under "accumulator at
  frame 0 uniform on [0, theta)": P(t1 <= k) = min(1, (k + 1) q), so u = F(t1 - 1) + V (F(t1) -
  F(t1 - 1)), V ~ U(0, 1), is uniform exactly when the phase is; zero initial accumulators put u
  near 1. Reported: its Kolmogorov-Smirnov distance to U(0, 1) and a 10-bin histogram.
* **saturation**: the most spikes any pixel fires in 3 consecutive frames (2 for any rate <= 2/3),
  the highest rate of any pixel over 41 frames, the brightest GT value.
* **GT timing**: for each box window of w frames (``TIMING_WINDOWS``), the window centre (in
  spike frames, half-integers for even w) whose mean / gain is closest to the GT (mean squared
  error; vertex of a parabola through the 7 centres around the best), and the median over w of
  its offset from the stated index (GT frames whose widest window fits the stream).
* **interpolation** (streams with several GT frames): the progress b(t) of each spike frame from
  one GT frame to the next, b(t) = <D, s_t / gain - GT_0> / <D, D> with D = GT_1 - GT_0, pooled
  over the consecutive pairs by offset from the first; linear interpolation gives b = offset / gap.

A ``summary`` pools them: gain and offset (inverse-variance weighted), the tightest threshold
bound, the largest phase distance, the GT timing per stream.

The same figures are measured on each stream's GT image simulated as a static scene (as many
spike frames as the stream) with the ``reds`` simulator preset (:meth:`NoiseModel.reds`), the
simulator's default noise (``on``) and ``off`` (accumulators starting at 0), so the JSON shows
which camera model the streams match. ``tests/test_reds_preset.py`` recomputes these figures and
checks the preset against them; the table in docs/simulator.md is rendered from the JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import torch

from spikekit import read_dat
from spikekit.firing import DEFAULT_GAIN
from spikekit.io.dat import DEFAULT_RATE
from spikekit.metrics import load_gt
from spikekit.simulate import NoiseModel, Simulator

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
JSON = REPO / "docs" / "reds_statistics.json"
MARKERS = ("<!-- reds-statistics -->", "<!-- /reds-statistics -->")

CASES = {
    "200_part1": ("reds301/spike/200_part1_key_id151.dat", {150: "reds301/gt/200_part1_key_id151.png"}, 150),
    "203_part2": ("reds301/spike/203_part2_key_id151.dat", {150: "reds301/gt/203_part2_key_id151.png"}, 150),
    "203_part3": ("reds301/spike/203_part3_key_id151.dat", {150: "reds301/gt/203_part3_key_id151.png"}, 150),
    "000_part1": ("reds41/spike/000_part1_key_id21.dat",
                  {k - 1: f"reds41/gt/000_part1_key_id{k}.png" for k in (7, 14, 21, 28, 35)}, 20),
}
"""name -> (stream, {spike-frame index: GT image}, the index the per-stream figures use), under
../shared/data; the indices are the data README's (reds301: centre 150; reds41: key K at K - 1)."""

LEVEL = 1 / 255
"""One 8-bit level of the GT images, in intensity units."""
FLAT_RADIUS = 2
"""Flat pixels: the GT's range over the (2 r + 1)^2 neighbourhood, r = 2 (5 x 5) ..."""
FLAT_LEVELS = 6
"""... is at most 6 levels: the fastest REDS motion (about 0.18 px per spike frame,
tools/protocol.py) moves a pixel about 2 px over the 21 frames centred on the GT."""
RATE_WINDOW = 21
"""Spike frames of the rate-vs-intensity window (the TFP window that scores best on the
reds301 streams, data README)."""
ISI_WINDOWS = (21, 41)
"""Spike frames of the ISI-spread windows; 41 is the SSML input window."""
PHASE_FRAMES = 21
"""First spike frames read for the initial phase (enough for a first spike at rate >= 1/21)."""
TIMING_WINDOWS = tuple(range(3, 17))
"""Box windows (spike frames) whose best centre locates the GT in time."""
TIMING_REACH = 8
"""Window centres tried: the nominal GT index +- 8 spike frames."""
MIN_BIN_PIXELS = 50
"""Intensity bins with fewer pixels are reported as null."""
BINS = np.linspace(0.0, 1.0, 11)
"""Intensity bins: tenths of [0, 1]."""
MAD_TO_SIGMA = 1.4826
"""Standard deviation of a normal distribution per unit median absolute deviation."""
SEED = 0
"""Seed of the simulated comparisons and of the randomised phase transform."""
DIGITS = 6
"""Significant digits of the floats in the JSON (well beyond what the figures resolve)."""
MODELS = ("reds", "on", "off")
"""Simulator noise models measured beside the streams (NoiseModel.resolve names)."""


# ---------------------------------------------------------------- building blocks
def flat_pixels(gt: np.ndarray, radius: int = FLAT_RADIUS, levels: float = FLAT_LEVELS) -> np.ndarray:
    """bool (H, W): pixels whose GT varies by at most ``levels`` 8-bit levels over the
    (2 radius + 1)^2 neighbourhood; the ``radius``-wide border is False.

    Args:
        gt: float (H, W) intensities in [0, 1].
    """
    size = 2 * radius + 1
    windows = np.lib.stride_tricks.sliding_window_view(gt, (size, size))
    spread = windows.max(axis=(2, 3)) - windows.min(axis=(2, 3))
    out = np.zeros(gt.shape, dtype=bool)
    out[radius:gt.shape[0] - radius, radius:gt.shape[1] - radius] = spread <= (levels + 0.5) * LEVEL
    return out


def balanced_words(words: np.ndarray):
    """Which spike words a noiseless integrate-and-fire pixel at constant rate could have fired.

    A word is balanced when any two of its stretches of equal length L hold spike counts that
    differ by at most one; then every q in (lo, hi) (the intersection over L of ((max count - 1)
    / L, (min count + 1) / L)) gives counts floor(q L) or ceil(q L) on every stretch: the rate
    interval the word pins down.

    Args:
        words: bool or {0, 1} (L, P): P pixels' spikes over L spike frames.

    Returns:
        (balanced bool (P,), lo float64 (P,), hi float64 (P,)).
    """
    length, pixels = words.shape
    counts = np.zeros((length + 1, pixels), dtype=np.int32)
    np.cumsum(words, axis=0, out=counts[1:])
    ok = np.ones(pixels, dtype=bool)
    lo, hi = np.zeros(pixels), np.ones(pixels)
    for span in range(1, length + 1):
        stretch = counts[span:] - counts[:-span]
        most, least = stretch.max(axis=0), stretch.min(axis=0)
        ok &= most - least <= 1
        lo = np.maximum(lo, (most - 1) / span)
        hi = np.minimum(hi, (least + 1) / span)
    return ok, lo, hi


def isi_moments(words: np.ndarray):
    """Per pixel: number of ISIs, their mean and (population) variance, in spike frames.

    Args:
        words: bool (L, P).

    Returns:
        (n int (P,), mean float64 (P,), var float64 (P,)); mean and var are NaN with n = 0.
    """
    length, pixels = words.shape
    last = np.full(pixels, -1)
    n = np.zeros(pixels)
    s1, s2 = np.zeros(pixels), np.zeros(pixels)
    for t in range(length):
        fired = words[t]
        seen = fired & (last >= 0)
        gap = t - last[seen]
        n[seen] += 1
        s1[seen] += gap
        s2[seen] += gap * gap
        last[fired] = t
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        return n.astype(int), mean, s2 / n - mean * mean


def noiseless_isi_variance(rate: np.ndarray) -> np.ndarray:
    """Variance of a noiseless IF pixel's ISIs at firing rate ``rate`` (per spike frame, > 0):
    the ISIs are m and m + 1 with 1 / rate = m + f, a fraction f of them long: f (1 - f)."""
    f = np.mod(1.0 / rate, 1.0)
    return f * (1.0 - f)


def _bins(intensity: np.ndarray, values: dict) -> list:
    """Per tenth of [0, 1]: pixel count and the mean of each array in ``values`` (None below
    MIN_BIN_PIXELS)."""
    rows = []
    which = np.clip(np.digitize(intensity, BINS) - 1, 0, len(BINS) - 2)
    for b in range(len(BINS) - 1):
        sel = which == b
        row = {"intensity": round(float((BINS[b] + BINS[b + 1]) / 2), 3), "pixels": int(sel.sum())}
        for key, v in values.items():
            row[key] = float(np.mean(v[sel])) if sel.sum() >= MIN_BIN_PIXELS else None
        rows.append(row)
    return rows


def _window(spikes: np.ndarray, index: int, width: int) -> np.ndarray:
    """The ``width`` spike frames centred on ``index`` (width odd), bool (width, H*W)."""
    half = width // 2
    if index - half < 0 or index + half >= spikes.shape[0]:
        raise ValueError(f"a {width}-frame window centred on {index} does not fit {spikes.shape[0]} spike frames")
    return spikes[index - half:index + half + 1].reshape(width, -1).astype(bool)


# ---------------------------------------------------------------- the figures
def rate_vs_intensity(spikes: np.ndarray, gt: np.ndarray, index: int, flat: np.ndarray,
                      window: int = RATE_WINDOW) -> dict:
    """Mean firing rate against GT intensity on the flat pixels (see the module docstring).

    Args:
        spikes: uint8 (T, H, W) of {0, 1}, row 0 the top.  gt: float (H, W) in [0, 1] at spike
        frame ``index``.  flat: bool (H, W) pixel selection.  window: odd, spike frames.

    Returns:
        dict: gain (slope), offset (rate at I = 0, per spike frame), offset_hz (at the 40 kHz
        readout), their standard errors, pixels, and per-bin ``rate`` and ``ratio`` = rate / I.
    """
    rate = _window(spikes, index, window).mean(axis=0)[flat.ravel()]
    x = gt.ravel()[flat.ravel()].astype(np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design, rate, rcond=None)
    resid = rate - design @ coef
    cov = np.linalg.inv(design.T @ design) * (resid @ resid) / max(1, len(x) - 2)
    bins = _bins(x, {"rate": rate, "mean_intensity": x})
    for row in bins:
        known = row["rate"] is not None and row["mean_intensity"]
        row["ratio"] = row["rate"] / row["mean_intensity"] if known else None
    return {"window": window, "pixels": int(len(x)), "gain": float(coef[0]), "gain_se": float(math.sqrt(cov[0, 0])),
            "offset": float(coef[1]), "offset_se": float(math.sqrt(cov[1, 1])),
            "offset_hz": float(coef[1] * DEFAULT_RATE), "bins": bins}


def isi_spread(spikes: np.ndarray, gt: np.ndarray, index: int, flat: np.ndarray, window: int,
               gain: float = DEFAULT_GAIN) -> dict:
    """ISI spread and exact rates of the flat pixels with >= 3 spikes in the window.

    Args:
        spikes, gt, index, flat: as :func:`rate_vs_intensity`.  window: odd, spike frames.
        gain: the firing-rate convention the noiseless reference and the GT-rounding check use.

    Returns:
        dict: pixels, balanced (fraction), halves_differ (fraction of words whose two halves,
        either side of the centre, hold spike counts 2 or more apart: the light changed during
        the window, which no noise model of the simulator does on a still scene at these
        levels), gain_exact (median q / I of the balanced words),
        rate_spread (relative, 1.4826 MAD / median), holds_gt (fraction of rate intervals
        overlapping gain x [I - 1/510, I + 1/510]), and per-bin ``isi_var`` (mean within-pixel ISI
        variance) beside ``isi_var_noiseless`` (f (1 - f) at gain x I).
    """
    words = _window(spikes, index, window)
    x = gt.ravel().astype(np.float64)
    sel = flat.ravel() & (words.sum(axis=0) >= 3) & (x > 0)
    words, x = words[:, sel], x[sel]
    ok, lo, hi = balanced_words(words)
    _, _, var = isi_moments(words)
    half = window // 2
    change = words[half + 1:].sum(axis=0, dtype=np.int64) - words[:half].sum(axis=0, dtype=np.int64)
    q = (lo + hi) / 2
    ratio = q[ok] / x[ok]
    centre = float(np.median(ratio)) if ok.any() else float("nan")
    spread = float(MAD_TO_SIGMA * np.median(np.abs(ratio - centre)) / centre) if ok.any() else float("nan")
    rounding = gain * LEVEL / 2
    holds = (lo < gain * x + rounding) & (hi > gain * x - rounding)
    return {"window": window, "pixels": int(sel.sum()), "balanced": float(ok.mean()) if sel.any() else float("nan"),
            "halves_differ": float(np.mean(np.abs(change) >= 2)) if sel.any() else float("nan"),
            "gain_exact": centre, "rate_spread": spread,
            "holds_gt": float(holds[ok].mean()) if ok.any() else float("nan"),
            "bins": _bins(x, {"isi_var": var, "isi_var_noiseless": noiseless_isi_variance(gain * x)})}


def initial_phase(spikes: np.ndarray, frames: int = PHASE_FRAMES, seed: int = SEED) -> dict:
    """How the accumulators stood at spike frame 0 (see the module docstring).

    Args:
        spikes: uint8 (T, H, W).  frames: the first spike frames read.  seed: of the
        randomised transform's V.

    Returns:
        dict: pixels (balanced, >= 2 spikes), ks (Kolmogorov-Smirnov distance of u to U(0, 1)),
        histogram (10 bins of u, fractions), mean_u.
    """
    words = spikes[:frames].reshape(frames, -1).astype(bool)
    words = words[:, words.sum(axis=0) >= 2]
    ok, lo, hi = balanced_words(words)
    q = ((lo + hi) / 2)[ok]
    first = np.argmax(words[:, ok], axis=0)
    below, upto = np.minimum(1.0, first * q), np.minimum(1.0, (first + 1) * q)
    u = np.sort(below + np.random.default_rng(seed).random(len(q)) * (upto - below))
    n = len(u)
    ks = float(np.max(np.maximum(np.arange(1, n + 1) / n - u, u - np.arange(n) / n))) if n else float("nan")
    hist = np.histogram(u, bins=BINS)[0] / max(1, n)
    return {"frames": frames, "pixels": int(n), "ks": ks, "mean_u": float(u.mean()) if n else float("nan"),
            "histogram": [round(float(h), 4) for h in hist]}


def saturation(spikes: np.ndarray, gt: np.ndarray) -> dict:
    """The fastest firing anywhere: most spikes in 3 consecutive frames, highest 41-frame rate."""
    counts = np.zeros((spikes.shape[0] + 1,) + spikes.shape[1:], dtype=np.int32)
    np.cumsum(spikes, axis=0, out=counts[1:])
    span = min(41, spikes.shape[0])
    return {"max_in_3_frames": int((counts[3:] - counts[:-3]).max()),
            "max_rate_41": float((counts[span:] - counts[:-span]).max() / span),
            "gt_max": float(gt.max())}


def gt_timing(spikes: np.ndarray, gt: np.ndarray, index: int, windows=TIMING_WINDOWS, reach: int = TIMING_REACH,
              gain: float = DEFAULT_GAIN) -> dict | None:
    """Which spike frames reproduce the GT best (see the module docstring).

    Args:
        spikes: uint8 (T, H, W).  gt: float (H, W), stated to sit at spike frame ``index``.
        windows: box widths w (spike frames).  reach: centres tried, ``index`` +- reach.

    Returns:
        dict: best_centre {w: centre, spike frames}, offset_median (median over w of centre -
        index); None when the widest window does not fit the stream at every centre tried.
    """
    widest = max(windows)
    if index - reach - widest // 2 < 0 or index + reach + widest // 2 >= spikes.shape[0]:
        return None
    counts = np.zeros((spikes.shape[0] + 1, gt.size), dtype=np.int32)
    np.cumsum(spikes.reshape(spikes.shape[0], -1), axis=0, out=counts[1:])
    target = gain * gt.ravel().astype(np.float64)
    best = {}
    for w in windows:
        starts = np.arange(index - reach - w // 2, index + reach - w // 2 + 1)
        centres = starts + (w - 1) / 2
        err = np.array([np.mean(((counts[a + w] - counts[a]) / w - target) ** 2) for a in starts])
        i = int(np.argmin(err))
        near = slice(max(0, i - 3), i + 4)
        p = np.polyfit(centres[near], err[near], 2)
        best[w] = float(-p[1] / (2 * p[0])) if p[0] > 0 else float(centres[i])
    return {"best_centre": {str(w): round(c, 3) for w, c in best.items()},
            "offset_median": float(np.median([c - index for c in best.values()]))}


def interpolation(spikes: np.ndarray, gts: dict, reach: int = 3, gain: float = DEFAULT_GAIN) -> dict | None:
    """Progress of the spike frames from one GT frame to the next (see the module docstring).

    Args:
        gts: {spike-frame index: float (H, W) GT}, at least two.

    Returns:
        dict: gap (spike frames between consecutive GT frames), progress {offset: pooled b}; the
        least-squares line through b over offsets 1 .. gap (inside the transition whether the GT
        sits at its index or one frame later): slope (times gap: 1 when the change is spread
        evenly over the gap), starts and ends (the offsets where the line crosses 0 and 1: where
        the spikes show GT_0 and GT_1); rms_ramp and rms_step (RMS distance of the pooled b over
        offsets 1 .. gap to that line, and to a step from 0 to 1 half way between starts and
        ends: a held frame switching to the next); gt_psnr (dB between consecutive GT frames: how
        much the scene changes); None with fewer than two GT frames or unequal gaps.
    """
    keys = sorted(gts)
    gaps = {b - a for a, b in zip(keys, keys[1:])}
    if len(keys) < 2 or len(gaps) != 1:
        return None
    gap = gaps.pop()
    progress, psnrs = {}, []
    for a, b in zip(keys, keys[1:]):
        d = (gts[b] - gts[a]).astype(np.float64)
        psnrs.append(float(10 * np.log10(1.0 / np.mean(d * d))))
        for t in range(max(0, a - reach), min(spikes.shape[0], b + reach + 1)):
            value = float(np.sum(d * (spikes[t] / gain - gts[a])) / np.sum(d * d))
            progress.setdefault(t - a, []).append(value)
    pooled = {j: float(np.mean(v)) for j, v in sorted(progress.items())}
    inside = [j for j in pooled if 1 <= j <= gap]
    slope, intercept = np.polyfit(inside, [pooled[j] for j in inside], 1)
    starts, ends = -intercept / slope, (1 - intercept) / slope
    ramp = {j: intercept + slope * j for j in inside}
    step = {j: float(j >= (starts + ends) / 2) for j in inside}
    rms = {name: float(np.sqrt(np.mean([(pooled[j] - model[j]) ** 2 for j in inside])))
           for name, model in (("ramp", ramp), ("step", step))}
    return {"gap": gap, "progress": {str(j): round(v, 4) for j, v in pooled.items()}, "slope": float(slope * gap),
            "starts": float(starts), "ends": float(ends), "rms_ramp": rms["ramp"], "rms_step": rms["step"],
            "gt_psnr": [round(p, 2) for p in psnrs]}


def figures(spikes: np.ndarray, gt: np.ndarray, index: int) -> dict:
    """The camera figures of the module docstring (rate vs intensity, ISI spread, initial phase,
    saturation) of a stream whose GT at spike frame ``index`` is ``gt``.

    Args:
        spikes: uint8 (T, H, W) of {0, 1}, row 0 the top.  gt: float (H, W) in [0, 1].
        index: spike frame of the GT; the windows of ``ISI_WINDOWS`` centred on it must fit.

    Raises:
        ValueError: a window does not fit the stream.
    """
    flat = flat_pixels(gt)
    return {"frames": int(spikes.shape[0]), "gt_index": index, "flat_pixels": int(flat.sum()),
            "rate": rate_vs_intensity(spikes, gt, index, flat),
            "isi": {str(w): isi_spread(spikes, gt, index, flat, w) for w in ISI_WINDOWS},
            "phase": initial_phase(spikes), "saturation": saturation(spikes, gt)}


# ---------------------------------------------------------------- streams and simulations
def load_case(name: str, data: Path = DATA):
    """(spikes uint8 (T, H, W) numpy, {index: GT float64 (H, W)}, index) of a stream of :data:`CASES`."""
    stream, gts, index = CASES[name]
    spikes = read_dat(Path(data) / stream).numpy()
    return spikes, {i: load_gt(Path(data) / p).astype(np.float64) for i, p in gts.items()}, index


def simulate_static(gt: np.ndarray, frames: int, noise, seed: int = SEED, chunk: int = 64) -> np.ndarray:
    """``gt`` shown still for ``frames`` spike frames to :class:`spikekit.simulate.Simulator` with
    ``noise`` (a NoiseModel or its name) and the default gain and threshold: uint8 (frames, H, W)."""
    image = torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32))
    sim = Simulator(*image.shape, noise=noise, seed=seed)
    out = np.empty((frames,) + image.shape, dtype=np.uint8)
    for t0 in range(0, frames, chunk):
        n = min(chunk, frames - t0)
        out[t0:t0 + n] = sim.step(image.expand(n, *image.shape)).numpy()
    return out


def measure(data: Path = DATA, names=tuple(CASES), models=MODELS) -> dict:
    """The figures of every stream and of its GT simulated with each of ``models``."""
    streams = {}
    for name in names:
        spikes, gts, index = load_case(name, data)
        gt = gts[index]
        entry = {"stream": CASES[name][0], "reds": figures(spikes, gt, index)}
        timing = {str(k): gt_timing(spikes, g, k) for k, g in gts.items()}
        entry["reds"]["timing"] = {k: t for k, t in timing.items() if t is not None}
        entry["reds"]["interpolation"] = interpolation(spikes, gts)
        entry["simulated"] = {m: figures(simulate_static(gt, spikes.shape[0], m), gt, index) for m in models}
        streams[name] = entry
    return {"generated_by": "python tools/reds_statistics.py",
            "settings": {"gain_convention": DEFAULT_GAIN, "flat_radius": FLAT_RADIUS, "flat_levels": FLAT_LEVELS,
                         "rate_window": RATE_WINDOW, "isi_windows": list(ISI_WINDOWS), "phase_frames": PHASE_FRAMES,
                         "timing_windows": list(TIMING_WINDOWS), "seed": SEED},
            "preset": {"name": "reds", "gain": DEFAULT_GAIN, "noise": NoiseModel.reds().to_dict()},
            "streams": streams, "summary": summary(streams)}


def threshold_bound(entry: dict, window: str = str(ISI_WINDOWS[-1])) -> float:
    """Relative threshold mismatch a stream leaves room for: sqrt(spread^2 - spread_0^2) of the
    rate spreads (:func:`isi_spread`) of the stream and of its GT simulated with the preset (no
    mismatch, same pixels, same rounding of the GT); motion makes it an upper bound."""
    mine = entry["reds"]["isi"][window]["rate_spread"]
    noiseless = entry["simulated"]["reds"]["isi"][window]["rate_spread"]
    return math.sqrt(max(0.0, mine ** 2 - noiseless ** 2))


def summary(streams: dict) -> dict:
    """The figures over all streams: gain and offset (inverse-variance weighted means of the
    fits), the exact-rate gain (mean), the tightest threshold-mismatch bound, the largest phase
    KS distance, the most spikes in 3 frames, and the GT timing (median box-window offset per
    GT frame; the interpolation's ``starts``)."""
    fits = [e["reds"]["rate"] for e in streams.values()]
    w = np.array([1 / f["gain_se"] ** 2 for f in fits])
    wo = np.array([1 / f["offset_se"] ** 2 for f in fits])
    exact = [e["reds"]["isi"][str(ISI_WINDOWS[-1])]["gain_exact"] for e in streams.values()]
    bounds = {name: threshold_bound(e) for name, e in streams.items()}
    return {"gain": float(np.sum(w * [f["gain"] for f in fits]) / w.sum()), "gain_se": float(w.sum() ** -0.5),
            "offset_hz": float(np.sum(wo * [f["offset"] for f in fits]) / wo.sum() * DEFAULT_RATE),
            "offset_hz_se": float(wo.sum() ** -0.5 * DEFAULT_RATE),
            "gain_exact": float(np.mean(exact)),
            "threshold_sigma_bound": {"streams": bounds, "tightest": min(bounds.values())},
            "phase_ks_max": max(e["reds"]["phase"]["ks"] for e in streams.values()),
            "max_in_3_frames": max(e["reds"]["saturation"]["max_in_3_frames"] for e in streams.values()),
            "timing_offsets": {f"{name}@{k}": t["offset_median"] for name, e in streams.items()
                               for k, t in e["reds"]["timing"].items()},
            "interpolation_starts": {name: e["reds"]["interpolation"]["starts"] for name, e in streams.items()
                                     if e["reds"]["interpolation"]}}


# ---------------------------------------------------------------- the table
def _f(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(result: dict) -> str:
    """The Markdown of docs/simulator.md's measured figures (a table per stream and a summary)
    from a :func:`measure` result."""
    w = str(ISI_WINDOWS[-1])
    trio = lambda key, e, models: " / ".join(  # noqa: E731
        _f(x[key]) for x in [e["reds"]["isi"][w]] + [e["simulated"][m]["isi"][w] for m in models])
    head = (f"| stream | gain (fit) | offset (Hz) | gain (exact rates) | threshold mismatch bound "
            f"| balanced w={w}: REDS / reds / on | holds GT w={w}: REDS / reds / on "
            f"| phase KS: REDS / reds / off | max spikes in 3 frames | GT offset (frames) |")
    lines = [head, "|" + "---|" * (head.count(" | ") + 1)]
    for name, e in result["streams"].items():
        reds, sim = e["reds"], e["simulated"]
        timing = [_f(t["offset_median"], 2) for t in reds["timing"].values()]
        if reds.get("interpolation"):
            timing.append(f"{_f(reds['interpolation']['starts'], 2)} (progress)")
        lines.append(
            f"| {name} | {_f(reds['rate']['gain'], 4)} +- {_f(reds['rate']['gain_se'], 4)} "
            f"| {_f(reds['rate']['offset_hz'], 0)} +- {_f(reds['rate']['offset_se'] * DEFAULT_RATE, 0)} "
            f"| {_f(reds['isi'][w]['gain_exact'], 4)} | {_f(100 * threshold_bound(e), 2)} % "
            f"| {trio('balanced', e, ('reds', 'on'))} | {trio('holds_gt', e, ('reds', 'on'))} "
            f"| {_f(reds['phase']['ks'])} / {_f(sim['reds']['phase']['ks'])} / {_f(sim['off']['phase']['ks'])} "
            f"| {reds['saturation']['max_in_3_frames']} | {', '.join(timing)} |")
    s = result["summary"]
    interp = [e["reds"]["interpolation"] for e in result["streams"].values() if e["reds"].get("interpolation")]
    lines += ["", f"All streams: gain {_f(s['gain'], 4)} +- {_f(s['gain_se'], 4)} (fit), {_f(s['gain_exact'], 4)} "
              f"(exact rates); offset {_f(s['offset_hz'], 0)} +- {_f(s['offset_hz_se'], 0)} Hz; threshold mismatch "
              f"at most {_f(100 * s['threshold_sigma_bound']['tightest'], 2)} %; phase KS at most "
              f"{_f(s['phase_ks_max'])}; at most {s['max_in_3_frames']} spikes in 3 frames."]
    for i in interp:
        lines.append(f"Between GT frames {i['gap']} spike frames apart the spikes move from one to the next from "
                     f"offset {_f(i['starts'], 2)} to {_f(i['ends'], 2)} (slope x gap {_f(i['slope'], 2)}; RMS to a "
                     f"ramp {_f(i['rms_ramp'], 3)}, to a step {_f(i['rms_step'], 3)}; GT-to-GT PSNR "
                     f"{', '.join(_f(p, 1) for p in i['gt_psnr'])} dB).")
    return "\n".join(lines)


def render(doc: Path, result: dict) -> str:
    """``doc``'s text with the part between the :data:`MARKERS` lines replaced by :func:`table`.

    Raises:
        SystemExit: the markers are missing.
    """
    text = doc.read_text()
    begin, end = MARKERS
    if begin not in text or end not in text:
        raise SystemExit(f"{doc}: no {begin} ... {end} lines to put the table between")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table(result)}\n{end}{tail}"


def report(result: dict) -> str:
    """A plain-text summary of a :func:`measure` result."""
    out = []
    for name, entry in result["streams"].items():
        r = entry["reds"]
        out.append(f"{name} ({r['frames']} spike frames, GT at {r['gt_index']}, {r['flat_pixels']} flat pixels)")
        rate = r["rate"]
        out.append(f"  rate = {rate['gain']:.4f} I + {rate['offset']:.4f} ({rate['offset_hz']:.0f} Hz); rate / I per "
                   f"bin: " + " ".join(f"{b['intensity']:.2f}:{_f(b['ratio'])}" for b in rate["bins"]))
        for w, isi in r["isi"].items():
            sims = " ".join(f"{m} {_f(s['isi'][w]['balanced'])}" for m, s in entry["simulated"].items())
            out.append(f"  w={w}: balanced {_f(isi['balanced'])} (simulated: {sims}); gain exact "
                       f"{_f(isi['gain_exact'], 4)}, rate spread {_f(100 * isi['rate_spread'], 2)} %, holds GT "
                       f"{_f(isi['holds_gt'])}")
        out.append("  ISI variance per bin (REDS / noiseless IF): " + " ".join(
            f"{b['intensity']:.2f}:{_f(b['isi_var'], 3)}/{_f(b['isi_var_noiseless'], 3)}"
            for b in r["isi"]["41"]["bins"] if b["isi_var"] is not None))
        sims = " ".join(f"{m} {_f(s['phase']['ks'])}" for m, s in entry["simulated"].items())
        out.append(f"  initial phase: KS {_f(r['phase']['ks'])} over {r['phase']['pixels']} pixels (simulated: {sims})")
        out.append(f"  saturation: {r['saturation']}")
        for k, t in r["timing"].items():
            out.append(f"  GT at {k}: best window centres {t['best_centre']}, median offset {t['offset_median']:+.2f}")
        if r.get("interpolation"):
            i = r["interpolation"]
            out.append(f"  interpolation: gap {i['gap']}, slope x gap {i['slope']:.3f}, from offset {i['starts']:+.2f} "
                       f"to {i['ends']:+.2f}, RMS to a ramp {i['rms_ramp']:.3f}, to a step {i['rms_step']:.3f}, "
                       f"GT-to-GT PSNR {i['gt_psnr']}, progress {i['progress']}")
    out.append(f"summary: {json.dumps(result['summary'])}")
    return "\n".join(out)


def rounded(value, digits: int = DIGITS):
    """``value`` (nested dicts and lists) with every float rounded to ``digits`` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def dumps(result: dict) -> str:
    """``result`` as indented JSON whose innermost lists and objects (of plain values) sit on one line."""
    text = json.dumps(result, indent=1)
    inline = lambda m: m.group(1) + ", ".join(p.strip() for p in m.group(2).split(",\n")) + m.group(3)  # noqa: E731
    return re.sub(r"([\[{])\n\s*([^\[\]{}]*?)\n\s*([\]}])", inline, text) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["measure", "render"], default="measure",
                        help="measure (default): read the streams, write the JSON; "
                             "render: the doc's table from the JSON")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--json", type=Path, default=JSON, help="where the figures are written / read")
    parser.add_argument("--doc", type=Path, default=None, help="a Markdown file whose table to rewrite")
    args = parser.parse_args()
    if args.command == "measure":
        torch.set_num_threads(1)
        result = rounded(measure(args.data))
        args.json.write_text(dumps(result))
        print(report(result))
        print(f"wrote {args.json}")
    else:
        result = json.loads(args.json.read_text())
    if args.doc is not None:
        args.doc.write_text(render(args.doc, result))
        print(f"wrote the table of {args.doc}")


if __name__ == "__main__":
    main()
