"""Atomic output files: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

# Errors that only writing causes: re-raised naming the output (a full disk says which file).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_folder(path) -> Path:
    """The folder that holds output file ``path``, created with any missing parents: the one rule
    for every command's outputs (files and folders alike; docs/format.md, "Outputs").

    Raises:
        OSError: it cannot be created (a file in the way, no permission), naming ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: cannot create folder {folder} "
                                 f"({exc.strerror or type(exc).__name__})") from None
    return folder


@contextlib.contextmanager
def atomic_output(path, suffix: str | None = None):
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in the target's folder (so the final ``os.replace`` is atomic) and
    keeps the target's suffix (so writers that pick a format by extension still work). If the
    body raises, the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the final output path (str or Path). Missing folders above it are created
            (:func:`make_folder`, the one rule of every command's outputs).
        suffix: suffix of the temporary name; defaults to the target's suffix.

    Yields:
        pathlib.Path of the temporary file (created empty).

    Raises:
        OSError: when the folder cannot be created, or no file can be created there (names ``path``, e.g. permission denied), and
            for a full disk, quota or file-size limit met by the body (re-raised naming ``path``).
    """
    path = Path(path)
    folder = make_folder(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + (path.suffix if suffix is None else suffix),
                                   dir=folder)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from None
        raise


def write_image(path, image, extension: str | None = None, **kwargs) -> Path:
    """Encode ``image`` with imageio in memory, then write the bytes atomically.

    Encoding first keeps imageio's own file handling away from the disk: a full disk is one
    ``OSError`` naming ``path`` (imageio would also complain again while being garbage-collected).

    Args:
        path: output file; its suffix picks the format unless ``extension`` (e.g. ``".png"``).
        image: uint8 array (H, W), (H, W, 3), or (N, H, W) frames for an animated ``.gif``.
        kwargs: passed to ``imageio.v3.imwrite`` (e.g. ``duration``, ``loop`` for GIFs).

    Raises:
        OSError: as :func:`atomic_output`.  ValueError: a format imageio cannot write.
    """
    import imageio.v3 as iio

    path = Path(path)
    data = iio.imwrite("<bytes>", image, extension=extension or path.suffix, **kwargs)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


def save_torch(path, obj) -> Path:
    """``torch.save(obj)`` to ``path`` atomically, serialised in memory first.

    Writing the finished bytes ourselves turns a full disk into one ``OSError`` naming ``path``
    (``torch.save`` straight to a file raises a multi-line ``RuntimeError`` from its zip writer).

    Raises:
        OSError: as :func:`atomic_output`.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return Path(path)
