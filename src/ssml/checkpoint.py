"""Training checkpoints and run folders: where they are, what they hold, writing and reading them.

A run folder (``TrainConfig.out``) holds :data:`RUN_FILES`: the rolling checkpoint ``last.pt``,
``config.yaml`` and ``log.csv`` (plus TensorBoard events under ``tb/`` and, with ``keep_every``,
``step_NNNNNNN.pt``). A checkpoint is a dict, written atomically (:func:`spikekit.io.save_torch`)
and read with ``torch.load(weights_only=True)``: the model, optimiser and scheduler states,
every rank's RNG states (:func:`rng_state`), the step, the config, the spikekit version, the
training seconds so far and the world size. Weights files and checkpoints are both accepted
wherever weights are read (:func:`ssml.weights_io.load_model`), so the run folder's checkpoint
name and :func:`~ssml.weights_io.checkpoint_file` live there, in the inference layer.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from spikekit.errors import first_line
from spikekit.io import save_torch

from .config import TrainConfig, drop_retired
from .weights_io import CHECKPOINT, checkpoint_file

RUN_FILES = (CHECKPOINT, "config.yaml", "log.csv")
"""Files whose presence makes a folder a training run (``spikekit train -o`` refuses to replace them)."""
KEYS = ("model", "optimizer", "scheduler", "rng", "step", "config")
"""Entries every training checkpoint has (a bare weights file has none of them)."""


def resolve_checkpoint(resume) -> Path:
    """A checkpoint file, or ``<folder>/last.pt`` for a run folder.

    Raises:
        FileNotFoundError: neither exists (names what was looked for).
    """
    path = checkpoint_file(resume)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (give a checkpoint file or a run folder "
                                f"with {CHECKPOINT})")
    return path


def step_file(out: Path, step: int) -> Path:
    """The kept checkpoint of ``step`` in run folder ``out``: ``step_NNNNNNN.pt``."""
    return Path(out) / f"step_{step:07d}.pt"


def save_checkpoint(out: Path, ckpt: dict, keep: bool = False) -> Path:
    """Write ``ckpt`` as ``<out>/last.pt`` (and, when ``keep``, as :func:`step_file` too), each
    atomically; returns the ``last.pt`` path.

    Raises:
        OSError: the folder is missing, read-only or full (names the file).
    """
    path = save_torch(Path(out) / CHECKPOINT, ckpt)
    if keep:
        save_torch(step_file(out, int(ckpt["step"])), ckpt)
    return path


def read_checkpoint(path) -> dict:
    """Load a training checkpoint onto the CPU (RNG states must stay there), ``weights_only``.

    Raises:
        ValueError: the file is not a readable checkpoint (truncated, corrupt, a bare weights
            file): one line naming the file and the first missing entry or the loader's error.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... for bad files
        reason = first_line(exc)
        raise ValueError(f"{path}: not a readable training checkpoint ({reason})") from None
    missing = [k for k in KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path}: not a training checkpoint (no {missing[0]!r} entry; a weights file "
                         "starts a new run with --init instead)")
    return ckpt


def load_checkpoint_config(path) -> TrainConfig:
    """The :class:`~ssml.config.TrainConfig` stored in the checkpoint file ``path`` (a run folder's
    is :func:`resolve_checkpoint`'s), without the settings an older run held that no longer exist
    (:func:`ssml.config.drop_retired`).

    Raises:
        ValueError: not a readable checkpoint, or unknown config keys.
    """
    return TrainConfig.from_dict(drop_retired(read_checkpoint(path)["config"], path))


def checkpoint_step(path) -> int | None:
    """The ``step`` entry of a checkpoint file, or None for a bare weights file. The file is
    memory-mapped, so its tensors are not read."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(ckpt["step"]) if isinstance(ckpt, dict) and "step" in ckpt else None


def rng_state(data) -> dict:
    """This process's RNG states (torch, Python, NumPy, CUDA when initialised, and the data
    generator ``data.state_dict()``) in a ``torch.load(weights_only=True)``-safe form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
             "data": data.state_dict()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, data) -> None:
    """Restore what :func:`rng_state` saved (the data generator through ``data.load_state_dict``)."""
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    data.load_state_dict(state["data"])


def _as_tuple(x):
    """Lists back to the nested tuples of :func:`random.getstate` (a checkpoint stores lists)."""
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
