"""SSML training losses: BSN reconstruction against a pseudo-label, and the mutual loss.

Source: Chen et al., "Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking
Camera", IJCAI 2022, Sec. 3.4: L = ||BSN(S) - Y||^2 + lambda ||NBSN(S) - BSN(S)||^2, lambda = 0.01,
with Y a pseudo-label from the spike stream itself (no ground truth). Both terms are mean squared
errors; nothing is detached, so the mutual term trains both networks.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .amim import tfi
from .networks import WINDOW

MUTUAL_WEIGHT = 0.01
"""lambda, the weight of the mutual term."""
PSEUDO_LABELS = ("tfp7", "tfi12")


def pseudo_label(spikes: torch.Tensor, kind: str = "tfp7") -> torch.Tensor:
    """Pseudo-label for the middle frame (20) of a batch of 41-frame windows.

    Args:
        spikes: float/uint8/bool (B, 41, H, W) of {0, 1}, any device.
        kind: ``"tfp7"`` (default, the paper's choice): mean of frames 17..23 (TFP, paper Eq. 2,
            without scale: a firing probability per spike frame); ``"tfi12"``: 1 / ISI at frame
            20 with a 12-frame search each way (paper Eq. 3, scale 1).

    Returns:
        float32 (B, 1, H, W) on the spikes' device (float64 for float64 input), no gradient.

    Raises:
        ValueError: unknown ``kind`` or wrong shape.
    """
    if spikes.dim() != 4 or spikes.shape[1] != WINDOW:
        raise ValueError(f"pseudo_label: expected spikes (B, {WINDOW}, H, W), got {tuple(spikes.shape)}")
    dtype = torch.float64 if spikes.dtype == torch.float64 else torch.float32
    m = WINDOW // 2
    if kind == "tfp7":
        return spikes[:, m - 3:m + 4].to(dtype).mean(dim=1, keepdim=True)
    if kind == "tfi12":
        return tfi(spikes, m, 12).to(dtype)
    raise ValueError(f"pseudo_label: kind must be one of {PSEUDO_LABELS}, got {kind!r}")


class LossTerms(NamedTuple):
    """Scalar tensors: ``total`` (to backpropagate), ``reconstruction``, ``mutual``."""
    total: torch.Tensor
    reconstruction: torch.Tensor
    mutual: torch.Tensor


def ssml_loss(bsn_out: torch.Tensor, nbsn_out: torch.Tensor | None, label: torch.Tensor,
              mutual_weight: float = MUTUAL_WEIGHT) -> LossTerms:
    """L = MSE(bsn_out, label) + mutual_weight * MSE(nbsn_out, bsn_out), in float32.

    Args:
        bsn_out, nbsn_out: (B, 1, H, W) network outputs (any float dtype, e.g. bf16 under
            autocast); ``nbsn_out=None`` (BSN-only warm-up) gives a zero mutual term.
        label: (B, 1, H, W) pseudo-label (:func:`pseudo_label`).
        mutual_weight: lambda (0.01).

    Raises:
        ValueError: shapes differ.
    """
    if bsn_out.shape != label.shape or (nbsn_out is not None and nbsn_out.shape != bsn_out.shape):
        raise ValueError(f"ssml_loss: shapes differ: bsn {tuple(bsn_out.shape)}, nbsn "
                         f"{None if nbsn_out is None else tuple(nbsn_out.shape)}, label {tuple(label.shape)}")
    dtype = torch.float64 if label.dtype == torch.float64 else torch.float32
    bsn = bsn_out.to(dtype)
    rec = F.mse_loss(bsn, label.to(dtype))
    if nbsn_out is None:
        mutual = rec.new_zeros(())
        return LossTerms(rec, rec, mutual)
    mutual = F.mse_loss(nbsn_out.to(dtype), bsn)
    return LossTerms(rec + mutual_weight * mutual, rec, mutual)


def supervised_loss(pred: torch.Tensor, gt: torch.Tensor, gain: float) -> torch.Tensor:
    """Mean absolute error between a network output and the exact ground truth of a simulated
    sample, on the output's scale (firing rate per spike frame = ``gain`` x intensity), in float32.

    Not part of the SSML paper (which has no ground truth): simulated training scenes carry their
    exact intensity (:class:`ssml.data.SceneSimulator`), so the ``supervised`` and ``hybrid``
    objectives (``TrainConfig.objective``) can use it. L1 rather than L2: the usual choice of
    supervised reconstruction networks, less dominated by the rare large errors at edges.

    Args:
        pred: (n, 1, H, W) network outputs (any float dtype).
        gt: (n, 1, H, W) intensities in [0, 1].
        gain: the simulator's gain (firing probability per spike frame per unit intensity).

    Returns:
        A 0-d float32 tensor: the mean over samples of each sample's mean absolute error.

    Raises:
        ValueError: shapes differ.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"supervised_loss: shapes differ: pred {tuple(pred.shape)}, gt {tuple(gt.shape)}")
    return (pred.float() - gain * gt.float()).abs().flatten(1).mean(1).mean()  # per sample, then over samples
