"""The static-camera reference (src/spikekit/staticref.py) and `spikekit eval --static` (issue 29)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import SpikeStream, write_dat
from spikekit.metrics import masked_psnr
from spikekit.recon import get_method, reconstruct
from spikekit.simulate import Simulator
from spikekit.staticref import MIN_FRAMES, noise_free_error_bound, static_reference

H, W, T, GAIN = 48, 64, 400, 0.6


def scene(moving: bool = True) -> torch.Tensor:
    """float32 (T, H, W): a fixed textured image; with ``moving``, a dark square crosses rows
    30-39 in the second half."""
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    still = 0.5 + 0.3 * torch.sin(x / 5.0) * torch.cos(y / 7.0)
    video = still.expand(T, H, W).clone()
    if moving:
        for t in range(T // 2, T):
            c = 10 + (t - T // 2) * 40 // (T // 2)
            video[t, 30:40, c:c + 10] = 0.05
    return video


def test_noise_free_mean_is_exact_to_one_over_n():
    """An integrate-and-fire pixel's mean firing rate over N frames is g I to within 1/N."""
    video = scene(moving=False)
    spikes = Simulator(H, W, gain=GAIN, noise="off", seed=0).step(video.contiguous())
    ref = static_reference(spikes)
    assert ref.static.all() and ref.frames == T
    err = (ref.rate - GAIN * video[0]).abs().max().item()
    assert err <= noise_free_error_bound(T) + 1e-6
    assert err > 0  # the bound is reached in part, not an identity


def test_pixels_that_change_are_not_static(tmp_path):
    spikes = Simulator(H, W, gain=GAIN, seed=1).step(scene().contiguous())  # noise on
    with SpikeStream(write_dat(tmp_path / "s.dat", spikes)) as stream:
        ref = static_reference(stream)
    torch.testing.assert_close(ref.rate, spikes.float().mean(0))  # chunked from the file = the plain mean
    crossed = torch.zeros(H, W, dtype=torch.bool)
    crossed[30:40, 10:60] = True
    # the square passed there (a pixel it barely darkened may pass as static: its change is small)
    assert ref.static[30:40, 15:50].float().mean() < 0.03
    assert ref.static[~crossed].float().mean() > 0.97  # noise does not make still pixels look moving


def test_masked_psnr_is_the_psnr_of_the_selected_pixels():
    rng = np.random.default_rng(0)
    gt, pred = rng.random((8, 9)), rng.random((8, 9))
    mask = rng.random((8, 9)) > 0.5
    assert masked_psnr(pred, gt, mask) == pytest.approx(-10 * np.log10(np.mean((pred[mask] - gt[mask]) ** 2)))
    assert masked_psnr(pred, gt, np.ones_like(mask)) == pytest.approx(-10 * np.log10(np.mean((pred - gt) ** 2)))
    with pytest.raises(ValueError, match="at least one pixel"):
        masked_psnr(pred, gt, np.zeros_like(mask))


def test_eval_static_scores_each_method_against_the_reference(tmp_path):
    spikes = Simulator(H, W, gain=GAIN, seed=2).step(scene().contiguous())
    dat = write_dat(tmp_path / "still.dat", spikes)
    args = ["eval", str(dat), "--static", "--at", "100", "--at", "250", "-m", "tfp", "-w", "41", "-w", "201",
            "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    ref = static_reference(spikes)
    for row in rows:
        image = reconstruct(get_method("tfp"), spikes, at=row["at"], window=row["window"])
        want = masked_psnr(image.numpy(), ref.image(1 / 0.6).numpy(), ref.static.numpy())
        assert row["static_psnr"] == pytest.approx(want) and row["static_pixels"] == pytest.approx(ref.static_share)
    by_window = {w: np.mean([r["static_psnr"] for r in rows if r["window"] == w]) for w in (41, 201)}
    assert by_window[201] > by_window[41] + 3  # a longer window is closer to the exact mean


def test_a_short_stream_has_no_static_reference(tmp_path):
    dat = write_dat(tmp_path / "short.dat", torch.zeros(MIN_FRAMES - 1, 8, 8, dtype=torch.uint8))
    result = CliRunner().invoke(main, ["eval", str(dat), "--static", "--at", "50"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"needs at least {MIN_FRAMES} spike frames" in result.output
