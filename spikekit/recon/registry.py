"""The registry of reconstruction methods behind ``spikekit recon -m NAME`` and ``spikekit eval``.

Each entry maps a method name to ``"module:attribute"`` of a :class:`~spikekit.recon.base.Method`,
imported on first use (so a method's heavy dependencies load only when it is asked for).

Adding a method (e.g. ``-m ssml``, owned by the SSML model engineer):

1. Create ``spikekit/recon/ssml.py`` with ``METHOD = Method("ssml", "one-line summary",
   run, valid)`` where

   * ``valid(T, opts) -> (lo, hi)`` is the first and last reconstructible spike frame
     (for 41-frame windows: ``(20, T - 21)``);
   * ``run(source, centres, opts)`` yields ``(centres_part, images)`` in order, images float32
     (N, len(centres_part), H, W) on ``source.device``. Easiest:
     ``yield from run_packed(source, centres, 20, 20, kernel)`` (``spikekit.recon.source``),
     where ``kernel(packed, local)`` gets one stream's packed frames of a chunk (uint8
     (n_frames, ceil(H*W/8)); decode with ``spikekit.ops.unpack_spikes(packed, H, W,
     flip=source.flip)``, the 41-frame window of centre c is ``frames[c - 20:c + 21]``) and the
     chunk-relative centres, and returns float32 (n, H, W); or ``source.iter_frames(a, b)``.
     Both stream files in bounded memory (a tensor source is packed once). Honour
     ``opts.scale`` (``None``: return raw estimates; else ``min(scale * raw, 1)``),
     ``opts.device`` and ``opts.weights`` (``--weights``; ``None`` = shipped weights).
2. Add one line below: ``"ssml": "ssml.method:METHOD",``.

The CLI, ``--scale auto``, gamma, chunking of long files, output writers and ``eval`` then work
unchanged; ``spikekit.recon.reconstruct(get_method("ssml"), spikes, at=...)`` is the Python API.
"""
from __future__ import annotations

import importlib

from .base import Method

METHODS: dict[str, str] = {
    "tfp": "spikekit.recon.tfp:METHOD",
    "tfi": "spikekit.recon.tfi:METHOD",
    "tfstp": "spikekit.recon.tfstp:METHOD",
    "ssml": "ssml.method:METHOD",
    "ssml-lite": "ssml.method:LITE_METHOD",
}


def method_names() -> list[str]:
    """Registered method names, in registration order."""
    return list(METHODS)


def get_method(name: str) -> Method:
    """The :class:`Method` registered as ``name``.

    Raises:
        ValueError: unknown name (lists the known ones).
        ImportError: the method's module (or a dependency of it) is not installed.
    """
    if name not in METHODS:
        raise ValueError(f"unknown reconstruction method {name!r}; choose one of {', '.join(METHODS)}")
    module, attr = METHODS[name].split(":")
    return getattr(importlib.import_module(module), attr)
