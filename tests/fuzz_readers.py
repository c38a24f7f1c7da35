"""A seeded fuzzer of the ``.dat`` readers, their sidecars and ``spikekit info`` (issue 33).

Each case writes a small ``.dat`` file (random bytes, a real stream, another format's signature,
empty, or a large sparse file) and a sidecar beside it (none, broken JSON, deep nesting, a
non-object, or an object whose fields come from a pool of hostile and plausible values), then
opens it with :class:`spikekit.io.SpikeStream` and :func:`spikekit.io.read_dat` (with random
arguments), runs ``stream_stats`` and ``check_stream`` on it, and (one case in
:data:`CLI_EVERY`) runs ``spikekit info`` on it.

A case fails when

* ``traceback``: an exception other than the documented ones escapes a reader (``ValueError``,
  ``OSError``, and ``IndexError`` for ``stream[i]``), or ``spikekit info`` exits with anything
  but a one-line error (an exception other than ``SystemExit``);
* ``unnamed``: a reader's ``ValueError`` does not name the ``.dat`` file (or its sidecar, whose
  name starts with the file's), or ``info``'s error line does not;
* ``accepted``: the stream opens although a sidecar field that was not overridden by an argument
  is obviously wrong (not a positive integer size, not a true/false flip, not a finite positive
  rate, not a non-negative integer head);
* ``memory``: the process's peak resident memory during a case rose more than
  :data:`MEMORY_BOUND` above its resident memory at the case's start, or an allocation failed (the run sets an address-space limit of
  :data:`MEMORY_BOUND` above what the warmed-up process maps plus the largest file's mapping, so
  that a reader asking for more fails at once instead of exhausting the machine).

Run ``python tests/fuzz_readers.py [--cases N] [--seed S]``: prints one JSON object
(``cases``, ``failures`` by kind, the first examples, ``seconds``, ``worst_case_mib``) and exits
with status 1 when any case failed. ``tests/test_fuzz_readers.py`` runs it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

try:
    from spikekit.io.sidecar import MAX_FRAME_PIXELS
    from spikekit.stats import CHUNK_BYTES
except ImportError:  # an older spikekit, run to count its failures
    MAX_FRAME_PIXELS, CHUNK_BYTES = 1 << 23, 32 << 20

MEMORY_BOUND = 32 * MAX_FRAME_PIXELS + 2 * CHUNK_BYTES
"""Bytes of memory a case may use beyond the warmed-up process (320 MiB): what docs/format.md
states a reader holds at most besides the frames it is asked to decode, about 32 bytes per pixel
of the largest frame a reader accepts plus two chunks of ``spikekit info``. The files are small,
or sparse files whose claimed frame size the readers must refuse or read in bounded chunks."""
CLI_EVERY = 4
"""``spikekit info`` runs on one case in this many (it costs more than the readers it calls)."""
SPARSE_BYTES = 1 << 29
"""The largest file, sparse (512 MiB): a 65536 x 65536 sidecar makes it one frame."""

# Sidecar values: JSON text -> whether it is a valid value of (size, flip, rate, head).
_RAW = ["null", "[]", "{}", '"fast"', '"250"', "true", "false", "0", "1", "-1", "3", "8", "16", "32",
        "48", "64", "250", "400", "65536", "2147483648", "4294967304", "9223372036854775808",
        "1e30", "1e-300", "1e999", "-1e999", "NaN", "Infinity", "-Infinity", "250.0", "0.5", "16.0",
        "20000", "40000.0", '""', '"\\u0000"', "[250, 400]"]
_PLAUSIBLE = {"height": ["8", "10", "32", "48", "64", "250"], "width": ["8", "13", "48", "64", "400"],
              "flip": ["true", "false"], "rate": ["20000", "40000.0", "1000"], "head": ["0", "4", "16"]}
_SIZES = [(8, 8), (10, 13), (3, 5), (48, 64), (64, 48), (32, 32), (250, 400), (1, 1)]
_MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"PK\x03\x04", b"\x93NUMPY", b"GIF8", b"\0\0\0\0ftyp"]


def _valid(field: str, value) -> bool:
    """Whether a parsed sidecar value is obviously acceptable for ``field``."""
    if field == "flip":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if field == "rate":
        return math.isfinite(value) and value > 0
    if not isinstance(value, int):
        return False
    return value >= 0 if field == "head" else value > 0


def _make_file(rng, path: Path) -> None:
    kind = rng.integers(0, 8)
    if kind == 0:
        path.write_bytes(b"")
    elif kind in (1, 2):  # random bytes
        path.write_bytes(rng.integers(0, 256, int(rng.integers(1, 1 << 14)), dtype=np.uint8).tobytes())
    elif kind == 3:  # another format's signature
        magic = _MAGIC[rng.integers(len(_MAGIC))]
        path.write_bytes(magic + rng.integers(0, 256, int(rng.integers(0, 4096)), dtype=np.uint8).tobytes())
    elif kind in (4, 5, 6):  # a stream of whole frames: noise or a smooth (structured) scene
        h, w = _SIZES[rng.integers(len(_SIZES))]
        frames = int(rng.integers(1, max(2, (1 << 15) // max(1, h * w // 8))))
        frames = min(frames, 40)
        if kind == 6:
            y, x = np.mgrid[0:h, 0:w]
            p = 0.1 + 0.8 * (np.sin(x / 7.0) * np.cos(y / 5.0) + 1) / 2
            bits = (rng.random((frames, h, w)) < p).astype(np.uint8)
        else:
            bits = (rng.random((frames, h, w)) < rng.random()).astype(np.uint8)
        flat = np.zeros((frames, -(-h * w // 8) * 8), np.uint8)
        flat[:, :h * w] = bits.reshape(frames, -1)
        data = np.packbits(flat, axis=1, bitorder="little").tobytes()
        if rng.random() < 0.2:  # a truncated recording
            data = data[:len(data) - int(rng.integers(1, 8))] or b"\0"
        path.write_bytes(data)
    else:  # a sparse file (nothing on disk): frame sizes must be checked before reading
        with open(path, "wb") as f:
            f.truncate(int(rng.choice([1 << 20, (1 << 20) + 3, 1 << 18])))


def _make_sidecar(rng, side: Path):
    """Write a sidecar; returns the parsed object (or None when there is none or it is not JSON)."""
    kind = rng.integers(0, 10)
    if kind == 9 and rng.random() < 0.1:  # the case: a huge frame that fits a sparse file
        with open(side.with_suffix(""), "wb") as f:
            f.truncate(SPARSE_BYTES)
        side.write_text('{"height": 65536, "width": 65536}')
        return json.loads(side.read_text())
    if kind == 0:
        return None
    if kind == 1:
        side.write_bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes())
        return None
    if kind == 2:
        depth = int(rng.choice([50, 5000, 200000]))
        side.write_text("[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth)
        return None
    if kind == 3:
        text = _RAW[rng.integers(len(_RAW))]
        side.write_text(text)
        return None
    fields = {}
    for field in ("height", "width", "flip", "rate", "head"):
        r = rng.random()
        if r < 0.35:
            continue
        pool = _PLAUSIBLE[field] if r < 0.7 else _RAW
        fields[field] = pool[rng.integers(len(pool))]
    if rng.random() < 0.3:
        fields["source"] = '"video.mp4"'
    text = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    side.write_text(text)
    return json.loads(text)


def _arguments(rng) -> dict:
    """Random keyword arguments of SpikeStream: mostly None, else hostile or plausible values."""
    args = {}
    if rng.random() < 0.3:
        args["height"] = int(rng.choice([-1, 0, 1, 8, 10, 48, 64, 250, 65536]))
    if rng.random() < 0.3:
        args["width"] = int(rng.choice([-1, 0, 1, 8, 13, 48, 64, 400, 65536]))
    if rng.random() < 0.2:
        args["flip"] = bool(rng.random() < 0.5)
    if rng.random() < 0.2:
        args["rate"] = float(rng.choice([-1.0, 0.0, 20000.0, float("nan"), float("inf")]))
    if rng.random() < 0.2:
        args["head"] = int(rng.choice([-1, 0, 4, 16, 1 << 32]))
    if rng.random() < 0.2:
        args["strict"] = True
    if rng.random() < 0.2:
        args["force"] = True
    return args


class Outcome:
    """Failures of one run, by kind, with the first few examples."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.examples: list[str] = []
        self.failed_cases = 0
        self._case_failed = False

    def fail(self, kind: str, case: int, what: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if not self._case_failed:
            self.failed_cases += 1
            self._case_failed = True
        if len(self.examples) < 40:
            self.examples.append(f"case {case} [{kind}] {what}"[:300])

    def next_case(self) -> None:
        self._case_failed = False


def _call(out: Outcome, case: int, name: str, fn, allowed=(ValueError, OSError)):
    """Run ``fn``; record a failure for an undocumented exception or an unnamed ValueError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(), None
    except allowed as exc:
        if isinstance(exc, ValueError) and name not in str(exc):
            out.fail("unnamed", case, f"{type(exc).__name__}: {exc}")
        return None, exc
    except MemoryError as exc:
        out.fail("memory", case, f"MemoryError: {exc}")
        return None, exc
    except BaseException as exc:  # noqa: BLE001 - the fuzzer's whole point
        if isinstance(exc, KeyboardInterrupt):
            raise
        kind = "memory" if "allocate" in str(exc) else "traceback"
        out.fail(kind, case, f"{type(exc).__name__}: {str(exc)[:200]}")
        return None, exc


def run_case(rng, folder: Path, case: int, out: Outcome, runner) -> None:
    """One case: a file, a sidecar, the readers and ``spikekit info`` on them."""
    from spikekit.cli import main
    from spikekit.io import SpikeStream, read_dat
    from spikekit.io.geometry import check_stream
    from spikekit.stats import stream_stats

    path = folder / f"c{case}.dat"
    side = folder / f"c{case}.dat.json"
    _make_file(rng, path)
    meta = _make_sidecar(rng, side)
    args = _arguments(rng)
    if path.stat().st_size == SPARSE_BYTES:  # the claimed frame itself is under test
        args = {}
    name = path.name

    def use():
        with SpikeStream(path, **args) as s:
            n = len(s)
            repr(s), s.duration
            s.decode(0, min(n, 3))
            s[-1]
            s.packed(0, 1)
            for _ in s.iter_chunks(4, stop=min(n, 8)):
                pass
            stream_stats(s)
            check_stream(s, force=True)
            return s

    stream, error = _call(out, case, name, use)
    if error is None and isinstance(meta, dict):
        overridden = {"height": "height", "width": "width", "flip": "flip", "rate": "rate", "head": "head"}
        for field, value in meta.items():
            if field in overridden and args.get(overridden[field]) is None and not _valid(field, value):
                out.fail("accepted", case, f"{field}: {value!r} accepted ({stream!r})")
    if stream is not None and len(stream) > 1:
        a = int(rng.integers(-2, len(stream) + 2))  # a window of at most 64 frames, or past an end
        b = a + int(rng.integers(-2, 65)) if rng.random() < 0.9 else len(stream) + 1
        read_args = {k: v for k, v in args.items() if k != "rate"}
        if "head" in read_args:
            read_args["remove_head"] = read_args.pop("head")
        _call(out, case, name, lambda: read_dat(path, start=a, stop=b, **read_args))
    if rng.random() * CLI_EVERY >= 1:
        return _cleanup(path, side)
    cli = ["info", str(path), "-q"]
    if rng.random() < 0.3:
        cli.append("--json")
    for flag, key in (("-H", "height"), ("-W", "width"), ("--head", "head")):
        if key in args and args[key] >= 0:
            cli += [flag, str(args[key])]
    result = runner.invoke(main, cli)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        exc = result.exception
        kind = "memory" if isinstance(exc, MemoryError) or "allocate" in str(exc) else "traceback"
        out.fail(kind, case, f"info: {type(exc).__name__}: {str(exc)[:200]}")
    elif result.exit_code not in (0, 1, 2):
        out.fail("traceback", case, f"info: exit status {result.exit_code}")
    elif result.exit_code != 0:
        error_lines = [line for line in result.output.splitlines() if line.startswith(("Error", "error"))]
        if not any(name in line for line in error_lines):
            out.fail("unnamed", case, "info: " + " | ".join(error_lines or result.output.splitlines()[-1:]))
    _cleanup(path, side)


def _cleanup(*paths) -> None:
    for p in paths:
        try:
            p.unlink()
        except OSError:
            pass


def _status(key: str) -> int:
    """A size from /proc/self/status (``VmSize``, ``VmRSS``, ``VmHWM``), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _reset_peak() -> int:
    """Reset the peak resident memory (VmHWM) to the current one; returns the current one."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status("VmRSS")


def run(cases: int = 1000, seed: int = 0, limit: bool = True) -> dict:
    """Run ``cases`` cases from ``seed``; returns the summary (see the module docstring)."""
    from click.testing import CliRunner

    runner = CliRunner()
    rng = np.random.default_rng(seed)
    out = Outcome()
    with tempfile.TemporaryDirectory(prefix="spikekit-fuzz-") as tmp:
        folder = Path(tmp)
        run_case(np.random.default_rng(seed + 1), folder, -1, Outcome(), runner)  # warm up imports
        if limit:
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (_status("VmSize") + MEMORY_BOUND + SPARSE_BYTES, hard))
        worst = 0
        t0 = time.perf_counter()
        try:
            for case in range(cases):
                out.next_case()
                start = _reset_peak()
                run_case(rng, folder, case, out, runner)
                growth = _status("VmHWM") - start
                worst = max(worst, growth)
                if growth > MEMORY_BOUND:
                    out.fail("memory", case, f"peak resident memory {growth >> 20} MiB above the start")
        finally:
            if limit:
                resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        seconds = time.perf_counter() - t0
    return {"cases": cases, "seed": seed, "failed_cases": out.failed_cases, "failures": out.counts,
            "examples": out.examples, "seconds": round(seconds, 2), "worst_case_mib": worst >> 20,
            "memory_bound_mib": MEMORY_BOUND >> 20}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    summary = run(args.cases, args.seed)
    print(json.dumps(summary, indent=1))
    return 1 if summary["failed_cases"] else 0


if __name__ == "__main__":
    sys.exit(main())
