"""``spikekit adapt``: fine-tune the shipped SSML weights on one's own recording(s).

The paper's point (Chen et al., IJCAI 2022) is that SSML trains on the user's own recording,
where no ground truth exists. ``adapt`` runs the same self-supervised loss as ``spikekit train``
(MSE(BSN, tfp7) + 0.01 MSE(NBSN, BSN)) from the shipped weights (``--init default``) on random
windows of the given recordings only, with a short recipe (:data:`RECIPE`) sized to finish in
under 10 minutes on 2 CPU cores, in the precision the hardware computes fastest (float32 on a CPU
without native bf16; :mod:`ssml.precision`), and reports the no-reference NIQE (:func:`spikekit.noref.niqe`,
lower is better) of TFP, TFI and SSML on frames of each recording before and after.

The recordings are read with the geometry checks of ``spikekit recon`` (``-H/-W/--head/--no-flip``),
and the frames used for training are written once into ``RUN/data/`` with their sidecar, so the
training loader reads them with the right size whatever the original file's layout.

Dark recordings are trained on as ``-m ssml`` will read them: with the temporal binning K that
``--param bin=auto`` picks for them (src/ssml/binning.py; :func:`adapt_bin`), so the adapted weights
learn the windows they will see. The NIQE frames are read with ``pad="reflect"``, so any K fits.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from spikekit.cliutils import echo_json, fail, open_stream
from spikekit.io import DEFAULT_HEIGHT, DEFAULT_WIDTH, atomic_output, write_dat
from spikekit.noref import NIQE_MIN_SIDE, niqe
from spikekit.recon import get_method, reconstruct
from spikekit.recon.source import Source
from spikekit.threads import apply_threads

from .binning import resolve_bin
from .config import TrainConfig
from .method import SsmlOptions
from .networks import WINDOW
from .precision import AMP_MODES
from .train import train

RECIPE = {"steps": 140, "batch": 4, "crop": 40, "lr": 1e-4, "amp": "auto", "sim_fraction": 0.0,
          "log_every": 10, "ckpt_every": 0, "ckpt_minutes": 0.0, "val_every": 0}
"""TrainConfig values of the adaptation run (steps, lr and amp can be changed on the command line).
Sized so that the whole command (NIQE before, training, NIQE after) stays within 10 minutes on a
CPU without native bf16, which trains in float32 (``amp`` auto, :mod:`ssml.precision`): 140 steps
at the 3.7 s per step measured on a 2-core AMD Zen 3 (issue 29) are 8.6 minutes; 140 steps keep
the NIQE gain that 200 gave (docs/real_recordings.md has the measured figures)."""
TRAIN_FRAMES = 2000
"""Spike frames of each recording used for training (from its start)."""
EVAL_FRAMES = 3
"""Frames of each recording whose NIQE is reported (evenly spaced)."""
METHODS = ("tfp", "tfi", "ssml")


def adapt_config(dats, out, **values):
    """The :class:`~ssml.config.TrainConfig` of an adaptation run: :data:`RECIPE` from the shipped
    weights on ``dats`` only, with ``values`` (TrainConfig fields) overriding it.

    Raises:
        ValueError: a bad value (names the field).
    """
    fields = {**RECIPE, **values, "init": "default", "dat": [str(d) for d in dats], "out": str(out)}
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **fields}).validate()


def adapt_bin(streams, frames: int = TRAIN_FRAMES) -> int:
    """The K of ``-m ssml --param bin=auto`` on the recordings (``SpikeStream`` s): the smallest
    over them when they differ, and at most what fits a window in ``frames`` of each."""
    ks = [resolve_bin(Source(s), SsmlOptions(), "none").bin for s in streams]
    return max(1, min(min(ks), min(min(len(s), frames) for s in streams) // WINDOW))


def eval_centres(frames: int, count: int = EVAL_FRAMES) -> list[int]:
    """``count`` evenly spaced centres where a 41-frame window fits a ``frames``-frame stream."""
    half = WINDOW // 2
    lo, hi = half, frames - 1 - half
    if hi < lo:
        raise ValueError(f"a recording needs at least {WINDOW} spike frames, got {frames}")
    return sorted({int(round(c)) for c in np.linspace(lo, hi, count + 2)[1:-1]})


def niqe_of_methods(stream, centres, methods=METHODS, weights=None, scale="auto") -> dict:
    """Mean NIQE over ``centres`` of each method's images of ``stream`` ({method: NIQE}).

    TFP uses a 41-frame window; ``weights`` are SSML's (None: the shipped ones), read with its
    default options (dark streams binned); ``scale`` is applied to every method alike (``auto``
    by default: real recordings are often dark). Windows are mirrored at the stream's ends.
    """
    out = {}
    for name in methods:
        extra = {"window": WINDOW} if name == "tfp" else ({"weights": weights} if name == "ssml" else {})
        images = reconstruct(get_method(name), stream, at=list(centres), scale=scale, pad="reflect", **extra)
        out[name] = float(np.mean([niqe(image.numpy()) for image in images]))
    return out


def _copy_paths(streams, folder: Path) -> list[Path]:
    """RUN/data/<name>.dat for each stream (``_1``, ``_2``... when names repeat)."""
    paths = []
    for stream in streams:
        path, k = folder / f"{stream.path.stem}.dat", 1
        while path in paths:
            path, k = folder / f"{stream.path.stem}_{k}.dat", k + 1
        paths.append(path)
    return paths


def _write_copy(stream, path: Path, frames: int) -> None:
    """The first ``frames`` spike frames of ``stream`` as ``path`` (+ sidecar with the size)."""
    n = min(frames, len(stream))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dat(path, stream.decode(0, n), sidecar={"source": str(stream.path), "rate": stream.rate,
                                                  "frames_from_source": n})


@click.command("adapt")
@click.argument("recordings", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Run folder to create (last.pt, config.yaml, log.csv, adapt.json, data/).")
@click.option("-H", "--height", type=int, default=None, help=f"Frame height (default: sidecar, else {DEFAULT_HEIGHT}).")
@click.option("-W", "--width", type=int, default=None, help=f"Frame width (default: sidecar, else {DEFAULT_WIDTH}).")
@click.option("--head", type=click.IntRange(min=0), default=None,
              help="Head columns per row that are not pixels (16 for the 250 x 416 camera, with -W 400).")
@click.option("--flip/--no-flip", default=None,
              help="Rows stored bottom-up (Vidar) / top-down (default: the sidecar's flip, else bottom-up).")
@click.option("--force", is_flag=True, help="Read with the given size even when it looks wrong.")
@click.option("--steps", type=click.IntRange(min=1), default=RECIPE["steps"], show_default=True,
              help="Optimiser steps (2.5-4 s each on a CPU core).")
@click.option("--lr", type=float, default=RECIPE["lr"], show_default=True, help="Adam learning rate (cosine decay).")
@click.option("--amp", type=click.Choice(AMP_MODES), default=RECIPE["amp"], show_default=True,
              help="bf16 autocast; auto: where the device computes bf16 natively (CPU AVX-512 BF16 or "
                   "AMX, GPU), else float32 (emulated bf16 is about 10x slower).")
@click.option("--frames", type=click.IntRange(min=WINDOW), default=TRAIN_FRAMES, show_default=True,
              help="Spike frames of each recording to train on (from its start).")
@click.option("--eval-frames", type=click.IntRange(min=1), default=EVAL_FRAMES, show_default=True,
              help="Frames of each recording whose NIQE is reported before and after.")
@click.option("--scale", default="auto", show_default=True,
              help="Intensity scale of the images NIQE is measured on (as recon --scale).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="torch CPU threads (0: the cores free to this process; the fine-tune, like train, "
                   "takes all usable cores whatever the load, so that it repeats).")
@click.option("--json", "as_json", is_flag=True, help="Print the before/after table as JSON.")
def adapt(recordings, out, height, width, head, flip, force, steps, lr, amp, frames, eval_frames,
          scale, device, threads, as_json):
    """Adapt SSML to your camera: fine-tune the shipped weights on your own recording(s),
    self-supervised (no ground truth), and print the NIQE of TFP, TFI and SSML before and after.

    \b
    Example:
      spikekit adapt rec.dat -o runs/mycam              # under 10 minutes on a 2-core CPU
      spikekit recon rec.dat -m ssml --weights runs/mycam --scale auto -o frame.png
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise click.UsageError(f"{out}: the run folder exists and is not empty; choose a new -o "
                               f"(or continue it with spikekit train --resume {out})")
    apply_threads(threads)
    try:
        streams = [open_stream(path, height, width, flip, head, force) for path in recordings]
        centres = [eval_centres(len(s), eval_frames) for s in streams]
        copies = _copy_paths(streams, out / "data")
        dat_bin = adapt_bin(streams, frames)
        config = adapt_config(copies, out, steps=steps, lr=lr, amp=amp, device=device, threads=threads,
                              dat_bin=dat_bin)
        scored = [min(s.height, s.width) >= NIQE_MIN_SIDE for s in streams]
        for s, c, ok in zip(streams, centres, scored):
            click.echo(f"adapt: NIQE of {', '.join(METHODS)} at spike frames {', '.join(map(str, c))} of "
                       f"{s.path.name} (before), then {steps} training steps" if ok else
                       f"adapt: {s.path.name} is {s.height} x {s.width}, under the {NIQE_MIN_SIDE} x "
                       f"{NIQE_MIN_SIDE} pixels NIQE scores: no before/after NIQE, {steps} training steps",
                       err=True)
        before = [niqe_of_methods(s, c, scale=scale) if ok else {}
                  for s, c, ok in zip(streams, centres, scored)]
        for stream, path in zip(streams, copies):
            _write_copy(stream, path, frames)
        summary = train(config)
        after = [niqe_of_methods(s, c, methods=("ssml",), weights=str(out), scale=scale) if ok else {}
                 for s, c, ok in zip(streams, centres, scored)]
    except (OSError, ValueError, RuntimeError) as exc:
        fail(exc)
    rows = [{"recording": str(Path(s.path).resolve()), "frames": c, "before": b, "after": {**b, **a}}
            for s, c, b, a in zip(streams, centres, before, after)]
    report = {"rows": rows, "steps": summary["step"], "train_s": summary["elapsed_s"], "weights": str(out.resolve()),
              "bin": dat_bin}
    with atomic_output(out / "adapt.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    for s in streams:
        s.close()
    if as_json:
        echo_json(report)
        return
    click.echo(f"NIQE (lower is better), mean over spike frames of each recording, scale {scale}:")
    click.echo(f"{'recording':<40} {'method':<6} {'before':>7} {'after':>7}")
    for r in rows:
        for m in METHODS:
            if m in r["after"]:  # a recording too small for NIQE has none
                click.echo(f"{Path(r['recording']).name[:40]:<40} {m:<6} {r['before'][m]:>7.2f} "
                           f"{r['after'][m]:>7.2f}")
    binned = f" on windows binned by {dat_bin} (as -m ssml reads them)" if dat_bin > 1 else ""
    click.echo(f"{summary['step']} steps in {summary['elapsed_s']:.0f} s{binned}; use the weights with "
               f"-m ssml --weights {out}", err=True)
