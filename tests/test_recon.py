"""spikekit.recon: table tests of TFP/TFI/TFSTP, files vs tensors, batching, scale, orientation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import DEVICES

import spikekit
from spikekit.recon import isi, plan_chunks, tfi, tfp, tfstp
from spikekit.recon import source as source_mod

SCALE = 1 / 0.6


def random_spikes(frames, height, width, p, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(frames, height, width, generator=g) < p).to(torch.uint8)


# --- table tests -----------------------------------------------------------------------------

def test_all_ones():
    ones = torch.ones(60, 4, 5, dtype=torch.uint8)
    for scale in (0.5, 1.0, SCALE):
        np.testing.assert_allclose(tfp(ones, window=41, at=30, scale=scale).numpy(), min(scale, 1.0))
        # every frame, the first and the last included: uniform to the stream's ends
        np.testing.assert_allclose(tfi(ones, stride=1, scale=scale).numpy(), min(scale, 1.0))


@pytest.mark.parametrize("period", [1, 4, 7])
@pytest.mark.parametrize("phase", [0, 3])
def test_tfi_of_a_regular_pixel_is_uniform_to_the_stream_ends(period, phase, tmp_path):
    """A pixel firing every `period` frames reads ISI = period at every frame, the first few and
    the last few included, in memory and from a file."""
    spikes = torch.zeros(97, 2, 3, dtype=torch.uint8)
    spikes[phase % period::period] = 1
    np.testing.assert_allclose(tfi(spikes, stride=1, max_interval=20, scale=1.0).numpy(), 1 / period, rtol=1e-6)
    spikekit.write_dat(tmp_path / "regular.dat", spikes)
    with spikekit.SpikeStream(tmp_path / "regular.dat") as stream:
        np.testing.assert_allclose(tfi(stream, stride=1, max_interval=20, scale=1.0).numpy(), 1 / period, rtol=1e-6)


def test_tfi_at_the_ends_without_a_pair_uses_the_bound():
    """One spike only: at the last frame there is no interval to borrow, so the far side is the
    bound M (as away from the ends)."""
    spikes = torch.zeros(30, 1, 1, dtype=torch.uint8)
    spikes[25] = 1
    np.testing.assert_allclose(tfi(spikes, at=29, max_interval=20, scale=1.0).numpy(), 1 / (29 + 20 - 25))


def test_spikes_at_0_and_12_give_isi_12():
    spikes = torch.zeros(40, 2, 3, dtype=torch.uint8)
    spikes[0] = spikes[12] = 1
    for m in (12, 20):
        got = isi(spikes, list(range(12)), max_interval=m)
        np.testing.assert_array_equal(got.numpy(), np.full((12, 2, 3), 12.0))
        np.testing.assert_allclose(tfi(spikes, at=list(range(12)), max_interval=m, scale=1.0).numpy(), 1 / 12)
    # a smaller bound clips the search: at t = 0, r = 0 + 11 (none in [1, 11]) -> ISI 11
    np.testing.assert_array_equal(isi(spikes, 0, max_interval=11).numpy(), np.full((2, 3), 11.0))


def test_all_zero_is_finite():
    zeros = torch.zeros(100, 3, 9, dtype=torch.uint8)
    np.testing.assert_array_equal(tfp(zeros, stride=10).numpy(), 0.0)
    for m in (12, 20):  # both sides missing: ISI = 2M
        np.testing.assert_allclose(tfi(zeros, stride=7, max_interval=m).numpy(), SCALE / (2 * m), rtol=1e-6)
    out = tfstp(zeros, stride=9)
    assert torch.isfinite(out).all() and (out == 0).all()


def test_scale_none_is_the_raw_estimate_of_every_classic_method():
    spikes = random_spikes(90, 5, 7, 0.8, seed=3)  # dense: a scale of 2 clips most pixels at 1
    window = spikes[45 - 20:45 + 21].double().mean(0).numpy()  # TFP-41, seed Eq. 2
    np.testing.assert_allclose(tfp(spikes, at=45, scale=None).numpy(), window, atol=1e-6)
    np.testing.assert_allclose(tfp(spikes, at=45, scale=2.0).numpy(), np.minimum(2 * window, 1), atol=1e-6)
    for method in (tfi, tfstp):
        raw = method(spikes, at=[30, 60], scale=None)
        assert raw.max() <= 1 and (raw > 0.5).any()
        torch.testing.assert_close(method(spikes, at=[30, 60], scale=2.0), (2 * raw).clamp(max=1))


def test_even_window_holds_one_more_frame_before_the_centre():
    spikes = torch.zeros(10, 1, 1, dtype=torch.uint8)
    spikes[4] = 1
    # w = 2 at t: frames [t - 1, t]
    assert tfp(spikes, window=2, at=4, scale=1.0).item() == 0.5
    assert tfp(spikes, window=2, at=5, scale=1.0).item() == 0.5
    assert tfp(spikes, window=2, at=3, scale=1.0).item() == 0.0
    with pytest.raises(ValueError, match=r"valid centres: 1 \.\. 9"):
        tfp(spikes, window=2, at=0)


def test_fifty_percent_stream_at_w256_does_not_wrap():
    half = torch.zeros(600, 3, 5, dtype=torch.uint8)
    half[::2] = 1
    np.testing.assert_allclose(tfp(half, window=256, stride=17, scale=SCALE).numpy(), 0.5 * SCALE, rtol=1e-6)
    np.testing.assert_allclose(tfp(half, window=257, at=300, scale=1.0).numpy(), 129 / 257, rtol=1e-6)


def test_window_past_the_end_names_the_valid_range():
    spikes = random_spikes(301, 4, 4, 0.3)
    with pytest.raises(ValueError, match=r"spike frame 290 .* valid centres: 20 \.\. 280"):
        tfp(spikes, window=41, at=290)
    with pytest.raises(ValueError, match=r"valid centres: 0 \.\. 300"):
        tfi(spikes, at=301)
    with pytest.raises(ValueError, match="too short"):
        tfp(spikes[:30], window=41)
    with pytest.raises(ValueError, match="either at"):
        tfp(spikes, at=150, stride=3)
    with pytest.raises(ValueError, match="window must be"):
        tfp(spikes, window=0, at=150)
    with pytest.raises(ValueError, match="scale must be"):
        tfp(spikes, at=150, scale=-1)


# --- TFSTP ---------------------------------------------------------------------------------

def stp_reference(spikes: np.ndarray, t_out: int, start: int, u0=0.15, d=1.0, big_f=10.0, f=0.15):
    """Plain per-pixel TFSTP recurrence and steady-state inversion (raw rate)."""
    out = np.zeros(spikes.shape[1:])
    for idx in np.ndindex(*spikes.shape[1:]):
        r, u, last, spiked = 1.0, u0, start - 1, False
        for t in range(start, t_out + 1):
            if spikes[(t,) + idx]:
                delta = t - last
                r = 1 - (1 - r * (1 - u)) * math.exp(-delta / d)
                u = u0 + (f - u0 + u * (1 - f)) * math.exp(-delta / big_f)
                last, spiked = t, True
        rates = []
        for ratio, tau in (((u - u0) / (f - u0 + u * (1 - f))), big_f), (((1 - r) / (1 - r * (1 - u))), d):
            if ratio > 0:
                rates.append(1.0 if ratio >= 1 else min(1.0, -1 / (tau * math.log(ratio))))
        out[idx] = np.mean(rates) if spiked and rates else 0.0
    return out


@pytest.mark.parametrize("delta", [1, 2, 3, 7, 15, 30])
def test_tfstp_steady_state_inverts_to_the_firing_rate(delta):
    spikes = torch.zeros(400, 1, 2, dtype=torch.uint8)
    spikes[::delta] = 1
    raw = tfstp(spikes, at=399, scale="1", warmup=None)
    np.testing.assert_allclose(raw.numpy(), 1 / delta, rtol=1e-4)


def test_tfstp_matches_plain_recurrence():
    spikes = random_spikes(120, 3, 4, 0.2, seed=1).numpy()
    for t, warmup in ((119, None), (80, 30)):
        start = 0 if warmup is None else max(0, t - warmup)
        got = tfstp(torch.from_numpy(spikes), at=t, scale=1.0, warmup=warmup).numpy()
        np.testing.assert_allclose(got, stp_reference(spikes, t, start), rtol=1e-5, atol=1e-6)
    # fewer frames before t than the warm-up: the missing ones are frames k..1 played backwards
    t, warmup = 5, 40
    mirrored = np.concatenate([spikes[warmup - t:0:-1], spikes])
    got = tfstp(torch.from_numpy(spikes), at=t, scale=1.0, warmup=warmup).numpy()
    np.testing.assert_allclose(got, stp_reference(mirrored, t + warmup - t, 0), rtol=1e-5, atol=1e-6)
    strided = tfstp(torch.from_numpy(spikes), stride=13, scale=1.0, warmup=None).numpy()
    for k, t in enumerate(range(0, 120, 13)):
        np.testing.assert_allclose(strided[k], stp_reference(spikes, t, 0), rtol=1e-5, atol=1e-6)


def test_tfstp_flat_frames_are_finite_and_bad_params_raise():
    for value in (0, 1):
        out = tfstp(torch.full((50, 4, 4), value, dtype=torch.uint8), stride=5)
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="D and F"):
        tfstp(torch.ones(10, 2, 2), D=0)
    with pytest.raises(ValueError, match="u0 and f"):
        tfstp(torch.ones(10, 2, 2), f=1.5)


# --- files, tensors, batches ---------------------------------------------------------------

@pytest.fixture()
def long_file(tmp_path, monkeypatch):
    """A 1500-frame 9x13 stream on disk, with chunks forced small so several are read."""
    monkeypatch.setattr(source_mod, "MAX_CHUNK_FRAMES", 100)
    monkeypatch.setattr(source_mod, "MAX_CHUNK_OUTPUTS", 5)
    monkeypatch.setattr(source_mod, "GAP_FRAMES", 20)
    spikes = random_spikes(1500, 9, 13, 0.3, seed=4)
    path = spikekit.write_dat(tmp_path / "long.dat", spikes)
    return spikekit.SpikeStream(path), spikes


@pytest.mark.parametrize("stride", [1, 7, 41, 333])
def test_file_equals_tensor(long_file, stride):
    stream, spikes = long_file
    torch.testing.assert_close(tfp(stream, window=41, stride=stride), tfp(spikes, window=41, stride=stride))
    torch.testing.assert_close(tfi(stream, stride=stride, max_interval=12), tfi(spikes, stride=stride, max_interval=12))
    if stride >= 41:
        torch.testing.assert_close(tfstp(stream, stride=stride, warmup=50), tfstp(spikes, stride=stride, warmup=50))


def test_at_lists_keep_the_callers_order(long_file):
    stream, spikes = long_file
    at = [900, 30, 400, 30]
    got = tfp(stream, window=21, at=at)
    for k, t in enumerate(at):
        torch.testing.assert_close(got[k], tfp(spikes, window=21, at=t))
    torch.testing.assert_close(tfi(stream, at=at), tfi(spikes, at=at))


def test_plan_chunks_bounds():
    chunks = plan_chunks(list(range(20, 1000, 10)), 20, 20, 1000, max_frames=200, max_outputs=8)
    assert all(len(c.centres) <= 8 and c.stop - c.start <= 200 for c in chunks)
    assert [x for c in chunks for x in c.centres] == list(range(20, 1000, 10))
    sparse = plan_chunks([100, 5000, 5001], 20, 20, 10000)
    assert [(c.start, c.stop) for c in sparse] == [(80, 121), (4980, 5022)]


def test_batched_tensors_and_dtypes():
    spikes = random_spikes(4 * 60, 5, 6, 0.4, seed=2).reshape(2, 2, 60, 5, 6)
    for dtype in (torch.uint8, torch.bool, torch.float32, torch.float16, torch.float64):
        x = spikes.to(dtype)
        assert isi(x, 30, 12).shape == (2, 2, 5, 6)
        assert tfi(x, stride=20).shape == (2, 2, 3, 5, 6)
        assert tfp(x, window=11).shape == (2, 2, 5, 6)
    for b in range(2):
        torch.testing.assert_close(tfp(spikes, window=11, stride=9)[1, b], tfp(spikes[1, b], window=11, stride=9))
        torch.testing.assert_close(tfi(spikes, at=[3, 40])[0, b], tfi(spikes[0, b], at=[3, 40]))
        torch.testing.assert_close(tfstp(spikes, at=50)[b, 1], tfstp(spikes[b, 1], at=50))
    np_out = tfp(spikes[0, 0].numpy(), window=11)
    torch.testing.assert_close(np_out, tfp(spikes[0, 0], window=11))


def test_scale_auto_and_gamma():
    spikes = random_spikes(100, 20, 20, 0.1, seed=7)
    raw = tfp(spikes, window=41, stride=10, scale=1.0)
    auto = tfp(spikes, window=41, stride=10, scale="auto")
    factor = 1 / np.percentile(raw.numpy(), 99.5)
    torch.testing.assert_close(auto, (raw * factor).clamp(0, 1))
    assert (auto == 1).float().mean() <= 0.01 + 1e-6
    torch.testing.assert_close(tfp(spikes, scale="1/0.6", gamma=2.0), tfp(spikes).sqrt())
    assert tfp(torch.zeros(50, 3, 3, dtype=torch.uint8), scale="auto").max() == 0  # no division by zero


@pytest.mark.parametrize("method", ["tfp", "tfi", "tfstp"])
def test_scale_auto_of_an_image_without_contrast_is_the_default_scale(method):
    """Issue 33: on an all-dark stream every TFI estimate sits at its no-spike floor, and
    stretching that flat image made it white; a flat image keeps the default scale."""
    from spikekit.recon import get_method, reconstruct

    m = get_method(method)
    for spikes in (torch.zeros(80, 6, 7, dtype=torch.uint8), torch.ones(80, 6, 7, dtype=torch.uint8)):
        auto = reconstruct(m, spikes, at=40, scale="auto")
        torch.testing.assert_close(auto, reconstruct(m, spikes, at=40))  # the default scale, 1/0.6
    dark = reconstruct(get_method("tfi"), torch.zeros(80, 6, 7, dtype=torch.uint8), at=40, scale="auto")
    assert dark.max() < 0.05  # black, not white


@pytest.mark.parametrize("device", DEVICES)
def test_orientation_top_shape_stays_on_top(tmp_path, device):
    h, w = 20, 12
    spikes = torch.zeros(80, h, w, dtype=torch.uint8)
    spikes[:, :4, :] = 1  # a bright band at the top of the scene
    path = spikekit.write_dat(tmp_path / "top.dat", spikes)  # stored bottom-up, as Vidar files
    with spikekit.SpikeStream(path) as stream:
        for fn in (tfp, tfi, tfstp):
            image = fn(stream, at=40, device=device).cpu()
            rows = image.mean(dim=1)
            assert rows[:4].min() > 0.9 and rows[h // 2:].max() < 0.1, fn.__name__


@pytest.mark.parametrize("period", [1, 3])
def test_tfstp_first_frames_are_as_right_as_later_ones(period, tmp_path):
    """A stream that starts mid-scene: the mirrored history puts the synapses in their steady
    state, so the first outputs equal the later ones (from rest they read 156 and 214 of 255
    on a saturated stream); in memory and from a file alike."""
    spikes = torch.zeros(600, 2, 3, dtype=torch.uint8)
    spikes[::period] = 1
    got = tfstp(spikes, stride=1, stop=500, scale=1.0)
    np.testing.assert_allclose(got[:5].numpy(), got[450:455].numpy(), rtol=1e-4)
    spikekit.write_dat(tmp_path / "regular.dat", spikes)
    with spikekit.SpikeStream(tmp_path / "regular.dat") as stream:
        torch.testing.assert_close(tfstp(stream, stride=1, stop=500, scale=1.0), got)
