"""``-m ssml``: the SSML reconstruction path through the recon registry, API and CLI."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ssml
from spikekit.cli import main as cli
from spikekit.io import write_dat
from spikekit.recon import get_method, reconstruct
from ssml import method as ssml_method
from ssml_model_util import one_thread  # noqa: F401  (autouse fixture)

H, W, T = 13, 18, 46


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = ssml.SSML(nla=False)
    with torch.no_grad():
        model.nbsn.head.c.weight.mul_(20)  # outputs spread over [0, 1] and beyond
    path = tmp_path_factory.mktemp("w") / "w.pt"
    torch.save({"model": model.state_dict(), "step": 1}, path)
    return path, model.eval()


@pytest.fixture(scope="module")
def stream():
    g = torch.Generator().manual_seed(1)
    return (torch.rand(T, H, W, generator=g) < 0.3).to(torch.uint8)


def expected(model, stream, centre, scale=1 / 0.6, anchor=True):
    """Plain reference: the model on the window, brightness-anchored to the window's mean rate."""
    window = stream[centre - 20:centre + 21].float()[None]
    with torch.no_grad():
        raw = model(window)[0, 0]
    if anchor and raw.mean() > 0:  # a non-positive mean is left as is
        raw = raw * (window.mean() / raw.mean())
    return raw if scale is None else (raw * scale).clamp(0, 1)


def test_registered_and_valid_range():
    m = get_method("ssml")
    assert m.valid(T, m.make_options(bin=1)) == (20, T - 21)


def test_api_matches_model(weights, stream):
    path, model = weights
    at = [20, 23, 25]
    images = reconstruct(get_method("ssml"), stream, at=at, weights=str(path))
    assert images.shape == (3, H, W) and images.dtype == torch.float32
    for k, c in enumerate(at):
        torch.testing.assert_close(images[k], expected(model, stream, c), rtol=1e-4, atol=1e-5)
    raw = reconstruct(get_method("ssml"), stream, at=22, weights=str(path), scale=1.0, batch=2)
    torch.testing.assert_close(raw, expected(model, stream, 22, 1.0), rtol=1e-4, atol=1e-5)
    assert images.min() >= 0 and images.max() <= 1


@pytest.fixture(scope="module")
def bright_weights(tmp_path_factory):
    """A model whose raw output has a positive mean (so anchoring applies)."""
    torch.manual_seed(2)
    model = ssml.SSML(nla=False)
    with torch.no_grad():
        model.nbsn.head.c.weight.abs_().mul_(20)
    path = tmp_path_factory.mktemp("wb") / "w.pt"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_anchor_keeps_the_window_brightness(bright_weights, stream):
    path, model = bright_weights
    raw = reconstruct(get_method("ssml"), stream, at=[21, 24], weights=str(path), scale=1.0, anchor=0,
                      precision="fp32")
    for k, c in enumerate([21, 24]):
        torch.testing.assert_close(raw[k], expected(model, stream, c, 1.0, anchor=False).clamp(0, 1),
                                   rtol=1e-4, atol=1e-5)
    anchored = reconstruct(get_method("ssml"), stream, at=[21, 24], weights=str(path), scale=1.0, precision="fp32")
    for k, c in enumerate([21, 24]):
        torch.testing.assert_close(anchored[k], expected(model, stream, c, 1.0), rtol=1e-4, atol=1e-5)
        unclipped = expected(model, stream, c, None)
        assert float(unclipped.mean()) == pytest.approx(float(stream[c - 20:c + 21].float().mean()), rel=1e-5)
    assert not torch.allclose(anchored, raw)
    with pytest.raises(ValueError, match="anchor"):
        reconstruct(get_method("ssml"), stream, at=21, weights=str(path), anchor=2)


def test_cli_weights_from_a_run_folder(weights, stream, tmp_path):
    """--weights takes a run folder (its last.pt); --threads sets torch's CPU threads."""
    path, model = weights
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": model.state_dict(), "step": 1}, run / "last.pt")
    dat = write_dat(tmp_path / "s.dat", stream)
    res = CliRunner().invoke(cli, ["recon", str(dat), "-H", str(H), "-W", str(W), "-m", "ssml", "--weights",
                                   str(run), "--threads", "1", "--at", "22", "-o", str(tmp_path / "o.npy"), "-q"])
    assert res.exit_code == 0, res.output
    got = torch.from_numpy(np.load(tmp_path / "o.npy"))[0]
    torch.testing.assert_close(got, expected(model, stream, 22), rtol=1e-4, atol=1e-5)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("method,other", [("ssml-lite", "ssml"), ("ssml", "ssml-lite")])
def test_weights_of_the_other_network_are_refused_in_one_line(weights, stream, tmp_path, method, other):
    """Issue 29: `-m ssml-lite --weights runs/mine` (an SSML run) ran SSML and reported ssml-lite."""
    from ssml_model_util import random_lite

    path = weights[0] if method == "ssml-lite" else random_lite(tmp_path, 0)[0]
    dat = write_dat(tmp_path / "s.dat", stream)
    res = CliRunner().invoke(cli, ["recon", str(dat), "-H", str(H), "-W", str(W), "-m", method, "--weights",
                                   str(path), "--at", "22", "-o", str(tmp_path / "o.npy"), "-q"])
    assert res.exit_code != 0 and "Traceback" not in res.output and not (tmp_path / "o.npy").exists()
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert f"{path}: these are {'SSML' if other == 'ssml' else 'ssml-lite'} weights" in res.output
    assert f"-m {other}" in res.output


def test_bf16_close_to_fp32(weights, stream):
    path, _ = weights
    a = reconstruct(get_method("ssml"), stream, at=24, weights=str(path))
    b = reconstruct(get_method("ssml"), stream, at=24, weights=str(path), precision="bf16")
    assert (a - b).abs().mean() < 0.05
    with pytest.raises(ValueError, match="precision"):
        reconstruct(get_method("ssml"), stream, at=24, weights=str(path), precision="fp8")


def test_out_of_range(weights, stream):
    with pytest.raises(ValueError, match="20 .. 25"):
        reconstruct(get_method("ssml"), stream, at=19, weights=str(weights[0]))


def test_reflect_pad_centres_the_window_at_the_ends(weights, stream):
    """pad='reflect': the network sees the stream mirrored at its ends (numpy.pad reflect)."""
    path, model = weights
    mirrored = torch.from_numpy(np.pad(stream.numpy(), ((20, 20), (0, 0), (0, 0)), mode="reflect"))
    at = [0, 7, 22, T - 1]
    images = reconstruct(get_method("ssml"), stream, at=at, weights=str(path), pad="reflect")
    for k, c in enumerate(at):
        torch.testing.assert_close(images[k], expected(model, mirrored, c + 20), rtol=1e-4, atol=1e-5)


def test_cli_recon_file(weights, stream, tmp_path):
    """The streamed file path: .dat -> .npy, compared with the model on the same windows."""
    path, model = weights
    dat = write_dat(tmp_path / "s.dat", stream)
    out = tmp_path / "o.npy"
    res = CliRunner().invoke(cli, ["recon", str(dat), "-m", "ssml", "--weights", str(path), "--stride", "2",
                                   "--start", "21", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    images = np.load(out)
    assert images.shape == (3, H, W)  # centres 21, 23, 25
    for k, c in enumerate((21, 23, 25)):
        np.testing.assert_allclose(images[k], expected(model, stream, c).numpy(), rtol=1e-4, atol=1e-5)


def test_cli_missing_default_weights(stream, tmp_path, monkeypatch):
    import ssml.weights_io

    monkeypatch.setattr(ssml.weights_io, "DEFAULT_WEIGHTS", tmp_path / "weights" / "ssml_default.pt")
    ssml_method._cache.clear()
    dat = write_dat(tmp_path / "s.dat", stream)
    res = CliRunner().invoke(cli, ["recon", str(dat), "-m", "ssml", "--at", "22", "-o", str(tmp_path / "o.png")])
    assert res.exit_code != 0
    assert "ssml_default.pt" in res.output and "Traceback" not in res.output


def test_shipped_weights_beat_tfp_on_an_unseen_stream(shared_data):
    """The shipped NBSN, on a 96x96 centre crop of 200_part1 (never trained on), beats TFP-41."""
    import spikekit
    from spikekit.metrics import load_gt, psnr
    from spikekit.recon import tfp

    if not ssml.DEFAULT_WEIGHTS.is_file():
        pytest.skip("no shipped weights in this checkout")
    spikes = spikekit.read_dat(shared_data / "reds301/spike/200_part1_key_id151.dat", start=130, stop=171)
    crop = (slice(77, 173), slice(152, 248))
    window = spikes[:, crop[0], crop[1]].float()[None]
    gt = load_gt(shared_data / "reds301/gt/200_part1_key_id151.png")[crop]
    with torch.no_grad():
        ours = (ssml.load_model()(window)[0, 0] / 0.6).clamp(0, 1).numpy()
    classic = tfp(spikes[:, crop[0], crop[1]], window=41, at=20).numpy()
    assert psnr(ours, gt) > psnr(classic, gt) + 3.5  # measured: 36.68 vs 32.18 dB (9,000 steps)


def test_ssml_yields_one_network_batch_at_a_time(tmp_path):
    """Progress moves with each network batch (it sat at 0/N until a whole chunk was done)."""
    from spikekit.io import SpikeStream
    from spikekit.recon.base import iter_images
    from spikekit.recon.source import Source

    spikes = (torch.rand(80, 16, 16, generator=torch.Generator().manual_seed(4)) < 0.3).to(torch.uint8)
    centres = [20, 25, 30, 35, 40]
    with SpikeStream(write_dat(tmp_path / "s.dat", spikes)) as stream:
        opts = get_method("ssml").make_options(batch=2)
        batches = list(iter_images(get_method("ssml"), Source(stream, "cpu"), centres, opts))
    assert [idx for idx, _ in batches] == [[20, 25], [30, 35], [40]]
    together = torch.cat([images for _, images in batches], dim=1)
    torch.testing.assert_close(together[0], reconstruct(get_method("ssml"), spikes, at=centres))
