"""pad='reflect': windows centred on any spike frame by mirroring the stream at its ends."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikekit.cli import main as cli
from spikekit.io import SpikeStream, write_dat
from spikekit.recon import tfi, tfp
from spikekit.recon.padding import reflect_index


def mirrored(spikes: np.ndarray, before: int, after: int) -> np.ndarray:
    """Reference: numpy's whole-sample reflection along T, repeated until long enough."""
    out = spikes
    while before > 0 or after > 0:  # numpy reflects at most T - 1 frames per call
        b, a = min(before, out.shape[-3] - 1), min(after, out.shape[-3] - 1)
        out = np.pad(out, [(0, 0)] * (out.ndim - 3) + [(b, a), (0, 0), (0, 0)], mode="reflect")
        before, after = before - b, after - a
    return out


def tfp_reference(spikes: np.ndarray, centres, window: int) -> np.ndarray:
    """Plain TFP over the numpy-reflected stream (centre c at c + before)."""
    before, after = window // 2, (window - 1) // 2
    padded = mirrored(spikes, before, after).astype(np.float64)
    return np.stack([np.clip(padded[..., c:c + window, :, :].mean(-3) / 0.6, 0, 1) for c in centres], -3)


@pytest.mark.parametrize("frames", [1, 2, 5, 40])
def test_reflect_index_matches_numpy(frames):
    t = np.arange(-3 * frames - 4, 4 * frames + 4)
    base = np.arange(frames)[:, None, None]
    want = mirrored(base, 3 * frames + 4, 3 * frames + 4)[:, 0, 0] if frames > 1 else np.zeros(t.size)
    np.testing.assert_array_equal(reflect_index(t, frames), want)


@pytest.mark.parametrize("window", [1, 6, 7, 41])
def test_tfp_every_frame_matches_reference(window):
    g = np.random.default_rng(window)
    spikes = (g.random((2, 30, 5, 6)) < 0.4).astype(np.uint8)
    centres = list(range(30))
    out = tfp(torch.from_numpy(spikes), window=window, at=centres, pad="reflect").numpy()
    np.testing.assert_allclose(out, tfp_reference(spikes, centres, window), rtol=0, atol=1e-6)


def test_inside_centres_unchanged_and_auto_scale_shared():
    spikes = (torch.rand(50, 8, 9, generator=torch.Generator().manual_seed(3)) < 0.3).to(torch.uint8)
    torch.testing.assert_close(tfp(spikes, window=21, at=[10, 25, 39], pad="reflect"),
                               tfp(spikes, window=21, at=[10, 25, 39]))
    # one 'auto' factor for the whole request: raw estimates x the same factor
    raw = tfp(spikes, window=21, at=[0, 25, 49], pad="reflect", scale=1.0)
    auto = tfp(spikes, window=21, at=[0, 25, 49], pad="reflect", scale="auto")
    ratio = auto[raw > 0] / raw[raw > 0]
    unclipped = auto[raw > 0] < 1
    assert torch.allclose(ratio[unclipped], ratio[unclipped][0])


def test_file_matches_tensor(tmp_path):
    spikes = (torch.rand(25, 7, 11, generator=torch.Generator().manual_seed(4)) < 0.5).to(torch.uint8)
    path = write_dat(tmp_path / "s.dat", spikes)
    with SpikeStream(path, height=7, width=11) as stream:
        from_file = tfp(stream, window=41, at=[0, 12, 24], pad="reflect")
    torch.testing.assert_close(from_file, tfp(spikes, window=41, at=[0, 12, 24], pad="reflect"))
    np.testing.assert_allclose(from_file.numpy(), tfp_reference(spikes.numpy(), [0, 12, 24], 41), atol=1e-6)


def test_methods_valid_everywhere_are_unaffected():
    spikes = (torch.rand(30, 5, 5, generator=torch.Generator().manual_seed(5)) < 0.3).to(torch.uint8)
    from spikekit.recon import get_method, reconstruct

    a = reconstruct(get_method("tfi"), spikes, at=[0, 29], pad="reflect")
    torch.testing.assert_close(a, tfi(spikes, at=[0, 29]))


def test_bad_pad_and_hint():
    spikes = torch.zeros(10, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="pad must be one of"):
        tfp(spikes, window=7, at=5, pad="zeros")
    with pytest.raises(ValueError, match="--pad reflect"):
        tfp(spikes, window=7, at=1)


def test_cli_eval_reds41_key7(shared_data):
    """The 41-frame spike-REDS stream scored at key 7 (spike frame 6): only possible with --pad."""
    dat = shared_data / "reds41/spike/000_part1_key_id21.dat"
    gt = shared_data / "reds41/gt/000_part1_key_id7.png"
    runner = CliRunner()
    bad = runner.invoke(cli, ["eval", str(dat), "--gt", str(gt), "--at", "6", "-w", "41"])
    assert bad.exit_code != 0 and "--pad reflect" in bad.output
    ok = runner.invoke(cli, ["eval", str(dat), "--gt", str(gt), "--at", "6", "-w", "41", "--pad", "reflect",
                             "--json"])
    assert ok.exit_code == 0, ok.output
    import json

    from spikekit.metrics import load_gt, psnr

    row = json.loads(ok.output)[0]
    with SpikeStream(dat) as stream:
        frames = stream[0:41].numpy()
    want = psnr(tfp_reference(frames, [6], 41)[0].astype(np.float32), load_gt(gt))
    assert row["psnr"] == pytest.approx(want, abs=1e-3) and row["psnr"] > 20
