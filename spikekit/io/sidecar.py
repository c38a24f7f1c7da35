"""The JSON sidecar ``<file>.json`` beside a ``.dat`` spike stream (e.g. ``clip.dat.json``).

``.dat`` files have no header; the sidecar records what the file cannot: ``height``, ``width``,
``rate`` (spike frames per second, Hz) and, for simulated streams, the simulator parameters.
"""
from __future__ import annotations

import json
from pathlib import Path

from .atomic import atomic_output


def sidecar_path(path) -> Path:
    """Path of the sidecar of the spike stream ``path``: the same name with ``.json`` appended."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_sidecar(path) -> dict:
    """The sidecar of ``path`` as a dict, or ``{}`` when there is none.

    Raises:
        ValueError: when the sidecar exists but is not a JSON object (names the sidecar file).
    """
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{side}: unreadable spike-stream sidecar ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{side}: sidecar must hold a JSON object, got {type(meta).__name__}")
    return meta


def write_sidecar(path, meta: dict) -> Path:
    """Write ``meta`` as the sidecar of ``path`` (atomically); returns the sidecar path."""
    side = sidecar_path(path)
    with atomic_output(side) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return side
