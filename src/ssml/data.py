"""Training batches for SSML: random windows of ``.dat`` spike streams and scenes simulated on the device.

Three sources, mixed per batch by :class:`TrainData`:

* :class:`DatWindows`: random 41-frame windows, ``crop`` x ``crop`` crops and one of the 8
  flips/rotations (the dihedral group D4) from real ``.dat`` spike streams. Streams that fit the
  cache budget are unpacked once into one flat uint8 buffer on the training device and every batch
  is a single vectorised gather (no Python loop per sample, no host round trip); longer streams are
  read window by window from the memory-mapped file.
* :class:`SceneSimulator`: moving scenes made on the device. Grayscale photographs are held on the
  device; each sample gets a random smooth trajectory (translation with acceleration, rotation,
  zoom; optionally a second, independently moving elliptical object that occludes the first),
  rendered for all spike frames at once (one ``grid_sample`` call per layer, through the renderer
  the demo uses too, :class:`spikekit.simulate.scene.AffineView`), turned into spikes by
  :class:`spikekit.simulate.Simulator` on the same device, with the exact intensity of the centre
  frame kept as ground truth (for the supervised loss and validation metrics).
* :class:`PairedWindows`: crops of real spike streams at a spike frame whose ground truth image
  is known (``--pair DAT:GT_PNG:INDEX``), for the supervised loss.

Tensors: spikes float32 (B, 41, crop, crop) of {0, 1}; ground truth float32 (n, 1, crop, crop) in
[0, 1] (intensity; the firing probability per spike frame is about ``gain`` x intensity). All
randomness comes from one ``torch.Generator`` on the device plus a batch counter, both part of
:meth:`TrainData.state_dict`, so a resumed run draws exactly the batches it would have drawn.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from spikekit.errors import first_line
from spikekit.io import SpikeStream
from spikekit.metrics import load_gt
from spikekit.recon.padding import reflected_source
from spikekit.recon.source import Source
from spikekit.simulate import NoiseModel, Simulator
from spikekit.simulate.scene import AffineView, rotation

from .binning import bin_windows
from .cases import expand_pairs, parse_val
from .config import NOISE_LEVELS, TrainConfig
from .networks import WINDOW
from .video import VideoClips


def d4_maps(crop: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Source row/column of every output pixel under the 8 flips/rotations of a square crop.

    Returns:
        (rows, cols), each int64 (8, crop, crop): transform k takes output pixel (i, j) from crop
        pixel (rows[k, i, j], cols[k, i, j]). k = 0 is the identity; k = 0..3 are the rotations
        by 0/90/180/270 degrees (counter-clockwise), k = 4..7 the same after a left-right flip.
    """
    base = torch.arange(crop * crop, device=device).view(crop, crop)
    rows, cols = base // crop, base % crop
    out = []
    for k in range(8):
        idx = base.fliplr() if k >= 4 else base
        idx = torch.rot90(idx, k % 4)
        out.append(idx)
    idx = torch.stack(out)
    return rows.flatten()[idx], cols.flatten()[idx]


def draw_crops(gen: torch.Generator, n: int, h: torch.Tensor, w: torch.Tensor, crop: int, device):
    """Random crop corners and D4 transforms: (top, left, transform), each int64 (n,) on ``device``,
    with ``top`` uniform in 0 .. h - crop, ``left`` in 0 .. w - crop (``h``, ``w``: (n,) sizes of
    each sample's source) and the transform uniform in 0 .. 7 (:func:`d4_maps`)."""
    y0 = (torch.rand(n, generator=gen, device=device) * (h - crop + 1)).long()
    x0 = (torch.rand(n, generator=gen, device=device) * (w - crop + 1)).long()
    return y0, x0, torch.randint(0, 8, (n,), generator=gen, device=device)


def gather_crops(flat, base, t0, frames: int, h, w, y0, x0, rows, cols) -> torch.Tensor:
    """Transformed crops of frames held in one flat buffer, in one vectorised gather.

    Sample i reads ``frames`` frames from frame ``t0[i]`` of the (T, h[i], w[i]) block that starts
    at ``flat[base[i]]``: output pixel (t, r, c) is ``flat[base + (t0 + t) h w + (y0 + rows[r, c])
    w + x0 + cols[r, c]]``. ``base``, ``t0``, ``h``, ``w``, ``y0``, ``x0``: int64 (n,); ``rows``,
    ``cols``: int64 (n, crop, crop), each sample's D4 map (:func:`d4_maps`). Returns ``flat``'s
    dtype, (n, frames, crop, crop)."""
    col = lambda v: v.view(-1, 1, 1, 1)
    tt = torch.arange(frames, device=flat.device).view(1, frames, 1, 1)
    idx = col(base) + (col(t0) + tt) * col(h * w) + (col(y0) + rows.unsqueeze(1)) * col(w) + col(x0) + cols.unsqueeze(1)
    return flat[idx]


def _uniform(gen, n, lo, hi, device):
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=device)


def _log_uniform(gen, n, lo, hi, device):
    return torch.exp(_uniform(gen, n, math.log(lo), math.log(hi), device))


class DatWindows:
    """Random augmented windows of real ``.dat`` spike streams.

    Args:
        paths: ``.dat`` files (size from the sidecar, else 250 x 400); each needs >= 41 frames and
            H, W >= crop.
        crop: crop size in pixels.
        device: where batches are made.
        cache_mb: streams are unpacked onto the device while the total stays within this many MiB
            (uint8, one byte per pixel and spike frame); the rest are read from disk per window.
        bin: spike frames per window frame: each window reads 41 x ``bin`` frames and ORs each
            group of ``bin`` (:func:`ssml.binning.bin_windows`), as ``-m ssml --param bin`` does
            at inference (``spikekit adapt`` on a dark recording).

    Raises:
        FileNotFoundError: a missing file.  ValueError: a stream shorter than 41 x ``bin`` frames
        or smaller than the crop (names the file).
    """

    def __init__(self, paths, crop: int, device="cpu", cache_mb: int = 2048, bin: int = 1):
        self.crop, self.device, self.bin = crop, torch.device(device), bin
        self.length = WINDOW * bin  # spike frames read per window
        self.streams = [SpikeStream(p) for p in paths]
        if not self.streams:
            raise ValueError("DatWindows needs at least one .dat file")
        for s in self.streams:
            if len(s) < self.length or s.height < crop or s.width < crop:
                raise ValueError(f"{s.path}: {len(s)} frames of {s.height}x{s.width}; training needs "
                                 f">= {self.length} frames and at least {crop}x{crop} pixels")
        rows, cols = d4_maps(crop, self.device)
        self._rows, self._cols = rows, cols
        # Stream choice is proportional to its number of windows.
        windows = torch.tensor([float(len(s) - self.length + 1) for s in self.streams])
        self._weights = (windows / windows.sum()).to(self.device)
        self._cached, budget, chunks, meta = [], cache_mb * 2**20, [], []
        offset = 0
        for i, s in enumerate(self.streams):
            size = len(s) * s.height * s.width
            if size <= budget:
                budget -= size
                chunks.append(s.decode(0, len(s), device=self.device).reshape(-1))
                meta.append([offset, len(s), s.height, s.width])
                self._cached.append(True)
                offset += size
            else:
                meta.append([0, len(s), s.height, s.width])
                self._cached.append(False)
        self._flat = torch.cat(chunks) if chunks else None
        self._meta = torch.tensor(meta, dtype=torch.int64, device=self.device)  # base, T, H, W

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` random windows: float32 (n, 41, crop, crop) of {0, 1} on the device."""
        return self.windows(*self.draw(n, gen))

    def draw(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Random (stream, first frame, top, left, D4 transform) indices, each int64 (n,) on the device."""
        dev, c = self.device, self.crop
        f = torch.multinomial(self._weights, n, replacement=True, generator=gen)
        _, frames, h, w = self._meta[f].unbind(1)
        t0 = (torch.rand(n, generator=gen, device=dev) * (frames - self.length + 1)).long()
        return (f, t0, *draw_crops(gen, n, h, w, c, dev))

    def windows(self, f, t0, y0, x0, k) -> torch.Tensor:
        """Window i: frames t0..t0+41 x bin-1, rows y0.., columns x0.. of stream f, then D4
        transform k (see :func:`d4_maps`), then binned; float32 (n, 41, crop, crop)."""
        return bin_windows(self._read(f, t0, y0, x0, k), self.bin).float()

    def _read(self, f, t0, y0, x0, k) -> torch.Tensor:
        """The unbinned windows of :meth:`windows`: (n, 41 x bin, crop, crop)."""
        if all(self._cached):
            return self._gather(f, t0, y0, x0, k)
        out = []  # some streams on disk: per-sample reads (a host round trip, disk reads anyway)
        for i, (fi, ti, yi, xi, ki) in enumerate(zip(*(v.tolist() for v in (f, t0, y0, x0, k)))):
            if self._cached[fi]:
                out.append(self._gather(*(v[i:i + 1] for v in (f, t0, y0, x0, k))))
                continue
            win = self.streams[fi].decode(ti, ti + self.length)[:, yi:yi + self.crop, xi:xi + self.crop]
            win = win[:, self._rows[ki].cpu(), self._cols[ki].cpu()]
            out.append(win.unsqueeze(0).to(self.device))
        return torch.cat(out)

    def _gather(self, f, t0, y0, x0, k) -> torch.Tensor:
        """One vectorised gather from the flat device cache (every stream cached)."""
        base, _, h, w = self._meta[f].unbind(1)
        return gather_crops(self._flat, base, t0, self.length, h, w, y0, x0, self._rows[k], self._cols[k])


class PairedWindows:
    """Crops of real spike streams at a spike frame whose ground truth is known (``--pair``).

    Each pair ``DAT:GT_PNG:INDEX`` (the ``--val`` grammar, :func:`ssml.cases.parse_val`;
    ``DAT:DIR`` is one pair per image of a folder of reconstructions,
    :func:`ssml.cases.expand_pairs`) gives the 41-frame window centred on spike frame INDEX
    (mirrored where it runs past the stream's ends, as ``spikekit recon`` reads it,
    ``src/spikekit/recon/padding.py``) and the
    ground-truth image of that frame. A sample is one pair (uniform), one ``crop`` x ``crop`` crop
    and one of the 8 flips/rotations, applied alike to the spikes and the ground truth. This is how
    footage simulated by another group's generator (such as the public REDS-derived streams)
    enters the supervised loss; a validation or test stream never may
    (:meth:`ssml.config.TrainConfig.validate`). The spike frames that a stream's pairs span are
    held once, uint8 (34 MB for every frame of a 301-frame 250 x 400 stream and its mirrored
    ends), and each pair's window is read from them.

    Args:
        cases: ``DAT:GT_PNG:INDEX`` or ``DAT:DIR`` strings.
        crop: crop size in pixels.
        device: where the windows are held and batches made.

    Raises:
        ValueError: a malformed case, a missing file, a DAT:DIR without images, an index outside
        the stream, a GT of another size than its stream, or a stream smaller than the crop
        (names the case).
    """

    def __init__(self, cases, crop: int, device="cpu"):
        self.crop, self.device = crop, torch.device(device)
        if not cases:
            raise ValueError("PairedWindows needs at least one DAT:GT_PNG:INDEX pair")
        checked = [(case, *parse_val(case, what="training pair")) for case in expand_pairs(cases)]
        half, spans = WINDOW // 2, {}  # spans: the first and last pair index of each stream
        for _, dat, _, index in checked:
            first, last = spans.get(dat, (index, index))
            spans[dat] = (min(first, index), max(last, index))
        blocks, starts = [], {}  # starts: the block's base in the flat buffer, its first frame
        for dat, (first, last) in spans.items():
            with SpikeStream(dat) as stream:
                block = reflected_source(Source(stream, self.device), first - half, last + half + 1).tensor
            starts[dat] = (sum(b.numel() for b in blocks), first - half)
            blocks.append(block.reshape(-1))
        gts, meta = [], []
        for case, dat, gt_path, index in checked:
            gt = torch.from_numpy(load_gt(gt_path)).to(self.device)
            h, w = gt.shape  # the stream's (parse_val)
            if h < crop or w < crop:
                raise ValueError(f"training pair {case!r}: {h}x{w} pixels; training needs at least {crop}x{crop}")
            base, frame0 = starts[dat]
            meta.append([base, index - half - frame0, sum(g.numel() for g in gts), h, w])
            gts.append(gt.reshape(-1))
        self._spikes, self._gt = torch.cat(blocks), torch.cat(gts)
        # spike base, first frame of the window in its block, GT base, H, W
        self._meta = torch.tensor(meta, dtype=torch.int64, device=self.device)
        self._rows, self._cols = d4_maps(crop, self.device)

    def __len__(self) -> int:
        return self._meta.shape[0]

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random crops: (spikes float32 (n, 41, crop, crop) of {0, 1}, ground truth float32
        (n, 1, crop, crop) in [0, 1] at the window's centre frame), on the device."""
        p = torch.randint(0, len(self), (n,), generator=gen, device=self.device)
        spike_base, t0, gt_base, h, w = self._meta[p].unbind(1)
        y0, x0, k = draw_crops(gen, n, h, w, self.crop, self.device)
        rows, cols = self._rows[k], self._cols[k]
        spikes = gather_crops(self._spikes, spike_base, t0, WINDOW, h, w, y0, x0, rows, cols)
        gt = gather_crops(self._gt, gt_base, torch.zeros_like(p), 1, h, w, y0, x0, rows, cols)
        return spikes.float(), gt


def noise_model(level: str):
    """The simulator noise of a config level (:class:`spikekit.simulate.NoiseModel`).

    ``off``: a clean camera caught mid-stream (random initial accumulator only; the simulator's
    own ``"off"`` starts every pixel at 0, which makes the first spike frames fire in step): the
    simulator's ``reds`` preset, the camera of the public REDS-derived data
    (:meth:`spikekit.simulate.NoiseModel.reds`);
    ``on``: the simulator's default noise (2 % threshold mismatch, 10 Hz dark current, shot noise
    at 1000 electrons per threshold); ``strong``: 5 % mismatch, 50 Hz dark current, 250 electrons.

    Raises:
        ValueError: an unknown level.
    """
    if level == "off":
        return NoiseModel.reds()
    if level == "on":
        return NoiseModel()
    if level == "strong":
        return NoiseModel(threshold_sigma=0.05, dark_rate=50.0, electrons=250.0)
    raise ValueError(f"noise level must be one of {NOISE_LEVELS}, got {level!r}")


def load_image(name: str) -> np.ndarray:
    """A grayscale float64 image in [0, 1] from a ``skimage.data`` name or an image file path.

    Raises:
        ValueError: neither a known ``skimage.data`` image nor a readable file (names it).
    """
    import skimage.data
    from skimage.color import rgb2gray

    if Path(name).is_file():
        import imageio.v3 as iio

        img = np.asarray(iio.imread(name))
    elif name in ("motorcycle_left", "motorcycle_right"):
        img = skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1]
    elif hasattr(skimage.data, name) and not name.startswith("_"):
        img = np.asarray(getattr(skimage.data, name)())
    else:
        raise ValueError(f"source image {name!r} is neither an image file nor a skimage.data image")
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    img = img.astype(np.float64)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def load_images(names, size: int, device="cpu") -> torch.Tensor:
    """Source images as float32 (N, 1, size, size) in [0, 1]: each centre-cropped to a square and
    resized with antialiasing to ``size`` pixels a side.

    Raises:
        ValueError: an unknown name or an unreadable file (one line naming the ``images``
            setting and the path).
    """
    out = []
    for name in names:
        try:
            img = load_image(name)
        except (OSError, ValueError) as exc:
            reason = first_line(exc)
            raise ValueError(f"config images: cannot read {name}: {reason}") from None
        h, w = img.shape
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
        out.append(F.interpolate(t, size=(size, size), mode="bilinear", antialias=True,
                                 align_corners=False).clamp_(0, 1))
    return torch.cat(out).to(device)


class SceneSimulator:
    """Moving photographs and video clips rendered and simulated on the device (see the module docstring).

    Motion per sample, with tau = spike frame - 20 (centre frame at tau = 0) and output pixel
    offset u from the crop centre: source position
    ``p0 + z(tau) * R(theta(tau)) u + z0 * (v tau + a tau^2 / 2)``, with speed |v| log-uniform in
    ``config.speed`` (output pixels per spike frame), |a| up to |v| / 40, rotation speed up to
    ``config.rotation`` pixels per frame at the crop edge, zoom z0 log-uniform in ``config.zoom``
    (source pixels per output pixel) changing by up to ``zoom_rate`` per frame. A share
    ``video_fraction`` of the samples shows a video clip instead, with its own motion, a camera
    pan and shake (:mod:`ssml.video`). Up to ``objects`` textured ellipses then slide over the
    scene, each present with probability ``object_prob`` and occluding what lies under it.
    Intensities are scaled by a brightness uniform (or, with ``brightness_log``, log-uniform) in
    ``config.brightness``. Spikes:
    :class:`spikekit.simulate.Simulator` with ``gain``; sample j of the batch with seed s gets noise
    level ``config.noise[(j + s) % L]`` (:func:`noise_model`), so every level comes in turn.

    Args:
        config: a :class:`~ssml.config.TrainConfig` (motion, images, noise, gain fields).
        n: samples per call.
        crop: crop size (defaults to ``config.crop``).
        device: where images, intensities and spikes live.
        images: source photographs float32 (N, 1, S, S) already on the device (default: loaded
            from ``config.images``, folders expanded: :meth:`~ssml.config.TrainConfig.image_files`).
        videos: a :class:`ssml.video.VideoClips` (default: ``config.videos``, folders expanded,
            loaded when ``video_fraction > 0``).

    Raises:
        ValueError: an unknown image name, a folder without images or videos, an unreadable or
            missing image or video (one line naming the setting and the path).
    """

    def __init__(self, config: TrainConfig, n: int, crop: int | None = None, device="cpu", images=None,
                 videos=None):
        self.cfg, self.n, self.device = config, n, torch.device(device)
        self.crop = crop or config.crop
        self.frames = WINDOW + config.sim_lead
        if images is None:
            images = load_images(config.image_files(), config.image_size, self.device)
        self.images, self.videos = images, videos
        if videos is None and config.videos and config.video_fraction > 0:
            try:
                self.videos = VideoClips(config.video_files(), config.video_height, config.video_span, self.device)
            except (OSError, ValueError) as exc:
                reason = first_line(exc)
                raise ValueError(f"config videos: {reason}") from None
        size = self.images.shape[-1]
        self._view = AffineView(self.crop, self.crop, size, size, self.device)
        self._tau = torch.arange(self.frames, device=self.device, dtype=torch.float32) - (self.frames - 1 - (WINDOW - 1) // 2)
        self._sims = {}  # (noise level, samples) -> Simulator

    def _simulator(self, level: str, count: int):
        key = (level, count)
        if key not in self._sims:
            self._sims[key] = Simulator(self.crop, self.crop, batch=count, gain=self.cfg.gain,
                                        noise=noise_model(level), seed=0, device=self.device, validate=False)
        return self._sims[key]

    def _velocity(self, gen, n) -> torch.Tensor:
        """Velocities (n, 2) in output pixels per spike frame, speed log-uniform in ``config.speed``."""
        cfg, dev = self.cfg, self.device
        speed = _log_uniform(gen, n, cfg.speed[0], cfg.speed[1], dev)
        phi = _uniform(gen, n, 0, 2 * math.pi, dev)
        return torch.stack([speed * phi.cos(), speed * phi.sin()], -1)

    def _placement(self, gen, n) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random (orientation theta (n,), zoom z0 (n,), centre p0 (n, 2) in source pixels)."""
        cfg, dev, size = self.cfg, self.device, self.images.shape[-1]
        theta = _uniform(gen, n, 0, 2 * math.pi, dev)
        z0 = _log_uniform(gen, n, cfg.zoom[0], cfg.zoom[1], dev)
        return theta, z0, _uniform(gen, 2 * n, 0.3 * size, 0.7 * size, dev).view(n, 2)

    def _background(self, gen, n) -> tuple[torch.Tensor, torch.Tensor]:
        """Scene motion: source pixel = lin @ u + shift per spike frame; lin (n, T, 2, 2), shift (n, T, 2)."""
        cfg, dev, tau = self.cfg, self.device, self._tau.view(1, -1)
        theta, z0, p0 = self._placement(gen, n)
        v = self._velocity(gen, n) * z0[:, None]
        acc = v.flip(-1) * _uniform(gen, 2 * n, -1, 1, dev).view(n, 2) / 40
        omega = _uniform(gen, n, -1, 1, dev) * cfg.rotation / (self.crop / 2)
        zeta = _uniform(gen, n, -1, 1, dev) * cfg.zoom_rate
        lin = rotation(theta[:, None] + omega[:, None] * tau, z0[:, None] * torch.exp(zeta[:, None] * tau))
        t = tau[..., None]
        return lin, p0[:, None] + v[:, None] * t + 0.5 * acc[:, None] * t * t

    def _render(self, gen, n) -> torch.Tensor:
        """Intensities float32 (n, frames, c, c) in [0, 1]: the first ``n - round(n *
        video_fraction)`` samples over photographs, the rest over video clips, then up to
        ``objects`` occluding objects, then the brightness."""
        cfg, dev = self.cfg, self.device
        n_video = int(round(n * cfg.video_fraction)) if self.videos is not None else 0
        parts = [self._photo_background(gen, n - n_video)] if n > n_video else []
        if n_video:
            parts.append(self._video_background(gen, n_video))
        scene = torch.cat(parts) if len(parts) > 1 else parts[0]
        for _ in range(cfg.objects):
            scene = self._overlay_object(gen, scene)
        lo, hi = cfg.brightness
        draw = _log_uniform if cfg.brightness_log else _uniform
        bright = draw(gen, n, lo, hi, dev).view(n, 1, 1, 1)
        return (scene * bright).clamp_(0, 1)

    def _sample_images(self, gen, lin, shift) -> torch.Tensor:
        """Random source photographs seen through the per-frame maps ``lin`` (n, T or 1, 2, 2),
        ``shift`` (n, T, 2) (:class:`spikekit.simulate.scene.AffineView`): (n, T, c, c)."""
        pick = torch.randint(0, self.images.shape[0], (shift.shape[0],), generator=gen, device=self.device)
        return self._view.sample(self.images[pick], lin, shift)

    def _photo_background(self, gen, n) -> torch.Tensor:
        """A photograph under the smooth random motion of :meth:`_background`: (n, T, c, c)."""
        return self._sample_images(gen, *self._background(gen, n))

    def _video_background(self, gen, n) -> torch.Tensor:
        """Video clips with their own motion (``video_rate`` video frames per spike frame), a
        camera pan with probability ``pan_prob`` (speed as ``config.speed``) and a shake of up
        to ``shake`` pixels (:meth:`ssml.video.VideoClips.windows`): (n, T, c, c)."""
        cfg, dev = self.cfg, self.device
        rate = _log_uniform(gen, n, cfg.video_rate[0], cfg.video_rate[1], dev)
        zoom = _log_uniform(gen, n, cfg.zoom[0], cfg.zoom[1], dev)
        panning = (torch.rand(n, generator=gen, device=dev) < cfg.pan_prob).float()[:, None]
        pan = self._velocity(gen, n) * panning
        return self.videos.windows(gen, n, self.crop, self._tau, rate, zoom, pan, cfg.shake)

    def _overlay_object(self, gen, scene) -> torch.Tensor:
        """With probability ``object_prob``, a textured ellipse sliding across the crop on its own
        straight path over ``scene`` (n, T, c, c); its texture moves with it: source pixel =
        p0 + z0 R(theta) (u - centre(tau))."""
        cfg, dev, c, n = self.cfg, self.device, self.crop, scene.shape[0]
        centre = (_uniform(gen, 2 * n, -0.25, 0.25, dev).view(n, 1, 2) * c
                  + self._velocity(gen, n).view(n, 1, 2) * self._tau.view(1, -1, 1))  # (n, T, 2)
        theta, z0, p0 = self._placement(gen, n)
        lin = rotation(theta, z0)[:, None]  # (n, 1, 2, 2)
        obj = self._sample_images(gen, lin, p0[:, None] - (lin @ centre.unsqueeze(-1)).squeeze(-1))
        radii = _uniform(gen, 2 * n, 0.2 * c, 0.5 * c, dev).view(n, 2)
        dx = (self._view.ux - centre[..., 0, None, None]) / radii[:, 0, None, None, None]
        dy = (self._view.uy - centre[..., 1, None, None]) / radii[:, 1, None, None, None]
        edge = radii.amin(-1).view(n, 1, 1, 1)
        mask = ((1 - torch.sqrt(dx * dx + dy * dy)) * edge + 0.5).clamp_(0, 1)  # ~1 pixel antialiased edge
        present = (torch.rand(n, generator=gen, device=dev) < cfg.object_prob).float().view(n, 1, 1, 1)
        return torch.lerp(scene, obj, mask * present)

    def render(self, gen: torch.Generator) -> torch.Tensor:
        """The intensities of ``n`` random scenes: float32 (n, 41 + sim_lead, c, c) in [0, 1]."""
        return self._render(gen, self.n)

    def spikes(self, intensity: torch.Tensor, seed: int) -> torch.Tensor:
        """Spike frames of rendered scenes: float32 (n, T, c, c) of {0, 1} for intensities
        (n, T, c, c); sample j gets noise level ``config.noise[(j + seed) % L]``."""
        n = intensity.shape[0]
        spikes = torch.empty(intensity.shape, device=self.device)
        levels = self.cfg.noise
        for i, level in enumerate(levels):  # sample j has level (j + seed) % L: every level in turn
            first = (i - seed) % len(levels)
            if first < n:
                part = intensity[first::len(levels)].contiguous()
                sim = self._simulator(level, part.shape[0]).reset(seed=seed * 16 + i)
                spikes[first::len(levels)] = sim.step(part).float()
        return spikes

    def sample(self, gen: torch.Generator, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch of ``n`` simulated windows.

        Args:
            gen: the data generator (on the device).
            seed: simulator seed for this batch (noise and initial accumulators).

        Returns:
            (spikes float32 (n, 41, c, c) of {0, 1}, gt float32 (n, 1, c, c) in [0, 1]: the
            intensity at the centre spike frame 20).
        """
        intensity = self.render(gen)
        lead = self.cfg.sim_lead
        spikes = self.spikes(intensity, seed)[:, lead:]
        centre = lead + (WINDOW - 1) // 2
        return spikes, intensity[:, centre:centre + 1].clone()


def reflect_at_end(spikes: torch.Tensor, gen: torch.Generator, prob: float) -> torch.Tensor:
    """Windows as inference sees them at a stream's first or last 20 spike frames.

    ``spikes`` float (B, 41, c, c); with probability ``prob`` a sample's window is taken to start
    ``e`` frames before the stream's first spike frame (e uniform in 1 .. 20, so the stream's end
    lies at window index ``e``), or, with equal chance, to end ``e`` frames past its last one. The
    frames beyond that end are then the mirror image about it (window index i < e reads 2e - i),
    which is exactly what ``spikekit.recon.padding.reflected_source`` feeds a network there. The
    centre frame, and so the ground truth, is unchanged. Returns a new tensor of the same shape;
    ``prob = 0`` returns ``spikes`` itself and draws nothing from ``gen``.
    """
    if prob <= 0:
        return spikes
    n, t, dev = spikes.shape[0], spikes.shape[1], spikes.device
    half = t // 2
    hit = torch.rand(n, generator=gen, device=dev) < prob
    end = torch.randint(1, half + 1, (n,), generator=gen, device=dev) * hit
    tail = torch.rand(n, generator=gen, device=dev) < 0.5
    i = torch.arange(t, device=dev).expand(n, t)
    j = torch.where(tail[:, None], t - 1 - i, i)  # the tail case is the head case in reversed time
    j = torch.where(j < end[:, None], 2 * end[:, None] - j, j)
    index = torch.where(tail[:, None], t - 1 - j, j)
    return spikes.gather(1, index[:, :, None, None].expand_as(spikes))


class TrainData:
    """The training batch stream: ``config.sim_count`` simulated samples, ``config.pair_count``
    crops of training pairs (:class:`PairedWindows`), then the rest from ``.dat`` files.

    Args:
        config: the run's :class:`~ssml.config.TrainConfig`.
        device: the training device.
        rank: DDP rank (rank r seeds its generator with ``config.seed + 1000003 * r``).

    Each :meth:`next` returns ``{"spikes": float32 (B, 41, c, c), "gt": float32 (n_sim + n_pair, 1, c, c)
    or None}``; the first ``n_sim + n_pair`` samples are those the ``gt`` belongs to. A share
    ``config.edge_prob`` of the windows is mirrored at a stream end (:func:`reflect_at_end`).
    """

    def __init__(self, config: TrainConfig, device="cpu", rank: int = 0):
        self.cfg, self.device = config, torch.device(device)
        self.seed = config.seed + 1000003 * rank
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(self.seed)
        self.counter = 0
        self.n_sim, self.n_pair = config.sim_count, config.pair_count
        self.n_dat = config.batch - self.n_sim - self.n_pair
        self.sim = SceneSimulator(config, self.n_sim, device=self.device) if self.n_sim else None
        self.pairs = PairedWindows(config.pairs, config.crop, self.device) if self.n_pair else None
        self.dat = (DatWindows(config.dat, config.crop, self.device, config.dat_cache_mb, config.dat_bin)
                    if self.n_dat else None)

    def next(self) -> dict:
        """The next batch (see the class docstring)."""
        parts, gts = [], []
        if self.sim is not None:
            spikes, gt = self.sim.sample(self.gen, self.seed * 1000003 + self.counter)
            parts.append(spikes)
            gts.append(gt)
        if self.pairs is not None:
            spikes, gt = self.pairs.sample(self.n_pair, self.gen)
            parts.append(spikes)
            gts.append(gt)
        if self.dat is not None:
            parts.append(self.dat.sample(self.n_dat, self.gen))
        self.counter += 1
        spikes = parts[0] if len(parts) == 1 else torch.cat(parts)
        gt = (gts[0] if len(gts) == 1 else torch.cat(gts)) if gts else None
        return {"spikes": reflect_at_end(spikes, self.gen, self.cfg.edge_prob), "gt": gt}

    def state_dict(self) -> dict:
        """Generator state and batch counter: enough to continue the exact batch sequence."""
        return {"gen": self.gen.get_state(), "counter": self.counter, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        self.counter = int(state["counter"])
