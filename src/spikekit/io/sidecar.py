"""The JSON sidecar ``<file>.json`` beside a ``.dat`` spike stream (e.g. ``clip.dat.json``).

``.dat`` files have no header; the sidecar records what the file cannot: ``height``, ``width``,
``flip`` (row order), ``rate`` (spike frames per second, Hz), ``head`` (non-pixel columns per row)
and, for simulated streams, the simulator parameters (information only).

The five fields a reader uses are checked here, field by field, whether they come from a
sidecar or from the arguments that override it (:func:`check_field`): a wrong type or a value
out of range is a ``ValueError`` naming the sidecar (or the argument) and what was expected.
Sidecars are small: one larger than :data:`MAX_SIDECAR_BYTES`, not UTF-8, not JSON, nested too
deeply or not a JSON object is refused in the same way.
"""
from __future__ import annotations

import json
import math
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from .atomic import atomic_output

MAX_SIDECAR_BYTES = 1 << 20
"""A sidecar is a few hundred bytes; a file larger than this (1 MiB) is not one and is not read."""
MAX_FRAME_PIXELS = 1 << 23
"""The largest spike frame a reader accepts, in pixels of the file's rows (8,388,608: 4096 x
2048, above 4K video's 3840 x 2160); it bounds the memory a frame size can make a reader ask
for (``spikekit info`` holds two int64 counts per pixel: 128 MiB at this size)."""
RATE_RANGE = (1.0, 1e9)
"""Spike frames per second (Hz) a stream may have: real cameras read out at 20-40 kHz."""
FIELDS = {
    "height": "a positive integer number of pixels",
    "width": "a positive integer number of pixels",
    "flip": "true or false (true: rows stored bottom-up)",
    "rate": f"a number of spike frames per second in [{RATE_RANGE[0]:g}, {RATE_RANGE[1]:g}]",
    "head": "a non-negative integer number of columns",
}
"""The fields a reader takes from a sidecar, and what each must be."""


def sidecar_path(path) -> Path:
    """Path of the sidecar of the spike stream ``path``: the same name with ``.json`` appended."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def check_field(name: str, value, where: str):
    """``value`` of the field ``name`` (one of :data:`FIELDS`) checked and normalised.

    Args:
        name: ``height``, ``width``, ``flip``, ``rate`` or ``head``.
        value: the value, from a sidecar or an argument (bools are not numbers here).
        where: what to name in the message (``"clip.dat.json: sidecar 'rate'"`` or
            ``"clip.dat: rate="``).

    Returns:
        int (height, width <= MAX_FRAME_PIXELS; head < MAX_FRAME_PIXELS), bool (flip) or float
        (rate, within :data:`RATE_RANGE`).

    Raises:
        ValueError: a value of another type or out of range (names ``where`` and what was expected).
    """
    ok = False
    if name == "flip":
        ok = isinstance(value, (bool, np.bool_))
        value = bool(value) if ok else value
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        ok = False
    elif name == "rate":
        ok = math.isfinite(value) and RATE_RANGE[0] <= value <= RATE_RANGE[1]
        value = float(value) if ok else value
    elif isinstance(value, Integral):
        ok = (0 if name == "head" else 1) <= value <= MAX_FRAME_PIXELS
        value = int(value)
    if not ok:
        limit = f" up to {MAX_FRAME_PIXELS}" if name in ("height", "width", "head") else ""
        raise ValueError(f"{where} must be {FIELDS[name]}{limit}, got {_show(value)}")
    return value


def _show(value) -> str:
    """A value for a message, cut short (a sidecar may hold anything)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_sidecar(path) -> dict:
    """The sidecar of ``path`` as a dict, or ``{}`` when there is none; the fields of
    :data:`FIELDS` present in it are checked (:func:`check_field`) and normalised.

    Raises:
        ValueError: naming the sidecar, when it cannot be read, is larger than
            :data:`MAX_SIDECAR_BYTES`, is not UTF-8 JSON (or nested too deeply to parse), is not
            a JSON object, or holds a field of :data:`FIELDS` with a wrong value.
    """
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        size = side.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise ValueError(f"{size} bytes; a sidecar has at most {MAX_SIDECAR_BYTES}")
        meta = json.loads(side.read_bytes().decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{side}: unreadable spike-stream sidecar (JSON nested too deeply)") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ValueError(f"{side}: unreadable spike-stream sidecar ({reason})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{side}: a spike-stream sidecar must hold a JSON object "
                         f'(e.g. {{"height": 250, "width": 400}}), got {type(meta).__name__}')
    for name in FIELDS:
        if name in meta:
            meta[name] = check_field(name, meta[name], f"{side}: sidecar {name!r}")
    return meta


def write_sidecar(path, meta: dict) -> Path:
    """Write ``meta`` as the sidecar of ``path`` (atomically); returns the sidecar path."""
    side = sidecar_path(path)
    with atomic_output(side) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return side
