"""Collections: one command over a folder of inputs, one output per input, resumable, sharded.

Used by ``spikekit simulate SRC_DIR -o OUT_DIR`` (:mod:`spikekit.simulate.collection`) and
``spikekit recon IN_DIR -o OUT_DIR`` (:mod:`spikekit.recon.collection`). This module holds what
both share:

* **Items**: an input's path relative to the source folder (POSIX form, e.g. ``"000"`` or
  ``"a/clip.mp4"``) names it everywhere: in the manifest, in its seed, in its shard.
* **Seeds**: ``input_seed(run_seed, rel)`` = the first 8 bytes of SHA-256 of
  ``"{run_seed}/{rel}"`` (little-endian, shifted right by one to a non-negative int63), so an
  input gets the same bits whichever process, rank or order converts it.
* **Shards**: rank r of a world of W processes takes the items with
  ``int(SHA-256(rel)[:8]) % W == r`` (stable across runs and machines, unlike Python's ``hash``).
* **Manifest**: ``OUT_DIR/manifest.jsonl``, one JSON object per finished input, sorted by
  input: ``input``, ``output``, ``parameters``, ``seed``, ``frames``, ``sha256`` (of the
  output file), ``seconds``. A record is appended (and fsync'ed) only after the output file is
  complete, so an input is done exactly when it has a record and its output exists; a rerun
  skips those (and cuts off a last line torn by a crash while appending). Under torchrun each rank appends to ``.manifest.part-R.jsonl`` and rank 0 merges
  the parts into ``manifest.jsonl`` after a ``torch.distributed`` barrier.
* **Processes**: under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the ranks join a
  ``torch.distributed`` process group (gloo: only barriers travel, the files are shared through
  the output folder); a ``cuda`` device becomes ``cuda:LOCAL_RANK``.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .io import atomic_output
from .progress import progress

MANIFEST = "manifest.jsonl"
"""File name of the manifest in the output folder."""
PART_GLOB = ".manifest.part-*.jsonl"
"""Per-rank manifest parts (torchrun), merged into :data:`MANIFEST` by rank 0."""
BARRIER_TIMEOUT = datetime.timedelta(days=7)
"""How long a finished rank waits at the final barrier for the slowest one."""


class CollectionError(ValueError):
    """An output folder that this run must not write into (not a collection output, or one made
    with other parameters): a usage error, the CLI exits with status 2."""


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def input_seed(run_seed: int, rel: str) -> int:
    """The seed of input ``rel`` (relative POSIX path) in a run seeded ``run_seed``: an int in [0, 2**63)."""
    return _digest(f"{int(run_seed)}/{rel}") >> 1


def shard_of(rel: str, world: int) -> int:
    """The rank (0 .. world-1) that processes input ``rel``."""
    return _digest(rel) % world


def sha256_file(path, block: int = 1 << 22) -> str:
    """Hex SHA-256 of the file ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Item:
    """One input of a collection.

    Attributes:
        rel: the input's path relative to the source folder, POSIX form (its name everywhere).
        source: the input's path.
        output: the main output's path relative to the output folder (POSIX form); its SHA-256
            goes into the manifest.
    """

    rel: str
    source: Path
    output: str


@dataclass(frozen=True)
class Ranks:
    """This process's place among the torchrun workers: ``rank``, ``world``, ``local_rank``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Ranks":
        """Read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (set by torchrun; absent: one process)."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    def device(self, device: str) -> str:
        """``device`` for this rank: a bare ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.world > 1 else device

    def mine(self, items: list[Item]) -> list[Item]:
        """The items this rank processes (see :func:`shard_of`)."""
        return [it for it in items if shard_of(it.rel, self.world) == self.rank]


class _Group:
    """What the ranks exchange: barriers and sums of counts (nothing else; files are shared)."""

    def __init__(self, dist=None):
        self.dist = dist

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()

    def sum(self, values: list[int]) -> list[int]:
        if self.dist is None:
            return list(values)
        import torch

        t = torch.tensor(values, dtype=torch.int64)
        self.dist.all_reduce(t)
        return t.tolist()


@contextlib.contextmanager
def process_group(ranks: Ranks):
    """Join torch.distributed's gloo process group when ``ranks.world`` > 1 (torchrun's
    ``MASTER_ADDR``/``MASTER_PORT`` rendezvous); yields an object with ``barrier()`` and
    ``sum(list_of_ints)`` (over all ranks), both trivial in a single process."""
    if ranks.world == 1:
        yield _Group()
        return
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=ranks.rank, world_size=ranks.world, timeout=BARRIER_TIMEOUT)
    try:
        yield _Group(dist)
    finally:
        dist.destroy_process_group()


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a crash while appending) off the manifest file ``path``."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _read_records(path: Path) -> list[dict]:
    """The records of one manifest file.

    Raises:
        ValueError: a line that is not a JSON record (names the file and line).
    """
    records = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {i + 1} is not JSON; the manifest is damaged") from None
        if not isinstance(record, dict) or "input" not in record:
            raise ValueError(f"{path}: line {i + 1} is not a manifest record")
        records.append(record)
    return records


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _differences(then, now) -> str:
    """``"steps_per_frame 20 there, 21 now; ..."`` for the keys whose values differ."""
    then = then if isinstance(then, dict) else {}
    if then.get("command") != now.get("command"):
        return f"by spikekit {then.get('command')}, this is spikekit {now.get('command')}"
    keys = sorted(k for k in set(then) | set(now) if _canonical(then.get(k)) != _canonical(now.get(k)))
    return "; ".join(f"{k} {_canonical(then.get(k))} there, {_canonical(now.get(k))} now" for k in keys)


class Manifest:
    """The manifest of an output folder: what is done, appending, merging (see the module docstring).

    Raises (constructor):
        CollectionError: the folder holds files but no manifest (not a collection output: nothing
            is overwritten), or records written with other ``parameters``.
        ValueError: a damaged manifest.
    """

    def __init__(self, folder: Path, parameters: dict, ranks: Ranks):
        self.folder, self.parameters, self.ranks = Path(folder), parameters, ranks
        self.path = self.folder / MANIFEST
        self.part = self.path if ranks.world == 1 else self.folder / f".manifest.part-{ranks.rank}.jsonl"
        files = self._files()
        if not files and self.folder.is_dir() and any(self.folder.iterdir()):
            raise CollectionError(f"{self.folder}: the output folder holds files but no {MANIFEST}; "
                             "give an empty or new folder (nothing there is overwritten)")
        self.done = {}
        for f in files:
            _drop_torn_tail(f)
            for record in _read_records(f):
                if _canonical(record.get("parameters")) != _canonical(parameters):
                    raise CollectionError(f"{f}: {record['input']} was made with other parameters "
                                          f"({_differences(record.get('parameters'), parameters)}); resume "
                                          "with the same options or give a new output folder")
                self.done[record["input"]] = record

    def _files(self) -> list[Path]:
        parts = sorted(self.folder.glob(PART_GLOB)) if self.folder.is_dir() else []
        return ([self.path] if self.path.is_file() else []) + parts

    def is_done(self, item: Item) -> bool:
        """Whether ``item`` has a record and its output file exists."""
        return item.rel in self.done and (self.folder / item.output).exists()

    def append(self, record: dict) -> None:
        """Append one record durably (flushed and fsync'ed) to this rank's manifest file."""
        with open(self.part, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[record["input"]] = record

    def merge(self) -> list[dict]:
        """Rewrite :data:`MANIFEST` (atomically) from it and every part, one record per input
        (the latest), sorted by input; remove the parts. Rank 0 only, after every rank is done."""
        records = {}
        for f in self._files():
            for record in _read_records(f):
                records[record["input"]] = record
        rows = [records[k] for k in sorted(records)]
        with atomic_output(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        for f in self.folder.glob(PART_GLOB):
            f.unlink()
        return rows


def run_collection(items: list[Item], out_dir, parameters: dict, work: Callable[[Item, Path, int | None], dict],
                   *, seed: int | None, desc: str, quiet: bool = False) -> dict:
    """Process this rank's share of ``items`` into ``out_dir``, skipping finished ones.

    Args:
        items: every input of the collection (each rank selects its own share).
        out_dir: the output folder (created if missing).
        parameters: JSON-able options that shape the outputs (recorded with ``command``: ``desc``;
            a resumed run must match).
        work: ``work(item, output_path, seed)`` writes ``out_dir / item.output`` atomically and
            returns a dict with at least ``frames`` (all of it goes into the record; without
            ``sha256`` the output file is read back to hash it).
        seed: the run seed (each input gets :func:`input_seed`), or None for seedless work.
        desc: the command (``"simulate"``, ``"recon"``): progress prefix and manifest ``command``.
        quiet: no progress lines.

    Returns:
        ``{"inputs": all inputs, "done": processed now, "skipped": already done (both summed over
        the ranks), "rank", "world",
        "seconds", "records": the merged manifest (rank 0; others: this rank's new records)}``.

    Raises:
        CollectionError, ValueError: as :class:`Manifest`; ValueError: no items. Whatever ``work`` raises (finished inputs
        keep their records; the interrupted one leaves nothing).
    """
    if not items:
        raise ValueError(f"{desc}: no inputs found")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    parameters = {"command": desc, **parameters}
    ranks = Ranks.from_env()
    with process_group(ranks) as group:
        manifest = Manifest(out_dir, parameters, ranks)
        group.barrier()  # every rank has checked the folder before any writes into it
        out_dir.mkdir(parents=True, exist_ok=True)
        mine = ranks.mine(items)
        todo = [it for it in mine if not manifest.is_done(it)]
        label = desc if ranks.world == 1 else f"{desc} rank {ranks.rank}/{ranks.world}"
        new = []
        with progress(len(mine), label, "input", quiet=quiet, initial=len(mine) - len(todo)) as bar:
            for item in todo:
                t0 = time.perf_counter()
                path = out_dir / item.output
                path.parent.mkdir(parents=True, exist_ok=True)
                item_seed = None if seed is None else input_seed(seed, item.rel)
                result = work(item, path, item_seed)
                record = {"input": item.rel, "output": item.output, "parameters": parameters, "seed": item_seed,
                          "sha256": result.get("sha256") or sha256_file(path), **result,
                          "seconds": round(time.perf_counter() - t0, 3)}
                manifest.append(record)
                new.append(record)
                bar.update(1)
        done, skipped = group.sum([len(new), len(mine) - len(todo)])  # also a barrier
        records = manifest.merge() if ranks.rank == 0 else new
        group.barrier()  # the merged manifest is in place before any rank returns
    return {"inputs": len(items), "done": done, "skipped": skipped, "rank": ranks.rank,
            "world": ranks.world, "manifest": str(manifest.path), "seconds": time.perf_counter() - started, "records": records}


__all__ = ["MANIFEST", "CollectionError", "Item", "Ranks", "Manifest", "input_seed", "shard_of", "sha256_file", "run_collection",
           "process_group"]
