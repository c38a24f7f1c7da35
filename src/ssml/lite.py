"""``ssml-lite``: a small U-Net for fast reconstruction, trained with ground truth on simulated scenes.

Not a network of the SSML paper: it is the fast companion of its NBSN (Chen et al., IJCAI 2022),
sized for CPU inference (about 25 GFLOP per 250 x 400 frame against the NBSN's 553). It reads the
same 41-frame windows and answers on the same scale (firing rate per spike frame of the middle
frame, about 0.6 x intensity for the REDS convention), so ``spikekit recon -m ssml-lite`` shares
scale, anchoring and windowing with ``-m ssml``.

Layout (channels): a 3x3 conv reads the 41 spike frames (41 -> 32, 32), two stride-2 stages
(64; 96 x 3), nearest-neighbour upsampling with skip concatenations back to full resolution
(64, 32), and a 3x3 conv to one channel added to the window's TFP (mean of the 41 frames, Zhu et
al. ICME 2019, Eq. 2), so the network learns a correction of TFP-41. LeakyReLU(0.1) between convs,
zero padding, biases. Any H x W (odd sizes are padded to a multiple of 4 and cropped back).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import NEGATIVE_SLOPE
from .networks import WINDOW, _prepare


WIDTH = 32
"""Channels at full resolution of the shipped ``ssml-lite`` (64 and 96 at half and quarter)."""


def width_of(state: dict) -> int:
    """The ``width`` of the :class:`LiteNet` that a (prefix-stripped) state dict belongs to: the
    output channels of its first conv, ``enc1.0.weight`` of shape (width, 41, 3, 3).

    Raises:
        KeyError: no ``enc1.0.weight`` in ``state``.
    """
    return int(state["enc1.0.weight"].shape[0])


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class LiteNet(nn.Module):
    """The small U-Net of ``-m ssml-lite`` (see the module docstring); 0.48 M parameters at the
    shipped ``width`` (:data:`WIDTH`), about ``(width / 32) ** 2`` times that at another.

    Shapes: float (B, 41, H, W) of {0, 1} -> float32 (B, 1, H, W), firing rate per spike frame
    of frame 20 (the same in train and eval mode).

    Raises: ValueError for a wrong input shape.
    """

    def __init__(self, width: int = WIDTH):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.enc1 = nn.ModuleList([_conv(WINDOW, w1), _conv(w1, w1)])
        self.enc2 = nn.ModuleList([_conv(w1, w2, 2), _conv(w2, w2)])
        self.enc3 = nn.ModuleList([_conv(w2, w3, 2), _conv(w3, w3), _conv(w3, w3)])
        self.dec2 = nn.ModuleList([_conv(w3, w2), _conv(2 * w2, w2)])
        self.dec1 = nn.ModuleList([_conv(w2, w1), _conv(2 * w1, w1), _conv(w1, w1)])
        self.out = _conv(w1, 1)

    @staticmethod
    def _run(convs, x: torch.Tensor) -> torch.Tensor:
        for conv in convs:
            x = F.leaky_relu(conv(x), NEGATIVE_SLOPE, inplace=True)
        return x

    def _up(self, convs, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.leaky_relu(convs[0](x), NEGATIVE_SLOPE, inplace=True)
        return self._run(convs[1:], torch.cat((x, skip), dim=1))

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        x = _prepare(spikes, self, "LiteNet")
        h, w = x.shape[-2:]
        ph, pw = -h % 4, -w % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        e1 = self._run(self.enc1, x)
        e2 = self._run(self.enc2, e1)
        y = self._run(self.enc3, e2)
        y = self._up(self.dec2, y, e2)
        y = self._up(self.dec1, y, e1)
        y = self.out(y) + x.mean(dim=1, keepdim=True)
        return y[..., :h, :w].float()
