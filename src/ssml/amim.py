"""AMIM, the adaptive motion inference module of SSML (blind and non-blind).

Source: Chen et al., "Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking
Camera", IJCAI 2022, Sec. 3.2 (AMIM); gates after Woo et al., "CBAM", ECCV 2018.

Over a window of spike frames with middle index m, AMIM extracts motion-adaptive features:

* learned multi-scale TFP: three 1x1 convolutions (no bias) over the 11, 19 and 27 frames centred
  on m, one output channel each (a TFP with learned per-frame weights);
* TFI = 1 / ISI(m), with ISI from ``spikekit.recon.isi(spikes, at=m, max_interval=12)``: last spike
  in [m-11, m], first spike in [m+1, m+12], a missing side counts as m-12 / m+12 (paper Eq. 3),
  computed batched on the spikes' device;
* 3x3 convs 3->16 (TFP branch) and 1->16 (TFI branch);
* non-blind: a shared spatial gate on each branch, then a channel gate on their sum;
  blind: blind convs and a plain sum (a gate would mix the centre pixel into its neighbours).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from spikekit.recon import isi

from .layers import Conv

TFP_WINDOWS = (11, 19, 27)
"""Frames of the three learned TFP windows, centred on the middle frame."""
TFI_MAX_INTERVAL = 12
"""ISI search range on each side of the middle frame, in spike frames."""


def tfi(spikes: torch.Tensor, middle: int, max_interval: int = TFI_MAX_INTERVAL) -> torch.Tensor:
    """TFI at frame ``middle`` of a batch of windows: 1 / ISI (paper Eq. 3 with scale 1).

    Args:
        spikes: float/uint8/bool (B, T, H, W); values > 0 are spikes.
        middle: index m of the reconstructed frame inside the window.
        max_interval: search range on each side (12 in SSML).

    Returns:
        (B, 1, H, W) in [1/(2*max_interval), 1], dtype of ``spikes`` when floating, else float32,
        on the spikes' device; no gradient (spike streams are data).
    """
    with torch.no_grad():
        interval = isi(spikes, at=middle, max_interval=max_interval)
    dtype = spikes.dtype if spikes.is_floating_point() else torch.float32
    return interval.reciprocal().to(dtype).unsqueeze(1)


class SpatialGate(nn.Module):
    """CBAM spatial gate: x * sigmoid(conv7x7([max_c x, mean_c x])); (N, C, H, W) -> same."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class ChannelGate(nn.Module):
    """CBAM channel gate: x * sigmoid(MLP(avgpool x) + MLP(maxpool x)), MLP C->C/r->C (ReLU)."""

    def __init__(self, channels: int = 16, reduction: int = 4):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(logits)[:, :, None, None]


class AMIM(nn.Module):
    """Adaptive motion inference over a (B, T, H, W) window, middle ``middle`` -> (B, 16, H, W).

    Args:
        frames: T, the window length the module is applied to (41 in the BSN, 27 in the NBSN).
        blind: blind 3x3 convs and no gates (for the BSN).

    The window needs 13 frames each side of ``middle = frames // 2`` (the widest TFP window);
    TFI frames outside the window count as no spike.

    Raises:
        ValueError: wrong number of frames.
    """

    def __init__(self, frames: int, blind: bool = False):
        super().__init__()
        self.frames, self.middle, self.blind = frames, frames // 2, bool(blind)
        if self.middle < max(TFP_WINDOWS) // 2:
            raise ValueError(f"AMIM: frames={frames} is shorter than the 27-frame TFP window")
        self.tfp = nn.ModuleList(nn.Conv2d(w, 1, 1, bias=False) for w in TFP_WINDOWS)
        self.tfp_conv = Conv(len(TFP_WINDOWS), 16, blind)
        self.tfi_conv = Conv(1, 16, blind)
        if not blind:
            self.spatial = SpatialGate()
            self.channel = ChannelGate(16, 4)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        if spikes.shape[1] != self.frames:
            raise ValueError(f"AMIM: expected {self.frames} spike frames in dim 1, "
                             f"got shape {tuple(spikes.shape)}")
        m = self.middle
        tfps = torch.cat([conv(spikes[:, m - w // 2:m + w // 2 + 1])
                          for conv, w in zip(self.tfp, TFP_WINDOWS)], dim=1)
        tfp = self.tfp_conv(tfps)
        tfi_feat = self.tfi_conv(tfi(spikes, m).to(tfps.dtype))
        if self.blind:
            return tfp + tfi_feat
        return self.channel(self.spatial(tfp) + self.spatial(tfi_feat))
