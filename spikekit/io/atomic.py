"""Atomic output files: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path, suffix: str | None = None):
    """Context manager yielding a temporary path that replaces ``path`` on success.

    The temporary file lives in the target's folder (so the final ``os.replace`` is atomic) and
    keeps the target's suffix (so writers that pick a format by extension still work). If the
    body raises, the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the final output path (str or Path). Its folder must exist.
        suffix: suffix of the temporary name; defaults to the target's suffix.

    Yields:
        pathlib.Path of the temporary file (created empty).

    Raises:
        FileNotFoundError: when the target's folder does not exist.
        OSError: when no file can be created there (names ``path``, e.g. permission denied).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
