"""Geometric self-ensemble for ``-m ssml`` / ``-m ssml-lite`` (``--param ensemble=1|2|4|8``).

The network runs on the spike window turned by each of the first ``n`` elements of the dihedral
group D4 (identity, horizontal flip, the rotations by 90, 180 and 270 degrees, and the flipped
rotations), each output is turned back, and the mean is the image (Lim et al., "Enhanced Deep
Residual Networks for Single Image Super-Resolution", CVPR Workshops 2017, Sec. 4.3,
"geometric self-ensemble"). The networks were trained on crops in all 8 orientations, so every
turned window is as familiar as the original; averaging cancels part of each output's
orientation-dependent error. It costs ``n`` forward passes per image; what it gains is measured in the model cards
(src/ssml/weights/MODEL_CARD.md, rows with ``ensemble=8``: about +0.1 to +0.2 dB on the validation set).
"""
from __future__ import annotations

import torch

ENSEMBLES = (1, 2, 4, 8)
"""Allowed ``ensemble`` sizes: the first n of :data:`TRANSFORMS`."""
TRANSFORMS = ((0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True))
"""D4 as (quarter turns, then a horizontal flip), ordered so that the first 2 and 4 are the
shape-keeping ones (flips and the half turn) and all 8 the whole group."""


def check_ensemble(value) -> int:
    """``value`` as one of :data:`ENSEMBLES`.

    Raises:
        ValueError: anything else (names the parameter and the allowed values).
    """
    if isinstance(value, bool) or value not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(map(str, ENSEMBLES))}, got {value!r}")
    return int(value)


def _turn(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, turns, dims=(-2, -1)) if turns else x
    return x.flip(-1) if flip else x


def _unturn(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = x.flip(-1) if flip else x
    return torch.rot90(x, -turns, dims=(-2, -1)) if turns else x


def self_ensemble(model, windows: torch.Tensor, n: int) -> torch.Tensor:
    """The mean of ``model`` over the first ``n`` D4 turns of ``windows`` (each output turned back).

    Args:
        model: a network mapping (B, 41, H, W) to (B, 1, H, W) for any H x W.
        windows: float (B, 41, H, W) spike windows.
        n: one of :data:`ENSEMBLES` (1: ``model(windows)``).

    Returns:
        (B, 1, H, W), in the dtype of the model's output.
    """
    if n == 1:
        return model(windows)
    total = None
    for turns, flip in TRANSFORMS[:n]:
        turned = _turn(windows, turns, flip).contiguous(memory_format=torch.channels_last)
        out = _unturn(model(turned), turns, flip).float()
        total = out if total is None else total.add_(out)
    return total.div_(n)
