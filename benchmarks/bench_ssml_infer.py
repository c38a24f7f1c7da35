"""SSML inference against the machine's limit: FLOPs per frame, achieved GFLOP/s and the ratio to
a dense GEMM measured in the same run at the same thread count; stride-7 sub-stream reuse; large
frames (peak RSS); and the default thread count against ``--threads 1`` beside a competing process.

* Efficiency: FLOPs counted with ``torch.utils.flop_counter.FlopCounterMode`` (multiply-add = 2),
  seconds per frame of ``NBSN`` (fp32 channels-last, and bf16 autocast) and ``LiteNet``
  (``ssml-lite``), random weights (attention gammas 0.5 so the attention is not skipped
  numerically). ``gemm_ratio`` = model GFLOP/s / GEMM GFLOP/s of the same dtype (an N x N x N
  ``torch.mm``, median of the runs interleaved with the model's).
* Stride 7: seconds per output frame of a sequence of outputs 7 spike frames apart computed with
  ``ssml.sequence.SubstreamReuse`` against each window alone (``NBSN.forward``), same run; the
  ``steady`` figures leave out the first window (which computes all three sub-streams), as in a
  long sequence.
* Large frames: a fresh process runs one NBSN frame of the given size; its peak RSS (VmHWM) and
  seconds.
* Quality: validation PSNR of the shipped weights in fp32 and bf16 (``--skip quality`` without
  ../shared/data it is skipped anyway).
* Threads: a busy-loop process is started (one core taken), then fresh processes time the NBSN
  with the thread policy's default (``spikekit.threads.apply_threads()``), with 1 thread and with
  torch's own default (one per core); the busy process is stopped at the end.

Times are wall-clock medians (``--cpu-time``: process CPU seconds, meaningful with
``--threads 1`` on a shared machine).

    python benchmarks/bench_ssml_infer.py [--quick] [--threads N] [--cpu-time] [--skip PARTS]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import REPO, bench_parser, print_table, run_peak_rss, write_json  # noqa: E402

from ssml.lite import LiteNet  # noqa: E402
from ssml.networks import NBSN, WINDOW  # noqa: E402
from ssml.sequence import SubstreamReuse  # noqa: E402

PARTS = ("efficiency", "stride7", "large", "threads", "quality")


def random_nbsn(seed: int = 0) -> NBSN:
    """An NBSN with random weights and attention gammas 0.5, eval mode, channels-last."""
    torch.manual_seed(seed)
    model = NBSN(nla=True).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
    return model.to(memory_format=torch.channels_last)


def spike_window(size, frames: int = WINDOW, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(1, frames, *size, generator=g) < 0.3).float()
    return x.contiguous(memory_format=torch.channels_last)


def count_flops(model, x) -> int:
    """FLOPs of one ``model(x)`` (FlopCounterMode: a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def timed(fn, clock) -> float:
    start = clock()
    fn()
    return clock() - start


def gemm_fn(dtype, n: int):
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return lambda: torch.mm(a, b), 2 * n ** 3


def bench_efficiency(size, repeats: int, clock, gemm_n: int) -> list:
    """Rows per model/precision: FLOPs, seconds per frame, GFLOP/s and ratio to GEMM."""
    x = spike_window(size)
    models = {"NBSN": random_nbsn(), "ssml-lite": LiteNet().eval().to(memory_format=torch.channels_last)}
    gemms = {dt: gemm_fn(dt, gemm_n) for dt in (torch.float32, torch.bfloat16)}
    cases = [(name, prec) for name in models for prec in ("fp32", "bf16")]
    flops = {name: count_flops(m, x) for name, m in models.items()}

    def run(name, prec):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
            models[name](x)

    for case in cases:  # warm-up (oneDNN primitive creation)
        run(*case)
    for fn, _ in gemms.values():
        fn()
    times = {c: [] for c in cases}
    gemm_times = {dt: [] for dt in gemms}
    for _ in range(repeats):  # interleaved: load on a shared machine drifts between runs
        for dt, (fn, _) in gemms.items():
            gemm_times[dt].append(min(timed(fn, clock) for _ in range(3)))
        for case in cases:
            times[case].append(timed(lambda: run(*case), clock))
    gemm_rate = {dt: gemms[dt][1] / statistics.median(gemm_times[dt]) / 1e9 for dt in gemms}
    rows = []
    for name, prec in cases:
        s = statistics.median(times[(name, prec)])
        rate = flops[name] / s / 1e9
        ref = gemm_rate[torch.bfloat16 if prec == "bf16" else torch.float32]
        rows.append({"model": name, "precision": prec, "size": f"{size[0]}x{size[1]}",
                     "gflop_per_frame": flops[name] / 1e9, "s_per_frame": s, "gflops": rate,
                     "gemm_gflops": ref, "gemm_ratio": rate / ref})
    return rows


def bench_stride7(size, outputs: int, repeats: int, clock) -> dict:
    """Seconds per output frame at stride 7: sub-stream reuse against isolated windows."""
    model = random_nbsn()
    stream = spike_window(size, WINDOW + 7 * (outputs - 1), seed=1)
    starts = [7 * k for k in range(outputs)]

    def isolated():
        with torch.no_grad():
            return [model(stream[:, s:s + WINDOW]) for s in starts]

    def reused(first=None):
        reuse = SubstreamReuse(model)
        with torch.no_grad():
            out = [reuse(stream[:, starts[0]:starts[0] + WINDOW], starts[0])]
            if first is not None:
                first.append(clock())
            return out + [reuse(stream[:, s:s + WINDOW], s) for s in starts[1:]]

    same = all(torch.equal(a, b) for a, b in zip(isolated(), reused()))  # also the warm-up
    t_iso, t_reuse, t_steady = [], [], []
    for _ in range(repeats):
        t_iso.append(timed(isolated, clock) / outputs)
        first, start = [], clock()
        reused(first)
        end = clock()
        t_reuse.append((end - start) / outputs)
        t_steady.append((end - first[0]) / (outputs - 1))  # after the first window: 1 new sub-stream each
    iso, reu, steady = (statistics.median(t) for t in (t_iso, t_reuse, t_steady))
    return {"size": f"{size[0]}x{size[1]}", "outputs": outputs, "isolated_s_per_frame": iso,
            "reuse_s_per_frame": reu, "ratio": reu / iso, "steady_s_per_frame": steady,
            "steady_ratio": steady / iso, "bit_identical": same}


_LARGE = """
import json, sys, time, torch
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
torch.set_num_threads({threads})
from bench_ssml_infer import random_nbsn, spike_window
from common import peak_rss_mb
model, x = random_nbsn(), spike_window(({h}, {w}))
base = peak_rss_mb()
start = time.perf_counter()
with torch.no_grad():
    model(x)
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(),
                   "rss_before_mb": base}}))
"""


def bench_large(size, threads: int) -> dict:
    """One NBSN frame of ``size`` in a fresh process: seconds and peak RSS (MiB)."""
    code = _LARGE.format(repo=str(REPO), bench=str(Path(__file__).parent), threads=threads, h=size[0], w=size[1])
    return {"size": f"{size[0]}x{size[1]}", **run_peak_rss(code, timeout=900)}


_THREADS = """
import json, sys, time, torch
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
from spikekit.threads import apply_threads
mode = {mode!r}
n = apply_threads(None) if mode == "auto" else (apply_threads(1) if mode == "1" else torch.get_num_threads())
from bench_ssml_infer import random_nbsn, spike_window
model, x = random_nbsn(), spike_window(({h}, {w}))
times = []
with torch.no_grad():
    model(x)
    for _ in range({repeats}):
        start = time.perf_counter(); model(x); times.append(time.perf_counter() - start)
print(json.dumps({{"threads": n, "s_per_frame": sorted(times)[len(times) // 2]}}))
"""


def bench_threads(size, repeats: int) -> list:
    """Wall seconds per frame beside one busy-loop process: policy default, 1 thread, all cores."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    rows = []
    try:
        time.sleep(1.0)
        for mode, label in (("auto", "default (spikekit.threads)"), ("1", "--threads 1"),
                            ("torch", "torch default (one per core)")):
            code = _THREADS.format(repo=str(REPO), bench=str(Path(__file__).parent), mode=mode,
                                   h=size[0], w=size[1], repeats=repeats)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                                 cwd=REPO, env=dict(os.environ))
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            rows.append({"threads_mode": label, **json.loads(out.stdout.strip().splitlines()[-1])})
    finally:
        busy.terminate()
        busy.wait()
    one = next(r["s_per_frame"] for r in rows if r["threads_mode"] == "--threads 1")
    for r in rows:
        r["vs_threads_1"] = r["s_per_frame"] / one
    return rows


def bench_quality() -> list:
    """Mean PSNR (dB) of the shipped ``ssml`` and ``ssml-lite`` weights on the validation cases
    (``tools/protocol.py``, scored by ``tools/quality_table.py``) in fp32 and bf16, and the change;
    empty when ../shared/data is absent."""
    sys.path.insert(0, str(REPO / "tools"))
    from protocol import validation_cases
    from quality_table import DATA, score

    from spikekit.recon import get_method

    try:
        cases = validation_cases(DATA)
    except FileNotFoundError as exc:
        print(f"quality: skipped ({exc})")
        return []
    rows = []
    for method in ("ssml", "ssml-lite"):
        psnr = {p: statistics.mean(r["psnr"] for r in score(get_method(method), {"precision": p}, cases))
                for p in ("fp32", "bf16")}
        rows.append({"method": method, "cases": len(cases), "psnr_fp32": psnr["fp32"],
                     "psnr_bf16": psnr["bf16"], "bf16_minus_fp32_db": psnr["bf16"] - psnr["fp32"]})
    return rows


def main(argv=None) -> dict:
    ap = bench_parser(__doc__, "bench_ssml_infer", "125x200 frames, 2 repeats, 500x500 large frame "
                      "(a few minutes on 2 idle cores)", repeats=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads for the same-process parts (0: spikekit.threads default)")
    ap.add_argument("--cpu-time", action="store_true", help="time in process CPU seconds (use with --threads 1)")
    ap.add_argument("--size", default=None, help="HxW of the efficiency/stride-7/threads frames "
                    "(default 250x400, --quick 125x200)")
    ap.add_argument("--skip", default="", help=f"comma-separated parts to skip: {', '.join(PARTS)}")
    args = ap.parse_args(argv)
    from spikekit.threads import apply_threads

    threads = apply_threads(args.threads or None)
    clock = time.process_time if args.cpu_time else time.perf_counter
    skip = {p.strip() for p in args.skip.split(",") if p.strip()}
    if skip - set(PARTS):
        ap.error(f"--skip: unknown part(s) {', '.join(sorted(skip - set(PARTS)))}; known: {', '.join(PARTS)}")
    quick = args.quick
    size, repeats = ((125, 200), 2) if quick else ((250, 400), args.repeats)
    if args.size:
        size = tuple(int(v) for v in args.size.lower().split("x"))
    result = {"threads": threads, "clock": "cpu" if args.cpu_time else "wall", "size": list(size),
              "repeats": repeats}
    if "efficiency" not in skip:
        rows = bench_efficiency(size, repeats, clock, gemm_n=1024 if quick else 2048)
        print(f"\nEfficiency, {threads} threads, median of {repeats}; GEMM of the same dtype, same run")
        print_table(rows, ["model", "precision", "size", "gflop_per_frame", "s_per_frame", "gflops",
                           "gemm_gflops", "gemm_ratio"])
        result["efficiency"] = rows
    if "stride7" not in skip:
        row = bench_stride7(size, 4 if quick else 6, repeats, clock)
        print(f"\nStride 7, {threads} threads: sub-stream reuse vs isolated windows")
        print_table([row], list(row))
        result["stride7"] = [row]  # a list of rows, as every table of tools/bench_tables.py
    if "large" not in skip:
        row = bench_large((500, 500) if quick else (1000, 1000), threads)
        print(f"\nLarge frame, {threads} threads, fresh process")
        print_table([row], list(row))
        result["large"] = [row]
    if "threads" not in skip:
        rows = bench_threads(size, repeats)
        print("\nThreads beside one busy-loop process (wall seconds per frame)")
        print_table(rows, ["threads_mode", "threads", "s_per_frame", "vs_threads_1"])
        result["threads_loaded"] = rows
    if "quality" not in skip:
        rows = bench_quality()
        print("\nValidation PSNR of the shipped weights, fp32 against bf16 autocast")
        print_table(rows, ["method", "cases", "psnr_fp32", "psnr_bf16", "bf16_minus_fp32_db"])
        result["precision_quality"] = rows
    write_json(args.json_out, result)
    print(f"wrote {args.json_out}")
    return result


if __name__ == "__main__":
    main()
