"""Helpers shared by the benchmarks: timing medians, peak RSS, JSON output, tables."""
from __future__ import annotations

import argparse
import json
import os
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
    """The options every benchmark takes: --quick, --repeats, --device, --json-out."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--repeats", type=int, default=repeats, help="timed runs per figure (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json-out", default=str(REPO / "bench_out" / f"{name}.json"), help="JSON results file")
    return parser


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
    import platform

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(payload, machine={"cpus": os.cpu_count(), "torch": torch.__version__,
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
