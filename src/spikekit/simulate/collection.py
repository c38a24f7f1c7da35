"""``spikekit simulate SRC_DIR -o OUT_DIR``: a folder of videos or frame folders to spike streams.

Inputs, found under ``SRC_DIR`` in sorted order: every video file (:data:`VIDEO_SUFFIXES`) at any
depth, and every folder that directly holds images (one frame sequence, e.g. the REDS layout
``train_sharp/000/00000000.png``; its subfolders are not searched). Input ``a/clip.mp4`` writes
``OUT_DIR/a/clip.dat`` (+ ``.dat.json`` sidecar), frame folder ``000`` writes ``OUT_DIR/000.dat``;
ground truth, when asked for, goes to ``GT_DIR/<input without suffix>/``; ``--windows W`` adds
training samples under ``OUT_DIR/windows/`` (:mod:`spikekit.simulate.windows`). Resuming, seeds, sharding
and the manifest: :mod:`spikekit.collection`.
"""
from __future__ import annotations

import contextlib
import hashlib
import tempfile
from pathlib import Path, PurePosixPath

from ..collection import Item, Ranks, run_collection
from .model import NoiseModel
from .run import simulate_to_file
from .source import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .windows import export_windows

WINDOWS = "windows"
"""Folder of the Spk2ImgNet-style samples inside the output folder (``--windows``)."""


def holds_images(folder: Path) -> bool:
    """Whether ``folder`` directly holds image files (:data:`IMAGE_SUFFIXES`): one frame sequence."""
    return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def find_inputs(src: Path) -> list[Item]:
    """The inputs under the folder ``src`` (see the module docstring), sorted by relative path.

    Raises:
        FileNotFoundError: ``src`` is not a folder.
        ValueError: ``src`` itself holds images (it is one video, not a collection), nothing
            found, or two inputs that would write the same output (``clip.mp4`` and ``clip/``).
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: source folder not found")
    if holds_images(src):
        raise ValueError(f"{src}: the folder holds images itself, so it is one video: give -o NAME.dat "
                         "(a collection is a folder of videos or of frame folders)")
    found, stack = [], [src]
    while stack:
        folder = stack.pop()
        for p in sorted(folder.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                if holds_images(p):
                    found.append(p)
                else:
                    stack.append(p)
            elif p.suffix.lower() in VIDEO_SUFFIXES:
                found.append(p)
    items, owners = [], {}
    for p in found:
        rel = p.relative_to(src).as_posix()
        output = str(PurePosixPath(rel).with_suffix(".dat") if p.is_file() else PurePosixPath(rel + ".dat"))
        if output in owners:
            raise ValueError(f"{src}: {owners[output]} and {rel} would both write {output}; rename one")
        owners[output] = rel
        items.append(Item(rel, p, output))
    if not items:
        raise ValueError(f"{src}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) or folders of images found")
    return sorted(items, key=lambda it: it.rel)


def simulate_collection(src, out_dir, *, parameters: dict, seed: int, gt_dir=None, windows: int | None = None,
                        device="cpu", chunk: int = 1024, quiet: bool = False) -> dict:
    """Convert every input under ``src`` into ``out_dir`` (this rank's share under torchrun).

    Args:
        src: the source folder.  out_dir: the output folder (created if missing).
        parameters: keyword arguments of :func:`spikekit.simulate.simulate_to_file` that shape
            the bits (rate, fps, steps_per_frame, gain, threshold, noise (a ``NoiseModel.to_dict()``),
            size, channels, gt_every, gt_format); recorded in the manifest with ``seed`` and ``gt_dir``.
        seed: the run seed; input ``rel`` is simulated with ``input_seed(seed, rel)``.
        gt_dir: ground-truth root, or None for none.
        windows: W, also export Spk2ImgNet-style samples of W spike frames centred on every
            ground-truth index into ``out_dir/windows/{input,gt}/<name>/``
            (:mod:`spikekit.simulate.windows`); the record's ``windows`` counts them.
        device: ``cpu`` or ``cuda[:N]`` (a bare ``cuda`` is ``cuda:LOCAL_RANK`` under torchrun);
            chunk: spike frames per kernel call. Neither changes the bits.
        quiet: no progress.

    Returns:
        :func:`spikekit.collection.run_collection`'s summary.

    Raises:
        As :func:`find_inputs`, :class:`spikekit.collection.Manifest` and ``simulate_to_file``.
    """
    items = find_inputs(Path(src))
    kwargs = dict(parameters)
    kwargs["noise"] = NoiseModel(**kwargs["noise"])
    device = Ranks.from_env().device(device)
    recorded = {**parameters, "seed": seed, "gt_dir": None if gt_dir is None else str(gt_dir), "windows": windows}

    def work(item: Item, output: Path, item_seed: int) -> dict:
        name = str(PurePosixPath(item.output).with_suffix(""))
        with contextlib.ExitStack() as stack:
            gt = None if gt_dir is None else Path(gt_dir) / name
            if gt is None and windows:  # the samples' GT only: staged beside the outputs, then removed
                gt = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=".gt-", dir=output.parent)))
            digest = hashlib.sha256()
            summary = simulate_to_file(str(item.source), output, seed=item_seed, gt_dir=gt, device=device,
                                       chunk=chunk, digest=digest, **kwargs)
            result = {"frames": summary["frames"], "sha256": digest.hexdigest()}
            if windows:
                every = kwargs["gt_every"] or summary["steps_per_frame"]
                result["windows"] = export_windows(output, gt, Path(out_dir) / WINDOWS, name, windows, every)
            return result

    return run_collection(items, out_dir, recorded, work, seed=seed, desc="simulate", quiet=quiet)


__all__ = ["find_inputs", "holds_images", "simulate_collection"]
