"""``spikekit recon IN_DIR -o OUT_DIR``: every ``.dat`` under a folder to one output file each.

Inputs: every ``*.dat`` at any depth of ``IN_DIR`` (hidden names skipped), sorted; ``a/rec.dat``
writes ``OUT_DIR/a/rec.npy`` (or ``.mp4`` / ``.gif``). Each input's sidecar (``rec.dat.json``)
gives its size as for one file. Resuming, sharding over torchrun ranks and the manifest:
:mod:`spikekit.collection`.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..collection import Item, Ranks, run_collection
from .run import Opener, ReconJob, open_checked, recon_file


def find_inputs(src: Path, suffix: str) -> list[Item]:
    """The ``.dat`` files under ``src`` as items whose output is the same path with ``suffix``.

    Raises:
        FileNotFoundError: ``src`` is not a folder.  ValueError: no ``.dat`` file under it.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: input folder not found")
    items = []
    for p in sorted(src.rglob("*.dat")):
        rel = p.relative_to(src)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            items.append(Item(rel.as_posix(), p, str(PurePosixPath(rel.as_posix()).with_suffix(suffix))))
    if not items:
        raise ValueError(f"{src}: no .dat files found")
    return items


def recon_collection(src, out_dir, job: ReconJob, *, suffix: str = ".npy", device: str = "cpu",
                     quiet: bool = False, opener: Opener = open_checked) -> dict:
    """Reconstruct every ``.dat`` under ``src`` into ``out_dir`` (this rank's share under torchrun).

    Args:
        src: the input folder.  out_dir: the output folder (created if missing).
        job: what to do with each file (:class:`spikekit.recon.run.ReconJob`; its ``record`` is
            recorded in the manifest with ``suffix``).
        suffix: ``".npy"`` (float32 (N, H, W) stack), ``".mp4"`` or ``".gif"``.
        device: where to compute (a bare ``cuda`` is ``cuda:LOCAL_RANK`` under torchrun); it
            is not recorded, so a run may resume on another device.
        quiet: no progress.  opener: how each input is opened (:data:`spikekit.recon.run.Opener`).

    Returns:
        :func:`spikekit.collection.run_collection`'s summary; ``frames`` of a record is the
        number of images written.

    Raises:
        As :func:`find_inputs`, :class:`spikekit.collection.Manifest` and
        :func:`spikekit.recon.run.recon_file`.
    """
    device = Ranks.from_env().device(device)

    def work(item: Item, output: Path, _seed) -> dict:
        return {"frames": recon_file(item.source, output, job, device=device, quiet=True, opener=opener)[0]}

    return run_collection(find_inputs(Path(src), suffix), out_dir, {**job.record, "suffix": suffix}, work, seed=None,
                          desc="recon", quiet=quiet)


__all__ = ["find_inputs", "recon_collection"]
