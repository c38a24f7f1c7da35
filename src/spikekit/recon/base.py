"""The contract every reconstruction method follows, and the driver that runs one.

A method is a :class:`Method`: a pure function ``run(source, centres, opts, scale)`` that yields
``(centres, images)`` batches in order, images float32 (N, n, H, W) in [0, 1] (N streams of a
batched tensor, 1 for a file) on the source's device, plus ``valid(T, opts)``, the first and
last spike-frame index it can reconstruct in a T-frame stream; ``opts`` is an instance of the
method's own small options dataclass (:mod:`spikekit.recon.options`). :func:`plan_reconstruction`
chooses the centres and checks the options, :func:`iter_images` applies ``--scale auto`` and
gamma, and :func:`reconstruct` gathers the batches; ``spikekit recon`` / ``eval`` and the Python
functions ``tfp``/``tfi``/``tfstp`` go through them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import torch

from .._memory import empty_hugepage
from ..firing import DEFAULT_SCALE
from .options import NoOptions, make_options, option_names
from .padding import check_pad, run_padded, valid_centres
from .source import Source, select_centres

AUTO_PERCENTILE = 99.5
"""``scale="auto"`` maps this percentile of the raw estimates to intensity 1."""


def kernel_scale(scale: Optional[float]) -> float:
    """The scale a classic method fuses into its kernel: ``scale``, or 1 for raw output
    (``scale=None``): its estimates are firing rates <= 1, so x 1 and clipping at 1 leaves them raw."""
    return 1.0 if scale is None else float(scale)


@dataclass(frozen=True)
class Method:
    """A reconstruction method in the registry (see :mod:`spikekit.recon.registry`).

    Attributes:
        name: registry key and ``-m`` value.
        summary: one line for ``--help``.
        run: ``run(source, centres, opts, scale)`` -> iterator of ``(centres, images)``, where
            centres is a list of spike-frame indices (a consecutive part of the sorted input
            list) and images float32 (N, len(centres), H, W), row 0 the top:
            ``min(scale * estimate, 1)``, or with ``scale=None`` (the one "raw output" value,
            used by ``scale="auto"``) the unscaled, unclipped estimate.
        valid: ``valid(T, opts)`` -> (lo, hi), the first and last reconstructible index.
        options: the method's options dataclass (default :class:`~spikekit.recon.options.NoOptions`).
        prepare: ``prepare(source, opts, pad)`` -> opts, or None: settles options that depend on
            the spikes (``ssml``'s ``bin="auto"``), once per reconstruction, before the valid
            range and the centres are chosen (``pad``: ``"none"`` or ``"reflect"``).
    """

    name: str
    summary: str
    run: Callable[[Source, list, Any, Optional[float]], Iterator[tuple[list, torch.Tensor]]]
    valid: Callable[[int, Any], tuple[int, int]]
    options: type = NoOptions
    prepare: Optional[Callable[[Source, Any, str], Any]] = None

    @property
    def uses_window(self) -> bool:
        """True when the method has a ``window`` option (``eval`` then loops over the ``-w``
        values and reports the window)."""
        return "window" in option_names(self.options)

    def make_options(self, **values):
        """The method's options object from keyword values (the rest at their defaults).

        Raises:
            ValueError: a name the method does not take, or a value its options class rejects.
        """
        return make_options(self.options, values, self.name)

    def describe(self, opts) -> str:
        """Method and the options that matter, for messages ("tfp with window 41"); an options
        class may add its own words with a ``describe()`` method (``ssml``'s temporal binning)."""
        text = f"{self.name} with window {opts.window}" if self.uses_window else self.name
        extra = opts.describe() if callable(getattr(opts, "describe", None)) else ""
        return f"{text} {extra}" if extra else text


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


def parse_scale(scale) -> float | str | None:
    """A positive float, ``"auto"``, a string ``"1/0.6"`` / ``"1.5"``, or None (raw output,
    see :class:`Method`). Raises ValueError."""
    if scale is None:
        return None
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
    """1 / (the 99.5th percentile of ``raw``); :data:`DEFAULT_SCALE` when that percentile is
    not above the minimum (or 0): an image without contrast has nothing to stretch, and
    stretching it would make an all-dark stream (every TFI estimate at its no-spike floor) white."""
    values = raw.detach().float().reshape(-1).cpu().numpy()
    if not values.size:
        return DEFAULT_SCALE
    p = float(np.percentile(values, AUTO_PERCENTILE))
    return 1.0 / p if p > max(float(values.min()), 0.0) else DEFAULT_SCALE


def iter_images(method: Method, source: Source, centres: Sequence[int], opts, *,
                scale=DEFAULT_SCALE, gamma: float = 1.0, pad: str = "none") -> Iterator[tuple[list, torch.Tensor]]:
    """Run ``method`` over sorted ``centres`` and yield ``(centres, images)`` batches.

    Args:
        opts: the method's options object (:meth:`Method.make_options`).
        pad: ``"none"`` (centres must lie in ``method.valid``) or ``"reflect"``: a window that
            runs past an end of the stream reads the stream mirrored there
            (:mod:`spikekit.recon.padding`).
        scale: positive float (fused into the method); ``"auto"``: the 99.5th percentile of
            the first batch's raw estimates maps to 1, and that scale is kept for the whole run
            (no flicker between frames of a video); None: the raw estimates, unscaled and
            unclipped.
        gamma: output = clipped intensity ** (1 / gamma) (gamma > 1 brightens dark tones).

    Yields:
        (list of spike-frame indices, float32 (N, n, H, W) in [0, 1]).
    """
    scale = parse_scale(scale)
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    auto = scale == "auto"
    fused = None if auto else scale
    factor = None
    centres = list(centres)
    reflect = check_pad(pad) == "reflect"
    batches = (run_padded(method, source, centres, opts, fused) if reflect
               else method.run(source, centres, opts, fused))
    for idx, images in batches:
        if auto:
            if factor is None:
                factor = auto_scale(images)
            images = images.mul_(factor).clamp_(0, 1)
        if gamma != 1:
            images = images.pow_(1.0 / gamma)
        yield idx, images


@dataclass(frozen=True)
class ReconPlan:
    """One reconstruction, planned (:func:`plan_reconstruction`): what :func:`reconstruct` and
    ``spikekit recon`` run.

    Attributes:
        method, source, opts: the method, the spikes as a :class:`Source`, its options object.
        centres: the spike-frame indices to reconstruct, in the order asked for.
        single: ``at`` was one index (one image, not a stack).
        pad: ``"none"`` or ``"reflect"`` (:mod:`spikekit.recon.padding`).
    """

    method: Method
    source: Source
    opts: Any
    centres: list
    single: bool
    pad: str

    def describe(self) -> str:
        """The method and the options that matter ("tfp with window 41")."""
        return self.method.describe(self.opts)

    def batches(self, scale=DEFAULT_SCALE, gamma: float = 1.0) -> Iterator[tuple[list, torch.Tensor]]:
        """:func:`iter_images` over the centres in increasing order (the order a file is read in)."""
        return iter_images(self.method, self.source, sorted(self.centres), self.opts, scale=scale,
                           gamma=gamma, pad=self.pad)


def plan_reconstruction(method: Method, spikes, *, at=None, stride=None, start=None, stop=None,
                        device=None, pad: str = "none", **options) -> ReconPlan:
    """Check ``options`` and choose the centres of a reconstruction (arguments as :func:`reconstruct`).

    Raises:
        ValueError: an unknown option or a bad value, an index outside the valid range (the
            message names it), an unknown ``pad``.
    """
    source = Source(spikes, device)
    opts = method.make_options(**options)
    if method.prepare is not None:
        opts = method.prepare(source, opts, check_pad(pad))
    valid = valid_centres(method, source.frames, opts, pad)
    centres, single = select_centres(source.frames, valid, at=at, stride=stride, start=start,
                                     stop=stop, what=method.describe(opts), name=source.name)
    return ReconPlan(method, source, opts, list(centres), single, pad)


def reconstruct(method: Method, spikes, *, at=None, stride=None, start=None, stop=None,
                scale=DEFAULT_SCALE, gamma: float = 1.0, device=None, pad: str = "none",
                on_batch=None, **options) -> torch.Tensor:
    """Reconstruct images from ``spikes`` with ``method`` (the Python API of every method).

    Args:
        spikes: ``SpikeStream`` (read in bounded chunks) or tensor (..., T, H, W).
        at: index -> one image; sequence -> a stack. Default: the middle frame T // 2.
        stride: every ``stride``-th valid centre (within [start, stop) if given).
        scale, gamma, pad: see :func:`iter_images` (with ``pad="reflect"`` every spike frame
            0 .. T-1 is a valid centre).
        device: where a ``SpikeStream`` is processed (tensors stay on their device).
        on_batch: optional ``on_batch(n)``, called after each batch of ``n`` images (progress).
        options: fields of the method's options class (``window`` of TFP, ``max_interval`` of
            TFI, ``u0``... of TFSTP, ``weights``... of SSML); the others keep their defaults.

    Returns:
        float32 (..., H, W) for one index, (..., N, H, W) otherwise, in [0, 1], on the device
        of the computation.

    Raises:
        ValueError: an index outside the valid range (the message names it), an option the
            method does not take, bad values.
    """
    plan = plan_reconstruction(method, spikes, at=at, stride=stride, start=start, stop=stop,
                               device=device, pad=pad, **options)
    source, centres = plan.source, plan.centres
    order = np.argsort(centres, kind="stable")
    out, done = None, 0
    for _, images in plan.batches(scale=scale, gamma=gamma):
        if out is None:  # one result tensor filled batch by batch (a torch.cat of the batches at the
            # end would hold everything twice and fault in fresh pages: most of a stride-1 TFP's time)
            shape = (images.shape[0], len(centres), *images.shape[2:])
            out = (empty_hugepage(shape, images.dtype) if images.device.type == "cpu"
                   else torch.empty(shape, dtype=images.dtype, device=images.device))
        out[:, done:done + images.shape[1]] = images
        done += images.shape[1]
        if on_batch is not None:
            on_batch(images.shape[1])
    if not np.array_equal(order, np.arange(len(order))):  # back to the caller's order
        inverse = torch.from_numpy(np.argsort(order)).to(out.device)
        out = out.index_select(1, inverse)
    out = out.reshape(*source.batch, len(centres), source.height, source.width)
    return out.squeeze(-3) if plan.single else out
