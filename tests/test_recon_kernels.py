"""The recon ops (tfp_packed, tfi_packed, isi, tfstp_frames) against plain references, opcheck, CUDA."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import DEVICES

from spikekit import ops

SIZES = [(1, 1), (1, 8), (3, 5), (7, 9), (8, 8), (13, 21), (250, 40)]  # H*W % 8 != 0 included


def tfp_ref(spikes: np.ndarray, centres, window: int, scale: float) -> np.ndarray:
    """Plain TFP: mean over frames [c - w//2, c - w//2 + w), times scale, clipped to 1."""
    out = []
    for c in centres:
        a = c - window // 2
        out.append(np.minimum(spikes[a:a + window].sum(axis=0, dtype=np.int64) / window * scale, 1.0))
    return np.stack(out).astype(np.float32)


def isi_ref(spikes: np.ndarray, t: int, m: int) -> np.ndarray:
    """Plain ISI: l = last spike in [t-m+1, t] else t-m; r = first in [t+1, t+m] else t+m;
    ISI = r - l. Where the stream's start cuts the left search (t-m+1 < 0) and it finds nothing
    while r is a spike, the ISI is the gap from r to the next spike within m; where the end cuts the
    right search and finds nothing while l is a spike, the gap from the spike before l (within m)
    to l."""
    frames = spikes.shape[0]
    fired = spikes > 0
    left = np.full(spikes.shape[1:], t - m)
    for f in range(max(0, t - m + 1), t + 1):  # ascending: the last spike wins
        left = np.where(fired[f], f, left)
    right = np.full(spikes.shape[1:], t + m)
    for f in range(min(frames - 1, t + m), t, -1):  # descending: the first spike wins
        right = np.where(fired[f], f, right)
    has_left, has_right = left > t - m, (right < frames) & (right < t + m + 1)
    has_right &= np.take_along_axis(fired, np.minimum(right, frames - 1)[None], 0)[0]
    if t - m + 1 < 0:  # the next spike after r, within m
        after = ~has_left & has_right
        pair = np.full(spikes.shape[1:], -1)
        for f in range(frames - 1, -1, -1):
            pair = np.where(after & fired[f] & (f > right) & (f <= right + m), f, pair)
        found = pair >= 0
        left, right = np.where(found, right, left), np.where(found, pair, right)
    if t + m > frames - 1:  # the spike before l, within m (pixels the branch above changed have a right)
        before = ~has_right & has_left
        pair = np.full(spikes.shape[1:], -1)
        for f in range(frames):
            pair = np.where(before & fired[f] & (f < left) & (f >= left - m), f, pair)
        found = pair >= 0
        left, right = np.where(found, pair, left), np.where(found, left, right)
    return (right - left).astype(np.float32)


def random_spikes(frames, height, width, p, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(frames, height, width, generator=g) < p).to(torch.uint8)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("p", [0.05, 0.5, 0.97])
def test_tfp_packed_matches_reference(size, p, cpu_path):
    h, w = size
    flip = (h + w) % 2 == 0
    spikes = random_spikes(700, h, w, p, seed=h * 31 + w)
    packed = ops.pack_spikes(spikes, flip=flip)
    rng = np.random.default_rng(h + w)
    for window in (1, 2, 7, 41, 255, 256, 600):
        lo, hi = window // 2, 700 - 1 - (window - 1) // 2
        sliding = list(range(lo, min(hi, lo + 30) + 1, 3))  # steps < w/2: the sliding path
        jumps = sorted(rng.integers(lo, hi + 1, size=5).tolist())
        shuffled = rng.permutation(np.arange(lo, hi + 1))[:6].tolist()  # backwards moves recount
        centres = sliding + jumps + shuffled + [hi, hi]
        got = ops.tfp_packed(packed, h, w, torch.tensor(centres), window, 1 / 0.6, flip=flip)
        np.testing.assert_allclose(got.numpy(), tfp_ref(spikes.numpy(), centres, window, 1 / 0.6),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("p", [0.02, 0.3, 0.9])
@pytest.mark.parametrize("m", [1, 3, 12, 20])
def test_tfi_packed_and_isi_match_reference(size, p, m, cpu_path):
    h, w = size
    frames = 90
    spikes = random_spikes(frames, h, w, p, seed=h * 7 + w + m)
    centres = [0, 1, m - 1, m, 45, frames - m, frames - 2, frames - 1]
    centres = [c for c in centres if 0 <= c < frames]
    ref = np.stack([isi_ref(spikes.numpy(), t, m) for t in centres])
    for flip in (True, False):
        got = ops.tfi_packed(ops.pack_spikes(spikes, flip=flip), h, w, torch.tensor(centres), m, 1.0, flip=flip)
        np.testing.assert_allclose(got.numpy(), np.minimum(1.0 / ref, 1.0), rtol=1e-6)
    for dtype in (torch.uint8, torch.bool, torch.float32):
        got = ops.isi(spikes.to(dtype).reshape(1, frames, h * w), torch.tensor(centres), m)
        np.testing.assert_array_equal(got.reshape(len(centres), h, w).numpy(), ref)


@pytest.mark.parametrize("m", [1, 5, 20])
def test_tfi_packed_runs_of_centres_match_reference(m, cpu_path):
    """Runs of ascending centres (the kernel's sliding path: strides 1 to M, repeats, runs longer
    than one group) between centres near the ends and out of order (the per-byte search)."""
    h, w, frames = 13, 21, 160
    spikes = random_spikes(frames, h, w, 0.2, seed=m)
    rng = np.random.default_rng(m)
    runs = (list(range(m - 1, m + 45)) + [70, 70, 71, 71 + m, 71 + 2 * m, 72 + 2 * m]
            + sorted(rng.integers(m, frames - m, size=12).tolist()))
    centres = [0, frames - 1] + runs + [frames - 1 - m, 3 * m, 2, frames - 2] + runs[::-1][:9]
    centres = [c for c in centres if 0 <= c < frames]
    ref = np.stack([isi_ref(spikes.numpy(), t, m) for t in centres])
    got = ops.tfi_packed(ops.pack_spikes(spikes), h, w, torch.tensor(centres), m, 1.0)
    np.testing.assert_allclose(got.numpy(), np.minimum(1.0 / ref, 1.0), rtol=1e-6)


def test_isi_batch_stride_and_values_above_zero():
    spikes = random_spikes(41, 6, 11, 0.3, seed=3).float().reshape(1, 41, 66).repeat(3, 1, 1)
    spikes[1] *= 0.25  # any value > 0 is a spike
    spikes[2] *= -1.0  # negative values are not
    window = spikes[:, 7:34]  # batch stride 41*P: read without a copy
    assert not window.is_contiguous()
    got = ops.isi(window, torch.tensor([13]), 12)
    ref = isi_ref(spikes[0, 7:34].numpy(), 13, 12)
    np.testing.assert_array_equal(got[0, 0].numpy(), ref)
    np.testing.assert_array_equal(got[1, 0].numpy(), ref)
    np.testing.assert_array_equal(got[2, 0].numpy(), np.full(66, 24.0))


def test_tfp_long_window_does_not_wrap(cpu_path):
    ones = torch.ones(65535, 1, 8, dtype=torch.uint8)
    got = ops.tfp_packed(ops.pack_spikes(ones), 1, 8, torch.tensor([32767]), 65535, 0.5)
    np.testing.assert_array_equal(got.numpy(), np.full((1, 1, 8), 0.5, np.float32))
    half = torch.zeros(700, 3, 3, dtype=torch.uint8)
    half[::2] = 1  # 50% firing, each 256-frame window holds exactly 128 spikes
    got = ops.tfp_packed(ops.pack_spikes(half), 3, 3, torch.arange(128, 572, 7), 256, 1.0)
    np.testing.assert_array_equal(got.numpy(), np.full(got.shape, 0.5, np.float32))


def test_op_errors_name_the_problem():
    packed = ops.pack_spikes(random_spikes(50, 5, 7, 0.5))
    with pytest.raises(RuntimeError, match=r"valid centres: 2 \.\. 47"):
        ops.tfp_packed(packed, 5, 7, torch.tensor([48]), 5, 1.0)
    with pytest.raises(RuntimeError, match="window must be >= 1"):
        ops.tfp_packed(packed, 5, 7, torch.tensor([10]), 0, 1.0)
    with pytest.raises(RuntimeError, match=r"valid: 0 \.\. 49"):
        ops.tfi_packed(packed, 5, 7, torch.tensor([50]), 20, 1.0)
    with pytest.raises(RuntimeError, match="bytes per frame"):
        ops.tfi_packed(packed, 5, 9, torch.tensor([5]), 20, 1.0)
    with pytest.raises(RuntimeError, match="uint8, bool or float32"):
        ops.isi(torch.zeros(1, 5, 4, dtype=torch.int32), torch.tensor([1]), 3)
    with pytest.raises(RuntimeError, match="max_interval must be >= 1"):
        ops.isi(torch.zeros(1, 5, 4), torch.tensor([1]), 0)


def test_opcheck():
    spikes = random_spikes(60, 5, 7, 0.4)
    packed = ops.pack_spikes(spikes)
    centres = torch.tensor([20, 21, 30])
    torch.library.opcheck(torch.ops.spikekit.tfp_packed.default, (packed, 5, 7, True, centres, 9, 1.5))
    torch.library.opcheck(torch.ops.spikekit.tfi_packed.default, (packed, 5, 7, True, centres, 12, 1.5))
    out = torch.empty(3, 5, 7)
    torch.library.opcheck(torch.ops.spikekit.tfp_packed.out, (packed, 5, 7, True, centres, 9, 1.5), {"out": out})
    torch.library.opcheck(torch.ops.spikekit.tfi_packed.out, (packed, 5, 7, True, centres, 12, 1.5), {"out": out})
    for dtype in (torch.uint8, torch.float32):
        torch.library.opcheck(torch.ops.spikekit.isi.default, (spikes.to(dtype).reshape(2, 30, 35), centres - 15, 12))


def test_out_overloads_fill_the_given_tensor_like_the_functional_ops():
    spikes = random_spikes(60, 5, 7, 0.4)
    packed = ops.pack_spikes(spikes)
    centres = torch.tensor([20, 21, 30])
    for op, param in ((torch.ops.spikekit.tfp_packed, 9), (torch.ops.spikekit.tfi_packed, 12)):
        out = torch.full((3, 5, 7), -1.0)
        assert op.out(packed, 5, 7, True, centres, param, 1.5, out=out) is None
        torch.testing.assert_close(out, op.default(packed, 5, 7, True, centres, param, 1.5), rtol=0, atol=0)
    unpacked = torch.empty(60, 5, 7, dtype=torch.uint8)
    torch.ops.spikekit.unpack_spikes.out(packed, 5, 7, True, out=unpacked)
    assert torch.equal(unpacked, spikes)
    with pytest.raises(RuntimeError, match=r"unpack_spikes.out: out must have shape \(60, 5, 7\)"):
        torch.ops.spikekit.unpack_spikes.out(packed, 5, 7, True, out=unpacked[:59])
    assert not any(hasattr(torch.ops.spikekit, name) for name in ("unpack_spikes_into", "tfp_packed_into",
                                                                   "tfi_packed_into"))


def test_isi_under_torch_compile():
    spikes = random_spikes(41, 6, 10, 0.3).float().reshape(1, 41, 60)
    compiled = torch.compile(lambda x: 1.0 / ops.isi(x, torch.tensor([20]), 12), fullgraph=True)
    torch.testing.assert_close(compiled(spikes), 1.0 / ops.isi(spikes, torch.tensor([20]), 12))


@pytest.mark.cuda
@pytest.mark.parametrize("size", [(1, 1), (7, 9), (250, 400)])
def test_cuda_matches_cpu(size):
    h, w = size
    spikes = random_spikes(300, h, w, 0.3, seed=5)
    packed = ops.pack_spikes(spikes)
    centres = torch.tensor([20, 21, 25, 150, 279])
    for window in (1, 8, 41, 256):
        c = centres.clamp(window // 2, 299 - (window - 1) // 2)
        torch.testing.assert_close(ops.tfp_packed(packed.cuda(), h, w, c, window, 1 / 0.6).cpu(),
                                   ops.tfp_packed(packed, h, w, c, window, 1 / 0.6))
    torch.testing.assert_close(ops.tfi_packed(packed.cuda(), h, w, centres, 20, 1 / 0.6).cpu(),
                               ops.tfi_packed(packed, h, w, centres, 20, 1 / 0.6))
    for dtype in (torch.uint8, torch.bool, torch.float32):
        x = spikes.to(dtype).reshape(3, 100, h * w)[:, 10:90]
        torch.testing.assert_close(ops.isi(x.cuda(), centres[:2] - 10, 12).cpu(), ops.isi(x, centres[:2] - 10, 12))


@pytest.mark.parametrize("device", DEVICES)
def test_isi_long_ones_and_empty_rows(device):
    spikes = torch.zeros(2, 30, 16, device=device)
    spikes[0] = 1.0
    got = ops.isi(spikes, torch.tensor([0, 15, 29]), 5).cpu()
    # the last frame has no frame after it: the interval before it (1), not the bound (5)
    np.testing.assert_array_equal(got[0].numpy(), np.ones((3, 16)))
    np.testing.assert_array_equal(got[1].numpy(), np.full((3, 16), 10.0))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_isi_long_search_uses_wide_offsets(dtype, cpu_path):
    spikes = random_spikes(450, 3, 5, 0.004, seed=9)  # sparse: offsets beyond 127 frames
    centres = [0, 150, 225, 449]
    got = ops.isi(spikes.to(dtype).reshape(1, 450, 15), torch.tensor(centres), 200)
    for k, t in enumerate(centres):
        np.testing.assert_array_equal(got[0, k].numpy(), isi_ref(spikes.numpy(), t, 200).reshape(15))


# --- TFSTP recurrence ---------------------------------------------------------------------------

def tfstp_reference(spikes, emit, t0, origin, state, u0, d, big_f, f, scale):
    """Plain per-pixel TFSTP recurrence (src/spikekit/recon/tfstp.py) over frames t0 .. t0 + n - 1 of
    spikes (n, P); state = (r, u, last) lists, updated; returns (K, P) images after emit[k]."""
    r, u, last = state
    out = np.zeros((len(emit), spikes.shape[1]))
    for p in range(spikes.shape[1]):
        for i in range(spikes.shape[0]):
            if spikes[i, p]:
                delta = t0 + i - last[p]
                r[p] = 1 - (1 - r[p] * (1 - u[p])) * math.exp(-delta / d)
                u[p] = u0 + (f - u0 + u[p] * (1 - f)) * math.exp(-delta / big_f)
                last[p] = t0 + i
            for k in (k for k, e in enumerate(emit) if e == i):
                rates = []
                for ratio, tau in (((u[p] - u0) / (f - u0 + u[p] * (1 - f))), big_f), \
                                  (((1 - r[p]) / (1 - r[p] * (1 - u[p]))), d):
                    if ratio > 0:
                        rates.append(1.0 if ratio >= 1 else min(1.0, -1 / (tau * math.log(ratio))))
                rate = np.mean(rates) if last[p] >= origin and rates else 0.0
                out[k, p] = min(rate * scale, 1.0) if scale > 0 else rate
    return out


def run_tfstp_calls(spikes, calls, origin, params, scale, device):
    """tfstp_frames over consecutive blocks of spikes (T, P) from frame origin, n frames per call
    with the emits of ``calls`` [(n, emit)], next to tfstp_reference; asserts each call agrees
    and returns the last call's images."""
    npix = spikes.shape[1]
    r = torch.ones(npix, dtype=torch.float64, device=device)
    u = torch.full((npix,), params[0], dtype=torch.float64, device=device)
    last = torch.full((npix,), origin - 1, dtype=torch.int64, device=device)
    ref_state = ([1.0] * npix, [params[0]] * npix, [origin - 1] * npix)
    t0 = origin
    for n, emit in calls:
        block = spikes[t0 - origin:t0 - origin + n].contiguous()
        out = torch.full((len(emit), npix), -1.0, device=device)
        ops.tfstp_frames(block.to(device), r, u, last, torch.tensor(emit, dtype=torch.int64), t0, origin, *params,
                         scale, out)
        expected = tfstp_reference(block.numpy(), emit, t0, origin, ref_state, *params, scale)
        np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(r.cpu().numpy(), ref_state[0], rtol=1e-12)
        np.testing.assert_array_equal(last.cpu().numpy(), ref_state[2])
        t0 += n
    return out.cpu()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("scale,params", [(-1.0, (0.15, 1.0, 10.0, 0.15)), (1.5, (0.3, 2.5, 4.0, 0.2))])
def test_tfstp_frames_matches_plain_recurrence_across_calls(scale, params, device, cpu_path):
    """Pixels past one 512-pixel work item, state carried over calls of different lengths, two
    outputs after the same frame, a pixel that never fires."""
    spikes = (torch.rand(150, 1100, generator=torch.Generator().manual_seed(3)) < 0.15).to(torch.uint8)
    spikes[:, 700] = 0
    out = run_tfstp_calls(spikes, ((64, [0, 5, 5, 63]), (50, []), (36, [35])), 20, params, scale, device)
    assert (out[:, 700] == 0).all() and (out[:, :700] > 0).all()


@pytest.mark.parametrize("device", DEVICES)
def test_tfstp_frames_long_intervals(device):
    """Intervals beyond the CPU kernel's table of decays (1024 frames) and at its edge."""
    spikes = torch.zeros(2100, 3, dtype=torch.uint8)
    spikes[[0, 2000], 0] = 1
    spikes[[5, 1029, 1030, 2053], 1] = 1  # intervals 1024 (first past the table), 1, 1023 (last in it)
    spikes[::2, 2] = 1
    out = run_tfstp_calls(spikes, ((1000, [999]), (1100, [0, 1000, 1099])), 0, (0.15, 1.0, 10.0, 0.15), -1.0, device)
    assert (out[:, 2] > 0.4).all()


def test_tfstp_frames_errors_name_the_argument():
    spikes = torch.zeros(10, 6, dtype=torch.uint8)
    state = (torch.ones(6, dtype=torch.float64), torch.full((6,), 0.15, dtype=torch.float64),
             torch.full((6,), -1, dtype=torch.int64))
    out = torch.empty(2, 6)

    def call(spikes=spikes, r=state[0], emit=torch.tensor([1, 4]), out=out, d=1.0):
        ops.tfstp_frames(spikes, r, state[1], state[2], emit, 0, 0, 0.15, d, 10.0, 0.15, 1.0, out)

    with pytest.raises(RuntimeError, match=r"tfstp_frames: r must be a contiguous Double \(6,\)"):
        call(r=state[0].float())
    with pytest.raises(RuntimeError, match="tfstp_frames: spikes must be uint8"):
        call(spikes=spikes.float())
    with pytest.raises(RuntimeError, match=r"emit must be ascending frame indices in 0 .. 9, got 3 at position 1"):
        call(emit=torch.tensor([4, 3]))
    with pytest.raises(RuntimeError, match=r"emit must be ascending frame indices in 0 .. 9, got 10"):
        call(emit=torch.tensor([1, 10]))
    with pytest.raises(RuntimeError, match=r"out must be a contiguous float32 \(2, 6\)"):
        call(out=torch.empty(3, 6))
    with pytest.raises(RuntimeError, match="D and F must be > 0"):
        call(d=0.0)


def test_tfstp_frames_opcheck():
    spikes = (torch.rand(30, 40, generator=torch.Generator().manual_seed(4)) < 0.3).to(torch.uint8)
    state = (torch.ones(40, dtype=torch.float64), torch.full((40,), 0.15, dtype=torch.float64),
             torch.full((40,), -1, dtype=torch.int64))
    torch.library.opcheck(torch.ops.spikekit.tfstp_frames.default,
                          (spikes, *state, torch.tensor([3, 29]), 0, 0, 0.15, 1.0, 10.0, 0.15, 1.0, torch.empty(2, 40)))
