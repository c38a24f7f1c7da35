r"""The spiking-camera model: integrate-and-fire per pixel, with optional noise.

Each pixel p integrates the light it receives and reads out one bit per spike frame (one tick
of the readout clock, ``rate`` Hz, 25 us at 40 kHz). With intensity I in [0, 1], spike frame n
(n = 0, 1, ...), and all quantities in threshold units (theta = 1 by default):

.. math::

    q_n &= g \, I_n(p) + d                                            && \text{charge of spike frame } n \\
    q_n &\leftarrow q_n + \sqrt{q_n \, \theta / K}\; z_n(p)           && \text{shot noise (optional)} \\
    A   &\leftarrow A + q_n                                           && \text{accumulate} \\
    s_n(p) &= [A \ge \theta_p (1 - 10^{-6})], \qquad A \leftarrow A - s_n(p)\, \theta_p  && \text{fire and reset}

This is Eq. 1 of Chen et al., IJCAI 2022 (SSML; the accumulator integrates modulo theta: on
firing, theta is subtracted, not reset to 0) with at most one spike per readout. Terms:

* ``g`` (``gain``): charge per spike frame at intensity 1. The defaults g = 0.6, theta = 1 give
  a firing probability per spike frame of 0.6 x intensity with noise off, the convention of the
  public REDS-derived spike data (TFP = window mean / 0.6).
* ``d`` (dark current): ``dark_rate / rate * theta``, so a dark pixel of nominal threshold fires
  ``dark_rate`` times per second (Hz) on average.
* shot noise: Gaussian approximation of the photon (and dark-electron) Poisson noise; theta
  corresponds to K = ``electrons`` electrons, so the charge of one spike frame has mean q_n and
  variance q_n theta / K (the Poisson variance in these units). z_n(p) is a standard normal.
* threshold mismatch (fixed pattern): theta_p = theta max(1 + sigma z_p, 0.05), sigma =
  ``threshold_sigma`` (relative), drawn once per pixel; the clamp keeps theta_p > 0.
* initial accumulator: A_0 ~ U[0, theta_p) per pixel (``random_init``), else 0.
* the 1e-6 relative firing tolerance: A is a float32 sum of float32 increments, made exact to
  ~1e-14 by Kahan compensation; the tolerance absorbs the rounding of the increments
  themselves, so a crossing that exact arithmetic puts at step k happens at step k (0.1 x 10
  reaches 1 at index 9). Because theta_p itself is subtracted, the long-run firing rate is
  g I / theta_p up to float32 rounding of q (relative 6e-8).

Randomness is counter-based (Philox4x32-10) keyed by the seed with counter (pixel, spike-frame
index, purpose, batch element), computed inside the kernels: the same seed gives the same bits
on CPU and CUDA, however the stream is chunked, and no global RNG is touched. The intensity of
each spike frame is clamped to [0, 1] inside the kernel (NaN reads as 0).

``noise="off"`` is the deterministic model: A_0 = 0, theta_p = theta, d = 0, no shot noise.
``noise="reds"`` (:meth:`NoiseModel.reds`) is that model with A_0 ~ U[0, theta): the camera of
the public REDS-derived spike data, as measured by ``tools/reds_statistics.py``.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from .. import ops
from .._memory import empty_hugepage
from ..firing import DEFAULT_GAIN  # the firing-rate convention (scale = 1 / gain)
from ..io.dat import DEFAULT_RATE  # the readout rate a stream's sidecar defaults to

DEFAULT_THRESHOLD = 1.0


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Noise terms of the camera model; each can be switched off on its own.

    Attributes:
        random_init: initial accumulator A_0 ~ U[0, theta_p) per pixel (else 0).
        threshold_sigma: relative standard deviation of the per-pixel threshold (fixed-pattern
            mismatch), theta_p = theta * max(1 + sigma z, 0.05); 0 disables.
        dark_rate: dark-current firing rate of a dark pixel, spikes per second (Hz); 0 disables.
        shot: photon shot noise (Gaussian approximation of Poisson, variance q theta / K).
        electrons: K, photo-electrons per threshold theta (sets the shot-noise level; > 0).

    ``NoiseModel()`` is the default "on" model; ``NoiseModel.off()`` turns every term off;
    ``NoiseModel.reds()`` is the camera of the public REDS-derived spike data (the ``reds``
    preset: noiseless, random initial accumulator).
    """

    random_init: bool = True
    threshold_sigma: float = 0.02
    dark_rate: float = 10.0
    shot: bool = True
    electrons: float = 1000.0

    @classmethod
    def off(cls) -> "NoiseModel":
        """The deterministic model: no term on, accumulator starting at 0."""
        return cls(random_init=False, threshold_sigma=0.0, dark_rate=0.0, shot=False)

    @classmethod
    def reds(cls) -> "NoiseModel":
        """The ``reds`` preset: the camera of the public REDS-derived spike streams.

        Measured on the four streams with ground truth in ``../shared/data`` by
        ``tools/reds_statistics.py`` (figures in ``docs/reds_statistics.json``, table in
        docs/simulator.md): noiseless integrate-and-fire at the default gain 0.6 and threshold 1
        (every spike word of a flat region is one a constant-rate noiseless pixel fires; no
        threshold mismatch, dark current or shot noise shows), with the accumulator at spike frame 0
        uniform on [0, theta) per pixel (the first-spike times say so). So: every term off except
        ``random_init``.
        """
        return cls(random_init=True, threshold_sigma=0.0, dark_rate=0.0, shot=False)

    @classmethod
    def resolve(cls, noise) -> "NoiseModel":
        """``"on"`` / ``"off"`` / ``"reds"`` / ``True`` / ``False`` / ``None`` / a NoiseModel -> NoiseModel.

        Raises:
            ValueError: an unknown string, or a NoiseModel with invalid values.
            TypeError: any other type.
        """
        if isinstance(noise, NoiseModel):
            noise.check()
            return noise
        if noise is None or noise is False or (isinstance(noise, str) and noise.lower() == "off"):
            return cls.off()
        if noise is True or (isinstance(noise, str) and noise.lower() == "on"):
            return cls()
        if isinstance(noise, str) and noise.lower() == "reds":
            return cls.reds()
        if isinstance(noise, str):
            raise ValueError(f"noise must be 'on', 'off', 'reds' or a NoiseModel, got {noise!r}")
        raise TypeError(f"noise must be 'on', 'off', 'reds' or a NoiseModel, got {type(noise).__name__}")

    def check(self) -> None:
        """Raise ValueError naming the field when a value is out of range."""
        for name in ("threshold_sigma", "dark_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"NoiseModel.{name} must be a finite number >= 0, got {value!r}")
        if not (math.isfinite(self.electrons) and self.electrons > 0):
            raise ValueError(f"NoiseModel.electrons must be > 0 electrons per threshold, got {self.electrons!r}")

    @property
    def enabled(self) -> bool:
        return self != NoiseModel.off()

    def to_dict(self) -> dict:
        """Plain dict of the fields (for the JSON sidecar)."""
        return dataclasses.asdict(self)


def _check_positive(name: str, value, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


class Simulator:
    r"""A streaming spiking camera: feed intensities, get spikes; state persists between calls.

    The model and its equations are in the module docstring (:mod:`spikekit.simulate.model`).

    Args:
        height, width: sensor size H, W in pixels.
        batch: ``None`` for one sensor (inputs (N, H, W)), or B independent sensors (inputs
            (B, N, H, W)); each batch element has its own fixed pattern and noise (Philox
            counter includes the element index b, so element b of a batch equals a single
            sensor only for b = 0).
        gain: g, charge per spike frame at intensity 1, in threshold units (>= 0).
        threshold: theta (> 0).
        noise: ``"on"`` (default :class:`NoiseModel`), ``"off"``, ``"reds"`` (the REDS-derived
            data's camera, :meth:`NoiseModel.reds`), or a NoiseModel.
        seed: int, key of every random draw.
        rate: readout clock in Hz (> 0); sets the dark charge per spike frame.
        device: where the state lives and the kernels run (``"cpu"``, ``"cuda"``, ...).
        packed: return packed ``.dat`` bytes instead of one byte per pixel.
        validate: check that intensities lie in [0, 1] (one reduction; on CUDA it synchronises).
            With False, values outside are clamped in the kernel.

    Attributes:
        frame: global spike-frame index of the next spike frame (keys the noise).
        acc, comp, theta: float32 (B, H, W) state: accumulator, its Kahan compensation, and the
            per-pixel threshold.

    Raises:
        ValueError: non-positive size, threshold or rate; negative gain; bad noise settings.
    """

    def __init__(self, height: int, width: int, *, batch: int | None = None, gain: float = DEFAULT_GAIN,
                 threshold: float = DEFAULT_THRESHOLD, noise="on", seed: int = 0, rate: float = DEFAULT_RATE,
                 device="cpu", packed: bool = False, validate: bool = True):
        for name, value in (("height", height), ("width", width)) + ((("batch", batch),) if batch is not None else ()):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.height, self.width, self.batch = int(height), int(width), batch
        self.gain = _check_positive("gain", gain, allow_zero=True)
        self.threshold = _check_positive("threshold", threshold)
        self.rate = _check_positive("rate", rate)
        self.noise = NoiseModel.resolve(noise)
        self.packed = bool(packed)
        self.validate = bool(validate)
        self.device = ops.check_device(device)
        shape = (batch or 1, self.height, self.width)
        self.acc = torch.empty(shape, dtype=torch.float32, device=self.device)
        self.comp = torch.empty_like(self.acc)
        self.theta = torch.empty_like(self.acc)
        self.reset(seed)

    # --- parameters passed to the kernels ---
    @property
    def dark(self) -> float:
        """Dark charge per spike frame, threshold units: dark_rate / rate * theta."""
        return self.noise.dark_rate / self.rate * self.threshold

    @property
    def shot(self) -> float:
        """Shot-noise variance scale theta / K (0 when shot noise is off)."""
        return self.threshold / self.noise.electrons if self.noise.shot else 0.0

    def reset(self, seed: int | None = None) -> "Simulator":
        """Restart at spike frame 0 with a fresh fixed pattern and accumulator.

        Args:
            seed: new seed; ``None`` keeps the current one (the same pattern as before).
        """
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise TypeError(f"seed must be an int, got {type(seed).__name__}")
            self.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
            if self.seed >= 1 << 63:
                self.seed -= 1 << 64
        ops.simulate_init(self.acc, self.comp, self.theta, self.threshold, self.noise.threshold_sigma,
                          self.noise.random_init, self.seed)
        self.frame = 0
        return self

    def to(self, device) -> "Simulator":
        """Move the state to ``device`` (returns self)."""
        self.device = ops.check_device(device)
        self.acc, self.comp, self.theta = (t.to(self.device) for t in (self.acc, self.comp, self.theta))
        return self

    def config(self) -> dict:
        """The model parameters as a plain dict (for sidecars and logs)."""
        return {"height": self.height, "width": self.width, "rate": self.rate, "gain": self.gain,
                "threshold": self.threshold, "noise": self.noise.to_dict(), "seed": self.seed}

    # --- stepping ---
    def _out(self, frames: int, out):
        b = self.batch or 1
        shape = (b, frames, ops.frame_bytes(self.height, self.width)) if self.packed else \
            (b, frames, self.height, self.width)
        if out is not None:
            if out.dtype != torch.uint8 or tuple(out.shape) != shape or out.device != self.device:
                raise ValueError(f"out must be uint8 {shape} on {self.device}, got {out.dtype} "
                                 f"{tuple(out.shape)} on {out.device}")
            return out
        if self.device.type == "cpu":
            return empty_hugepage(shape)
        return torch.empty(shape, dtype=torch.uint8, device=self.device)

    def _frames_in(self, intensity: torch.Tensor, name: str) -> torch.Tensor:
        """Validate (N, H, W) / (B, N, H, W) intensities; returns float32 (B, N, H, W) contiguous."""
        if not isinstance(intensity, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(intensity).__name__}")
        want = (self.batch, "N", self.height, self.width) if self.batch else ("N", self.height, self.width)
        if intensity.dim() != len(want) or tuple(intensity.shape[-2:]) != (self.height, self.width) or \
                (self.batch and intensity.shape[0] != self.batch):
            raise ValueError(f"{name} must have shape {want}, got {tuple(intensity.shape)}")
        if intensity.device != self.device:
            raise ValueError(f"{name} is on {intensity.device} but the simulator is on {self.device}; "
                             f"move one of them (Simulator.to)")
        if not intensity.is_floating_point():
            raise TypeError(f"{name} must be a float tensor of intensities in [0, 1], got {intensity.dtype}")
        x = intensity.to(torch.float32).contiguous()
        if self.validate and x.numel():
            lo, hi = torch.aminmax(x)
            lo, hi = float(lo), float(hi)
            if not (lo >= 0.0 and hi <= 1.0):
                raise ValueError(f"{name} must lie in [0, 1], found values in [{lo}, {hi}]")
        return x if self.batch else x.unsqueeze(0)

    def _result(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.batch else out[0]

    def step(self, intensity: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Simulate N spike frames, one per given intensity image.

        Args:
            intensity: float (N, H, W) (or (B, N, H, W) with ``batch=B``) intensities in [0, 1]
                of spike frames ``frame .. frame + N - 1``, on the simulator's device.
            out: optional preallocated uint8 result tensor (with its batch dimension, (B, N, ...),
                even for ``batch=None``).

        Returns:
            uint8 (N, H, W) of {0, 1} (or (B, N, H, W)); with ``packed=True`` the ``.dat``
            bytes, uint8 (N, ceil(H*W/8)) (or (B, N, ceil(H*W/8))). Same device.

        Raises:
            TypeError / ValueError: wrong type, shape, device, or values outside [0, 1].
        """
        x = self._frames_in(intensity, "intensity")
        out = self._out(x.shape[1], out)
        ops.simulate_frames(x, self.acc, self.comp, self.theta, self.gain, self.dark, self.shot, self.seed,
                            self.frame, self.packed, out)
        self.frame += x.shape[1]
        return self._result(out)

    def step_interp(self, start: torch.Tensor, delta: torch.Tensor, alpha: torch.Tensor,
                    out: torch.Tensor | None = None) -> torch.Tensor:
        """Simulate ``len(alpha)`` spike frames whose intensity is interpolated in the kernel.

        Spike frame t sees ``start + alpha[t] * delta`` (float32 multiply then add, clamped to
        [0, 1]); the video path passes start = F_k, delta = F_{k+1} - F_k, alpha = j / S.

        Args:
            start, delta: float32 (H, W) (or (B, H, W)), on the simulator's device; start in [0, 1].
            alpha: float32 (N,) weights in [0, 1].
            out: as :meth:`step`.

        Returns:
            As :meth:`step`.
        """
        shape = (self.batch, self.height, self.width) if self.batch else (self.height, self.width)
        for name, t in (("start", start), ("delta", delta)):
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or t.device != self.device:
                raise ValueError(f"{name} must be a tensor of shape {shape} on {self.device}")
        start = start.to(torch.float32).contiguous().view(-1, self.height, self.width)
        delta = delta.to(torch.float32).contiguous().view(-1, self.height, self.width)
        alpha = torch.as_tensor(alpha, dtype=torch.float32, device=self.device).contiguous().view(-1)
        out = self._out(alpha.shape[0], out)
        ops.simulate_interp(start, delta, alpha, self.acc, self.comp, self.theta, self.gain, self.dark,
                            self.shot, self.seed, self.frame, self.packed, out)
        self.frame += alpha.shape[0]
        return self._result(out)

    def __repr__(self) -> str:
        return (f"Simulator({self.height}x{self.width}, batch={self.batch}, gain={self.gain:g}, "
                f"threshold={self.threshold:g}, noise={self.noise}, seed={self.seed}, rate={self.rate:g}, "
                f"device={self.device}, frame={self.frame})")
