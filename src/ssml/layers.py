"""Building blocks of the SSML networks: (blind) 3x3 conv, blind pool, U-Net, head, rotations.

Source: Chen et al., "Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking
Camera", IJCAI 2022, Sec. 3 (blind-spot network built from shifted convolutions, after Laine et
al., "High-Quality Self-Supervised Deep Image Denoising", NeurIPS 2019).

Feature maps are float (N, C, H, W), any H and W (odd sizes too); every block keeps H and W except
the pools (floor(H/2), floor(W/2)). A *blind* block only lets output row r see input rows <= r:
stacking blind blocks and a final one-row shift down (:func:`shift_down`) gives a receptive field
strictly above each pixel; the BSN combines the four rotations of the input so that the union of
the four half planes is everything but the pixel itself.

All blocks work under ``torch.autocast`` (bf16 on CPU) and with ``channels_last`` tensors.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

NEGATIVE_SLOPE = 0.1
"""LeakyReLU slope used throughout SSML."""


def shift_down(x: torch.Tensor, rows: int = 1) -> torch.Tensor:
    """Move a (N, C, H, W) map down by ``rows``: zero rows enter at the top, the last rows drop."""
    h = x.shape[-2]
    return F.pad(x, (0, 0, rows, 0))[..., :h, :]


class Conv(nn.Module):
    """3x3 convolution (no bias), replicate padding, LeakyReLU(0.1).

    Blind variant (``blind=True``): a zero row is padded on top, the convolution runs, and the last
    row is dropped, so output row r sees input rows r-2..r only. Implemented as one padding
    (replicate columns, two rows on top set to zero) and an unpadded convolution: the same values
    as shift-pad-conv-crop without computing or copying the dropped row.

    Shapes: (N, cin, H, W) -> (N, cout, H, W), any float dtype.
    """

    def __init__(self, cin: int, cout: int, blind: bool = False):
        super().__init__()
        self.blind = bool(blind)
        self.conv = nn.Conv2d(cin, cout, 3, bias=False)

    def forward(self, x: torch.Tensor, padded: bool = False) -> torch.Tensor:
        """``padded``: x is already padded as above, (N, cin, H + 2, W + 2) (see UNet)."""
        if padded:
            pass
        elif self.blind:
            x = F.pad(x, (1, 1, 2, 0), mode="replicate")
            x[..., :2, :] = 0  # the shifted-in zero row and its (replicated) padding row
        else:
            x = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.leaky_relu(self.conv(x), NEGATIVE_SLOPE, inplace=True)


class Pool(nn.Module):
    """2x2 max pooling; the blind variant first shifts the map down one row (zero row on top).

    Shapes: (N, C, H, W) -> (N, C, floor(H/2), floor(W/2)).
    """

    def __init__(self, blind: bool = False):
        super().__init__()
        self.blind = bool(blind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.blind:
            x = shift_down(x)
        return F.max_pool2d(x, 2)


def _convs(channels: list[int], blind: bool) -> nn.Sequential:
    return nn.Sequential(*(Conv(a, b, blind) for a, b in zip(channels[:-1], channels[1:])))


class UNet(nn.Module):
    """The SSML U-Net (Cin -> Cout), blind or not; any H, W.

    enc1: 3 convs Cin->48->48->48, pool; enc2: 3 convs of 48, pool; enc3: 48->96->96->48;
    dec2: nearest x2, pad to the enc1 output size (zero rows/columns at bottom/right first),
    concat the enc1 output, 4 convs 96->96; dec1: x2, pad, concat the U-Net input,
    (96+Cin)->96->96->96->Cout. Maps smaller than 4 x 4 get zero rows/columns at the bottom/right
    for the pools (constants: the blind-spot property is unaffected) and are cropped back.

    Shapes: (N, cin, H, W) -> (N, cout, H, W).
    """

    def __init__(self, cin: int, cout: int, blind: bool = False):
        super().__init__()
        self.cin, self.cout, self.blind = cin, cout, bool(blind)
        self.enc1 = _convs([cin, 48, 48, 48], blind)
        self.enc2 = _convs([48, 48, 48, 48], blind)
        self.enc3 = _convs([48, 96, 96, 48], blind)
        self.dec2 = _convs([96, 96, 96, 96, 96], blind)
        self.dec1 = _convs([96 + cin, 96, 96, 96, cout], blind)
        self.pool = Pool(blind)

    def _up_cat(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """cat(nearest x2 of x, zero-padded at the bottom/right to skip's size; skip) in channels,
        already padded for the next :class:`Conv` (replicate; blind: two zero rows on top),
        written straight into one buffer: (N, C1 + C2, H + 2, W + 2). The same values as
        interpolate, pad, cat and the conv's own padding, without their three full copies."""
        n, c1, h2, w2 = x.shape
        c2, h, w = skip.shape[1:]
        fmt = (torch.channels_last if skip.is_contiguous(memory_format=torch.channels_last)
               and not skip.is_contiguous() else torch.contiguous_format)
        dtype = torch.promote_types(x.dtype, skip.dtype)  # as torch.cat (under autocast: bf16 + fp32)
        buf = torch.empty((n, c1 + c2, h + 2, w + 2), dtype=dtype, device=skip.device, memory_format=fmt)
        r0 = 2 if self.blind else 1  # first row of the map inside the buffer
        inner = buf[:, :, r0:r0 + h, 1:w + 1]
        dy, dx = h - 2 * h2, w - 2 * w2  # odd sizes: at most one row/column, bottom/right
        up = inner[:, :c1, dy // 2:dy // 2 + 2 * h2, dx // 2:dx // 2 + 2 * w2]
        up.unflatten(2, (h2, 2)).unflatten(4, (w2, 2)).copy_(x[:, :, :, None, :, None].expand(-1, -1, -1, 2, -1, 2))
        if dy or dx:
            inner[:, :c1, :dy // 2].zero_()
            inner[:, :c1, dy // 2 + 2 * h2:].zero_()
            inner[:, :c1, :, :dx // 2].zero_()
            inner[:, :c1, :, dx // 2 + 2 * w2:].zero_()
        inner[:, c1:].copy_(skip)
        if self.blind:
            buf[:, :, :2].zero_()
        else:
            buf[:, :, 0, 1:w + 1] = buf[:, :, 1, 1:w + 1]
        buf[:, :, r0 + h:, 1:w + 1] = buf[:, :, r0 + h - 1:r0 + h, 1:w + 1]  # no-op rows for blind
        c0 = 2 if self.blind else 0  # first row whose padding columns replicate
        buf[:, :, c0:, 0] = buf[:, :, c0:, 1]
        buf[:, :, c0:, w + 1] = buf[:, :, c0:, w]
        return buf

    def forward(self, x: torch.Tensor, tail=None) -> torch.Tensor:
        """``tail``: ``None``, or ``tail(y, last)`` that replaces the last conv: it gets the map
        before it, (N, 96, H, W), and that :class:`Conv`, and returns any (N, C, H, W) map."""
        h, w = x.shape[-2:]
        if h < 4 or w < 4:  # two pools need 4 pixels: zero rows/columns at the bottom/right
            return self.forward(F.pad(x, (0, max(0, 4 - w), 0, max(0, 4 - h))), tail)[..., :h, :w]
        e1 = self.pool(self.enc1(x))
        e2 = self.pool(self.enc2(e1))
        y = self.enc3(e2)
        y = self.dec2[1:](self.dec2[0](self._up_cat(y, e1), padded=True))
        y = self.dec1[0](self._up_cat(y, x), padded=True)
        if tail is None:
            return self.dec1[1:](y)
        return tail(self.dec1[1:-1](y), self.dec1[-1])


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 convolution: (N, Cin, H, W) with ``weight`` (Cout, Cin, 1, 1) -> (N, Cout, H, W).

    On a channels-last map it is one matrix product (N*H*W, Cin) x (Cin, Cout) (``F.linear``,
    no copy in or out; the result is channels-last), which runs at the machine's GEMM rate where
    a 1x1 ``conv2d`` on such a map falls back to a slower generic kernel; else ``F.conv2d``.
    """
    n, c, h, w = x.shape
    if h * w > 1 and x.is_contiguous(memory_format=torch.channels_last):
        y = F.linear(x.permute(0, 2, 3, 1).reshape(-1, c), weight.reshape(weight.shape[0], c), bias)
        return y.reshape(n, h, w, -1).permute(0, 3, 1, 2)
    return F.conv2d(x, weight, bias)


class Head(nn.Module):
    """1x1 conv head: 384->384, LReLU(0.1), 384->96, LReLU(0.1), 96->1; no bias.

    Shapes: (N, 384, H, W) -> (N, 1, H, W).
    """

    def __init__(self, cin: int = 384):
        super().__init__()
        self.a = nn.Conv2d(cin, 384, 1, bias=False)
        self.b = nn.Conv2d(384, 96, 1, bias=False)
        self.c = nn.Conv2d(96, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(pointwise(x, self.a.weight), NEGATIVE_SLOPE, inplace=True)
        x = F.leaky_relu(pointwise(x, self.b.weight), NEGATIVE_SLOPE, inplace=True)
        return pointwise(x, self.c.weight)


def rotate(x: torch.Tensor) -> torch.Tensor:
    """Stack the 0/90/180/270 degree rotations of a square (N, C, S, S) map in the batch.

    Returns (4N, C, S, S): [x, rot90(x), rot180(x), rot270(x)] (counter-clockwise).
    """
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotate: expected a square map, got H x W = {tuple(x.shape[-2:])}")
    return torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)], dim=0)


def unrotate(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rotate`, concatenating in channels: (4N, C, S, S) -> (N, 4C, S, S)."""
    parts = torch.chunk(x, 4, dim=0)
    return torch.cat([torch.rot90(p, -k, dims=(-2, -1)) for k, p in enumerate(parts)], dim=1)
