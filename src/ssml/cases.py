"""Validation and training cases: the one grammar of ``--val`` and ``--pair`` entries.

A case is ``DAT:GT_PNG:INDEX`` (a spike stream, the ground truth of one of its spike frames, and
that frame's index), or, for ``--pair`` only, ``DAT:DIR`` (a folder of another model's
reconstructions of DAT). The config keeps them as text (``TrainConfig.val``, ``pairs``); this
module splits them (:func:`split_case`), checks them (:func:`parse_val` gives a typed
:class:`Case`), expands ``DAT:DIR`` (:func:`expand_pairs`) and reads a case's window
(:func:`load_case`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import torch

from spikekit.io import SpikeStream
from spikekit.metrics import load_gt
from spikekit.recon.padding import reflected_source
from spikekit.recon.source import Source
from spikekit.recon.writers import folder_frames

from .networks import WINDOW


class Case(NamedTuple):
    """A checked ``DAT:GT_PNG:INDEX`` case (:func:`parse_val`): the stream, its GT image and the
    spike frame of the GT (0-based)."""

    dat: Path
    gt: Path
    index: int


def split_case(case) -> list[str]:
    """A ``val`` or ``pairs`` entry cut into its fields: ``DAT:GT_PNG:INDEX`` -> [DAT, GT_PNG,
    INDEX], a pair's ``DAT:DIR`` -> [DAT, DIR], split at the last two colons (so a colon earlier in
    DAT stays in it); the one home of that grammar. Fewer fields mean a malformed entry, which
    :func:`parse_val` and :func:`expand_pairs` report."""
    return str(case).rsplit(":", 2)


def case_paths(case) -> list[str]:
    """The path fields of a case: [DAT, GT_PNG] or [DAT, DIR]; an entry without a ':' (a plain
    ``dat`` path, or a malformed case) is one path, [entry]."""
    return split_case(case)[:2]


def map_paths(case, fn: Callable[[str], str]) -> str:
    """The case with ``fn`` applied to its path fields (:func:`case_paths`), INDEX unchanged; an
    entry without a ':' comes back unchanged (:func:`parse_val` reports it)."""
    parts = split_case(case)
    if len(parts) < 2:
        return str(case)
    return ":".join([fn(p) for p in parts[:2]] + parts[2:])


def parse_val(case: str, what: str = "validation case") -> Case:
    """``DAT:GT_PNG:INDEX`` -> :class:`Case` (dat, gt, index); the grammar of ``--val`` and ``--pair``.

    Checked here, before any training step: the form, both files, that INDEX is a spike frame of
    the stream, and that the GT image has the stream's H x W.

    Args:
        case: the ``DAT:GT_PNG:INDEX`` text.
        what: how the errors name it (``validation case``, ``training pair``).

    Raises:
        ValueError: any of these fails (names the case and what was expected).
    """
    parts = split_case(case)
    if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
        raise ValueError(f"{what} {case!r}: expected DAT:GT_PNG:INDEX (INDEX = spike frame of the GT)")
    dat, gt, index = Path(parts[0]), Path(parts[1]), int(parts[2])
    for p in (dat, gt):
        if not p.is_file():
            raise ValueError(f"{what} {case!r}: file not found: {p}")
    with SpikeStream(dat) as stream:
        frames, size = len(stream), (stream.height, stream.width)
    if not 0 <= index <= frames - 1:
        raise ValueError(f"{what} {case!r}: index {index} is not a spike frame of the "
                         f"{frames}-frame stream; valid: 0 .. {frames - 1}")
    if tuple(load_gt(gt).shape) != size:
        raise ValueError(f"{what} {case!r}: GT {gt} is {load_gt(gt).shape[0]}x{load_gt(gt).shape[1]} "
                         f"but the stream is {size[0]}x{size[1]}")
    return Case(dat, gt, index)


def expand_pairs(cases) -> list[str]:
    """``--pair`` entries as ``DAT:GT_PNG:INDEX`` cases (:func:`parse_val` checks them).

    An entry ``DAT:DIR`` (DIR a folder) stands for one case per image that ``spikekit recon DAT
    -o DIR/`` wrote there (``frame_<N>.png`` is the image of spike frame N,
    :func:`spikekit.recon.writers.folder_frames`): the reconstructions of a stronger model are
    pseudo-labels, and training on them distils that model into the one trained
    (``src/ssml/weights/MODEL_CARD.md``). Other entries pass unchanged.

    Raises:
        ValueError: an entry of neither form, or a ``DAT:DIR`` whose DIR is not a folder or holds
            no ``frame_<N>.png``.
    """
    out = []
    for case in cases:
        parts = split_case(case)
        if len(parts) == 3:
            out.append(str(case))
            continue
        if len(parts) != 2 or not Path(parts[1]).is_dir():
            what = f"{parts[1]} is not a folder" if len(parts) == 2 else "no ':'"
            raise ValueError(f"training pair {case!r}: {what}; expected DAT:GT_PNG:INDEX, "
                             f"or DAT:DIR with DIR a folder of 'spikekit recon DAT -o DIR/' images")
        dat, folder = parts
        frames = folder_frames(folder)
        if not frames:
            raise ValueError(f"training pair {case!r}: {folder} holds no frame_<N>.png "
                             f"(the images 'spikekit recon DAT -o DIR/' writes)")
        out += [f"{dat}:{path}:{index}" for index, path in frames.items()]
    return out


def load_case(dat, gt_path, index: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The 41-frame window of a ``DAT:GT_PNG:INDEX`` case (:func:`parse_val` checked it) centred on
    spike frame INDEX, mirrored where it runs past the stream's ends as ``spikekit recon`` reads
    it (``src/spikekit/recon/padding.py``), and its GT image: (spikes uint8 (41, H, W) of {0, 1},
    gt float32 (H, W) in [0, 1]), both on ``device``."""
    start = index - WINDOW // 2
    with SpikeStream(dat) as stream:
        spikes = reflected_source(Source(stream, device), start, start + WINDOW).tensor
    return spikes, torch.from_numpy(load_gt(gt_path)).to(device)


def case_name(dat) -> str:
    """The name of a ``--val`` case's stream in metric tags: the ``.dat`` name up to ``_key``."""
    return Path(dat).name.split("_key")[0].removesuffix(".dat")


__all__ = ["Case", "split_case", "case_paths", "map_paths", "parse_val", "expand_pairs", "load_case", "case_name"]
