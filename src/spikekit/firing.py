"""The firing-rate convention that links spike rates to intensities, for simulation and reconstruction.

A pixel of intensity I in [0, 1] fires with probability about ``DEFAULT_GAIN x I`` per spike frame
(the simulator's gain g at threshold 1, :mod:`spikekit.simulate.model`; the convention of the
public REDS-derived spike data). Reconstruction inverts it: intensity = scale x firing rate, with
``scale = 1 / gain`` (:data:`DEFAULT_SCALE`). :data:`SCALE_TEXT` is that default as the command
line writes it (``--scale 1/0.6``), so that help texts show the fraction.
"""
from __future__ import annotations

DEFAULT_GAIN = 0.6
"""Firing probability per spike frame at intensity 1 (charge per spike frame, in thresholds)."""
DEFAULT_SCALE = 1 / DEFAULT_GAIN
"""Intensity per unit firing rate (per spike frame): the inverse of :data:`DEFAULT_GAIN`."""
SCALE_TEXT = f"1/{DEFAULT_GAIN:g}"
""":data:`DEFAULT_SCALE` as a ``--scale`` value: the text ``"1/0.6"``, which parses to it exactly."""

__all__ = ["DEFAULT_GAIN", "DEFAULT_SCALE", "SCALE_TEXT"]
