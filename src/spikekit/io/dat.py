"""Bit-packed ``.dat`` spike streams: read, write and memory-mapped streaming.

Format (docs/format.md): no header; one spike frame is ceil(H*W/8) bytes; pixel p = row*W + col is
bit p % 8 (LSB first) of byte p // 8; rows are stored bottom-up, so decoding flips vertically
(``flip=False`` for sensors stored top-down). When H*W is not a multiple of 8, the last byte of
each frame is padded with zero bits. Height, width, row order and rate are not in the file: they
come from the arguments, else from the JSON sidecar ``<file>.json`` (keys ``height``, ``width``,
``flip``, ``rate``), else the Vidar defaults 250 x 400, bottom-up, 40 kHz.
"""
from __future__ import annotations

import mmap
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import ops
from .._memory import check_allocation, empty_hugepage
from .atomic import atomic_output
from .geometry import GeometryError, check_stream, dividing_sizes, pixel_columns, size_hint
from .sidecar import MAX_FRAME_PIXELS, check_field, read_sidecar, sidecar_path, write_sidecar

DEFAULT_HEIGHT = 250
DEFAULT_WIDTH = 400
DEFAULT_RATE = 40000.0

_WRITE_CHUNK = 1024  # spike frames packed per write call (bounds memory of write_dat)
_HEAD_BLOCK_PIXELS = 1 << 24  # pixels decoded at a time to drop head columns (16 MiB, twice)

# Signatures of files people pass by mistake: a .dat has no header, so these first bytes would
# otherwise decode as (meaningless) spikes.
_TO_SPIKES = "turn images and videos into spikes with `spikekit simulate`"
_UNPACKED = "convert unpacked .npz/.npy spike arrays with `spikekit convert`"
_NOT_DAT = ((0, b"\x89PNG\r\n\x1a\n", "a PNG image", _TO_SPIKES), (0, b"\xff\xd8\xff", "a JPEG image", _TO_SPIKES),
            (0, b"PK\x03\x04", "a ZIP archive (.npz, .pt, ...)", _UNPACKED),
            (0, b"\x93NUMPY", "a NumPy .npy array", _UNPACKED), (0, b"GIF8", "a GIF image", _TO_SPIKES),
            (4, b"ftyp", "an MP4/MOV video", _TO_SPIKES), (0, b"RIFF", "a RIFF file (AVI, WAV)", _TO_SPIKES),
            (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video", _TO_SPIKES),
            (0, b"II*\x00", "a TIFF image", _TO_SPIKES), (0, b"MM\x00*", "a TIFF image", _TO_SPIKES))


_TEXT_BYTES = frozenset(b"\t\n\r" + bytes(range(0x20, 0x7F)))
_TEXT_PROBE = 4096
"""A file whose first this many bytes (at least 64 of them) are all printable ASCII, with a line
break or an opening JSON bracket and at least 8 different characters, is text: in a spike stream
each byte is 8 pixels' bits, printable for under half of the byte values at any firing rate, so a
natural scene never gives thousands of them in a row; a uniform or periodic test pattern can
(every byte '?' or 'U'), but then repeats a handful of byte values and no line structure."""


def _check_not_other_format(path: Path) -> None:
    """Raise ValueError naming ``path`` when its first bytes say it is an image, video, array or
    text file (CSV, JSON, ...) rather than a headerless ``.dat`` stream."""
    with open(path, "rb") as f:
        head = f.read(_TEXT_PROBE)
    for offset, magic, what, hint in _NOT_DAT:
        if head[offset:offset + len(magic)] == magic:
            raise ValueError(f"{path}: this is {what}, not a headerless .dat spike stream ({hint})")
    if (len(head) >= 64 and all(b in _TEXT_BYTES for b in head) and len(set(head)) >= 8
            and (b"\n" in head or head.lstrip()[:1] in (b"{", b"["))):
        raise ValueError(f"{path}: this is a text file (CSV, JSON, ...: its first {len(head)} bytes are all "
                         "printable), not a headerless .dat spike stream (one bit per pixel per spike frame)")


def _field(path, meta: dict, name: str, value, default):
    """A field of the stream: the argument ``value`` when given (checked, the message naming
    ``path`` and the argument), else the (already checked) sidecar's, else ``default``."""
    if value is not None:
        return check_field(name, value, f"{path}: {name}=")
    return meta.get(name, default)


def resolve_size(path, height=None, width=None, meta: dict | None = None) -> tuple[int, int]:
    """Frame size for ``path``: explicit arguments, else its sidecar, else 250 x 400.

    Args:
        meta: the sidecar, when already read (:func:`~spikekit.io.sidecar.read_sidecar`).

    Raises:
        ValueError: height or width not a positive integer up to
            :data:`~spikekit.io.sidecar.MAX_FRAME_PIXELS` (names the file and the argument, or
            the sidecar and its field), or a bad sidecar.
    """
    if meta is None:
        meta = read_sidecar(path) if (height is None or width is None) else {}
    return (_field(path, meta, "height", height, DEFAULT_HEIGHT),
            _field(path, meta, "width", width, DEFAULT_WIDTH))


def check_frame_size(path, height: int, file_width: int, origin: str = "") -> None:
    """Refuse a frame of more than :data:`~spikekit.io.sidecar.MAX_FRAME_PIXELS` pixels, before
    anything is allocated for it (readers) or a file no reader reads is written (writers).

    Args:
        path: the ``.dat`` (for the message).  height, file_width: the frame, in pixels of the
            file's rows (head columns included).  origin: where the size came from, for the
            message (e.g. " (height, width from rec.dat.json)").

    Raises:
        ValueError: naming ``path``, the size and the limit.
    """
    pixels = height * file_width
    if pixels > MAX_FRAME_PIXELS:
        raise ValueError(f"{path}: a {height} x {file_width} spike frame{origin} has {pixels} pixels, more "
                         f"than spikekit reads ({MAX_FRAME_PIXELS}); check the size")


def count_frames(path, height: int, width: int, strict: bool = False, force: bool = True,
                 origin: str = "") -> int:
    """Number of whole spike frames in ``path`` for ``height`` x ``width`` (the file's row width).

    A size that leaves bytes over is a truncated recording (a warning) when no common sensor
    size divides the file either; when one does, the size is more likely wrong than the file
    short, and ``force=False`` makes that an error. ``origin`` (e.g. " (height, width from rec.dat.json)")
    follows the size in the message of a file shorter than one frame.

    Raises:
        FileNotFoundError: missing file.
        ValueError: file shorter than one frame, or (``strict``) not a whole number of frames,
            or (``force=False``) not a whole number of frames while a common size divides it,
            or the file starts with the signature of another format (PNG, JPEG, ZIP/npz, MP4, ...).

    Warns:
        UserWarning: naming the leftover bytes when the size is not a whole number of frames.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"spike stream file not found: {path}")
    size = path.stat().st_size
    _check_not_other_format(path)
    nb = ops.frame_bytes(height, width)
    if size < nb:
        raise ValueError(f"{path}: {size} bytes is shorter than one {height}x{width} spike frame{origin} "
                         f"({nb} bytes){size_hint(size) if size else ''}")
    frames, leftover = divmod(size, nb)
    if leftover:
        msg = (f"{path}: {size} bytes is not a whole number of {height}x{width} spike frames "
               f"({nb} bytes each): {frames} frames and {leftover} leftover bytes{size_hint(size)}")
        if strict:
            raise ValueError(msg)
        if not force and dividing_sizes(size):
            raise GeometryError(msg + "; give the right -H/-W (or --force to read it anyway)")
        warnings.warn(msg + "; the leftover bytes are ignored", stacklevel=3)
    return frames


def _check_range(start, stop, frames: int, path) -> tuple[int, int]:
    stop = frames if stop is None else stop
    for name, value in (("start", start), ("stop", stop)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer spike-frame index, got {value!r}")
    if not (0 <= start < frames) or not (start < stop <= frames):
        raise ValueError(f"{path}: frame range [{start}, {stop}) is outside the stream; valid: "
                         f"0 <= start < stop <= {frames}")
    return int(start), int(stop)


def _decode(packed: torch.Tensor, height: int, width: int, flip: bool, device) -> torch.Tensor:
    device = torch.device(device)
    if device.type != "cpu":  # ship the 8x smaller packed bytes and decode on the device
        return ops.unpack_spikes(packed.to(device), height, width, flip)
    out = empty_hugepage((packed.shape[0], height, width))
    return ops.unpack_spikes(packed, height, width, flip, out=out)


def read_dat(path, height: int | None = None, width: int | None = None, *, start: int = 0,
             stop: int | None = None, flip: bool | None = None, strict: bool = False,
             device="cpu", remove_head: int | None = None, force: bool = False,
             check: bool = True) -> torch.Tensor:
    """Read spike frames ``[start, stop)`` of a bit-packed ``.dat`` file.

    Args:
        path: the ``.dat`` file.
        height, width: frame size H, W in pixels; ``None`` takes the sidecar's value, else
            250 x 400.
        start, stop: spike-frame range, 0 <= start < stop <= frames (``stop=None``: the end).
        flip: True when rows are stored bottom-up (Vidar), False for top-down; ``None`` takes the
            sidecar's ``flip``, else True. The result has row 0 at the top.
        strict: raise instead of warning when the size is not a whole number of frames, or when
            the size looks wrong (``check``).
        device: where the result lives; on CUDA the packed bytes are decoded on the device.
        remove_head: head columns in each file row that are not pixels (rows are W + N wide;
            the layout of :data:`spikekit.io.geometry.HEAD_LAYOUTS`, e.g. 16 for the 250 x 416
            camera, else the last N columns); ``None``: the sidecar's ``head``, else 0.
        force: read a size that leaves bytes over even when a common sensor size divides the
            file (else that is an error, see :func:`count_frames`); sizes from the sidecar are
            always read.
        check: check the size as ``spikekit info`` does (:func:`spikekit.io.geometry.check_stream`:
            head columns left in, rows of a short TFP that do not line up, e.g. a swapped
            400 x 250): a warning naming the likely size, or with ``strict`` a
            :class:`~spikekit.io.geometry.GeometryError`.

    Returns:
        uint8 tensor (stop - start, H, W) of {0, 1}.

    Raises:
        FileNotFoundError: missing file.
        ValueError: naming the file (or its sidecar): a size, head, flip or rate argument or
            sidecar field of the wrong type or out of range (:func:`~spikekit.io.sidecar.check_field`);
            a sidecar that is not a JSON object; a frame of more than
            :data:`~spikekit.io.sidecar.MAX_FRAME_PIXELS` pixels; a file shorter than one frame
            (its byte size and the bytes one frame needs); with ``strict``, leftover bytes or
            (``check``) a size that looks wrong; a size that leaves bytes over while a common size
            divides the file (unless ``force``); ``start``/``stop`` outside the stream (names
            the valid range: a range past the end is an error, never a shorter result).
        MemoryError: the frames asked for (``stop - start`` x H x W bytes) do not fit in the
            memory available (names the file; read them in chunks with
            :meth:`SpikeStream.iter_chunks`).

    Warns:
        UserWarning: leftover bytes; (``check``) a size that looks wrong.
    """
    with SpikeStream(path, height, width, flip, strict=strict, head=remove_head, force=force,
                     check=check) as stream:
        return stream.decode(start, stop, device)


def _as_spike_tensor(spikes, name: str = "spikes") -> torch.Tensor:
    """Validate a (T, H, W) bool/uint8 spike stream of {0,1}; returns a contiguous CPU uint8 view."""
    if isinstance(spikes, np.ndarray):
        spikes = torch.from_numpy(np.ascontiguousarray(spikes))
    if not isinstance(spikes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(spikes).__name__}")
    if spikes.dtype not in (torch.bool, torch.uint8):
        raise TypeError(f"{name} must be bool or uint8 with values 0/1, got dtype {spikes.dtype}")
    if spikes.dim() != 3 or spikes.shape[1] <= 0 or spikes.shape[2] <= 0:
        raise ValueError(f"{name} must have shape (T, H, W) with H, W > 0, got {tuple(spikes.shape)}")
    spikes = spikes.contiguous()
    if spikes.dtype == torch.bool:
        return spikes.view(torch.uint8)
    if spikes.numel() and int(spikes.max()) > 1:
        raise ValueError(f"{name} must contain only 0 and 1, found value {int(spikes.max())}")
    return spikes


def write_dat(path, spikes, *, flip: bool = True, sidecar: dict | bool = True) -> Path:
    """Write a spike stream as a bit-packed ``.dat`` file, atomically.

    The bytes go to a temporary file in the same folder that is renamed over ``path`` only when
    complete: an error never leaves a partial file (and an existing ``path`` stays intact).

    Args:
        path: the output ``.dat`` file.
        spikes: (T, H, W) bool or uint8 tensor/ndarray of {0, 1}, row 0 the top of the image.
        flip: store rows bottom-up (the Vidar convention read back by ``read_dat(flip=True)``).
        sidecar: True writes ``<path>.json`` with height and width; a dict adds its keys;
            False writes none.

    Returns:
        The path written.

    Raises:
        TypeError: spikes not a bool/uint8 tensor or array.
        ValueError: wrong shape, values other than 0/1, or a frame larger than readers accept
            (:data:`~spikekit.io.sidecar.MAX_FRAME_PIXELS` pixels).
    """
    spikes = _as_spike_tensor(spikes)
    if spikes.device.type != "cpu":
        spikes = spikes.cpu()
    path = Path(path)
    check_frame_size(path, spikes.shape[1], spikes.shape[2])
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        for a in range(0, spikes.shape[0], _WRITE_CHUNK):
            f.write(ops.pack_spikes(spikes[a:a + _WRITE_CHUNK], flip).numpy().tobytes())
    if sidecar is not False:
        meta = {"height": int(spikes.shape[1]), "width": int(spikes.shape[2]), "flip": flip}
        if isinstance(sidecar, dict):
            meta.update(sidecar)
        write_sidecar(path, meta)
    return path


class SpikeStream:
    """A memory-mapped ``.dat`` spike stream, decoded window by window.

    Nothing is read until asked for: ``stream[a:b]`` decodes only frames a..b-1, and
    :meth:`iter_chunks` releases the pages of each chunk once it is consumed, so memory stays
    bounded by the chunk size on files of any length.

    Args:
        path: the ``.dat`` file.
        height, width: frame size; ``None`` takes the sidecar's value, else 250 x 400.
        flip: rows stored bottom-up (Vidar) or top-down (False); ``None`` takes the sidecar's
            ``flip``, else True.
        rate: spike frames per second (Hz); ``None`` takes the sidecar's ``rate``, else 40000.
        strict: raise instead of warning on leftover bytes and (``check``) on a size that
            looks wrong.
        head, force, check: as ``remove_head``, ``force`` and ``check`` of :func:`read_dat`.

    Attributes:
        path, height, width (of the image), flip, rate, head, frame_bytes (in the file),
        meta (the sidecar dict, its fields checked; possibly empty).

    Raises:
        FileNotFoundError / ValueError: as :func:`read_dat`.

    Warns:
        UserWarning: as :func:`read_dat`.
    """

    def __init__(self, path, height: int | None = None, width: int | None = None, flip: bool | None = None,
                 rate: float | None = None, strict: bool = False, head: int | None = None,
                 force: bool = False, check: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"spike stream file not found: {self.path}")
        self.meta = read_sidecar(self.path)
        self.height, self.width = resolve_size(self.path, height, width, self.meta)
        self.head = _field(self.path, self.meta, "head", head, 0)
        self.rate = _field(self.path, self.meta, "rate", rate, DEFAULT_RATE)
        self.flip = _field(self.path, self.meta, "flip", flip, True)
        from_sidecar = [k for k, v in (("height", height), ("width", width), ("head", head)) if v is None and k in self.meta]
        origin = f" ({', '.join(from_sidecar)} from {sidecar_path(self.path).name})" if from_sidecar else ""
        check_frame_size(self.path, self.height, self.width + self.head, origin)
        self._keep = pixel_columns(self.width + self.head, self.head) if self.head else None
        sized_by_sidecar = (height is None and "height" in self.meta) and (width is None and "width" in self.meta)
        self.frame_bytes = ops.frame_bytes(self.height, self.width + self.head)
        self._frames = count_frames(self.path, self.height, self.width + self.head, strict,
                                    force=force or sized_by_sidecar, origin=origin)
        with open(self.path, "rb") as f:
            self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        self._bytes = np.frombuffer(self._mmap, dtype=np.uint8, count=self._frames * self.frame_bytes)
        if check:
            self._check_geometry(strict)

    def _check_geometry(self, strict: bool) -> None:
        """Warn (``strict``: raise) when the size looks wrong: :func:`~spikekit.io.geometry.check_stream`."""
        try:
            notes = check_stream(self, force=not strict,
                                 override="strict=False" if strict else "strict=True makes it an error")
        except GeometryError:
            self.close()
            raise
        for note in notes:
            warnings.warn(note, stacklevel=3)

    def __len__(self) -> int:
        return self._frames

    @property
    def duration(self) -> float:
        """Length of the stream in seconds (frames / rate)."""
        return self._frames / self.rate

    def __repr__(self) -> str:
        head = f", head={self.head}" if self.head else ""
        return (f"SpikeStream({str(self.path)!r}, frames={self._frames}, height={self.height}, "
                f"width={self.width}{head}, rate={self.rate:g})")

    def _range(self, a, b) -> tuple[int, int]:
        return _check_range(a, b, self._frames, self.path)

    def _packed_view(self, a: int, b: int) -> torch.Tensor:
        """uint8 (b - a, ceil(H*W/8)) packed frames: a zero-copy view of the mapped file (valid
        while open), or, with head columns, the frames packed again without them."""
        nb = self.frame_bytes
        raw = torch.from_numpy(self._bytes[a * nb:b * nb]).view(b - a, nb)
        if self._keep is None:
            return raw
        out = torch.empty((b - a, ops.frame_bytes(self.height, self.width)), dtype=torch.uint8)
        step = max(1, _HEAD_BLOCK_PIXELS // (self.height * (self.width + self.head)))
        for i in range(0, b - a, step):  # decoded in blocks: bounded memory for any b - a
            frames = ops.unpack_spikes(raw[i:i + step], self.height, self.width + self.head, False)
            out[i:i + step] = ops.pack_spikes(frames[:, :, self._keep].contiguous(), False)
        return out

    def packed(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Raw bytes of frames ``[start, stop)`` as a uint8 (n, ceil(H*W/8)) tensor (a copy).

        Raises:
            ValueError: range outside the stream (names the valid range).
        """
        a, b = self._range(start, stop)
        return self._packed_view(a, b).clone()

    def decode(self, start: int = 0, stop: int | None = None, device="cpu") -> torch.Tensor:
        """Decoded frames ``[start, stop)``: uint8 (n, H, W) of {0, 1} on ``device``.

        Raises:
            ValueError: range outside the stream, 0 <= start < stop <= len (never clipped).
            MemoryError: on the CPU, the n x H x W bytes do not fit in the memory available
                (names the file).
        """
        a, b = self._range(start, stop)
        if torch.device(device).type == "cpu":  # a device checks its own memory when it allocates
            check_allocation((b - a) * self.height * self.width,
                             f"{self.path}: decoding spike frames [{a}, {b}) of {self.height} x {self.width}",
                             "read fewer frames at a time (SpikeStream.iter_chunks)")
        return _decode(self._packed_view(a, b), self.height, self.width, self.flip, device)

    def __getitem__(self, key) -> torch.Tensor:
        """``stream[i]`` -> uint8 (H, W); ``stream[a:b]`` (or with a step) -> uint8 (n, H, W).

        Negative indices count from the end, as for Python sequences. Slices are strict, unlike
        Python's: a slice reaching past the end (``stream[2:4]`` of a 3-frame stream) raises
        instead of returning fewer frames; ``stream[a:]`` and ``stream[:b]`` use the ends.

        Raises:
            IndexError: an integer index outside the stream.
            ValueError: a slice past either end of the stream, or an empty slice.
        """
        if isinstance(key, slice):
            a, b, step = key.indices(self._frames)
            for name, value in (("start", key.start), ("stop", key.stop)):
                if value is not None and not -self._frames <= value <= self._frames:
                    raise ValueError(f"{self.path}: slice {name} {value} is past the end of the "
                                     f"{self._frames}-frame stream (slices are not clipped)")
            frames = self.decode(a, b)
            return frames if step == 1 else frames[::step].contiguous()
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key) + (self._frames if key < 0 else 0)
            if not 0 <= i < self._frames:
                raise IndexError(f"{self.path}: frame {key} is outside the stream; valid: "
                                 f"{-self._frames} <= index < {self._frames}")
            return self.decode(i, i + 1)[0]
        raise TypeError(f"SpikeStream indices must be int or slice, got {type(key).__name__}")

    def iter_chunks(self, n: int, *, start: int = 0, stop: int | None = None, packed: bool = False):
        """Iterate over the stream ``n`` spike frames at a time (the last chunk may be shorter).

        Args:
            n: frames per chunk (> 0).
            start, stop: frame range to cover (``stop=None``: the end).
            packed: yield raw packed bytes uint8 (n, ceil(H*W/8)) instead of decoded frames.

        Yields:
            uint8 (n, H, W) decoded chunks (or packed chunks), fresh tensors the caller may keep.

        Raises:
            ValueError: ``n`` <= 0, or a range outside the stream.
        """
        if n <= 0:
            raise ValueError(f"iter_chunks: n must be a positive number of spike frames, got {n}")
        a0, b0 = self._range(start, stop)
        for a in range(a0, b0, n):
            b = min(a + n, b0)
            yield self.packed(a, b) if packed else self.decode(a, b)
            self._release(a, b)

    def _release(self, a: int, b: int) -> None:
        """Drop the mapped pages of frames [a, b) from this process (they stay in the page cache)."""
        lo = (a * self.frame_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
        hi = (b * self.frame_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
        if hi > lo and hasattr(self._mmap, "madvise"):
            self._mmap.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def close(self) -> None:
        """Unmap the file (deferred to garbage collection while views of it are alive)."""
        self._bytes = None
        try:
            self._mmap.close()
        except BufferError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
