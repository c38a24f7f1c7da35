"""Simulator speed against a vectorised NumPy integrate-and-fire, and peak RSS of long runs.

Same run, same inputs, median of N: spike frames per second at 250x400 for the same camera
model (video frame F0, delta = F1 - F0, spike frame t integrates F0 + t/N * delta; gain 0.6,
theta 1; "on" adds random initial accumulators, 2% threshold mismatch, 10 Hz dark current and
Gaussian shot noise at 1000 electrons per threshold). spikekit runs ``Simulator.step_interp``
(the kernel behind ``spikekit simulate``) and ``Simulator.step`` on precomputed intensities
(the training path); NumPy loops over spike frames with whole-frame array operations,
``np.packbits`` per frame for the packed (``.dat``) output and a uint8 store for unpacked.
Output buffers are allocated once per run on both sides. ``speedup`` is wall-clock with all
threads (2 here); ``speedup_per_core`` compares process CPU seconds with one thread each, which
other jobs on a shared machine do not distort.

The public ``spikekit.simulate()`` (decoding, interpolation and all, 4 video frames x 100 steps,
noise off) is compared with the fastest simple NumPy loop (:func:`fast_numpy_video`: interpolate,
add, compare, subtract, ``np.packbits``).

Peak RSS: ``simulate_to_file`` of a synthetic 250x400 video in a fresh process, 1 s at 40 kHz
(40,000 spike frames, 500 MB) by default, the 10-second case (400,000 spike frames, 5 GB, written
under a temporary folder and deleted) with ``--full-rss``.

Every case runs once per CPU kernel path (default, avx2, avx512; ``--cpu-path``).

    python benchmarks/bench_simulate.py [--quick] [--full-rss] [--device cuda] [--cpu-path P] [--json-out F]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, bench_parser, cpu_paths, median_time, print_table, run_peak_rss,  # noqa: E402
                    use_cpu_path, write_json)

from spikekit.simulate import NoiseModel, Simulator  # noqa: E402
from spikekit.simulate.run import alphas  # noqa: E402

H, W = 250, 400
GAIN, RATE = 0.6, 40000.0
NOISE = NoiseModel()


class NumpyCamera:
    """The same model in vectorised NumPy, one spike frame at a time (the reference)."""

    def __init__(self, noise: bool, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        if noise:
            self.theta = (1 + NOISE.threshold_sigma * self.rng.standard_normal((H, W), dtype=np.float32))
            self.theta = np.maximum(self.theta, np.float32(0.05)).astype(np.float32)
            self.acc = (self.rng.random((H, W), dtype=np.float32) * self.theta).astype(np.float32)
        else:
            self.theta = np.ones((H, W), np.float32)
            self.acc = np.zeros((H, W), np.float32)
        self.dark = np.float32(NOISE.dark_rate / RATE)
        self.shot = np.float32(1.0 / NOISE.electrons)
        self.q = np.empty((H, W), np.float32)
        self.tmp = np.empty((H, W), np.float32)
        self.spike = np.empty((H, W), bool)

    def run(self, intensity_of, frames: int, out: np.ndarray, packed: bool) -> np.ndarray:
        q, tmp, spike = self.q, self.tmp, self.spike
        for t in range(frames):
            np.clip(intensity_of(t), 0, 1, out=q)
            q *= np.float32(GAIN)
            if self.noise:
                q += self.dark
                np.multiply(q, self.shot, out=tmp)
                np.sqrt(tmp, out=tmp)
                tmp *= self.rng.standard_normal((H, W), dtype=np.float32)
                q += tmp
            self.acc += q
            np.greater_equal(self.acc, self.theta, out=spike)
            np.subtract(self.acc, self.theta, out=self.acc, where=spike)
            if packed:
                out[t] = np.packbits(spike[::-1].reshape(-1), bitorder="little")
            else:
                out[t] = spike
        return out


def bench_case(noise: bool, packed: bool, mode: str, frames: int, repeats: int, device: str) -> dict:
    gen = np.random.default_rng(1)
    f0 = gen.random((H, W), dtype=np.float32)
    delta = ((gen.random((H, W), dtype=np.float32) - f0) * np.float32(0.5)).astype(np.float32)
    alpha = alphas(frames)
    nb = (H * W + 7) // 8
    np_out = np.empty((frames, nb) if packed else (frames, H, W), np.uint8)
    if mode == "interp":
        a_np = alpha.numpy()
        intensity_of = lambda t: f0 + a_np[t] * delta  # noqa: E731
    else:
        stack = (f0[None] + alpha.numpy()[:, None, None] * delta[None]).astype(np.float32)
        intensity_of = lambda t: stack[t]  # noqa: E731
    dev = torch.device(device)
    sim = Simulator(H, W, gain=GAIN, noise="on" if noise else "off", rate=RATE, packed=packed, device=dev,
                    validate=False)
    out = sim._out(frames, None)
    f0_t, delta_t, alpha_t = (torch.from_numpy(f0).to(dev), torch.from_numpy(delta).to(dev), alpha.to(dev))
    stack_t = torch.from_numpy(stack).to(dev) if mode == "frames" else None

    def ours():
        if mode == "interp":
            sim.step_interp(f0_t, delta_t, alpha_t, out=out)
        else:
            sim.step(stack_t, out=out)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def ref():
        NumpyCamera(noise).run(intensity_of, frames, np_out, packed)

    t_ref = median_time(ref, repeats)
    t_ours = median_time(ours, repeats)
    row = {"case": f"{'packed' if packed else 'unpacked'} noise {'on' if noise else 'off'} {mode}",
           "frames": frames, "numpy_fps": frames / t_ref, "spikekit_fps": frames / t_ours,
           "speedup": t_ref / t_ours, "target": 10 if packed else 3}
    if dev.type == "cpu":
        row["speedup_per_core"] = speedup_per_core(ref, ours, repeats)
    return row


def speedup_per_core(ref, ours, repeats: int) -> float:
    """CPU seconds of ``ref`` over those of ``ours`` with one torch thread each: a ratio that other
    jobs on the machine do not move (unlike wall time)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return (median_time(ref, repeats, clock=time.process_time)
                / median_time(ours, repeats, clock=time.process_time))
    finally:
        torch.set_num_threads(threads)


def fast_numpy_video(video: np.ndarray, steps: int, packed: bool) -> np.ndarray:
    """Noise-free integrate-and-fire of a float32 (T, H, W) video in whole-frame NumPy steps:
    interpolate, add, compare, subtract, ``np.packbits`` (rows bottom-up, as in a ``.dat``)."""
    frames, (h, w) = video.shape[0] * steps, video.shape[1:]
    out = np.empty((frames, (h * w + 7) // 8) if packed else (frames, h, w), np.uint8)
    acc, q, spike = np.zeros((h, w), np.float32), np.empty((h, w), np.float32), np.empty((h, w), bool)
    a = (np.arange(steps) / steps).astype(np.float32)
    for k in range(video.shape[0]):
        start = video[k]
        delta = video[k + 1] - start if k + 1 < video.shape[0] else np.zeros_like(start)
        for j in range(steps):
            np.multiply(delta, a[j], out=q)
            q += start
            q *= np.float32(GAIN)
            acc += q
            np.greater_equal(acc, np.float32(1.0), out=spike)
            np.subtract(acc, spike, out=acc)
            n = k * steps + j
            out[n] = np.packbits(spike[::-1], axis=None, bitorder="little") if packed else spike
    return out


def bench_public(packed: bool, repeats: int, device: str, video_frames: int = 4, steps: int = 100,
                 noise: bool = False) -> dict:
    """The public ``spikekit.simulate()`` on a float32 (4, 250, 400) array, 100 spike frames per
    video frame, against :func:`fast_numpy_video` (noise-free: with ``noise`` the ratio says what
    the camera noise model costs on top of the same reference)."""
    import spikekit

    video = np.random.default_rng(2).random((video_frames, H, W), dtype=np.float32)

    def ours():
        spikekit.simulate(video, steps_per_frame=steps, noise="on" if noise else "off", packed=packed, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def ref():
        fast_numpy_video(video, steps, packed)

    frames = video_frames * steps
    t_ref, t_ours = median_time(ref, repeats), median_time(ours, repeats)
    row = {"case": f"public simulate() {'packed' if packed else 'unpacked'} noise {'on' if noise else 'off'}",
           "frames": frames, "numpy_fps": frames / t_ref, "spikekit_fps": frames / t_ours, "speedup": t_ref / t_ours,
           "target": "" if noise else 10 if packed else 4}
    if device == "cpu":
        row["speedup_per_core"] = speedup_per_core(ref, ours, repeats)
    return row


RSS_CODE = """
import json, sys, time
import numpy as np
sys.path.insert(0, "benchmarks")
from common import peak_rss_mb
from spikekit.simulate import simulate_to_file
base = peak_rss_mb()
rng = np.random.default_rng(0)
video = rng.integers(0, 256, (int({seconds} * 25), {h}, {w}), dtype=np.uint8)
video_mb = video.nbytes / 2**20
start = time.perf_counter()
summary = simulate_to_file(video, {out!r}, rate=40000, fps=25, seed=0)
print(json.dumps({{"peak_rss_mb": peak_rss_mb(), "after_import_mb": base, "video_in_memory_mb": video_mb,
                  "frames": summary["frames"], "seconds": time.perf_counter() - start}}))
"""


def bench_rss(seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "long.dat")
        rss = run_peak_rss(RSS_CODE.format(seconds=seconds, h=H, w=W, out=out), timeout=3600)
        rss["file_mb"] = Path(out).stat().st_size / 2**20
    rss["duration_s"] = seconds
    return rss


def main():
    parser = bench_parser(__doc__, "simulate", "256 spike frames, 3 repeats, 0.25 s RSS case")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--full-rss", action="store_true", help="the 10-second 40 kHz case (5 GB temporary file)")
    args = parser.parse_args()
    frames, repeats = (256, 3) if args.quick else (args.frames, args.repeats)
    rows = []
    for path in cpu_paths(args):
        use_cpu_path(path)
        cases = []
        for packed in (True, False):
            for noise in (False, True):
                cases.append(bench_case(noise, packed, "interp", frames, repeats, args.device))
        cases.append(bench_case(True, False, "frames", min(frames, 256), repeats, args.device))  # 100 MB of intensities
        for packed in (True, False):
            cases.append(bench_public(packed, repeats, args.device))
            cases.append(bench_public(packed, repeats, args.device, noise=True))
        rows += [dict(row, path=path) for row in cases]
    print(f"{H}x{W}, {torch.get_num_threads()} threads, device {args.device}")
    print_table(rows, ["case", "path", "frames", "numpy_fps", "spikekit_fps", "speedup", "target", "speedup_per_core"])
    seconds = 10.0 if args.full_rss else (0.25 if args.quick else 1.0)
    rss = bench_rss(seconds)
    print(f"\nsimulate_to_file, {seconds:g} s at 40 kHz ({rss['frames']} spike frames, {rss['file_mb']:.0f} MiB): "
          f"peak RSS {rss['peak_rss_mb']:.0f} MiB (after import {rss['after_import_mb']:.0f} MiB, input video "
          f"array {rss['video_in_memory_mb']:.0f} MiB), {rss['seconds']:.1f} s")
    out = write_json(args.json_out, {"benchmark": "simulate", "size": [H, W], "cases": rows, "rss": rss,
                                     "device": args.device})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
