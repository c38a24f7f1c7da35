"""Loading SSML weights: our shipped file, training checkpoints, or bare state dicts.

Accepted files (``torch.save`` output, saved on any device):

* a bare ``state_dict`` of :class:`ssml.SSML` (keys ``bsn.*``, ``nbsn.*``) or of a lone
  :class:`ssml.NBSN` (keys without that prefix; only the NBSN is then filled);
* a training checkpoint: a dict whose ``"model"`` entry is such a state dict (optimizer, RNG
  states, config and the rest are ignored here), or another tool's checkpoint that keeps it
  under ``"state_dict"`` or ``"model_state_dict"`` (:data:`WRAPPER_KEYS`);
* a state dict of :class:`ssml.lite.LiteNet` (keys ``enc1.*``, ``out.*``: the ``ssml-lite`` model);
* keys with a ``module.`` prefix (saved from DistributedDataParallel) are accepted.

The architecture (SSML pair, lone NBSN with or without NLA, or LiteNet) is read from the keys.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch

from .lite import LiteNet, width_of
from .networks import SSML

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "ssml_default.pt"
"""The SSML weights we ship; :func:`load_model` uses them when no path is given."""
LITE_WEIGHTS = WEIGHTS_DIR / "ssml_lite.pt"
"""The ``ssml-lite`` weights we ship (``load_model(lite=True)`` with no path)."""
ENDS_WEIGHTS = WEIGHTS_DIR / "ssml_ends.pt"
"""The SSML weights we ship for windows that cross a stream's end and are read mirrored
(``--pad reflect``, src/spikekit/recon/padding.py); ``-m ssml`` uses them there with the shipped
weights (``--param ends``, src/ssml/method.py)."""
CHECKPOINT = "last.pt"
"""File name of the rolling checkpoint inside a training run folder (:mod:`ssml.checkpoint`)."""


def checkpoint_file(path) -> Path:
    """``path`` itself, or ``<path>/last.pt`` when ``path`` is a folder (a run folder): the one
    place that maps a run folder to its checkpoint. Does not check that the result exists
    (callers name what they were looking for)."""
    path = Path(path)
    return path / CHECKPOINT if path.is_dir() else path


WRAPPER_KEYS = ("model", "state_dict", "model_state_dict")
"""Keys under which checkpoints keep the state dict: ours (``model``), and the two commonest in
PyTorch code (PyTorch Lightning and many training scripts)."""
SHOWN_KEYS = 3
"""Missing or unexpected keys named in a message (the rest are counted)."""


def is_lite(state: dict) -> bool:
    """Whether a (prefix-stripped) state dict belongs to :class:`ssml.lite.LiteNet`."""
    return "out.weight" in state and any(k.startswith("enc1.") for k in state)


def _read(path: Path) -> dict:
    try:  # weights_only: a weights file never gets to run code (our checkpoints load this way too)
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: not a PyTorch weights file or SSML checkpoint that loads with "
                         f"weights_only=True ({type(exc).__name__})") from None
    wrapper = next((k for k in WRAPPER_KEYS if isinstance(obj, dict) and isinstance(obj.get(k), dict)), None)
    if wrapper is not None:
        obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not an SSML state dict or checkpoint (expected a dict of tensors, "
                         f"or a dict holding one under {' / '.join(repr(k) for k in WRAPPER_KEYS)})")
    prefix = "module."
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in obj.items()}


def _keys(what: str, keys: list) -> str:
    """'3 missing (a, b, c)' or '40 missing (a, b, c, ... 37 more)'."""
    more = f", ... {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return f"{len(keys)} {what} ({', '.join(keys[:SHOWN_KEYS])}{more})"


def _key_mismatch(model_keys, file_keys) -> str:
    """One line listing the model's keys the file lacks and the file's keys the model lacks
    (counts and the first :data:`SHOWN_KEYS` of each), or '' when both sets are equal."""
    missing = [k for k in model_keys if k not in file_keys]
    extra = [k for k in file_keys if k not in model_keys]
    parts = ([_keys("missing", missing)] if missing else []) + ([_keys("unexpected", extra)] if extra else [])
    return "; ".join(parts)


def _check(path: Path, model: torch.nn.Module, state: dict, strict: bool) -> None:
    """Raise naming the first key whose shape differs, (strict) every missing and unexpected key
    in one line (counts and the first few), or (not strict) when no key matches at all (that
    would leave the random initial weights); not strict, warn with the same line."""
    own = model.state_dict()
    if not any(key in own for key in state):
        raise ValueError(f"{path}: none of the file's {len(state)} keys (e.g. {next(iter(state), None)!r}) "
                         f"is a parameter of the SSML model (e.g. {next(iter(own))!r}); not SSML weights")
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(f"{path}: parameter {key!r} has shape {tuple(value.shape)} in the "
                             f"file but {tuple(own[key].shape)} in the model")
    mismatch = _key_mismatch(list(own), list(state))
    if mismatch and strict:
        raise ValueError(f"{path}: weights do not match the SSML model: keys {mismatch}")
    if mismatch:
        warnings.warn(f"{path}: loaded with strict=False; keys {mismatch} (the missing ones keep "
                      "their initial values)", stacklevel=3)


def weights_path(path: str | Path | None = None, default: Path = DEFAULT_WEIGHTS) -> Path:
    """The weights file that ``path`` names: the file itself, a run folder's ``last.pt``, or
    (``None``) the shipped ``default`` (``src/ssml/weights/ssml_default.pt``).

    Raises:
        FileNotFoundError: no such file (names it; for the default, says the shipped weights
            are missing and how to get some).
    """
    if path is None:
        path = default
        if not path.is_file():
            raise FileNotFoundError(
                f"SSML weights not found: {path} (the shipped default weights are missing; "
                "pass a weights file or training run, e.g. --weights runs/ssml/last.pt, or train one "
                "with `spikekit train`)")
    found = checkpoint_file(path)  # a training run folder: its last.pt
    if not found.is_file():
        raise FileNotFoundError(f"SSML weights not found: {path}")
    return found


def load_model(path: str | Path | None = None, *, device: str | torch.device = "cpu",
               strict: bool = True, nla: bool | None = None, lite: bool = False) -> SSML | LiteNet:
    """Build an :class:`ssml.SSML` (or, for ``ssml-lite`` weights, a :class:`ssml.lite.LiteNet`)
    and load weights into it; returned in eval mode on ``device``.

    Args:
        path: weights file, or a training run folder (its ``last.pt``); ``None`` for the
            shipped ``src/ssml/weights/ssml_default.pt`` (``lite=True``: ``ssml_lite.pt``), whose
            architecture is read from the keys either way. Files are read with
            ``torch.load(weights_only=True)``: loading never runs code from the file.
        device: where the model goes (files saved on a GPU load on a CPU-only machine).
        strict: every key of the model must be in the file and vice versa (a file with only
            NBSN keys fills ``.nbsn`` and is strict about those). Not strict, at least one key
            must match (else nothing would be loaded), and a warning lists the missing and
            unexpected keys.
        nla: force the NBSN variant; ``None`` reads it from the keys (``nbsn.nla.*`` present).

        lite: only selects the default file (see ``path``).

    Returns:
        SSML in eval mode (``model(spikes)`` runs the NBSN), or LiteNet in eval mode.

    Raises:
        FileNotFoundError: the file does not exist (names it; for the default, says the shipped
            weights are not there yet/not installed).
        ValueError: not a state dict/checkpoint, a shape mismatch (names the first wrong key
            and both shapes), (strict) missing or unexpected keys (one line: the count and first
            few of each), or no key of the file in the model.

    Warns:
        UserWarning: not strict, the missing and unexpected keys (the same line).
    """
    path = weights_path(path, LITE_WEIGHTS if lite else DEFAULT_WEIGHTS)
    state = _read(path)
    if is_lite(state):
        model = target = LiteNet(width_of(state)) if "enc1.0.weight" in state else LiteNet()
    else:
        nbsn_only = not any(k.startswith(("bsn.", "nbsn.")) for k in state)
        if nla is None:
            nla = any(k.startswith("nla." if nbsn_only else "nbsn.nla.") for k in state)
        model = SSML(nla=nla)
        target = model.nbsn if nbsn_only else model
    _check(path, target, state, strict)
    target.load_state_dict(state, strict=strict)
    return model.to(device).eval()


__all__ = ["CHECKPOINT", "checkpoint_file", "DEFAULT_WEIGHTS", "ENDS_WEIGHTS", "LITE_WEIGHTS", "is_lite", "load_model", "weights_path"]
