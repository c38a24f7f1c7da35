"""Helpers shared by the benchmarks: timing medians, peak RSS, JSON output, tables."""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def median_time(fn, repeats: int = 5, warmup: int = 1, clock=time.perf_counter) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs.

    ``clock`` is ``time.perf_counter`` (wall clock) by default; ``time.process_time`` gives CPU
    seconds of this process, which other jobs on the machine do not inflate.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def bench_parser(doc: str, name: str, quick_help: str, repeats: int = 5) -> argparse.ArgumentParser:
    """The options every benchmark takes: --quick, --repeats, --device, --cpu-path, --json-out."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--repeats", type=int, default=repeats, help="timed runs per figure (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--cpu-path", action="append", dest="cpu_paths", metavar="PATH",
                        help="CPU kernel path to measure (default, avx2, avx512; repeatable); "
                             "default: every path this CPU supports")
    parser.add_argument("--json-out", default=str(REPO / "bench_out" / f"{name}.json"), help="JSON results file")
    return parser


def cpu_paths(args) -> list[str]:
    """The CPU kernel paths a benchmark measures (``--cpu-path``, else all this CPU has); one
    ``"cuda"`` entry for ``--device cuda``. Exits with a one-line message on a path the CPU lacks."""
    from spikekit import ops

    if args.device != "cpu":
        return [args.device]
    supported = ops.supported_cpu_capabilities()
    paths = args.cpu_paths or list(supported)
    bad = [p for p in paths if p not in supported]
    if bad:
        sys.exit(f"--cpu-path {bad[0]}: this CPU supports {', '.join(supported)}")
    return paths


def use_cpu_path(path: str) -> str:
    """Make the CPU kernels take ``path`` (a no-op for ``"cuda"``); returns it for the row."""
    from spikekit import ops

    if path in ops.CPU_CAPABILITIES:
        ops.set_cpu_capability(path)
    return path


def cpu_facts() -> dict:
    """The CPU model and the vector features that decide the kernels' speed, from
    /proc/cpuinfo, plus the kernel paths it supports: figures from different CPUs must never be
    compared, so every JSON records them."""
    from spikekit import ops

    facts = {}  # the first CPU's lines of /proc/cpuinfo
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                facts.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = facts.get("model name") or platform.processor() or platform.machine()
    flags = set((facts.get("flags") or facts.get("Features") or "").split())
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16",
              "asimd", "sve")
    return {"model": model, "flags": [f for f in wanted if f in flags],
            "kernel_paths": list(ops.supported_cpu_capabilities())}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Reads VmHWM from /proc (per address space, so a child started by exec does not inherit its
    parent's peak the way ``ru_maxrss`` does); falls back to ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_peak_rss(code: str, timeout: float = 600) -> dict:
    """Run ``code`` in a fresh Python and return its JSON-printed dict (it should report RSS)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         cwd=REPO, env=dict(os.environ))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_json(path, payload: dict) -> Path:
    """Write ``payload`` (plus machine facts) to ``path`` as JSON; returns the path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(payload, machine={"cpus": os.cpu_count(), "cpu": cpu_facts(), "torch": torch.__version__,
                                     "threads": torch.get_num_threads(), "platform": platform.platform()})
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Print ``rows`` as a plain aligned text table with the given column keys."""
    cells = [[str(c) for c in columns]] + [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for k, row in enumerate(cells):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
