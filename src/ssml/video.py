"""Video clips as training and test material: real motion for simulated spike windows.

A clip is a video file's luminance frames (``spikekit.simulate.source.open_source``: BT.601 luma in
[0, 1]), resized to a fixed height (aspect kept), of which only a segment is used: ``span=(a, b)``
keeps frames ``[floor(a N), floor(b N))`` of an N-frame video. Training takes one segment of each
video and the test grid (``tools/quality_table.py``) another, disjoint one, so that no test frame
is ever seen in training.

All clips live in one flat uint8 buffer on the device (one byte per pixel; 250 frames of
256 x 602 are 38 MB), with a per-clip table (offset, frames, height, width), so that a batch of
windows is one vectorised gather.

:meth:`VideoClips.windows` renders, for each sample, the intensity of every spike frame of a
window: the video time advances ``rate`` video frames per spike frame (linear interpolation
between the two neighbouring video frames), and a crop moves over the frames with a camera pan
(constant velocity), a shake (a sinusoid) and a zoom, resampled bilinearly (``grid_sample``).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from spikekit.simulate.source import open_source

TRAIN_SPAN = (0.0, 0.75)
"""Share of each video's frames that training may use (its first three quarters)."""
TEST_SPAN = (0.8, 1.0)
"""Share of each video's frames kept for the test grid (never trained on; a gap of 5 % apart)."""


def load_clip(path, height: int, span=(0.0, 1.0)) -> torch.Tensor:
    """The frames of one video segment as uint8 (N, height, W') luminance (0..255).

    Args:
        path: a video file (or frame folder) that :func:`spikekit.simulate.source.open_source` reads.
        height: output height in pixels; width follows the aspect ratio (antialiased bilinear).
        span: (a, b) shares of the video: frames ``floor(a N) .. floor(b N) - 1`` are kept.

    Raises:
        FileNotFoundError: missing file.  ValueError: an empty segment (names the file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"training video not found: {path}")
    frames = [f for f in open_source(path).frames()]
    a, b = int(math.floor(span[0] * len(frames))), int(math.floor(span[1] * len(frames)))
    if b - a < 2:
        raise ValueError(f"{path}: span {tuple(span)} of its {len(frames)} frames leaves fewer than 2")
    clip = torch.stack(frames[a:b])[:, None]
    h, w = clip.shape[-2:]
    size = (height, max(1, round(w * height / h)))
    clip = F.interpolate(clip, size=size, mode="bilinear", antialias=True, align_corners=False)
    return (clip[:, 0].clamp(0, 1) * 255).round().to(torch.uint8)


class VideoClips:
    """Video segments on the device and the rendering of moving crops over them.

    Args:
        paths: video files.
        height: frames are resized to this height.
        span: the segment of every video to use (see :func:`load_clip`).
        device: where the frames live.

    Raises:
        FileNotFoundError, ValueError: see :func:`load_clip`.
    """

    def __init__(self, paths, height: int, span=TRAIN_SPAN, device="cpu"):
        self.device = torch.device(device)
        clips = [load_clip(p, height, span) for p in paths]
        if not clips:
            raise ValueError("VideoClips needs at least one video")
        sizes = [c.numel() for c in clips]
        offsets = [sum(sizes[:i]) for i in range(len(clips))]
        self._flat = torch.cat([c.reshape(-1) for c in clips]).to(self.device)
        self._meta = torch.tensor([[o, *c.shape] for o, c in zip(offsets, clips)],
                                  dtype=torch.int64, device=self.device)  # offset, N, H, W
        self.min_side = min(min(c.shape[-2:]) for c in clips)
        self._weights = torch.tensor([float(c.shape[0]) for c in clips], device=self.device)

    def __len__(self) -> int:
        return self._meta.shape[0]

    def windows(self, gen: torch.Generator, n: int, crop: int, tau: torch.Tensor, rate, zoom, pan,
                shake: float) -> torch.Tensor:
        """Intensities float32 (n, T, crop, crop) in [0, 1] of ``n`` random moving crops.

        Args:
            gen: random generator on the device.
            n: samples.  crop: output size in pixels.
            tau: float32 (T,) spike-frame offsets from the centre frame (0 = centre).
            rate: float32 (n,) video frames per spike frame (the clip's own motion speed).
            zoom: float32 (n,) source pixels per output pixel (reduced where the moving crop
                would not fit the frames).
            pan: float32 (n, 2) camera velocity in output pixels per spike frame (x, y).
            shake: largest shake amplitude in output pixels (0: none).
        """
        dev, T = self.device, tau.numel()
        rnd = lambda *shape: torch.rand(*shape, generator=gen, device=dev)
        clip = torch.multinomial(self._weights, n, replacement=True, generator=gen)
        base, frames, h, w = self._meta[clip].unbind(1)
        # The moving crop must stay inside a square region of `side` pixels of the frames.
        side = min(self.min_side, 2 * crop + 8)
        reach = crop + 2 * pan.abs().amax(-1) * tau.abs().max() + 4 * shake + 2
        zoom = torch.minimum(zoom, (side - 2) / reach)
        # Video time: centre t_c, spans [t_c - 20 rate, t_c + 20 rate] inside the clip.
        half = rate * tau.abs().max()
        t_c = half + rnd(n) * ((frames - 1).float() - 2 * half).clamp_min(0)
        t = (t_c[:, None] + rate[:, None] * tau[None]).clamp_min(0)  # (n, T)
        t = torch.minimum(t, (frames - 1).float()[:, None])
        f0 = t.floor().long()
        f1 = torch.minimum(f0 + 1, (frames - 1)[:, None])
        y0 = (rnd(n) * (h - side + 1).float()).long()
        x0 = (rnd(n) * (w - side + 1).float()).long()
        ar = torch.arange(side, device=dev)
        pix = (y0[:, None, None] + ar[None, :, None]) * w[:, None, None] + x0[:, None, None] + ar[None, None, :]
        # Only the few video frames the window spans are gathered: first = f0[:, 0], K of them.
        first = f0[:, :1]
        k = int(math.ceil(float(rate.max()) * (T - 1))) + 2
        f = torch.minimum(first + torch.arange(k, device=dev), (frames - 1)[:, None])  # (n, K)
        idx = base[:, None, None, None] + (f * (h * w)[:, None])[..., None, None] + pix[:, None]
        used = self._flat[idx].float().div_(255)  # (n, K, side, side)
        pick = lambda g: torch.gather(used, 1, (g - first).clamp(0, k - 1)[..., None, None]
                                      .expand(n, T, side, side))
        region = torch.lerp(pick(f0), pick(f1), (t - f0.float())[..., None, None])
        # Camera: source position = centre + zoom * (u + pan * tau + shake(tau)), in region pixels.
        phase = rnd(n, 2) * 2 * math.pi
        freq = (0.02 + 0.1 * rnd(n, 1)) * 2 * math.pi  # radians per spike frame
        amp = shake * rnd(n, 1)
        wobble = amp[..., None] * torch.sin(freq[..., None] * tau[None, None] + phase[..., None])  # (n, 2, T)
        shift = pan[:, :, None] * tau[None, None] + wobble  # (n, 2, T) output pixels
        grid1 = torch.arange(crop, device=dev, dtype=torch.float32) - (crop - 1) / 2
        gx = (grid1[None, None, None, :] + shift[:, 0, :, None, None]) * zoom[:, None, None, None] + side / 2
        gy = (grid1[None, None, :, None] + shift[:, 1, :, None, None]) * zoom[:, None, None, None] + side / 2
        grid = torch.stack([gx.expand(n, T, crop, crop), gy.expand(n, T, crop, crop)], -1)
        grid = grid * (2 / side) - 1  # align_corners=False: x_n = (2 x + 1) / S - 1, x at pixel centres
        out = F.grid_sample(region.reshape(n * T, 1, side, side), grid.reshape(n * T, crop, crop, 2),
                            mode="bilinear", padding_mode="reflection", align_corners=False)
        return out.view(n, T, crop, crop)
