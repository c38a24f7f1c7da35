"""The SSML networks: the blind-spot network (BSN), the non-blind NBSN and the mutual pair.

Source: Chen et al., "Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking
Camera", IJCAI 2022, Sec. 3 (Fig. 2: BSN with AMIM, NBSN with LTC and NLA, mutual learning).

Input: a spike window, float (B, 41, H, W) with values in {0, 1} (uint8/bool are converted to the
parameters' dtype), spike frame 20 in the middle; any H, W >= 1. Output: (B, 1, H, W) for frame 20,
on the scale of the pseudo-label the model was trained against (firing probability per spike frame
for the default ``tfp7`` label: about 0.6 x intensity on REDS-like data).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .amim import AMIM
from .attention import NonLocalAttention
from .layers import NEGATIVE_SLOPE, Conv, Head, UNet, rotate, shift_down, unrotate

WINDOW = 41
"""Spike frames per input window; the output is for the middle frame (index 20)."""
SUBSTREAMS = ((0, 27), (7, 34), (14, 41))
"""NBSN sub-streams [start, stop) (long-term temporal context, LTC), each 27 frames."""
TILE_PIXELS = 1 << 16
"""Pixels per band of the NBSN's last full-resolution stage at inference (384-channel maps of
this many pixels: 96 MiB in float32), so that large frames stay in bounded memory."""


def _prepare(spikes: torch.Tensor, module: nn.Module, name: str) -> torch.Tensor:
    if spikes.dim() != 4 or spikes.shape[1] != WINDOW:
        raise ValueError(f"{name}: expected spikes of shape (B, {WINDOW}, H, W), "
                         f"got {tuple(spikes.shape)}")
    if not spikes.is_floating_point():
        spikes = spikes.to(next(module.parameters()).dtype)
    return spikes


class BSN(nn.Module):
    """Blind-spot network: the output at a pixel never sees that pixel's spikes (any frame).

    Pads to a square with zeros (reflect padding would mirror the centre pixel into the field of
    view), stacks the 4 rotations in the batch, blind AMIM (16 ch) + the 41 frames (57 ch), blind
    U-Net(57 -> 96), shift down one row, undoes the rotations into 4 x 96 = 384 channels, head,
    crop back. Each rotation sees the half plane strictly above the pixel (in its own frame).

    Shapes: (B, 41, H, W) -> (B, 1, H, W).
    Raises: ValueError for a wrong input shape.
    """

    def __init__(self):
        super().__init__()
        self.amim = AMIM(WINDOW, blind=True)
        self.unet = UNet(WINDOW + 16, 96, blind=True)
        self.head = Head(384)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        x = _prepare(spikes, self, "BSN")
        h, w = x.shape[-2:]
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        x = rotate(F.pad(x, (left, side - w - left, top, side - h - top)))
        x = torch.cat((x, self.amim(x)), dim=1)
        x = self.head(unrotate(shift_down(self.unet(x))))
        return x[..., top:top + h, left:left + w]


class NBSN(nn.Module):
    """Non-blind network (the paper's "NBSN + LTC + NLA"; ``nla=False``: plain concatenation).

    Sub-streams frames 0:27, 7:34, 14:41 (one after the other); shared non-blind AMIM (middle 13)
    -> 16 ch, concat the 27 frames (43 ch), shared U-Net(43 -> 32); the 3 x 32 features pass the
    non-local attention (when ``nla``), are reshaped to 96 channels, U-Net(96 -> 384), head.

    Shapes: (B, 41, H, W) -> (B, 1, H, W).
    Raises: ValueError for a wrong input shape.
    """

    def __init__(self, nla: bool = True):
        super().__init__()
        self.amim = AMIM(SUBSTREAMS[0][1] - SUBSTREAMS[0][0], blind=False)
        self.unet1 = UNet(self.amim.frames + 16, 32)
        self.nla = NonLocalAttention(32, len(SUBSTREAMS)) if nla else None
        self.unet2 = UNet(32 * len(SUBSTREAMS), 384)
        self.head = Head(384)

    def substream_features(self, sub: torch.Tensor) -> tuple:
        """First stage on one sub-stream: float (B, 27, H, W) -> ``(features, streamwise)``.

        ``features``: (B, 32, H, W), the U-Net(43 -> 32) of the frames and their AMIM;
        ``streamwise``: (B, 32, H, W), the NLA terms that see this sub-stream alone
        (:meth:`ssml.attention.NonLocalAttention.streamwise`), ``None`` without NLA.
        """
        y = self.unet1(torch.cat((sub, self.amim(sub)), dim=1))
        return y, (self.nla.streamwise(y) if self.nla is not None else None)

    def fuse(self, parts) -> torch.Tensor:
        """Second stage: the :meth:`substream_features` of the sub-streams, in the order of
        :data:`SUBSTREAMS`, each for the same B windows -> (B, 1, H, W)."""
        y = torch.stack([f for f, _ in parts], dim=1)  # (B, n, 32, H, W)
        b, _, _, h, w = y.shape
        if self.nla is not None:
            y = self.nla.merge(y, torch.stack([s for _, s in parts], dim=1))
        y = y.reshape(b, -1, h, w)
        if parts[0][0].is_contiguous(memory_format=torch.channels_last):
            y = y.contiguous(memory_format=torch.channels_last)
        if torch.is_grad_enabled() or h * w <= TILE_PIXELS:
            return self.head(self.unet2(y))
        return self.unet2(y, tail=self._tiled_head)

    def _tiled_head(self, y: torch.Tensor, last: Conv) -> torch.Tensor:
        """The U-Net's last conv (96 -> 384) and the head, in bands of rows: the same values
        (both are local: 3x3 over a replicate-padded map, then 1x1) without the full-size
        384-channel maps. (N, 96, H, W) -> (N, 1, H, W)."""
        padded = F.pad(y, (1, 1, 1, 1), mode="replicate")
        h, w = y.shape[-2:]
        rows = max(1, TILE_PIXELS // w)
        out = y.new_empty((y.shape[0], 1, h, w)).contiguous(memory_format=torch.channels_last)
        for r in range(0, h, rows):
            band = F.leaky_relu(last.conv(padded[..., r:r + rows + 2, :]), NEGATIVE_SLOPE, inplace=True)
            out[..., r:r + rows, :] = self.head(band)
        return out

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        x = _prepare(spikes, self, "NBSN")
        # one sub-stream at a time, so that a sequence that reuses sub-streams (ssml.sequence)
        # gets the same bits (batch sizes change a convolution's rounding)
        return self.fuse([self.substream_features(x[:, a:e]) for a, e in SUBSTREAMS])


class PairOutput(NamedTuple):
    """What :class:`SSML` returns in train mode: both networks' images, float32 (B, 1, H, W).
    A tuple, so ``bsn, nbsn = model(spikes)`` works as well as ``model(spikes).nbsn``."""

    bsn: torch.Tensor
    nbsn: torch.Tensor


class SSML(nn.Module):
    """The mutual-learning pair: ``.bsn`` (:class:`BSN`) and ``.nbsn`` (:class:`NBSN`).

    ``forward(spikes)``: in train mode returns a :class:`PairOutput` ``(bsn, nbsn)``, both
    (B, 1, H, W); in eval mode only the NBSN runs and its (B, 1, H, W) output is returned
    (inference).
    """

    def __init__(self, nla: bool = True):
        super().__init__()
        self.bsn = BSN()
        self.nbsn = NBSN(nla=nla)

    @property
    def nla(self) -> bool:
        return self.nbsn.nla is not None

    def forward(self, spikes: torch.Tensor):
        if self.training:
            return PairOutput(self.bsn(spikes), self.nbsn(spikes))
        return self.nbsn(spikes)


def count_parameters(model: nn.Module) -> dict:
    """Parameter counts: ``{"total", "trainable", <each direct child>: n}`` (ints)."""
    counts = {"total": sum(p.numel() for p in model.parameters()),
              "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    for name, child in model.named_children():
        counts[name] = sum(p.numel() for p in child.parameters())
    return counts
