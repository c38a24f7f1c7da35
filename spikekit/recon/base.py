"""The contract every reconstruction method follows, and the driver that runs one.

A method is a :class:`Method`: ``valid(T, opts)`` gives the first and last spike-frame index it
can reconstruct in a T-frame stream, and ``run(source, centres, opts)`` yields
``(centres, images)`` batches in order, images float32 (N, n, H, W) in [0, 1] (N streams of a
batched tensor, 1 for a file), on the source's device. :func:`reconstruct` and
:func:`iter_images` choose the centres, apply ``--scale auto`` and gamma, and gather batches;
the CLI (``spikekit recon`` / ``eval``) and the Python functions ``tfp``/``tfi``/``tfstp`` go
through them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .._memory import empty_hugepage
from .padding import check_pad, run_padded, valid_centres
from .source import Source, select_centres

DEFAULT_SCALE = 1 / 0.6
"""Intensity per unit firing rate: the REDS-derived streams fire with probability 0.6 x intensity."""
AUTO_PERCENTILE = 99.5
"""``scale="auto"`` maps this percentile of the raw estimates to intensity 1."""


@dataclass
class Options:
    """Parameters shared by the methods (each uses the ones it needs).

    Attributes:
        window: TFP window w in spike frames (odd: centred; even: one more frame before t).
        max_interval: TFI/ISI search bound M in spike frames, each side.
        scale: intensity = min(scale * firing-rate estimate, 1); ``None`` asks for the raw,
            unscaled and unclipped estimate (used by ``scale="auto"``).
        device: where a file's frames are processed ("cpu", "cuda", ...).
        weights: path of network weights for learned methods (``None``: the shipped ones).
        params: method-specific extras (e.g. TFSTP's ``u0``, ``D``, ``F``, ``f``, ``warmup``).
    """

    window: int = 41
    max_interval: int = 20
    scale: float | None = DEFAULT_SCALE
    device: str = "cpu"
    weights: str | None = None
    params: dict = field(default_factory=dict)

    def scale_or_one(self) -> float:
        """The scale to fuse into a kernel: 1 for raw estimates (all classic estimates are <= 1)."""
        return 1.0 if self.scale is None else float(self.scale)


@dataclass(frozen=True)
class Method:
    """A reconstruction method in the registry (see :mod:`spikekit.recon.registry`).

    Attributes:
        name: registry key and ``-m`` value.
        summary: one line for ``--help``.
        run: ``run(source, centres, opts)`` -> iterator of ``(centres, images)``, where centres
            is a list of spike-frame indices (a consecutive part of the sorted input list) and
            images float32 (N, len(centres), H, W) in [0, 1] (or raw estimates when
            ``opts.scale is None``), row 0 the top.
        valid: ``valid(T, opts)`` -> (lo, hi), the first and last reconstructible index.
        uses_window: True when ``opts.window`` changes the result (``eval`` then loops over
            the ``-w`` values and reports the window).
        params: names of the method-specific parameters it accepts (``--param NAME=VALUE``);
            any other name is an error.
    """

    name: str
    summary: str
    run: Callable[[Source, list, Options], Iterator[tuple[list, torch.Tensor]]]
    valid: Callable[[int, Options], tuple[int, int]]
    uses_window: bool = False
    params: tuple = ()

    def check_params(self, params: dict) -> None:
        """Raise ValueError naming parameters this method does not take (and the ones it does)."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            known = f"known: {', '.join(self.params)}" if self.params else "it takes none"
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; {known}")

    def describe(self, opts: Options) -> str:
        """Method and the parameters that matter, for messages ("tfp with window 41")."""
        return f"{self.name} with window {opts.window}" if self.uses_window else self.name


def check_window(window) -> int:
    """The TFP window as an int >= 1 and <= 65535. Raises ValueError otherwise."""
    if isinstance(window, bool) or int(window) != window or not 1 <= window <= 65535:
        raise ValueError(f"window must be an integer number of spike frames in [1, 65535], got {window!r}")
    return int(window)


def check_max_interval(max_interval) -> int:
    """The ISI search bound as an int >= 1. Raises ValueError otherwise."""
    if isinstance(max_interval, bool) or int(max_interval) != max_interval or max_interval < 1:
        raise ValueError(f"max_interval must be a positive number of spike frames, got {max_interval!r}")
    return int(max_interval)


def parse_scale(scale) -> float | str:
    """A positive float, ``"auto"``, or a string ``"1/0.6"`` / ``"1.5"``. Raises ValueError."""
    if isinstance(scale, str):
        text = scale.strip().lower()
        if text == "auto":
            return "auto"
        try:
            num, _, den = text.partition("/")
            value = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"scale must be a positive number, a fraction like 1/0.6, or 'auto'; "
                             f"got {scale!r}") from None
    else:
        value = float(scale)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"scale must be a positive number or 'auto', got {scale!r}")
    return value


def auto_scale(raw: torch.Tensor) -> float:
    """1 / (the 99.5th percentile of ``raw``), or 1 when that percentile is 0."""
    values = raw.detach().float().reshape(-1).cpu().numpy()
    p = float(np.percentile(values, AUTO_PERCENTILE)) if values.size else 0.0
    return 1.0 / p if p > 0 else 1.0


def iter_images(method: Method, source: Source, centres: Sequence[int], opts: Options, *,
                scale=DEFAULT_SCALE, gamma: float = 1.0, pad: str = "none") -> Iterator[tuple[list, torch.Tensor]]:
    """Run ``method`` over sorted ``centres`` and yield ``(centres, images)`` batches.

    Args:
        pad: ``"none"`` (centres must lie in ``method.valid``) or ``"reflect"``: a window that
            runs past an end of the stream reads the stream mirrored there
            (:mod:`spikekit.recon.padding`).
        scale: positive float (fused into the method), or ``"auto"``: the 99.5th percentile of
            the first batch's raw estimates maps to 1, and that scale is kept for the whole run
            (no flicker between frames of a video).
        gamma: output = clipped intensity ** (1 / gamma) (gamma > 1 brightens dark tones).

    Yields:
        (list of spike-frame indices, float32 (N, n, H, W) in [0, 1]).
    """
    method.check_params(opts.params)
    scale = parse_scale(scale)
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    auto = scale == "auto"
    opts = replace(opts, scale=None if auto else scale)
    factor = None
    centres = list(centres)
    reflect = check_pad(pad) == "reflect"
    batches = run_padded(method, source, centres, opts) if reflect else method.run(source, centres, opts)
    for idx, images in batches:
        if auto:
            if factor is None:
                factor = auto_scale(images)
            images = images.mul_(factor).clamp_(0, 1)
        if gamma != 1:
            images = images.pow_(1.0 / gamma)
        yield idx, images


def reconstruct(method: Method, spikes, *, at=None, stride=None, start=None, stop=None,
                scale=DEFAULT_SCALE, gamma: float = 1.0, device=None, pad: str = "none",
                **options) -> torch.Tensor:
    """Reconstruct images from ``spikes`` with ``method`` (the Python API of every method).

    Args:
        spikes: ``SpikeStream`` (read in bounded chunks) or tensor (..., T, H, W).
        at: index -> one image; sequence -> a stack. Default: the middle frame T // 2.
        stride: every ``stride``-th valid centre (within [start, stop) if given).
        scale, gamma, pad: see :func:`iter_images` (with ``pad="reflect"`` every spike frame
            0 .. T-1 is a valid centre).
        device: where a ``SpikeStream`` is processed (tensors stay on their device).
        options: fields of :class:`Options` (window, max_interval, weights) and method extras.

    Returns:
        float32 (..., H, W) for one index, (..., N, H, W) otherwise, in [0, 1], on the device
        of the computation.

    Raises:
        ValueError: an index outside the valid range (the message names it), bad options.
    """
    source = Source(spikes, device)
    known = {k: options.pop(k) for k in ("window", "max_interval", "weights") if k in options}
    opts = Options(device=str(source.device), params=options, **known)
    valid = valid_centres(method, source.frames, opts, pad)
    centres, single = select_centres(source.frames, valid, at=at, stride=stride, start=start,
                                     stop=stop, what=method.describe(opts), name=source.name)
    order = np.argsort(centres, kind="stable")
    sorted_centres = [centres[i] for i in order]
    out, done = None, 0
    for _, images in iter_images(method, source, sorted_centres, opts, scale=scale, gamma=gamma, pad=pad):
        if out is None:  # one result tensor filled batch by batch (a torch.cat of the batches at the
            # end would hold everything twice and fault in fresh pages: most of a stride-1 TFP's time)
            shape = (images.shape[0], len(centres), *images.shape[2:])
            out = (empty_hugepage(shape, images.dtype) if images.device.type == "cpu"
                   else torch.empty(shape, dtype=images.dtype, device=images.device))
        out[:, done:done + images.shape[1]] = images
        done += images.shape[1]
    if not np.array_equal(order, np.arange(len(order))):  # back to the caller's order
        inverse = torch.from_numpy(np.argsort(order)).to(out.device)
        out = out.index_select(1, inverse)
    out = out.reshape(*source.batch, len(centres), source.height, source.width)
    return out.squeeze(-3) if single else out
