"""Collection conversion against single-file simulate, and torchrun with 2 processes against 1.

Input: a synthetic REDS-like collection of N frame folders (F PNG frames of 250 x 400 each,
smooth random scenes), S spike frames per video frame, noise on, seed 0.

* ``per_process``: one process, in-process timings (median of R, fresh output each run):
  ``simulate_to_file`` once per input (what N single-file ``spikekit simulate`` calls do minus
  their start-up) against ``simulate_collection`` of the folder (discovery, derived seeds,
  manifest, hashing). ``ratio`` = collection throughput / single-file throughput (target >= 0.9).
* ``torchrun``: wall time of ``python -m spikekit simulate SRC -o OUT`` against ``torchrun
  --standalone --nproc_per_node 2 -m spikekit simulate SRC -o OUT`` (fresh output each), each
  also giving the run's own ``seconds`` (rank 0, without interpreter start-up). ``speedup`` = one
  process / two (target >= 1.7 on 2 idle cores). The bytes of both are compared.

    python benchmarks/bench_collection.py [--quick] [--repeats R] [--json-out F]
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, bench_parser, median_time, print_table, write_json  # noqa: E402

from spikekit.collection import input_seed  # noqa: E402
from spikekit.simulate import NoiseModel, simulate_to_file  # noqa: E402

H, W = 250, 400


def make_collection(root: Path, inputs: int, frames: int) -> Path:
    """``inputs`` frame folders of ``frames`` smooth random 250 x 400 uint8 PNGs."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:H, 0:W] / max(H, W)
    for i in range(inputs):
        folder = root / f"{i:03d}"
        folder.mkdir(parents=True)
        a, b, c = rng.uniform(1, 6, 3)
        for k in range(frames):
            image = 0.5 + 0.45 * np.sin(a * x + b * y + c + 0.2 * k)
            iio.imwrite(folder / f"{k:08d}.png", np.round(image * 255).astype(np.uint8))
    return root


def per_process(src: Path, steps: int, repeats: int) -> dict:
    from spikekit.simulate.collection import simulate_collection

    noise = NoiseModel()
    parameters = dict(rate=40000.0, fps=None, steps_per_frame=steps, gain=0.6, threshold=1.0,
                      noise=noise.to_dict(), size=None, channels="rgb", gt_every=None, gt_format="png")
    folders = sorted(p for p in src.iterdir() if p.is_dir())
    tmp = Path(tempfile.mkdtemp(prefix="bench-collection-"))
    try:
        def single():
            out = tmp / "single"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            for f in folders:
                simulate_to_file(str(f), out / f"{f.name}.dat", steps_per_frame=steps, noise=noise,
                                 seed=input_seed(0, f.name))

        def collection():
            out = tmp / "collection"
            shutil.rmtree(out, ignore_errors=True)
            simulate_collection(src, out, parameters=parameters, seed=0, quiet=True)

        t_single = median_time(single, repeats)
        t_collection = median_time(collection, repeats)
        same = all(filecmp.cmp(tmp / "single" / f"{f.name}.dat", tmp / "collection" / f"{f.name}.dat",
                               shallow=False) for f in folders)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"case": "one process", "single_file_s": t_single, "collection_s": t_collection,
            "ratio": t_single / t_collection, "target": 0.9, "same_bytes": same}


def _cli(cmd: list[str], out: Path) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return wall, json.loads(p.stdout.strip().splitlines()[-1])["seconds"]


def torchrun(src: Path, steps: int, repeats: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-torchrun-"))
    args = ["-m", "spikekit", "simulate", str(src), "--steps-per-frame", str(steps), "--json", "-o"]
    one_cmd = [sys.executable, *args, str(tmp / "one")]
    two_cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args,
               str(tmp / "two")]
    try:
        ones = [_cli(one_cmd, tmp / "one") for _ in range(repeats)]
        twos = [_cli(two_cmd, tmp / "two") for _ in range(repeats)]
        same = all(filecmp.cmp(p, tmp / "two" / p.name, shallow=False) for p in (tmp / "one").glob("*.dat*"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one_wall, one_run = (float(np.median(v)) for v in zip(*ones))
    two_wall, two_run = (float(np.median(v)) for v in zip(*twos))
    return {"case": "torchrun 2 vs 1 process", "one_wall_s": one_wall, "two_wall_s": two_wall,
            "speedup_wall": one_wall / two_wall, "one_run_s": one_run, "two_run_s": two_run,
            "speedup_run": one_run / two_run, "target": 1.7, "same_bytes": same}


def main():
    parser = bench_parser(__doc__, "collection", "4 inputs of 3 frames, one repeat", repeats=3)
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=4, help="video frames per input")
    parser.add_argument("--steps", type=int, default=100, help="spike frames per video frame")
    args = parser.parse_args()
    inputs, frames, repeats = (4, 3, 1) if args.quick else (args.inputs, args.frames, args.repeats)
    with tempfile.TemporaryDirectory(prefix="bench-src-") as tmp:
        src = make_collection(Path(tmp) / "src", inputs, frames)
        rows = [per_process(src, args.steps, repeats)]
        run = torchrun(src, args.steps, repeats)
    print(f"{inputs} inputs x {frames} frames x {args.steps} steps at {H}x{W}, noise on; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print_table(rows, ["case", "single_file_s", "collection_s", "ratio", "target", "same_bytes"])
    print_table([run], ["case", "one_wall_s", "two_wall_s", "speedup_wall", "one_run_s", "two_run_s",
                        "speedup_run", "target", "same_bytes"])
    out = write_json(args.json_out, {"benchmark": "collection", "inputs": inputs, "frames": frames,
                                     "steps": args.steps, "size": [H, W], "per_process": rows,
                                     "torchrun": [run], "load_average": os.getloadavg()[0]})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
