"""Output writers of ``spikekit recon`` / ``spikekit view``: one PNG, a folder of PNGs, an MP4
video, an animated GIF, or a float32 ``.npy`` stack. Frames are written as they come (bounded
memory; GIF keeps its frames until closed) and every file appears atomically (temporary name,
then rename), so an interrupted run never leaves a half-written output.
"""
from __future__ import annotations

import contextlib
import errno
import re
import sys
from pathlib import Path

import numpy as np

from ..io import atomic_output, write_image

SUFFIXES = (".png", ".mp4", ".gif", ".npy")
"""Supported output suffixes; a path without a suffix (or an existing folder) is a folder of PNGs."""


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [0, 1] -> uint8 (values clipped, rounded); uint8 passes through."""
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def output_kind(path) -> str:
    """"png", "folder", "mp4", "gif" or "npy" for ``path``.

    Raises:
        ValueError: an unsupported suffix (lists the supported ones).
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return "folder"
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unsupported output type {path.suffix!r}; use .png (one image), "
                         f".mp4, .gif, .npy, or a folder (numbered PNGs)")
    return suffix[1:]


class Writer(contextlib.AbstractContextManager):
    """Base writer: ``with open_writer(...) as w: w.write(indices, images)``.

    ``images`` are float32 (n, H, W) in [0, 1] (or uint8), ``indices`` the spike-frame index of
    each (used for PNG file names).
    """

    def __init__(self, path: Path, count: int, height: int, width: int):
        self.path, self.count, self.height, self.width = Path(path), count, height, width
        self.written = 0
        self._stack = contextlib.ExitStack()

    def write(self, indices, images: np.ndarray) -> None:
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (self.height, self.width):
            raise ValueError(f"{self.path}: expected images of shape (n, {self.height}, {self.width}), "
                             f"got {images.shape}")
        self._write(list(indices), images)
        self.written += len(images)

    def _write(self, indices, images) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush what the writer holds (called inside the atomic context on success)."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._finish()
            except BaseException:  # close the atomic output too (it removes its temporary file)
                self._stack.__exit__(*sys.exc_info())
                raise
        return self._stack.__exit__(exc_type, exc, tb)


class PngWriter(Writer):
    def _write(self, indices, images):
        if self.written + len(images) > 1:
            raise ValueError(f"{self.path}: a .png holds one image but {self.count} were asked for; "
                             f"write to a folder, .mp4 or .npy instead")
        write_image(self.path, to_uint8(images[0]), extension=".png")


FRAME_NAME = re.compile(r"frame_(\d+)\.png")
"""The name of a spike frame's image in a folder of reconstructions (:class:`FolderWriter`)."""


def folder_frames(folder) -> dict[int, Path]:
    """The images :class:`FolderWriter` wrote to ``folder``: {spike-frame index: path}, by index
    (other files are ignored)."""
    found = ((FRAME_NAME.fullmatch(p.name), p) for p in Path(folder).iterdir())
    return dict(sorted((int(m.group(1)), p) for m, p in found if m))


class FolderWriter(Writer):
    """PNG files ``frame_<index>.png`` (index zero-padded to at least 6 digits; :data:`FRAME_NAME`)."""

    digits = 6

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def _write(self, indices, images):
        for index, image in zip(indices, to_uint8(images)):
            write_image(self.path / f"frame_{int(index):0{self.digits}d}.png", image, extension=".png")


class VideoWriter(Writer):
    """H.264 MP4 (imageio-ffmpeg, yuv420p; odd sizes padded by one edge row/column)."""

    def __init__(self, path, count, height, width, fps: float = 25.0):
        super().__init__(path, count, height, width)
        self.fps = fps
        self._video = None

    def _write(self, indices, images):
        import imageio.v2 as iio2

        if self._video is None:
            self._tmp = self._stack.enter_context(atomic_output(self.path))
            self._video = iio2.get_writer(self._tmp, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                          pixelformat="yuv420p", macro_block_size=1, quality=8,
                                          ffmpeg_log_level="quiet")  # failures: see _check
            self._stack.callback(self._video.close)
        pad = ((0, 0), (0, self.height % 2), (0, self.width % 2))
        for image in np.pad(to_uint8(images), pad, mode="edge"):
            self._video.append_data(image)

    def _finish(self):
        if self._video is None:
            raise ValueError(f"{self.path}: no frames to write")
        self._video.close()
        self._check()

    def _check(self) -> None:
        """Read the finished file's header back: imageio does not report FFmpeg's exit status, so
        an encoder that stopped (a full disk) would otherwise leave a cut, unplayable video.

        The MP4 index is written last, so a readable header means FFmpeg finished the file (the
        duration is not compared: FFmpeg reports it to 10 ms only).

        Raises:
            OSError: the file has no readable video header (names the output).
        """
        import imageio.v3 as iio

        try:
            iio.immeta(self._tmp, plugin="FFMPEG")
        except Exception:  # imageio raises several types for a file without a video header
            raise OSError(errno.EIO, f"cannot write {self.path}: the video encoder did not finish the "
                                     f"file ({self.written} frames sent; is the disk full?)") from None


class GifWriter(Writer):
    """Animated GIF (looping); frames are held until the writer closes."""

    def __init__(self, path, count, height, width, fps: float = 25.0):
        super().__init__(path, count, height, width)
        self.fps = fps
        self._frames: list = []

    def _write(self, indices, images):
        self._frames.extend(to_uint8(images))

    def _finish(self):
        if not self._frames:
            raise ValueError(f"{self.path}: no frames to write")
        write_image(self.path, np.stack(self._frames), extension=".gif", duration=1000.0 / self.fps, loop=0)


class NpyWriter(Writer):
    """float32 (count, H, W) ``.npy``: header first, then each batch appended (streamed)."""

    def __enter__(self):
        tmp = self._stack.enter_context(atomic_output(self.path))
        self._file = self._stack.enter_context(open(tmp, "wb"))
        np.lib.format.write_array_header_1_0(
            self._file, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                         "fortran_order": False, "shape": (self.count, self.height, self.width)})
        return self

    def _write(self, indices, images):
        if self.written + len(images) > self.count:
            raise ValueError(f"{self.path}: more images than the {self.count} announced")
        self._file.write(np.ascontiguousarray(images, dtype=np.float32).tobytes())

    def _finish(self):
        if self.written != self.count:
            raise ValueError(f"{self.path}: {self.written} of {self.count} images written")
        self._file.flush()


def open_writer(path, count: int, height: int, width: int, fps: float = 25.0) -> Writer:
    """The writer for ``path`` (kind from its suffix, see :func:`output_kind`).

    Args:
        path: output file or folder (missing folders are created when writing starts,
            :func:`spikekit.io.atomic.make_folder`).
        count: number of images that will be written.  height, width: image size.
        fps: frames per second of .mp4 / .gif outputs.

    Raises:
        ValueError: unsupported suffix; several images for a .png.
    """
    kind = output_kind(path)
    path = Path(path)
    if kind == "png" and count != 1:
        raise ValueError(f"{path}: a .png holds one image but {count} were asked for; write to a "
                         f"folder, .mp4 or .npy instead (or pass one --at)")
    if kind == "mp4":
        return VideoWriter(path, count, height, width, fps)
    if kind == "gif":
        return GifWriter(path, count, height, width, fps)
    return {"png": PngWriter, "folder": FolderWriter, "npy": NpyWriter}[kind](path, count, height, width)
