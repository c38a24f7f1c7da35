"""Spk2ImgNet-style training samples: fixed-length spike windows, each with its centre's ground truth.

From a simulated ``.dat`` (``S`` frames) and its ground truth at spike frames n = 0, K, 2K, ...
(``--gt-every K``), every n whose window ``[n - W//2, n - W//2 + W)`` lies inside the stream
gives one sample (the centre convention of TFP with window W, docs/methods.md):

* ``input/<name>/{n:08d}.dat``: the W spike frames, the source's bytes unchanged (bit-packed, rows
  bottom-up), with a sidecar (height, width, rate, flip, ``frames`` = W, ``centre`` = n,
  ``window_of`` = the source ``.dat``);
* ``gt/<name>/{n:08d}.png`` (and/or ``.npy``): the intensity integrated at spike frame n.

Windows of different centres overlap when K < W (the bytes are copied, not shared).
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from .. import ops
from ..io import read_sidecar, write_sidecar


def window_centres(frames: int, window: int, every: int) -> list[int]:
    """Centres n = 0, every, 2 every, ... whose ``window``-frame window fits in ``frames`` frames.

    Raises:
        ValueError: ``window`` or ``every`` < 1.
    """
    if window < 1 or every < 1:
        raise ValueError(f"the window ({window}) and --gt-every ({every}) must be >= 1 spike frames")
    half = window // 2
    return [n for n in range(0, frames, every) if n - half >= 0 and n - half + window <= frames]


@contextlib.contextmanager
def _replacing(folder: Path):
    """A staging folder that replaces ``folder`` (ours, from an interrupted run) on success."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield tmp
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_windows(dat, gt_dir, out_dir, name: str, window: int, every: int) -> int:
    """Cut the samples of ``dat`` (see the module docstring) into ``out_dir/input/name`` and
    ``out_dir/gt/name``; each folder appears whole or not at all.

    Args:
        dat: a ``.dat`` written by :func:`spikekit.simulate.simulate_to_file` (its sidecar gives
            height, width, rate).
        gt_dir: the folder holding its ground truth ``{n:08d}.png`` / ``.npy`` every ``every`` frames.
        out_dir: the root of ``input/`` and ``gt/``.  name: the sample folder (relative, POSIX).
        window: W, spike frames per sample.  every: K, spike frames between centres.

    Returns:
        The number of samples written.

    Raises:
        ValueError: the stream is shorter than one window (names it), a missing GT image.
        OSError: as :func:`spikekit.io.atomic_output`.
    """
    dat, gt_dir, out_dir = Path(dat), Path(gt_dir), Path(out_dir)
    meta = read_sidecar(dat)
    height, width = meta["height"], meta["width"]
    nb = ops.frame_bytes(height, width)
    frames = dat.stat().st_size // nb
    centres = window_centres(frames, window, every)
    if not centres:
        raise ValueError(f"{dat}: {frames} spike frames hold no {window}-frame window centred on a multiple "
                         f"of --gt-every {every}; simulate more frames or use a shorter --windows")
    side = {"height": height, "width": width, "flip": meta.get("flip", True), "rate": meta.get("rate"),
            "frames": window, "window_of": str(dat), "seed": meta.get("seed")}
    with _replacing(out_dir / "input" / name) as inputs, _replacing(out_dir / "gt" / name) as gts, \
            open(dat, "rb") as f:
        for n in centres:
            f.seek((n - window // 2) * nb)
            (inputs / f"{n:08d}.dat").write_bytes(f.read(window * nb))
            write_sidecar(inputs / f"{n:08d}.dat", {**side, "centre": n})
            found = [p for p in (gt_dir / f"{n:08d}.png", gt_dir / f"{n:08d}.npy") if p.is_file()]
            if not found:
                raise ValueError(f"{gt_dir}: no ground truth for spike frame {n}")
            for p in found:
                shutil.copyfile(p, gts / p.name)
    return len(centres)


__all__ = ["window_centres", "export_windows"]
