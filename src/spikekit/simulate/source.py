"""Simulator inputs: video files, image folders and arrays, as float32 luminance frames.

Every source yields float32 (H, W) tensors in [0, 1] (row 0 the top), one per decoded video
frame; the frame count is whatever decoding yields, never a container header's claim.

* Colour to luminance: Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), computed in float64 from
  the float32 samples and rounded to float32. Video files and image files are decoded by imageio (FFmpeg), which gives
  **RGB**; arrays are taken as RGB unless ``channels="bgr"`` (OpenCV's ``cv2.imread`` and
  ``cv2.VideoCapture`` give BGR). A 4th (alpha) channel is dropped.
* Sample types: uint8 is x / 255, uint16 is x / 65535, float must already be in [0, 1] (else
  ``ValueError``), bool is 0 / 1. Every sample is first rounded to float32 (uint8 and uint16 via
  float64 division, correctly rounded), so uint8 x, float32 ``x / 255`` (either way it is
  computed) and float64 ``x / 255`` give identical intensities and spikes, in colour too.
* ``size=(H, W)``: scale by max(H / h, W / w) (bilinear with antialiasing, keeping the aspect
  ratio), then centre-crop to H x W.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".npy"}
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass
class FrameSource:
    """A sequence of luminance frames and what is known about it.

    Attributes:
        frames: a callable returning a fresh iterator of float32 (H, W) tensors in [0, 1].
        fps: video frame rate in Hz, or None when the source has none (folders, arrays).
        name: description of the source (file path, folder, or "array").
        length: the frame count when known without decoding (arrays, folders), else None.
        meta: what else is known; video files give ``codec``, ``claimed_frames`` (duration x
            fps from the container header, which may overstate what decodes) and ``size``
            (H, W) of the decoded frames.
    """

    frames: Callable[[], Iterator[torch.Tensor]]
    fps: float | None
    name: str
    length: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def expected_frames(self) -> int | None:
        """The frame count if known (``length``), else the header's claim, else None."""
        return self.length if self.length is not None else self.meta.get("claimed_frames")


def natural_key(name: str):
    """Sort key that orders embedded numbers numerically: img2 < img10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def to_luminance(frame, channels: str = "rgb", where: str = "frame") -> np.ndarray:
    """One frame (H, W) or (H, W, C) of any supported dtype -> float32 (H, W) luminance in [0, 1].

    Raises:
        ValueError: float values outside [0, 1] or NaN, unsupported shape (names ``where``).
        TypeError: unsupported dtype.
    """
    a = np.asarray(frame)
    if a.dtype == np.uint8:
        x = (a / 255.0).astype(np.float32)
    elif a.dtype == np.uint16:
        x = (a / 65535.0).astype(np.float32)
    elif a.dtype == np.bool_:
        x = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        x = a
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(f"{where}: float intensities must lie in [0, 1], found values in [{lo}, {hi}] "
                             f"(scale uint8 data by 1/255, or pass it as uint8)")
        x = x.astype(np.float32)  # the same float32 samples as uint8 x / 255 (see the module docstring)
    else:
        raise TypeError(f"{where}: unsupported sample type {a.dtype}; use uint8, uint16 or float in [0, 1]")
    if x.ndim == 3 and x.shape[2] in (3, 4):
        rgb = (x[..., :3] if channels == "rgb" else x[..., 2::-1]).astype(np.float64)
        wr, wg, wb = LUMA_WEIGHTS
        x = wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]
    elif x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    elif x.ndim != 2:
        raise ValueError(f"{where}: expected a frame of shape (H, W) or (H, W, 3), got {a.shape}")
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def parse_size(size) -> tuple[int, int] | None:
    """``"250x400"`` / ``(250, 400)`` / None -> (H, W) or None.

    Raises:
        ValueError: malformed text or non-positive numbers.
    """
    if size is None:
        return None
    if isinstance(size, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", size)
        if not m:
            raise ValueError(f"size must look like HEIGHTxWIDTH, e.g. 250x400, got {size!r}")
        size = (int(m.group(1)), int(m.group(2)))
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {h}x{w}")
    return h, w


def fit_to_size(frame: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resize (aspect kept, bilinear + antialias) and centre-crop float32 (H, W) to ``size``."""
    if size is None or tuple(frame.shape) == tuple(size):
        return frame
    (h, w), (th, tw) = frame.shape, size
    scale = max(th / h, tw / w)
    rh, rw = max(th, round(h * scale)), max(tw, round(w * scale))
    x = frame[None, None]
    if (rh, rw) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False,
                                            antialias=True)
    top, left = (rh - th) // 2, (rw - tw) // 2
    return x[0, 0, top:top + th, left:left + tw].clamp(0.0, 1.0).contiguous()


def _video(path: Path, channels: str) -> FrameSource:
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path, plugin="FFMPEG")
    except Exception as exc:  # imageio raises several types for undecodable files
        raise ValueError(f"{path}: cannot read as a video ({_ffmpeg_reason(exc)}); simulate takes a "
                         "video file, a folder of images, an image or a .npy array") from None
    fps = meta.get("fps")
    fps = float(fps) if fps and math.isfinite(float(fps)) and float(fps) > 0 else None
    duration = meta.get("duration")
    claimed = (round(float(duration) * fps) if fps and isinstance(duration, (int, float))
               and math.isfinite(duration) and duration > 0 else None)
    width, height = meta.get("size") or (None, None)

    def frames():
        try:
            for i, image in enumerate(iio.imiter(path, plugin="FFMPEG")):
                yield torch.from_numpy(to_luminance(image, "rgb", f"{path} frame {i}"))
        except (ValueError, TypeError):
            raise
        except Exception as exc:
            raise ValueError(f"{path}: decoding failed ({_ffmpeg_reason(exc)})") from None

    return FrameSource(frames, fps, str(path), None, {"codec": meta.get("codec"), "claimed_frames": claimed,
                                                      "size": (height, width) if height else None})


def _ffmpeg_reason(exc: BaseException) -> str:
    """The last line of an imageio/FFmpeg error: the reason, without FFmpeg's version banner."""
    lines = [line.strip(" ).") for line in str(exc).splitlines() if line.strip(" ).")]
    return lines[-1] if lines else type(exc).__name__


def _read_image(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.load(path)
    import imageio.v3 as iio

    try:
        return iio.imread(path)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as an image ({type(exc).__name__}: {exc})") from None


def _folder(path: Path, channels: str = "rgb") -> FrameSource:
    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise ValueError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")

    def frames():
        shape = None
        for f in files:
            image = to_luminance(_read_image(f), channels, str(f))
            if shape is not None and image.shape != shape:
                raise ValueError(f"{f}: image size {image.shape} differs from the first image's {shape}")
            shape = image.shape
            yield torch.from_numpy(image)

    first = _read_image(files[0])  # the size, for the output estimate (the frames decode lazily)
    return FrameSource(frames, None, str(path), len(files), {"size": tuple(first.shape[:2])})


def _array(video, channels: str) -> FrameSource:
    if isinstance(video, torch.Tensor):
        video = video.detach().cpu().numpy()
    a = np.asarray(video)
    if a.ndim == 4 and a.shape[-1] in (3, 4):
        pass
    elif a.ndim != 3:
        raise ValueError(f"video array must have shape (T, H, W) or (T, H, W, 3), got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"video array is empty: shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        lo, hi = (float(a.min()), float(a.max()))
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(f"video: float intensities must lie in [0, 1], found values in [{lo}, {hi}] "
                             f"(scale uint8 data by 1/255, or pass it as uint8)")

    def frames():
        for i in range(a.shape[0]):
            yield torch.from_numpy(to_luminance(a[i], channels, f"video frame {i}"))

    return FrameSource(frames, None, "array", a.shape[0], {"size": tuple(a.shape[1:3])})


def open_source(video, channels: str = "rgb") -> FrameSource:
    """Open a video file, an image folder, or an array/tensor as a :class:`FrameSource`.

    Args:
        video: path (str/Path) of a video file or a folder of images (natural sort of the file
            names), or an array/tensor (T, H, W) or (T, H, W, 3).
        channels: ``"rgb"`` or ``"bgr"``, the channel order of colour *arrays* (files are decoded
            as RGB).

    Raises:
        FileNotFoundError: missing path.  ValueError: unreadable video, empty folder, bad array.
    """
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    if isinstance(video, (str, Path)):
        path = Path(video)
        if path.is_dir():
            return _folder(path, "rgb")  # imageio decodes files as RGB
        if not path.is_file():
            raise FileNotFoundError(f"video not found: {path}")
        if path.suffix.lower() in IMAGE_SUFFIXES:  # a single image is a one-frame (static) video
            image = to_luminance(_read_image(path), "rgb", str(path))
            return FrameSource(lambda: iter([torch.from_numpy(image)]), None, str(path), 1,
                               {"size": tuple(image.shape)})
        return _video(path, channels)
    return _array(video, channels)
