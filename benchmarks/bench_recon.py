"""Reconstruction speed against NumPy references, and peak RSS of a long streamed recon.

Same run, median of N, 250 x 400 spike frames:

(a) TFP (w = 41) at stride 1 and 41 over a packed 20,000-frame stream: the fused
    ``spikekit::tfp_packed`` kernel (reads the packed bytes) vs NumPy ``unpackbits`` + a
    cumulative sum over time (both in chunks, both producing the same float32 images).
(b) TFI of one 41-frame window per sample (centre 20, search bound 12, as SSML's AMIM) on a
    batch of 64 float32 samples: ``spikekit.recon.isi`` vs a per-sample NumPy loop in the style
    of the official SSML ``middleTFI`` (and a vectorised PyTorch expression, for reference).
(b') TFI at stride 1 over a packed 4,000-frame stream (M = 20): the fused ``spikekit::tfi_packed``
    kernel vs vectorised NumPy (``unpackbits``, the last and next spike frame of every pixel by
    ``np.maximum.accumulate`` forwards and backwards in time, clamped to the search bound).
(c) Peak RSS of ``spikekit recon`` over a 40,000-frame (500 MB) structureless file (random
    spikes: no size gives an image, so the geometry check tries every size that divides the
    file, the worst case for it) at stride 100, in a fresh process, next to the RSS of a process
    that only imports spikekit: each classic method to ``.npy``, TFP to ``.mp4`` and TFI to
    ``.gif`` (a GIF holds its frames until it closes: its peak grows with the output count).
    ``--rss-only`` runs this part alone.
(d) The TFSTP recurrence over 2,000 frames (an output every 41 frames, raw rate): the
    ``spikekit::tfstp_frames`` kernel vs NumPy vectorised over pixels frame by frame, and (when
    numba is installed) vs the numba kernel spikekit used before, as it was (two exp per spike)
    and with the C++ kernel's table of decays for intervals under 1024 frames; all at torch's
    thread count.

(a), (b') and (d) run once per CPU kernel path (default, avx2, avx512: ``--cpu-path``).

    python benchmarks/bench_recon.py [--quick] [--rss-only] [--device cuda] [--cpu-path P]
        [--json-out bench_out/recon.json]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import make_long_file  # noqa: E402
from common import (REPO, bench_parser, cpu_paths, median_time, print_table, run_peak_rss,  # noqa: E402
                    use_cpu_path, write_json)

from spikekit import ops  # noqa: E402
from spikekit.io import SpikeStream  # noqa: E402
from spikekit.recon import get_method, isi  # noqa: E402
from spikekit.recon.base import plan_reconstruction  # noqa: E402

H, W = 250, 400
WINDOW = 41
SCALE = 1 / 0.6
OUT_BATCH = 32  # output images per kernel call (as spikekit recon: MAX_CHUNK_OUTPUTS)
NUMPY_SPAN = 512  # spike frames of centres per NumPy chunk (bounds its int32 cumsum to ~200 MB)
RSS_CASES = (("tfp", "npy"), ("tfi", "npy"), ("tfstp", "npy"), ("tfp", "mp4"), ("tfi", "gif"))
"""(method, output suffix) of the peak-RSS runs of ``spikekit recon``."""

RSS_CODE = """
import json, sys
sys.path.insert(0, "benchmarks")
from common import peak_rss_mb
from spikekit.cli import main
base = peak_rss_mb()
if {run}:
    main(["recon", {path!r}, "-m", {method!r}, "--stride", "100", "-o", {out!r}, "-q"], standalone_mode=False)
print(json.dumps({{"peak_rss_mb": peak_rss_mb(), "after_import_mb": base}}))
"""


# --- (a) TFP ----------------------------------------------------------------------------------

def numpy_tfp(packed: np.ndarray, centres: np.ndarray, window: int, scale: float):
    """Yield float32 (n, H, W) TFP images: unpackbits + cumulative sum over time, in chunks."""
    half = window // 2
    for first in range(centres[0], centres[-1] + 1, NUMPY_SPAN):
        c = centres[(centres >= first) & (centres < first + NUMPY_SPAN)]
        if not len(c):
            continue
        f0, f1 = c[0] - half, c[-1] - half + window
        bits = np.unpackbits(packed[f0:f1], axis=1, bitorder="little")[:, :H * W]
        csum = np.zeros((f1 - f0 + 1, H * W), dtype=np.int32)
        np.cumsum(bits, axis=0, dtype=np.int32, out=csum[1:])
        start = c - half - f0
        counts = csum[start + window] - csum[start]
        images = np.minimum(counts * np.float32(scale / window), np.float32(1.0))
        yield images.reshape(-1, H, W)[:, ::-1]  # file rows are bottom-up


def spikekit_tfp(packed: torch.Tensor, centres: np.ndarray, window: int, scale: float, out: torch.Tensor):
    for a in range(0, len(centres), OUT_BATCH):
        c = torch.from_numpy(centres[a:a + OUT_BATCH])
        yield ops.tfp_packed(packed, H, W, c, window, scale, out=out[:len(c)])


def bench_tfp(frames: int, repeats: int, device: str) -> list:
    rng = np.random.default_rng(0)
    block = np.packbits(rng.random((1000, H * W)) < 0.3, axis=1, bitorder="little")
    packed = np.concatenate([np.roll(block, k, axis=0) for k in range(frames // 1000)])
    packed_t = torch.from_numpy(packed).to(device)
    out = (torch.empty((OUT_BATCH, H, W), device=device) if device != "cpu"
           else torch.from_numpy(np.empty((OUT_BATCH, H, W), np.float32)))
    rows = []
    for stride in (1, WINDOW):
        centres = np.arange(WINDOW // 2, frames - WINDOW // 2, stride)
        first_ref = next(numpy_tfp(packed, centres, WINDOW, SCALE))
        first = next(spikekit_tfp(packed_t, centres, WINDOW, SCALE, out)).cpu().numpy()
        n = min(len(first), len(first_ref))
        np.testing.assert_allclose(first[:n], first_ref[:n], rtol=1e-6)

        def ref():
            for _ in numpy_tfp(packed, centres, WINDOW, SCALE):
                pass

        def ours():
            for _ in spikekit_tfp(packed_t, centres, WINDOW, SCALE, out):
                pass
            if device != "cpu":
                torch.cuda.synchronize()

        t_ref = median_time(ref, repeats)
        t_ours = median_time(ours, repeats)
        rows.append({"case": f"TFP w={WINDOW} stride {stride}", "frames": frames, "outputs": len(centres),
                     "numpy_s": t_ref, "spikekit_s": t_ours, "speedup": t_ref / t_ours,
                     "spikekit_images_per_s": len(centres) / t_ours})
    return rows


# --- (b) batched TFI --------------------------------------------------------------------------

def numpy_loop_tfi(batch: torch.Tensor, middle: int, m: int) -> np.ndarray:
    """Per-sample NumPy TFI (1/ISI), stepping outwards from the middle frame one frame at a time,
    the way the official SSML ``middleTFI`` does (with a spike at frame 0 counted)."""
    n, frames = batch.shape[:2]
    out = np.empty((n, H, W), np.float32)
    for b in range(n):
        s = batch[b].cpu().numpy()
        left = np.full((H, W), -1.0)
        right = np.full((H, W), -1.0)
        for k in range(m):
            lf, rf = middle - k, middle + 1 + k
            if lf >= 0:
                hit = (s[lf] > 0) & (left < 0)
                left[hit] = lf
            if rf < frames:
                hit = (s[rf] > 0) & (right < 0)
                right[hit] = rf
        left[left < 0] = middle - m
        right[right < 0] = middle + m
        out[b] = 1.0 / (right - left)
    return out


def torch_expression_tfi(batch: torch.Tensor, middle: int, m: int) -> torch.Tensor:
    """The same TFI as one vectorised PyTorch expression (where/amax/amin over the window)."""
    lo, hi = max(0, middle - m + 1), min(batch.shape[1], middle + m + 1)
    idx = torch.arange(lo, hi, device=batch.device, dtype=torch.float32)[:, None, None]
    fired = batch[:, lo:hi] > 0
    left = torch.where(fired & (idx <= middle), idx, float(middle - m)).amax(dim=1)
    right = torch.where(fired & (idx > middle), idx, float(middle + m)).amin(dim=1)
    return 1.0 / (right - left)


def bench_tfi(samples: int, repeats: int, device: str) -> list:
    g = torch.Generator().manual_seed(1)
    rows = []
    for dtype in (torch.float32, torch.uint8):
        batch = (torch.rand(samples, 41, H, W, generator=g) < 0.3).to(dtype).to(device)
        expected = numpy_loop_tfi(batch[:2], 20, 12)
        np.testing.assert_allclose((1.0 / isi(batch[:2], 20, 12)).cpu().numpy(), expected, rtol=1e-6)
        np.testing.assert_allclose(torch_expression_tfi(batch[:2], 20, 12).cpu().numpy(), expected, rtol=1e-6)

        def sync():
            if device != "cpu":
                torch.cuda.synchronize()

        t_ref = median_time(lambda: numpy_loop_tfi(batch, 20, 12), repeats)
        t_expr = median_time(lambda: (torch_expression_tfi(batch, 20, 12), sync()), repeats)
        t_ours = median_time(lambda: (1.0 / isi(batch, 20, 12), sync()), repeats)
        rows.append({"case": f"TFI batch {samples}x41 {str(dtype).split('.')[-1]}", "numpy_loop_s": t_ref,
                     "torch_expr_s": t_expr, "spikekit_s": t_ours, "speedup": t_ref / t_ours,
                     "speedup_vs_torch_expr": t_expr / t_ours})
    return rows


# --- (b') TFI at stride 1 on a packed stream ----------------------------------------------------

TFI_M = 20


def numpy_tfi_stream(packed: np.ndarray, first: int, last: int, m: int, scale: float):
    """TFI images for centres first..last-1 (stride 1), vectorised NumPy, in chunks of NUMPY_SPAN
    centres: the last spike frame at or before each centre and the first after it, from running
    maxima/minima of spike-frame indices over the unpacked frames, clamped to [c - m, c + m]."""
    for a in range(first, last, NUMPY_SPAN):
        b = min(last, a + NUMPY_SPAN)
        lo, hi = a - m + 1, b + m  # frames that can hold the nearest spikes
        bits = np.unpackbits(packed[lo:hi], axis=1, bitorder="little")[:, :H * W].astype(bool)
        t = np.arange(lo, hi, dtype=np.int32)[:, None]
        prev = np.maximum.accumulate(np.where(bits, t, np.int32(-2**30)), axis=0)
        nxt = np.minimum.accumulate(np.where(bits, t, np.int32(2**30))[::-1], axis=0)[::-1]
        c = np.arange(a, b, dtype=np.int32)[:, None]
        left = np.maximum(prev[a - lo:b - lo], c - m)
        right = np.minimum(nxt[a - lo + 1:b - lo + 1], c + m)
        images = np.minimum(np.float32(scale) / (right - left).astype(np.float32), np.float32(1))
        yield images.reshape(-1, H, W)[:, ::-1]  # file rows are bottom-up


def spikekit_tfi_stream(packed: torch.Tensor, first: int, last: int, m: int, scale: float, out: torch.Tensor):
    for a in range(first, last, OUT_BATCH):
        centres = torch.arange(a, min(last, a + OUT_BATCH), device=packed.device)
        yield ops.tfi_packed(packed, H, W, centres, m, scale, out=out[:len(centres)])


def bench_tfi_stream(frames: int, repeats: int, device: str) -> dict:
    rng = np.random.default_rng(3)
    packed = np.packbits(rng.random((frames, H * W)) < 0.3, axis=1, bitorder="little")
    packed_t = torch.from_numpy(packed).to(device)
    out = (torch.empty((OUT_BATCH, H, W), device=device) if device != "cpu"
           else torch.from_numpy(np.empty((OUT_BATCH, H, W), np.float32)))
    first, last = TFI_M, frames - TFI_M
    ref_first = next(numpy_tfi_stream(packed, first, last, TFI_M, SCALE))
    ours_first = next(spikekit_tfi_stream(packed_t, first, last, TFI_M, SCALE, out)).cpu().numpy()
    np.testing.assert_allclose(ours_first, ref_first[:len(ours_first)], rtol=1e-6)

    def ref():
        for _ in numpy_tfi_stream(packed, first, last, TFI_M, SCALE):
            pass

    def ours():
        for _ in spikekit_tfi_stream(packed_t, first, last, TFI_M, SCALE, out):
            pass
        if device != "cpu":
            torch.cuda.synchronize()

    t_ref, t_ours = median_time(ref, repeats), median_time(ours, repeats)
    return {"case": f"TFI M={TFI_M} stride 1", "frames": frames, "outputs": last - first, "numpy_s": t_ref,
            "spikekit_s": t_ours, "speedup": t_ref / t_ours, "spikekit_images_per_s": (last - first) / t_ours}


# --- (c) streaming RSS ------------------------------------------------------------------------

def bench_rss(frames: int, tmp: Path) -> list:
    long = make_long_file(tmp, frames)
    base = run_peak_rss(RSS_CODE.format(run=False, path=str(long), method="tfp", out=str(tmp / "x.npy")))
    rows = []
    for method, suffix in RSS_CASES:
        out = tmp / f"{method}.{suffix}"
        rss = run_peak_rss(RSS_CODE.format(run=True, path=str(long), method=method, out=str(out)))
        with SpikeStream(long) as stream:
            outputs = len(plan_reconstruction(get_method(method), stream, stride=100).centres)
        rows.append({"case": f"recon -m {method} --stride 100 -o x.{suffix}", "frames": frames, "outputs": outputs,
                     "file_mb": frames * H * W / 8 / 2**20, "peak_rss_mb": rss["peak_rss_mb"],
                     "import_only_mb": base["peak_rss_mb"],
                     "overhead_mb": rss["peak_rss_mb"] - base["peak_rss_mb"]})
    return rows


# --- (d) TFSTP recurrence -------------------------------------------------------------------

def numpy_stp(spikes: np.ndarray, emit: list, p: dict) -> np.ndarray:
    """The TFSTP recurrence vectorised over pixels with NumPy, frame by frame (raw rate)."""
    n, npix = spikes.shape
    r, u, last = np.ones(npix), np.full(npix, p["u0"]), np.full(npix, -1, dtype=np.int64)
    out = np.empty((len(emit), npix), np.float32)
    k = 0
    for i in range(n):
        hit = np.flatnonzero(spikes[i])
        dt = -(i - last[hit]).astype(np.float64)
        rh, uh = r[hit], u[hit]
        r[hit] = 1.0 - (1.0 - rh * (1.0 - uh)) * np.exp(dt / p["D"])
        u[hit] = p["u0"] + (p["f"] - p["u0"] + uh * (1.0 - p["f"])) * np.exp(dt / p["F"])
        last[hit] = i
        while k < len(emit) and emit[k] == i:
            out[k] = numpy_stp_rate(r, u, last >= 0, p)
            k += 1
    return out


def numpy_stp_rate(r, u, spiked, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = []
        for ratio, tau in (((u - p["u0"]) / (p["f"] - p["u0"] + u * (1 - p["f"]))), p["F"]), \
                          (((1 - r) / (1 - r * (1 - u))), p["D"]):
            rate = np.where(ratio >= 1, 1.0, np.minimum(1.0, -1 / (tau * np.log(ratio))))
            rates.append(np.where(ratio > 0, rate, -1.0))
        both = (rates[0] >= 0) & (rates[1] >= 0)
        rate = np.where(both, 0.5 * (rates[0] + rates[1]), np.maximum(np.maximum(rates[0], rates[1]), 0.0))
    return np.where(spiked, rate, 0.0)


def numba_stp():
    """The numba kernel spikekit used before csrc/tfstp/ (same loops: blocks of 512 pixels in
    parallel, frames in order), or None when numba is not installed. Decays of intervals below
    len(table_d) come from the tables (pass empty ones for the kernel as it was)."""
    try:
        import numba
    except ImportError:
        return None
    import math

    @numba.njit(parallel=True)
    def run(spikes, emit, out, u0, d, big_f, f, table_d, table_f):  # pragma: no cover
        n, npix = spikes.shape
        r, u, last = np.ones(npix), np.full(npix, u0), np.full(npix, -1, dtype=np.int64)
        for blk in numba.prange((npix + 511) // 512):
            p0, p1 = blk * 512, min(npix, blk * 512 + 512)
            k = 0
            for i in range(n):
                for q in range(p0, p1):
                    if spikes[i, q]:
                        delta = i - last[q]
                        if delta < table_d.shape[0]:
                            decay_d, decay_f = table_d[delta], table_f[delta]
                        else:
                            decay_d, decay_f = math.exp(-delta / d), math.exp(-delta / big_f)
                        r[q] = 1.0 - (1.0 - r[q] * (1.0 - u[q])) * decay_d
                        u[q] = u0 + (f - u0 + u[q] * (1.0 - f)) * decay_f
                        last[q] = i
                while k < emit.shape[0] and emit[k] == i:
                    for q in range(p0, p1):
                        out[k, q] = 0.0
                        if last[q] >= 0:
                            ru, rr = -1.0, -1.0
                            x = (u[q] - u0) / (f - u0 + u[q] * (1.0 - f))
                            if x > 0.0:
                                ru = 1.0 if x >= 1.0 else min(1.0, -1.0 / (big_f * math.log(x)))
                            x = (1.0 - r[q]) / (1.0 - r[q] * (1.0 - u[q]))
                            if x > 0.0:
                                rr = 1.0 if x >= 1.0 else min(1.0, -1.0 / (d * math.log(x)))
                            out[k, q] = 0.5 * (ru + rr) if ru >= 0.0 and rr >= 0.0 else max(ru, rr, 0.0)
                    k += 1

    numba.set_num_threads(torch.get_num_threads())
    return run


def spikekit_stp(spikes: torch.Tensor, emit: list, p: dict) -> torch.Tensor:
    npix = spikes.shape[1]
    state = (torch.ones(npix, dtype=torch.float64), torch.full((npix,), p["u0"], dtype=torch.float64),
             torch.full((npix,), -1, dtype=torch.int64))
    out = torch.empty((len(emit), npix))
    return ops.tfstp_frames(spikes, *state, torch.tensor(emit), 0, 0, p["u0"], p["D"], p["F"], p["f"], -1.0, out)


def bench_tfstp(frames: int, repeats: int) -> list:
    """TFSTP over ``frames`` 250 x 400 spike frames at rate 0.3, an output every 41 frames, raw rate."""
    from spikekit.recon.tfstp import TfstpOptions

    DEFAULTS = {k: getattr(TfstpOptions, k) for k in ("u0", "D", "F", "f")}  # the method's defaults

    spikes = (torch.rand(frames, H * W, generator=torch.Generator().manual_seed(2)) < 0.3).to(torch.uint8)
    emit = list(range(40, frames, WINDOW))
    ours = spikekit_stp(spikes, emit, DEFAULTS).numpy()
    np.testing.assert_allclose(ours, numpy_stp(spikes.numpy(), emit, DEFAULTS), rtol=1e-6, atol=1e-7)
    t_ours = median_time(lambda: spikekit_stp(spikes, emit, DEFAULTS), repeats)
    t_numpy = median_time(lambda: numpy_stp(spikes.numpy(), emit, DEFAULTS), repeats)
    row = {"case": f"TFSTP {frames} frames", "threads": torch.get_num_threads(), "numpy_s": t_numpy,
           "spikekit_s": t_ours, "speedup": t_numpy / t_ours}
    numba_run = numba_stp()
    if numba_run is not None:
        out = np.empty((len(emit), H * W), np.float32)
        u0, d, big_f, f = (DEFAULTS[k] for k in ("u0", "D", "F", "f"))
        s, e = spikes.numpy(), np.asarray(emit)
        ks = -np.arange(1024, dtype=np.float64)
        for name, tables in (("numba", (np.empty(0), np.empty(0))), ("numba_table", (np.exp(ks / d), np.exp(ks / big_f)))):
            numba_run(s, e, out, u0, d, big_f, f, *tables)  # compiles
            np.testing.assert_allclose(out, ours, rtol=1e-6, atol=1e-7)
            row[f"{name}_s"] = median_time(lambda: numba_run(s, e, out, u0, d, big_f, f, *tables), repeats)
            row[f"{name}_over_spikekit"] = row[f"{name}_s"] / t_ours
    return [row]


def main():
    parser = bench_parser(__doc__, "recon", "2,000-frame TFP, batch 8, 4,000-frame RSS file, 1,000-frame TFSTP, 3 repeats")
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS of spikekit recon (part c)")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    if args.rss_only:
        with tempfile.TemporaryDirectory() as tmp:
            rss_rows = bench_rss(4000 if args.quick else 40000, Path(tmp))
        print_table(rss_rows, ["case", "frames", "outputs", "file_mb", "peak_rss_mb", "import_only_mb", "overhead_mb"])
        print(f"wrote {write_json(args.json_out, {'benchmark': 'recon', 'device': args.device, 'rss': rss_rows})}")
        return
    paths = cpu_paths(args)
    tfp_rows = []
    for path in paths:
        use_cpu_path(path)
        rows = bench_tfp(2000 if args.quick else 20000, repeats, args.device)
        rows.append(bench_tfi_stream(1000 if args.quick else 4000, repeats, args.device))
        tfp_rows += [dict(row, path=path) for row in rows]
    print_table(tfp_rows, ["case", "path", "frames", "outputs", "numpy_s", "spikekit_s", "speedup",
                           "spikekit_images_per_s"])
    print()
    tfi_rows = bench_tfi(8 if args.quick else 64, repeats, args.device)
    print_table(tfi_rows, ["case", "numpy_loop_s", "torch_expr_s", "spikekit_s", "speedup", "speedup_vs_torch_expr"])
    print()
    with tempfile.TemporaryDirectory() as tmp:
        rss_rows = bench_rss(4000 if args.quick else 40000, Path(tmp))
    print_table(rss_rows, ["case", "frames", "outputs", "file_mb", "peak_rss_mb", "import_only_mb", "overhead_mb"])
    print()
    tfstp_rows = []
    for path in paths:
        use_cpu_path(path)
        tfstp_rows += [dict(row, path=path) for row in bench_tfstp(1000 if args.quick else 2000, repeats)]
    print_table(tfstp_rows, ["case", "path", "threads", "numpy_s", "spikekit_s", "speedup", "numba_s", "numba_over_spikekit",
                             "numba_table_s", "numba_table_over_spikekit"])
    out = write_json(args.json_out, {"benchmark": "recon", "device": args.device, "repeats": repeats,
                                     "tfp": tfp_rows, "tfi": tfi_rows, "rss": rss_rows, "tfstp": tfstp_rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
