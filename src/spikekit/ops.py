"""Typed wrappers over the ``torch.ops.spikekit.*`` operators of the ``spikekit._C`` extension.

Each op has a fake (meta) kernel registered with ``torch.library.register_fake`` so that it
traces under ``torch.compile``. This module holds nothing else: argument checking that needs
file names or user-facing wording lives in the callers.
"""
from __future__ import annotations

import torch

from ._memory import empty_hugepage

try:
    from . import _C  # noqa: F401  (importing registers the ops)
except ImportError as exc:  # pragma: no cover - only when the extension was never built
    raise ImportError(
        "spikekit._C (the compiled kernels) is not built. Run `make build`, or "
        "`pip install --no-build-isolation -e .` in the repository root."
    ) from exc

WITH_CUDA: bool = bool(_C.WITH_CUDA)
"""True when the CUDA kernels were compiled into this build."""

CPU_CAPABILITIES = ("default", "avx2", "avx512")
"""The instruction-set paths of the CPU kernels, lowest first (csrc/common/dispatch.h): baseline
x86-64 (NEON on aarch64), AVX2 + FMA (x86-64-v3), AVX-512 F/BW/VL/DQ/CD (x86-64-v4)."""

CPU_CAPABILITY_ENV = "SPIKEKIT_CPU_CAPABILITY"
"""Environment variable, read when spikekit loads, that forces a lower CPU path (as torch's
``ATEN_CPU_CAPABILITY``)."""


def cpu_capability() -> str:
    """The instruction-set path the CPU kernels take now: one of :data:`CPU_CAPABILITIES`.

    The best path of the running CPU is chosen when spikekit loads, lowered by the environment
    variable ``SPIKEKIT_CPU_CAPABILITY`` or by :func:`set_cpu_capability`. Every path gives the
    same bits.
    """
    return _C.cpu_capability()[0]


def cpu_best_capability() -> str:
    """The highest instruction-set path the running CPU (and its operating system) supports."""
    return _C.cpu_capability()[1]


def supported_cpu_capabilities() -> tuple[str, ...]:
    """Every path the running CPU can take, lowest first (``("default", "avx2")`` on AVX2)."""
    return CPU_CAPABILITIES[:CPU_CAPABILITIES.index(cpu_best_capability()) + 1]


def set_cpu_capability(name: str) -> None:
    """Make the CPU kernels take path ``name`` from now on (process-wide; tests and benchmarks
    use it to run every path in one process).

    Raises:
        ValueError: ``name`` is not one of :data:`CPU_CAPABILITIES`, or is above what this CPU
            supports (the message lists what it supports).
    """
    _C.set_cpu_capability(str(name))


def _check_capability_env() -> None:
    """One warning line when SPIKEKIT_CPU_CAPABILITY names no path or one this CPU lacks (the
    kernels then take the CPU's best path, as with no variable)."""
    import os
    import warnings

    value = os.environ.get(CPU_CAPABILITY_ENV, "").strip().lower()
    if not value or value in supported_cpu_capabilities():
        return
    known = value in CPU_CAPABILITIES
    message = (f"{CPU_CAPABILITY_ENV}={value!r} ignored: "
               + (f"this CPU supports only {', '.join(supported_cpu_capabilities())}" if known
                  else f"expected one of {', '.join(CPU_CAPABILITIES)}")
               + f"; using {cpu_capability()}")
    # Attributed to the environment, not a source line, so it prints as one line.
    warnings.warn_explicit(message, RuntimeWarning, filename="environment", lineno=0)


_check_capability_env()


def check_device(device) -> torch.device:
    """``device`` as a torch.device the spikekit kernels can run on.

    Raises:
        ValueError: not "cpu"/"cuda[:N]", or CUDA asked for where there is no CUDA device or
            this build has no CUDA kernels (the message names the device and which is missing).
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r} ({exc})") from None
    if dev.type == "cuda" and not (torch.cuda.is_available() and WITH_CUDA):
        raise ValueError(f"device {str(device)!r}: no CUDA device, or spikekit was built without its CUDA kernels "
                         f"(torch.cuda.is_available()={torch.cuda.is_available()}, CUDA kernels={WITH_CUDA})")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


def frame_bytes(height: int, width: int) -> int:
    """Bytes of one packed spike frame of ``height`` x ``width`` pixels: ceil(H*W/8)."""
    return (int(height) * int(width) + 7) // 8


# --- bit packing -----------------------------------------------------------------------------

def unpack_spikes(packed: torch.Tensor, height: int, width: int, flip: bool = True,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """Decode packed spike frames (the ``.dat`` byte layout) to a spike stream.

    Args:
        packed: uint8 (T, ceil(H*W/8)), contiguous, CPU or CUDA.
        height, width: frame size H, W in pixels.
        flip: True when file rows are stored bottom-up (the Vidar ``.dat`` convention).
        out: optional preallocated uint8 (T, H, W) on the same device, reused as the result.

    Returns:
        uint8 (T, H, W) of {0, 1}, row 0 the top of the image.

    Raises:
        RuntimeError: wrong dtype, shape, device or non-contiguous input (message names the
            op and argument).
    """
    if out is None:
        return torch.ops.spikekit.unpack_spikes.default(packed, height, width, flip)
    torch.ops.spikekit.unpack_spikes.out(packed, height, width, flip, out=out)
    return out


def pack_spikes(spikes: torch.Tensor, flip: bool = True) -> torch.Tensor:
    """Encode a spike stream into packed frames (the inverse of :func:`unpack_spikes`).

    Args:
        spikes: uint8 (T, H, W) of {0, 1}, contiguous (values are not checked here; bit 0 of
            each byte is used).
        flip: True to store rows bottom-up (the Vidar ``.dat`` convention).

    Returns:
        uint8 (T, ceil(H*W/8)); padding bits of the last byte of each frame are 0.
    """
    return torch.ops.spikekit.pack_spikes.default(spikes, flip)


def spike_counts(packed: torch.Tensor, height: int, width: int,
                 flip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Count spikes straight from packed frames, without decoding them.

    Args:
        packed: uint8 (T, ceil(H*W/8)), contiguous, CPU or CUDA.
        height, width: frame size H, W.  flip: file rows stored bottom-up.

    Returns:
        (per_pixel, per_frame): int64 (H, W) spikes of each pixel over the T frames (row 0 the
        top), and int64 (T,) spikes in each frame.
    """
    return torch.ops.spikekit.spike_counts.default(packed, height, width, flip)


@torch.library.register_fake("spikekit::spike_counts")
def _spike_counts_fake(packed, height, width, flip):
    torch._check(packed.dim() == 2)
    return (packed.new_empty((height, width), dtype=torch.int64),
            packed.new_empty((packed.shape[0],), dtype=torch.int64))


@torch.library.register_fake("spikekit::unpack_spikes")
def _unpack_spikes_fake(packed, height, width, flip):
    torch._check(packed.dim() == 2)
    return packed.new_empty((packed.shape[0], height, width))


@torch.library.register_fake("spikekit::unpack_spikes.out")
def _unpack_spikes_out_fake(packed, height, width, flip, *, out):
    return None


@torch.library.register_fake("spikekit::pack_spikes")
def _pack_spikes_fake(spikes, flip):
    torch._check(spikes.dim() == 3)
    return spikes.new_empty((spikes.shape[0], (spikes.shape[1] * spikes.shape[2] + 7) // 8))


# --- simulator (integrate-and-fire) ----------------------------------------------------------

def simulate_init(acc: torch.Tensor, comp: torch.Tensor, theta: torch.Tensor, threshold: float,
                  sigma: float, random_init: bool, seed: int) -> None:
    """Fill the simulator state of B independent sensors from ``seed`` (in place).

    Args:
        acc, comp, theta: float32 (B, H, W), contiguous, same device. Written: theta = threshold *
            max(1 + sigma * z, 0.05) per pixel (z standard normal; z = 0 when sigma == 0), acc =
            U[0, 1) * theta when ``random_init`` else 0, comp (Kahan compensation) = 0.
        threshold: nominal threshold theta (> 0, checked by the caller).
        sigma: relative threshold mismatch (fixed-pattern noise), >= 0.
        random_init: draw the initial accumulator.
        seed: Philox key (int64); draws are keyed by (seed, pixel, batch element), so CPU and CUDA
            give the same bits.

    Source: the camera model in :mod:`spikekit.simulate.model` (Chen et al. 2022, Eq. 1 plus noise).
    """
    torch.ops.spikekit.simulate_init.default(acc, comp, theta, float(threshold), float(sigma),
                                             bool(random_init), int(seed))


def simulate_frames(intensity: torch.Tensor, acc: torch.Tensor, comp: torch.Tensor, theta: torch.Tensor,
                    gain: float, dark: float, shot: float, seed: int, frame0: int, packed: bool,
                    out: torch.Tensor) -> torch.Tensor:
    """Integrate-and-fire over per-spike-frame intensities, writing spikes into ``out``.

    Args:
        intensity: float32 (B, N, H, W) intensity of each spike frame (clamped to [0, 1] in the
            kernel; NaN reads as 0).
        acc, comp, theta: float32 (B, H, W) state (updated in place: acc, comp).
        gain: charge per spike frame at intensity 1, in threshold units (theta units).
        dark: dark charge per spike frame (same units), >= 0.
        shot: shot-noise variance scale theta / electrons-per-threshold; 0 disables shot noise.
        seed: Philox key.  frame0: global spike-frame index of the first frame (keys the noise).
        packed: write the ``.dat`` bytes instead of one byte per pixel.
        out: uint8 (B, N, ceil(H*W/8)) if packed else (B, N, H, W), same device.

    Returns:
        ``out``.

    Raises:
        RuntimeError: wrong dtype/shape/device/contiguity (message names the op and argument).
    """
    torch.ops.spikekit.simulate_frames.default(intensity, acc, comp, theta, float(gain), float(dark),
                                               float(shot), int(seed), int(frame0), bool(packed), out)
    return out


def simulate_interp(start: torch.Tensor, delta: torch.Tensor, alpha: torch.Tensor, acc: torch.Tensor,
                    comp: torch.Tensor, theta: torch.Tensor, gain: float, dark: float, shot: float,
                    seed: int, frame0: int, packed: bool, out: torch.Tensor) -> torch.Tensor:
    """As :func:`simulate_frames`, with the intensity of spike frame t interpolated in the kernel.

    Args:
        start, delta: float32 (B, H, W): video frame F_k and F_{k+1} - F_k.
        alpha: float32 (N,): interpolation weights; spike frame t sees start + alpha[t] * delta
            (float32 multiply, then add).
        Other arguments as :func:`simulate_frames`.

    Returns:
        ``out``.
    """
    torch.ops.spikekit.simulate_interp.default(start, delta, alpha, acc, comp, theta, float(gain),
                                               float(dark), float(shot), int(seed), int(frame0),
                                               bool(packed), out)
    return out


@torch.library.register_fake("spikekit::simulate_init")
def _simulate_init_fake(acc, comp, theta, threshold, sigma, random_init, seed):
    return None


@torch.library.register_fake("spikekit::simulate_frames")
def _simulate_frames_fake(intensity, acc, comp, theta, gain, dark, shot, seed, frame0, packed, out):
    return None


@torch.library.register_fake("spikekit::simulate_interp")
def _simulate_interp_fake(start, delta, alpha, acc, comp, theta, gain, dark, shot, seed, frame0, packed, out):
    return None



# --- reconstruction (TFP / TFI windows) ------------------------------------------------------

def _packed_out(packed: torch.Tensor, k: int, height: int, width: int) -> torch.Tensor:
    if packed.device.type == "cpu":  # huge-page backed: big outputs fault in fast
        return empty_hugepage((k, height, width), torch.float32)
    return torch.empty((k, height, width), dtype=torch.float32, device=packed.device)


def tfp_packed(packed: torch.Tensor, height: int, width: int, centres: torch.Tensor, window: int,
               scale: float, flip: bool = True, out: torch.Tensor | None = None) -> torch.Tensor:
    """TFP images straight from packed spike frames (never unpacking the stream).

    I(c) = min(scale * (spikes in frames [c - w//2, c - w//2 + w)) / w, 1) per pixel (Zhu et
    al., ICME 2019; Chen et al. 2022, Eq. 2). For even ``w`` the window has one more frame
    before ``c`` than after it. Counts are int32 (windows up to 2**31 frames).

    Args:
        packed: uint8 (T, ceil(H*W/8)), contiguous, CPU or CUDA (the ``.dat`` bytes).
        height, width: frame size H, W.
        centres: int64 (K,) spike-frame indices into ``packed`` (any order; sorted ascending is
            fastest on CPU, where neighbouring windows slide instead of being recounted).
        window: w >= 1, spike frames.  scale: intensity per unit firing rate (> 0).
        flip: file rows stored bottom-up.  out: optional float32 (K, H, W) to fill.

    Returns:
        float32 (K, H, W) in [0, 1], row 0 the top.

    Raises:
        RuntimeError: bad dtype/shape/device, or a centre whose window leaves [0, T) (the
            message names the valid centres ``w//2 .. T-1-(w-1)//2``).
    """
    centres = centres.to(device=packed.device, dtype=torch.int64).contiguous()
    if out is None:
        out = _packed_out(packed, centres.shape[0], height, width)
    torch.ops.spikekit.tfp_packed.out(packed, height, width, flip, centres, int(window), float(scale), out=out)
    return out


def tfi_packed(packed: torch.Tensor, height: int, width: int, centres: torch.Tensor,
               max_interval: int, scale: float, flip: bool = True,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """TFI images straight from packed spike frames: min(scale / ISI(c), 1) per pixel.

    ISI(c) = r - l (Chen et al. 2022, Eq. 3), l = last spike frame in [c - M + 1, c] else c - M,
    r = first spike frame in [c + 1, c + M] else c + M (M = ``max_interval``). The first and last
    frames of ``packed`` are taken as the stream's ends (the rule there: src/spikekit/recon/tfi.py),
    so pass 2M - 1 frames of context before each centre and 2M after, where the stream has them.

    Args:
        packed: uint8 (T, ceil(H*W/8)), contiguous, CPU or CUDA.
        height, width: frame size.  centres: int64 (K,) in [0, T).
        max_interval: M >= 1, spike frames.  scale: > 0.  flip: rows stored bottom-up.
        out: optional float32 (K, H, W).

    Returns:
        float32 (K, H, W) in [scale / (2M), 1] clipped to at most 1, row 0 the top.

    Raises:
        RuntimeError: bad dtype/shape/device, a centre outside [0, T), M < 1.
    """
    centres = centres.to(device=packed.device, dtype=torch.int64).contiguous()
    if out is None:
        out = _packed_out(packed, centres.shape[0], height, width)
    torch.ops.spikekit.tfi_packed.out(packed, height, width, flip, centres, int(max_interval), float(scale),
                                      out=out)
    return out


def isi(spikes: torch.Tensor, centres: torch.Tensor, max_interval: int) -> torch.Tensor:
    """Inter-spike intervals of unpacked spike batches (the definition of :func:`tfi_packed`).

    Args:
        spikes: uint8, bool or float32 (N, T, P), contiguous, CPU or CUDA; value > 0 is a spike.
        centres: int64 (K,) spike-frame indices in [0, T).
        max_interval: M >= 1.

    Returns:
        float32 (N, K, P): ISI in spike frames, in [1, 2M].
    """
    centres = centres.to(device=spikes.device, dtype=torch.int64).contiguous()
    return torch.ops.spikekit.isi.default(spikes, centres, int(max_interval))


def _packed_images_fake(packed, height, width, flip, centres, window_or_bound, scale):
    """Fake of tfp_packed / tfi_packed: float32 (K, H, W), one image per centre."""
    torch._check(packed.dim() == 2)
    return packed.new_empty((centres.shape[0], height, width), dtype=torch.float32)


def _packed_images_out_fake(packed, height, width, flip, centres, window_or_bound, scale, *, out):
    return None


for _op in ("tfp_packed", "tfi_packed"):
    torch.library.register_fake(f"spikekit::{_op}")(_packed_images_fake)
    torch.library.register_fake(f"spikekit::{_op}.out")(_packed_images_out_fake)


@torch.library.register_fake("spikekit::isi")
def _isi_fake(spikes, centres, max_interval):
    torch._check(spikes.dim() == 3)
    return spikes.new_empty((spikes.shape[0], centres.shape[0], spikes.shape[2]), dtype=torch.float32)


# --- TFSTP (short-term plasticity recurrence) ------------------------------------------------

def tfstp_frames(spikes: torch.Tensor, r: torch.Tensor, u: torch.Tensor, last: torch.Tensor,
                 emit: torch.Tensor, t0: int, origin: int, u0: float, D: float, F: float, f: float,
                 scale: float, out: torch.Tensor) -> torch.Tensor:
    """Run spike frames through the per-pixel TFSTP synapses, writing images at chosen frames.

    At each spike of pixel p in global frame t, with Delta = t - last[p]:
    R <- 1 - (1 - R (1 - u)) exp(-Delta / D), then u <- u0 + (f - u0 + u (1 - f)) exp(-Delta / F),
    last[p] <- t. After local frame emit[k] the steady-state inversion of (R, u) is written to
    out[k] (equations and edge cases: :mod:`spikekit.recon.tfstp`; Zheng et al., CVPR 2021).

    Args:
        spikes: uint8 (n, P), contiguous; nonzero is a spike; local frame i is global frame t0 + i.
        r, u: float64 (P,) synapse resources and release probability (updated in place).
        last: int64 (P,) global frame of each pixel's previous spike (updated in place); a pixel
            with last < origin has not spiked yet and reads 0.
        emit: int64 (K,) ascending local frame indices in [0, n) (read on the host).
        t0: global index of local frame 0.  origin: first global frame of the recurrence.
        u0, f: rest and increment of u, in (0, 1).  D, F: time constants in spike frames, > 0.
        scale: intensity per unit firing rate; <= 0 writes the raw rate (spikes per frame).
        out: float32 (K, P), contiguous, on the device of ``spikes`` (as r, u, last).

    Returns:
        ``out``: float32 (K, P), in [0, 1] when scale > 0.

    Raises:
        RuntimeError: wrong dtype/shape/device/contiguity, emit not ascending in [0, n), D or F
            <= 0 (the message names the op and argument).
    """
    torch.ops.spikekit.tfstp_frames.default(spikes, r, u, last, emit, int(t0), int(origin), float(u0), float(D),
                                            float(F), float(f), float(scale), out)
    return out


@torch.library.register_fake("spikekit::tfstp_frames")
def _tfstp_frames_fake(spikes, r, u, last, emit, t0, origin, u0, D, F, f, scale, out):
    return None
