"""Decode speed of read_dat against NumPy, and peak RSS of streaming a long file.

Same run, median of N: decoding a 301-frame 250x400 ``.dat`` (../shared/data, or a generated one
when absent) and a generated 40,000-frame (500 MB) file with ``spikekit.read_dat`` vs
``numpy.unpackbits(bitorder="little")`` + vertical flip + copy (both include reading the file);
``read_dat`` as called (with its geometry check: a TFP of the first 256 frames, and of each
other candidate size when the image looks wrong, as on the generated structureless file) and
with ``check=False`` (``decode_only``). Every decode runs once per CPU kernel path.
Peak RSS of iterating ``SpikeStream.iter_chunks(1000)`` over the 40,000-frame file is measured in a
fresh process, next to the RSS of a process that only imports spikekit.

    python benchmarks/bench_io.py [--quick] [--device cuda] [--cpu-path P] [--json-out bench_out/io.json]
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, bench_parser, cpu_paths, median_time, print_table, run_peak_rss,  # noqa: E402
                    use_cpu_path, write_json)

import spikekit  # noqa: E402

H, W = 250, 400
SHARED = REPO.parent / "shared" / "data" / "reds301" / "spike" / "200_part1_key_id151.dat"

RSS_CODE = """
import json, sys
sys.path.insert(0, "benchmarks")
from common import peak_rss_mb
import spikekit
base = peak_rss_mb()
total = 0
if {iterate}:
    with spikekit.SpikeStream({path!r}, 250, 400) as stream:
        for chunk in stream.iter_chunks(1000):
            total += int(chunk[-1, 0, 0])
print(json.dumps({{"peak_rss_mb": peak_rss_mb(),
                  "after_import_mb": base, "spikes": total}}))
"""


def numpy_decode(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little").reshape(-1, H, W)[:, ::-1].copy()


def make_long_file(folder: Path, frames: int) -> Path:
    """A random 250x400 stream of ``frames`` spike frames (firing probability 0.3)."""
    path = folder / f"long_{frames}.dat"
    rng = np.random.default_rng(0)
    block = np.packbits(rng.random((1000, H * W)) < 0.3, axis=1, bitorder="little")
    with open(path, "wb") as f:
        for _ in range(frames // 1000):
            f.write(block.tobytes())
    return path


def bench_decode(name: str, path: Path, repeats: int, device: str) -> dict:
    frames = path.stat().st_size // (H * W // 8)

    def ours():
        x = spikekit.read_dat(path, H, W, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        del x

    def ref():
        x = numpy_decode(path)
        del x

    def decode_only():
        x = spikekit.read_dat(path, H, W, device=device, check=False)
        if device == "cuda":
            torch.cuda.synchronize()
        del x

    assert np.array_equal(spikekit.read_dat(path, H, W, stop=min(frames, 50)).numpy(), numpy_decode(path)[:50])
    t_ref = median_time(ref, repeats)
    t_ours = median_time(ours, repeats)
    t_decode = median_time(decode_only, repeats)
    return {"case": name, "frames": frames, "numpy_s": t_ref, "spikekit_s": t_ours, "speedup": t_ref / t_ours,
            "spikekit_frames_per_s": frames / t_ours, "decode_only_s": t_decode, "decode_only_speedup": t_ref / t_decode}


def main():
    args = bench_parser(__doc__, "io", "4,000 instead of 40,000 frames, 3 repeats").parse_args()
    repeats = 3 if args.quick else args.repeats
    long_frames = 4000 if args.quick else 40000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short = SHARED if SHARED.is_file() else make_long_file(tmp, 1000)
        long = make_long_file(tmp, long_frames)
        for path in cpu_paths(args):
            use_cpu_path(path)
            rows.append(dict(bench_decode(f"decode {short.name}", short, repeats, args.device), path=path))
            rows.append(dict(bench_decode(f"decode {long_frames} frames", long, repeats, args.device), path=path))
        print_table(rows, ["case", "path", "frames", "numpy_s", "spikekit_s", "speedup", "spikekit_frames_per_s",
                           "decode_only_s", "decode_only_speedup"])
        rss = run_peak_rss(RSS_CODE.format(path=str(long), iterate=True))
        base = run_peak_rss(RSS_CODE.format(path=str(long), iterate=False))
    rss["import_only_peak_rss_mb"] = base["peak_rss_mb"]
    rss["streaming_overhead_mb"] = rss["peak_rss_mb"] - base["peak_rss_mb"]
    rss["file_mb"] = long_frames * H * W / 8 / 2**20
    print(f"\niter_chunks(1000) over {long_frames} frames ({rss['file_mb']:.0f} MiB): peak RSS "
          f"{rss['peak_rss_mb']:.0f} MiB (import spikekit alone: {base['peak_rss_mb']:.0f} MiB; "
          f"streaming adds {rss['streaming_overhead_mb']:.0f} MiB)")
    out = write_json(args.json_out, {"benchmark": "io", "decode": rows, "stream_rss": rss,
                                     "device": args.device})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
