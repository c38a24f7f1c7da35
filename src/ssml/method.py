"""``-m ssml`` and ``-m ssml-lite``: reconstruction with the NBSN of the SSML network (Chen et al.,
"Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking Camera", IJCAI 2022)
or the small :class:`ssml.lite.LiteNet`, through the method registry; both read 41-frame windows
and answer on the same scale.

Each output index t gets the window [t - 20, t + 20] centred on it (valid centres 20 .. T - 21;
with ``bin=K``, 41 x K spike frames, :func:`ssml.binning.span`), any H x W; files are read chunk
by chunk. The raw output is a firing rate per spike frame; intensity = min(scale x output, 1)
with the default scale 1 / gain (:mod:`spikekit.firing`); ``scale=None`` returns it raw.
Options are the fields of :class:`SsmlOptions` (``--param NAME=VALUE``). What brightness
anchoring, binning, self-ensemble and the stream-ends weights do: docs/methods.md;
what they gain: src/ssml/weights/MODEL_CARD.md.
"""
from __future__ import annotations

import functools
import itertools
import math
import threading
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from spikekit import ops
from spikekit.io.geometry import neighbour_correlations
from spikekit.recon.base import Method
from spikekit.recon.options import check_flag
from spikekit.recon.source import Source, plan_chunks

from .binning import bin_windows, check_bin, resolve_bin, span
from .ensemble import ENSEMBLES, check_ensemble, self_ensemble
from .lite import LiteNet
from .networks import WINDOW
from .precision import PRECISIONS, precision_name, resolve_precision
from .sequence import SubstreamReuse, reuses_substreams
from .weights_io import ENDS_WEIGHTS, checkpoint_file, load_model

ENDS = ("auto", "off")
"""The words ``--param ends`` takes besides a weights file (:func:`ends_weights`)."""
ENDS_REACH = 9
"""A window centred fewer than this many input frames (spike frames / bin) from a stream's end
is read with the ends weights (:func:`near_end`): the shipped ends weights score higher at
distances 0 .. 8 on the validation stream 200_part1 cut at every distance 0 .. 20 from its GT
frame, the shipped weights from 9 on (``tools/ends_sweep.py``; ``src/ssml/weights/MODEL_CARD.md``,
"Stream ends")."""
TRAINED_RATE = (0.015, 0.6)
"""Mean firing rates per spike frame of the windows the shipped weights were trained on (REDS
streams 0.17-0.33; simulated scenes of brightness log-uniform in 0.1-1, about 0.02-0.35,
``src/ssml/weights/MODEL_CARD_lite.md``), with a margin."""
TRAINED_STRUCTURE = 0.5
"""Neighbour correlation of a training window's TFP image, summed over blocks of
:data:`STRUCTURE_SPIKES` expected spikes: above this (noise is about 0)."""
STRUCTURE_SPIKES = 8
"""Expected spikes per block of the structure check: a dark window's TFP is summed over b x b
pixel blocks first, so that its counting noise does not hide a real scene's structure."""

_cache: dict = {}
_lock = threading.Lock()


def ssml_valid(frames: int, opts: SsmlOptions) -> tuple[int, int]:
    """First and last index with a full window: (20, T - 21) for ``bin=1``, and in general the
    ``before`` and ``after`` of :func:`ssml.binning.span` (``opts.bin`` settled, not ``"auto"``)."""
    before, after = span(opts.bin)
    return before, frames - 1 - after


def load_network(weights=None, device="cpu", lite: bool = False):
    """The SSML model (eval mode, channels-last) for ``weights`` on ``device``, loaded once;
    ``weights=None`` takes the shipped ``ssml_default.pt`` (``lite``: ``ssml_lite.pt``).

    Raises:
        FileNotFoundError: the weights file (or, for ``None``, the shipped default) is missing.
        ValueError: the file is not SSML weights (see :func:`ssml.load_model`), or holds the other
            network (ssml-lite weights for ``-m ssml``, SSML weights for ``-m ssml-lite``): one
            line naming the file and the method that reads it.
    """
    key = (str(Path(weights).resolve()) if weights else None, str(device), lite)
    with _lock:
        if key not in _cache:
            model = load_model(weights, device=device, lite=lite)
            if isinstance(model, LiteNet) != lite:
                have, right = ("ssml-lite", "ssml-lite") if not lite else ("SSML", "ssml")
                wanted = "ssml-lite" if lite else "ssml"
                raise ValueError(f"{weights}: these are {have} weights, not -m {wanted} weights; read them "
                                 f"with -m {right} (or give -m {wanted} weights of its own network)")
            _cache[key] = model.to(memory_format=torch.channels_last)
        return _cache[key]


@dataclass(frozen=True)
class SsmlOptions:
    """Options of ``-m ssml`` and ``-m ssml-lite`` (``--weights``, ``--param NAME=VALUE``).

    Attributes:
        weights: a weights file, training checkpoint or run folder (None: the shipped weights).
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (bf16 autocast; any case; auto: bf16 where
            the device computes it natively, :func:`ssml.precision.resolve_precision`).
        batch: windows per forward pass (None: 1 on CPU, 4 on CUDA).
        anchor: brightness anchoring (module docstring) on (1/True) or off (0/False).
        bin: ``"auto"`` or K, spike frames per network input frame (:mod:`ssml.binning`).
        ensemble: forward passes averaged over turns of the window (:mod:`ssml.ensemble`).
        ends: ``"auto"``, ``"off"`` or a weights file: the network for windows that cross a
            stream's end (module docstring; :func:`ends_weights`).

    Raises:
        ValueError: an unknown precision, a batch that is not a positive integer, an anchor
            other than 1/0, a bin other than auto or 1-16, an ensemble other than 1, 2, 4, 8,
            an ends that is neither auto, off, a file nor a run folder holding ``last.pt``.
    """

    weights: Optional[str] = None
    precision: str = field(default="auto", metadata={"values": "|".join(PRECISIONS)})
    batch: Optional[int] = field(default=None, metadata={"values": "N"})
    anchor: bool = True
    bin: Union[int, str] = field(default="auto", metadata={"values": "auto|K"})
    ensemble: int = field(default=1, metadata={"values": "|".join(map(str, ENSEMBLES))})
    ends: str = field(default="auto", metadata={"values": "|".join(ENDS) + "|FILE"})

    def __post_init__(self):
        object.__setattr__(self, "precision", precision_name(self.precision))
        batch = self.batch
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        object.__setattr__(self, "anchor", check_flag(self.anchor, "anchor"))
        object.__setattr__(self, "bin", check_bin(self.bin))
        object.__setattr__(self, "ensemble", check_ensemble(self.ensemble))
        ends = str(self.ends)
        if ends.lower() in ENDS:
            ends = ends.lower()
        elif not ends or not checkpoint_file(ends).is_file():
            found = ("empty" if not ends else "no last.pt in that folder" if Path(ends).is_dir()
                     else "no such file")
            raise ValueError(f"ends must be {', '.join(ENDS)} or a weights file or run folder, got "
                             f"{self.ends!r} ({found})")
        object.__setattr__(self, "ends", ends)

    def describe(self) -> str:
        """Words for messages when binning or the self-ensemble is on ("with bin 3 (123-frame
        windows)"), else ""."""
        words = [f"with bin {self.bin} ({WINDOW * self.bin}-frame windows; --param bin=1 reads {WINDOW})"
                 ] if self.bin not in (1, "auto") else []
        words += [f"with self-ensemble x{self.ensemble}"] if self.ensemble > 1 else []
        return " and ".join(words)


def ends_weights(opts: SsmlOptions, lite: bool = False):
    """The weights ``-m ssml`` (``lite``: ``ssml-lite``) reads a window crossing a stream's end
    with: ``opts.ends`` when it names a file; with ``auto``, the shipped
    :data:`ssml.weights_io.ENDS_WEIGHTS` for the shipped ``ssml`` weights; else ``opts.weights``
    (None: the shipped weights of the model)."""
    if opts.ends not in ENDS:
        return opts.ends
    return ENDS_WEIGHTS if opts.ends == "auto" and opts.weights is None and not lite else opts.weights


def near_end(centre: int, ends: tuple[int, int], k: int = 1) -> bool:
    """Whether the window centred on spike frame ``centre`` lies fewer than :data:`ENDS_REACH`
    input frames (``k`` spike frames each, ``--param bin``) from the stream's first or last
    spike frame, ``ends`` (:attr:`spikekit.recon.source.Source.ends`, indices in the same frames)."""
    first, last = ends
    return min(centre - first, last - centre) < ENDS_REACH * k


def end_groups(centres: list, batch: int, near) -> list[tuple[list, bool]]:
    """``centres`` cut into consecutive runs of at most ``batch`` that agree on ``near(centre)``:
    ``[(part, near), ...]``, in order (one network per forward pass)."""
    groups = []
    for flag, run in itertools.groupby(centres, key=lambda c: bool(near(c))):
        run = list(run)
        groups += [(run[a:a + batch], flag) for a in range(0, len(run), batch)]
    return groups


def anchor_brightness(out: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Scale each raw NBSN output so its mean equals its window's mean firing rate (in place).

    Args:
        out: float32 (B, H, W) raw network outputs (firing rate per spike frame).
        windows: (B, n, H, W) the spike frames the outputs were made from (0/1 or bool; n = 41,
            or 41 x K with ``--param bin=K``): the mean firing rate per spike frame to match.

    Returns:
        ``out``, each image multiplied by mean(window) / mean(out) (left as is when its mean is
        not positive).
    """
    rate = windows.float().mean(dim=(1, 2, 3))
    level = out.mean(dim=(1, 2))
    factor = torch.where(level > 0, rate / level.clamp_min(1e-12), torch.ones_like(level))
    return out.mul_(factor[:, None, None])


def block_sums(image: np.ndarray, pixels: float) -> np.ndarray:
    """``image`` (H, W) summed over b x b blocks, b the smallest side with b * b >= ``pixels``
    (1: unchanged), at most a tenth of the shorter side; a partial last block is dropped."""
    b = max(1, min(math.ceil(math.sqrt(pixels)), min(image.shape) // 10))
    h, w = image.shape[0] // b * b, image.shape[1] // b * b
    return image[:h, :w].reshape(h // b, b, w // b, b).sum((1, 3))


def input_problems(window: torch.Tensor, k: int = 1) -> dict:
    """How a spike window differs from the shipped weights' training windows.

    Args:
        window: (41, H, W) spikes (0/1, any dtype): the network's input.
        k: spike frames ORed into each input frame (``--param bin``, :mod:`ssml.binning`); the
            rate message then names the bin, the cause a user can change.

    Returns:
        {kind: message} for kinds ``rate`` (mean firing rate outside :data:`TRAINED_RATE`) and
        ``structure`` (neighbouring blocks of its TFP barely correlated, :func:`block_sums`); empty
        when it looks like the training data. There is no orientation check: no brightness
        signal tells an upright scene from an upside-down one (``tools/orientation_check.py``).
    """
    image = window.float().mean(0).cpu().numpy()
    rate, out = float(image.mean()), {}
    lo, hi = TRAINED_RATE
    if not lo <= rate <= hi:
        advice = ("try --scale auto, or `spikekit adapt` on this recording" if k == 1 else
                  f"each input frame ORs {k} spike frames (--param bin={k}); try a smaller bin")
        unit = "spike frame" if k == 1 else "input frame"
        out["rate"] = (f"mean firing rate {rate:.3f} per {unit} is outside that of the training "
                       f"windows ({lo}-{hi}): {advice}")
    rows, cols = neighbour_correlations(block_sums(image, STRUCTURE_SPIKES / (WINDOW * max(rate, 1e-9))))
    if max(rows, cols) < TRAINED_STRUCTURE:
        out["structure"] = (f"neighbouring pixel blocks of its TFP are barely correlated (rows {rows:.2f}, "
                            f"columns {cols:.2f}; training windows above {TRAINED_STRUCTURE}): noise, "
                            f"or a wrong -H/-W")
    return out


_warned: set = set()


def warn_unfamiliar_input(windows: torch.Tensor, name: str, method: str = "ssml", k: int = 1) -> None:
    """Warn (once per file and kind) when windows (B, 41, H, W) look unlike the training data
    of ``-m method`` (``k``: the bin, :func:`input_problems`). Only the first batch of each file
    is checked: the check reads the window on the host, which on a GPU would stall every frame."""
    if (name, None) in _warned:
        return
    _warned.add((name, None))
    for window in windows:
        for kind, message in input_problems(window, k).items():
            if (name, kind) not in _warned:
                _warned.add((name, kind))
                warnings.warn(f"{name}: -m {method} input unlike its training data: {message}", stacklevel=2)


def _decoded_chunks(source: Source, chunks):
    """(chunk, spikes (N, n, H, W)) for each chunk, decoded on the source's device."""
    if source.stream is None:
        flat = source.flat()
        for chunk in chunks:
            yield chunk, flat[:, chunk.start:chunk.stop]
        return
    for chunk, packed in source.iter_packed(chunks):
        frames = ops.unpack_spikes(packed[0].contiguous(), source.height, source.width, flip=source.flip)
        yield chunk, frames.unsqueeze(0)


def ssml_run(source: Source, centres: list, opts: SsmlOptions, scale, lite: bool = False):
    """Yield ``(centres, float32 (N, n, H, W))`` batches of SSML (``lite``: ssml-lite) images
    (the Method contract; ``scale=None``: the raw output)."""
    device = torch.device(source.device)
    batch = opts.batch or (4 if device.type == "cuda" else 1)
    model = load_network(opts.weights, device, lite)
    at_ends = ends_weights(opts, lite)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16)
                if resolve_precision(opts.precision, device) == "bf16" else nullcontext())
    k = resolve_bin(source, opts).bin  # already settled when called through plan_reconstruction
    before, after = span(k)
    reuse = (SubstreamReuse(model.nbsn) if not lite and k == 1 and opts.ensemble == 1
             and reuses_substreams(centres) else None)
    near = (lambda c: False) if at_ends == opts.weights else (lambda c: near_end(c, source.ends, k))
    for chunk, spikes in _decoded_chunks(source, plan_chunks(centres, before, after, source.frames)):
        for part, end in end_groups(chunk.centres, batch, near):  # one yield per network batch: steady progress
            net = load_network(at_ends, device, lite) if end else model
            out = torch.empty(spikes.shape[0], len(part), source.height, source.width,
                              dtype=torch.float32, device=spikes.device)
            for i in range(spikes.shape[0]):
                starts = [c - before - chunk.start for c in part]
                read = torch.stack([spikes[i, s:s + before + after + 1] for s in starts]) > 0
                windows = bin_windows(read, k).to(torch.float32).contiguous(memory_format=torch.channels_last)
                warn_unfamiliar_input(windows, source.name, "ssml-lite" if lite else "ssml", k)
                with torch.no_grad(), autocast:
                    if reuse is None or end:
                        raw = self_ensemble(net, windows, opts.ensemble)[:, 0].float()
                    else:  # stride 7/14: sub-streams shared
                        raw = torch.cat([reuse(w[None], chunk.start + s, i)
                                         for w, s in zip(windows, starts)])[:, 0].float()
                # anchored to the spike frames read (a rate per spike frame; for k = 1 those are
                # the float windows, no second conversion); unanchored, the binned output is a
                # rate per k spike frames
                out[i] = anchor_brightness(raw, windows if k == 1 else read) if opts.anchor else raw.div_(k)
            if scale is not None:
                out.mul_(float(scale)).clamp_(0.0, 1.0)
            yield part, out


METHOD = Method("ssml", "SSML network (NBSN) on 41-frame windows; --weights, --param precision=fp32",
                ssml_run, ssml_valid, SsmlOptions, resolve_bin)
LITE_METHOD = Method("ssml-lite", "small U-Net on 41-frame windows (faster than ssml: docs/benchmarks.md); --weights",
                     functools.partial(ssml_run, lite=True), ssml_valid, SsmlOptions, resolve_bin)
