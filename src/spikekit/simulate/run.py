"""Videos to spike streams: the timing of spike frames, in-memory and streamed-to-disk runs.

Timing: video frame k (k = 0 .. T-1) is shown at spike frame k * S, with S spike frames per
video frame (``steps_per_frame``, else round(rate / fps)). Spike frame n = k * S + j
(0 <= j < S) integrates the linearly interpolated intensity

    I_n = F_k + a_j (F_{k+1} - F_k),   a_j = j / S   (float32: a_j * delta, then + F_k)

clamped to [0, 1]; after the last frame the video holds still (F_T = F_{T-1}), so a T-frame
video gives T * S spike frames and a one-frame video is a static scene of S spike frames. The
ground truth exported at index n is exactly this I_n.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import ops
from .._memory import empty_hugepage
from .._version import __version__
from ..firing import DEFAULT_GAIN
from ..io import atomic_output, write_image, write_sidecar
from ..io.dat import check_frame_size
from ..progress import progress as reporter
from .model import DEFAULT_RATE, DEFAULT_THRESHOLD, Simulator, _check_positive
from .source import fit_to_size, open_source, parse_size

DEFAULT_CHUNK = 1024  # spike frames per kernel call on the streaming path
_MIN_INTENSITY = 2.0 ** -64  # the kernel reads smaller intensities as 0


def steps_for(rate: float, fps: float | None, steps_per_frame: int | None) -> int:
    """Spike frames per video frame: ``steps_per_frame``, else max(1, round(rate / fps)).

    Raises:
        ValueError: neither given (the source has no frame rate), or non-positive values.
    """
    if steps_per_frame is not None:
        if isinstance(steps_per_frame, bool) or not isinstance(steps_per_frame, (int, np.integer)) \
                or steps_per_frame < 1:
            raise ValueError(f"steps_per_frame must be an integer >= 1, got {steps_per_frame!r}")
        return int(steps_per_frame)
    if fps is None:
        raise ValueError("the input has no frame rate: give fps (--fps, video frames per second) or "
                         "steps_per_frame (--steps-per-frame)")
    return max(1, round(rate / fps))


def alphas(steps: int) -> torch.Tensor:
    """float32 (S,) interpolation weights j / S (computed in float64, rounded once)."""
    return (torch.arange(steps, dtype=torch.float64) / steps).to(torch.float32)


def interpolate(start: torch.Tensor, delta: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The intensity the kernel integrates: clamp(start + alpha * delta) in float32.

    Args:
        start, delta: float32 (H, W); alpha: float32 scalar tensor or (N, 1, 1).

    Returns:
        float32, broadcast shape; values in [0, 1] (below FLT_MIN -> 0, as in the kernel).
    """
    x = start + alpha * delta
    return torch.where(x >= _MIN_INTENSITY, x.clamp(max=1.0), torch.zeros((), dtype=x.dtype, device=x.device))


class _Run:
    """Shared walk over a source: interval by interval, chunk by chunk."""

    def __init__(self, video, *, rate, fps, steps_per_frame, gain, threshold, noise, seed, device, size,
                 channels, packed, chunk):
        rate = _check_positive("rate", rate)
        if fps is not None:
            fps = _check_positive("fps", fps)
        self.sim_args = dict(gain=gain, threshold=threshold, noise=noise, seed=seed, rate=rate, device=device,
                             packed=packed, validate=False)
        Simulator(1, 1, **self.sim_args)  # check the model parameters before reading the video
        self.source = open_source(video, channels)
        self.fps = fps if fps is not None else self.source.fps
        self.steps = steps_for(rate, self.fps, steps_per_frame)
        if self.fps is None:
            self.fps = rate / self.steps
        self.size = parse_size(size)
        self.device = self.sim_args["device"] = ops.check_device(device)
        self.chunk = max(1, int(chunk))
        self.packed = packed
        self.sim = None
        self.video_frames = 0

    def _frames(self):
        for frame in self.source.frames():
            yield fit_to_size(frame, self.size).to(self.device)

    def intervals(self):
        """Yield (k, start, delta) per video frame k (delta = 0 for the last)."""
        it = self._frames()
        cur = next(it, None)
        if cur is None:
            raise ValueError(f"{self.source.name}: no frames could be decoded")
        if self.sim is None:
            self.sim = Simulator(cur.shape[0], cur.shape[1], **self.sim_args)
        k = 0
        while cur is not None:
            nxt = next(it, None)
            if nxt is not None and nxt.shape != cur.shape:
                raise ValueError(f"{self.source.name}: frame {k + 1} has size {tuple(nxt.shape)}, "
                                 f"frame {k} has {tuple(cur.shape)}")
            self.video_frames = k + 1
            yield k, cur, (nxt - cur) if nxt is not None else torch.zeros_like(cur)
            cur, k = nxt, k + 1
        claimed = self.source.meta.get("claimed_frames")
        if claimed and self.video_frames < claimed:
            warnings.warn(f"{self.source.name}: the video header claims {claimed} frames but only "
                          f"{self.video_frames} could be decoded; the spike stream covers those "
                          f"{self.video_frames}", stacklevel=2)

    def planned(self) -> dict:
        """What the run will write, before it starts: ``frames`` (spike frames), ``height``,
        ``width`` and ``bytes`` of the ``.dat``, each None when the source does not say (a video
        header without a duration)."""
        frames = self.source.expected_frames
        size = self.size or self.source.meta.get("size")
        n = frames * self.steps if frames is not None else None
        h, w = size if size is not None else (None, None)
        return {"frames": n, "height": h, "width": w,
                "bytes": n * ops.frame_bytes(h, w) if n is not None and size is not None else None}

    def chunks(self, buffer_for):
        """Yield (n0, k, start, delta, alpha, spikes) for every chunk of spike frames."""
        alpha = alphas(self.steps).to(self.device)
        for k, start, delta in self.intervals():
            for j0 in range(0, self.steps, self.chunk):
                a = alpha[j0:j0 + self.chunk]
                n0 = k * self.steps + j0
                out = buffer_for(n0, a.shape[0], self.sim)
                spikes = self.sim.step_interp(start, delta, a, out=out)
                yield n0, k, start, delta, a, spikes


def simulate(video, *, rate: float = DEFAULT_RATE, fps: float | None = None, steps_per_frame: int | None = None,
             gain: float = DEFAULT_GAIN, threshold: float = DEFAULT_THRESHOLD, noise="on", seed: int = 0,
             packed: bool = False, device="cpu", size=None, channels: str = "rgb") -> torch.Tensor:
    """Simulate a spiking camera watching ``video``; the whole stream is returned in memory.

    Camera model: :mod:`spikekit.simulate.model` (integrate-and-fire, Chen et al. 2022, Eq. 1, with
    optional noise); timing and interpolation: :mod:`spikekit.simulate.run`. For long videos use
    :func:`simulate_to_file`, which streams to disk in bounded memory.

    Args:
        video: video file (mp4/avi/mov/mkv..., decoded as RGB by imageio-ffmpeg), folder of
            images (natural sort), or array/tensor (T, H, W) / (T, H, W, 3) of uint8, uint16 or
            float in [0, 1] (see :mod:`spikekit.simulate.source`).
        rate: readout clock, spike frames per second (Hz, > 0).
        fps: video frame rate in Hz (default: the file's; arrays and folders have none).
        steps_per_frame: spike frames per video frame S (default round(rate / fps)).
        gain: g, charge per spike frame at intensity 1 (threshold units); with theta = 1 the
            noise-free firing probability per spike frame is gain x intensity.
        threshold: theta (> 0).
        noise: ``"on"`` (default), ``"off"`` (deterministic, accumulator starts at 0), ``"reds"``
            (the REDS-derived data's camera: deterministic, random initial accumulator,
            :meth:`~spikekit.simulate.NoiseModel.reds`), or a :class:`~spikekit.simulate.NoiseModel`.
        seed: key of all random draws (same seed -> same bits on CPU and CUDA).
        packed: return the ``.dat`` bytes instead of one byte per pixel.
        device: where the kernels run; the result is on this device.
        size: optional sensor size (H, W) or "HxW": resize (aspect kept) and centre-crop.
        channels: "rgb" or "bgr", channel order of colour arrays.

    Returns:
        uint8 (T * S, H, W) of {0, 1}, row 0 the top; with ``packed=True`` uint8
        (T * S, ceil(H*W/8)), exactly the ``.dat`` bytes.

    Raises:
        FileNotFoundError: missing file.  ValueError: unreadable video, empty folder, float input
        outside [0, 1], threshold/rate/fps <= 0, gain < 0, steps_per_frame < 1, no frame rate.
    """
    run = _Run(video, rate=rate, fps=fps, steps_per_frame=steps_per_frame, gain=gain, threshold=threshold,
               noise=noise, seed=seed, device=device, size=size, channels=channels, packed=packed,
               chunk=1 << 30)
    total = run.source.length * run.steps if run.source.length is not None else None
    result = {}

    def buffer_for(n0, n, sim):
        # A source of known length (array, folder) fills one preallocated tensor in place: no
        # concatenation of the chunks afterwards. (1, N, ...) slices along N stay contiguous.
        if total is None:
            return None
        if "all" not in result:
            shape = (1, total, ops.frame_bytes(sim.height, sim.width)) if packed else (1, total, sim.height, sim.width)
            result["all"] = (empty_hugepage(shape) if run.device.type == "cpu"
                             else torch.empty(shape, dtype=torch.uint8, device=run.device))
        return result["all"][:, n0:n0 + n]

    parts = [spikes for *_, spikes in run.chunks(buffer_for)]
    if total is not None:
        return result["all"][0]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _write_gt(folder: Path, index: int, image: torch.Tensor, formats) -> None:
    image = image.cpu()
    if "npy" in formats:
        np.save(folder / f"{index:08d}.npy", image.numpy())
    if "png" in formats:  # in the staging folder (see _staging): nothing partial reaches gt_dir
        write_image(folder / f"{index:08d}.png", np.round(image.numpy() * 255.0).astype(np.uint8))


@contextlib.contextmanager
def _staging(gt_dir):
    """A temporary folder beside ``gt_dir`` whose files move into ``gt_dir`` on success only."""
    if gt_dir is None:
        yield None
        return
    gt_dir = Path(gt_dir)
    created = not gt_dir.exists()
    gt_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gt-", dir=gt_dir))
    ok = False
    try:
        yield tmp
        for f in sorted(tmp.iterdir()):
            f.replace(gt_dir / f.name)
        ok = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok and created:
            with contextlib.suppress(OSError):
                gt_dir.rmdir()  # only when empty


def simulate_to_file(video, output, *, rate: float = DEFAULT_RATE, fps: float | None = None,
                     steps_per_frame: int | None = None, gain: float = DEFAULT_GAIN,
                     threshold: float = DEFAULT_THRESHOLD, noise="on", seed: int = 0, device="cpu", size=None,
                     channels: str = "rgb", gt_dir=None, gt_every: int | None = None, gt_format: str = "png",
                     chunk: int = DEFAULT_CHUNK, progress: bool = False, on_start=None, digest=None) -> dict:
    """Simulate ``video`` straight into a ``.dat`` file plus its JSON sidecar, chunk by chunk.

    Memory stays bounded by one chunk of packed spike frames (``chunk`` x ceil(H*W/8) bytes)
    and two video frames, whatever the length. The file is written atomically (temporary name,
    renamed when complete): an error leaves no partial output, and neither does it leave
    ground-truth images.

    Args:
        video, rate, fps, steps_per_frame, gain, threshold, noise, seed, device, size, channels:
            as :func:`simulate`.
        output: the ``.dat`` path; the sidecar is ``<output>.json``.
        gt_dir: folder for ground-truth intensity images, named ``{index:08d}.png`` / ``.npy``
            by spike-frame index; the image at n is the intensity I_n integrated at spike frame n.
        gt_every: export GT at spike frames n = 0, gt_every, 2 gt_every, ... (default: S, i.e.
            one per video frame, where I_n is the video frame itself).
        gt_format: "png" (8-bit, round(255 I)), "npy" (float32) or "both".
        chunk: spike frames per kernel call and write.
        progress: report progress over video frames (:func:`spikekit.progress.progress`).
        on_start: optional ``on_start(planned)`` called with :meth:`_Run.planned`'s dict before
            anything is written (the CLI prints the expected size; raising there aborts cleanly).
        digest: optional hash object (e.g. ``hashlib.sha256()``) updated with the ``.dat`` bytes
            as they are written, so a caller gets the file's hash without reading it back.

    Returns:
        Summary dict: output, frames (spike frames written), video_frames, height, width,
        steps_per_frame, rate, fps, spikes, mean_firing_rate (spikes per pixel per spike
        frame), mean_rate_hz, gt_images, seconds.

    Raises:
        As :func:`simulate`; also ValueError for a bad ``gt_every``/``gt_format``, or a frame
        larger than readers accept (:func:`spikekit.io.dat.check_frame_size`).
    """
    started = time.perf_counter()
    formats = {"png": ("png",), "npy": ("npy",), "both": ("png", "npy")}.get(gt_format)
    if formats is None:
        raise ValueError(f"gt_format must be 'png', 'npy' or 'both', got {gt_format!r}")
    if gt_every is not None and (isinstance(gt_every, bool) or not isinstance(gt_every, int) or gt_every < 1):
        raise ValueError(f"gt_every must be an integer >= 1 spike frames, got {gt_every!r}")
    run = _Run(video, rate=rate, fps=fps, steps_per_frame=steps_per_frame, gain=gain, threshold=threshold,
               noise=noise, seed=seed, device=device, size=size, channels=channels, packed=True, chunk=chunk)
    every = gt_every or run.steps
    output = Path(output)
    buffers = {}

    def buffer_for(n0, n, sim):
        if "buf" not in buffers:
            check_frame_size(output, sim.height, sim.width, " (the video's size; --size makes it smaller)")
            nb = ops.frame_bytes(sim.height, sim.width)
            buffers["buf"] = (empty_hugepage((1, run.chunk, nb)) if run.device.type == "cpu"
                              else torch.empty((1, run.chunk, nb), dtype=torch.uint8, device=run.device))
        return buffers["buf"][:, :n]

    if on_start is not None:
        on_start(run.planned())
    total_spikes, frames, gt_count = 0, 0, 0
    bar = reporter(run.source.expected_frames, "simulate", "video frame", quiet=not progress)
    with atomic_output(output) as tmp, open(tmp, "wb") as f, _staging(gt_dir) as gt_tmp, bar:
        last_k = -1
        for n0, k, start, delta, alpha, packed in run.chunks(buffer_for):
            sim = run.sim
            data = packed.cpu() if packed.device.type != "cpu" else packed
            view = memoryview(data.numpy()).cast("B")
            f.write(view)
            if digest is not None:
                digest.update(view)
            total_spikes += int(ops.spike_counts(data, sim.height, sim.width)[1].sum())
            frames += packed.shape[0]
            if gt_tmp is not None:
                first = -(-n0 // every) * every
                for n in range(first, n0 + packed.shape[0], every):
                    _write_gt(gt_tmp, n, interpolate(start, delta, alpha[n - n0]), formats)
                    gt_count += 1
            if k != last_k:
                bar.update(1)
                last_k = k
    sim = run.sim
    meta = {
        "height": sim.height, "width": sim.width, "flip": True, "rate": sim.rate, "fps": run.fps,
        "steps_per_frame": run.steps, "frames": frames, "video_frames": run.video_frames,
        "frame_index": [k * run.steps for k in range(run.video_frames)],
        "gain": sim.gain, "threshold": sim.threshold, "noise": sim.noise.to_dict(), "seed": sim.seed,
        "source": run.source.name, "size": list(run.size) if run.size else None,
        "gt_every": every if gt_dir is not None else None, "spikekit_version": __version__,
        "model": "integrate-and-fire, A += gain*I + dark (+ shot noise); spike when A >= theta(1-1e-6), "
                 "A -= theta; I linearly interpolated between video frames",
    }
    write_sidecar(output, meta)
    seconds = time.perf_counter() - started
    rate_per_frame = total_spikes / max(1, frames * sim.height * sim.width)
    return {"output": str(output), "frames": frames, "video_frames": run.video_frames, "height": sim.height,
            "width": sim.width, "steps_per_frame": run.steps, "rate": sim.rate, "fps": run.fps,
            "spikes": total_spikes, "mean_firing_rate": rate_per_frame, "mean_rate_hz": rate_per_frame * sim.rate,
            "gt_images": gt_count, "seconds": seconds}
